// JSON-RPC 2.0 over the WebSocket /rpc: calls as promises, pushed `event` notifications, and a
// connection that comes back by itself. Every (re)connect subscribes again and fires "ready", so
// whoever shows state re-reads it: events missed while disconnected are never relied upon.

import {signedIn} from "./auth.js";

export const METHOD_NOT_FOUND = -32601;
export const NOT_FOUND = -32020;
const CONNECTION_LOST = -1;
const CLOSE_SIGNED_OUT = 4401;

export class RpcError extends Error {
  constructor(code, message, data) {
    super(message);
    this.code = code;
    this.data = data;
  }
}

export class Rpc extends EventTarget {
  constructor(url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/rpc`) {
    super();
    this.url = url;
    this.socket = null;
    this.open = false;
    this.nextId = 1;
    this.pending = new Map();  // id -> {resolve, reject, text, sent}; unsent ones go out on connect
    this.retryDelay = 250;
    this.failures = 0;
    this.stopped = false;
    this.subscription = null;
  }

  connect() {
    if (this.stopped) return;
    this.status("connecting");
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.addEventListener("open", () => this.opened(socket));
    socket.addEventListener("message", (message) => this.received(message.data));
    socket.addEventListener("close", (close) => this.closed(socket, close.code));
  }

  async opened(socket) {
    if (socket !== this.socket) return;
    this.open = true;
    this.failures = 0;
    this.retryDelay = 250;
    for (const request of this.pending.values()) {
      if (!request.sent) {
        socket.send(request.text);
        request.sent = true;
      }
    }
    try {
      await this.subscribe();
      this.status("connected");
      this.dispatchEvent(new Event("ready"));
    } catch (error) {
      this.status("error", error.message);
    }
  }

  async subscribe() {
    const result = await this.call("events.subscribe", {kinds: null});
    this.subscription = result.subscription;
  }

  received(data) {
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return;
    }
    for (const one of Array.isArray(message) ? message : [message]) {
      if (one.method === "event") {
        this.dispatchEvent(new CustomEvent("event", {detail: one.params}));
      } else if (one.method === "events.dropped") {
        // Fell behind: the subscription is over. Subscribe again and have everything re-read.
        this.subscribe().then(() => this.dispatchEvent(new Event("ready")), () => {});
      } else if (this.pending.has(one.id)) {
        const {resolve, reject} = this.pending.get(one.id);
        this.pending.delete(one.id);
        if (one.error) reject(new RpcError(one.error.code, one.error.message, one.error.data));
        else resolve(one.result);
      }
    }
  }

  async closed(socket, code) {
    if (socket !== this.socket) return;
    this.open = false;
    this.socket = null;
    for (const [id, request] of this.pending) {
      if (!request.sent) continue;  // not sent yet: it goes out once connected again
      this.pending.delete(id);
      request.reject(new RpcError(CONNECTION_LOST, "the connection to aod was lost before it answered; it may or may not have happened"));
    }
    this.failures += 1;
    if (code === CLOSE_SIGNED_OUT || (this.failures >= 2 && !(await signedIn().catch(() => true)))) {
      this.stopped = true;
      for (const request of this.pending.values()) request.reject(new RpcError(CONNECTION_LOST, "signed out"));
      this.pending.clear();
      this.status("signed-out", "signed out: open the address `aoctl dashboard` prints");
      return;
    }
    this.status("reconnecting");
    setTimeout(() => this.connect(), this.retryDelay);
    this.retryDelay = Math.min(this.retryDelay * 2, 5000);
  }

  /** result, or throws RpcError with the method's own message. */
  call(method, params) {
    const id = this.nextId++;
    const request = {jsonrpc: "2.0", id, method};
    if (params !== undefined) request.params = params;
    const text = JSON.stringify(request);
    return new Promise((resolve, reject) => {
      if (this.stopped) {
        reject(new RpcError(CONNECTION_LOST, "signed out: open the address `aoctl dashboard` prints"));
        return;
      }
      const sent = this.open;
      this.pending.set(id, {resolve, reject, text, sent});
      if (sent) this.socket.send(text);
    });
  }

  status(state, message = "") {
    this.state = state;
    this.dispatchEvent(new CustomEvent("status", {detail: {state, message}}));
  }
}

/** A method this aod does not have (an older one): the page says "not available". */
export function missing(error) {
  return error instanceof RpcError && error.code === METHOD_NOT_FOUND;
}
