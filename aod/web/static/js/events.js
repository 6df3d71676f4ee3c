// The events timeline: what aod published (events.recent on connect, then live), newest first,
// filtered by session and by kind (a prefix: `session` matches `session.state`, ...).

import {el, fill} from "./dom.js";
import {fields, time} from "./format.js";

const KEEP = 1000;

export class EventsView {
  constructor(root, rpc) {
    this.rpc = rpc;
    this.events = [];
    this.seen = new Set();
    this.session = el("input", {testid: "events-filter-session", placeholder: "session id", list: "events-sessions"});
    this.sessions = el("datalist", {id: "events-sessions"});
    this.kind = el("input", {testid: "events-filter-kind", placeholder: "kind, e.g. session.state"});
    this.list = el("ol", {class: "events", testid: "events"});
    this.count = el("span", {class: "note", testid: "events-count"});
    for (const input of [this.session, this.kind]) input.addEventListener("input", () => this.render());
    fill(root, el("div", {class: "filters"}, el("label", {}, "Session ", this.session), this.sessions,
      el("label", {}, "Kind ", this.kind), this.count), this.list);
    rpc.addEventListener("ready", () => this.reload());
    rpc.addEventListener("event", (event) => this.add(event.detail));
  }

  async reload() {
    try {
      const {events} = await this.rpc.call("events.recent", {limit: 500});
      for (const event of events) this.add(event, false);
      this.render();
    } catch {
      // the live ones still come
    }
  }

  add(event, render = true) {
    if (this.seen.has(event.seq)) return;
    this.seen.add(event.seq);
    this.events.push(event);
    this.events.sort((a, b) => a.seq - b.seq);
    if (this.events.length > KEEP) for (const old of this.events.splice(0, this.events.length - KEEP)) this.seen.delete(old.seq);
    if (render) this.render();
  }

  matches(event) {
    const session = this.session.value.trim();
    const kind = this.kind.value.trim();
    return (!session || event.session === session) && (!kind || event.kind.startsWith(kind));
  }

  /** Shown: drawn now and with every event; hidden: drawn when shown again. */
  shown(visible) {
    this.visible = visible;
    if (visible) this.render();
  }

  render() {
    if (!this.visible) return;
    const shown = this.events.filter((e) => this.matches(e)).reverse();
    this.list.replaceChildren(...shown.map((event) => el("li", {class: "event", testid: "event", data: {kind: event.kind, session: event.session ?? ""}},
      el("time", {}, time(event.time)), " ",
      el("span", {class: "seq"}, `#${event.seq}`), " ",
      el("span", {class: "kind"}, event.kind), " ",
      event.session ? el("code", {class: "session"}, event.session) : null, " ",
      el("span", {class: "fields"}, fields(event.data)))));
    this.count.textContent = `${shown.length} of ${this.events.length}`;
    const ids = [...new Set(this.events.map((e) => e.session).filter(Boolean))];
    if (ids.length !== this.sessions.children.length) fill(this.sessions, ids.map((id) => el("option", {value: id})));
  }
}
