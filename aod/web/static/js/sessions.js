// What the page knows of the sessions, kept current by aod's events: a session's event re-reads
// that session (session.get); anything else that changes the list re-reads the list. Bursts of
// events are gathered for a moment, so one change costs one request. No polling.

import {NOT_FOUND, RpcError} from "./rpc.js";

const GATHER_MS = 20;

export class SessionStore extends EventTarget {
  constructor(rpc) {
    super();
    this.rpc = rpc;
    this.sessions = new Map();
    this.dirty = new Set();
    this.everything = false;
    this.timer = null;
    this.busy = false;
    rpc.addEventListener("ready", () => this.mark(null));
    rpc.addEventListener("event", (event) => this.noted(event.detail));
  }

  noted(event) {
    if (event.session) this.mark(event.session);
    else if (event.kind.startsWith("project.") || event.kind === "config.reloaded") this.mark(null);
  }

  /** Re-read `id` (null: the whole list) soon. */
  mark(id) {
    if (id === null) this.everything = true;
    else this.dirty.add(id);
    if (this.timer === null && !this.busy) this.timer = setTimeout(() => this.flush(), GATHER_MS);
  }

  async flush() {
    this.timer = null;
    this.busy = true;
    const everything = this.everything;
    const ids = [...this.dirty];
    this.everything = false;
    this.dirty.clear();
    try {
      if (everything) await this.readAll();
      else await Promise.all(ids.map((id) => this.readOne(id)));
      this.dispatchEvent(new CustomEvent("change", {detail: {ids: everything ? null : ids}}));
    } catch (error) {
      this.dispatchEvent(new CustomEvent("failed", {detail: error}));
    } finally {
      this.busy = false;
      if (this.everything || this.dirty.size) this.timer = setTimeout(() => this.flush(), GATHER_MS);
    }
  }

  async readAll() {
    // The list first, then again with costs: reading every session's usage record costs aod
    // more than the list itself, and the cards need not wait for it.
    const {sessions} = await this.rpc.call("session.list", {});
    const costs = this.rpc.call("session.list", {cost: true});
    this.sessions = new Map(sessions.map((session) => [session.id, {...this.sessions.get(session.id), ...session}]));
    this.dispatchEvent(new CustomEvent("change", {detail: {ids: null}}));
    const priced = (await costs).sessions;
    this.sessions = new Map(priced.map((session) => [session.id, session]));
  }

  async readOne(id) {
    try {
      const session = await this.rpc.call("session.get", {id});
      if (session.state === "archived") this.sessions.delete(id);
      else this.sessions.set(id, session);
    } catch (error) {
      if (error instanceof RpcError && error.code === NOT_FOUND) this.sessions.delete(id);
      else throw error;
    }
  }

  get(id) {
    return this.sessions.get(id);
  }

  /** Oldest first, like session.list. */
  all() {
    return [...this.sessions.values()].sort((a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : 0));
  }
}
