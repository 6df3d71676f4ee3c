// A session's live screen: xterm.js (the UMD globals Terminal and FitAddon, loaded by index.html
// from /vendor/) over the WebSocket /term/<id>. Frames as docs/dashboard.md "Live terminal" has
// them: output and keys are binary frames, everything else small JSON text frames. Read-only
// until the person takes control; aod drops keys of a viewer without control anyway.

import {el} from "./dom.js";

const encoder = new TextEncoder();

export class TerminalView {
  constructor(sessionId) {
    this.sessionId = sessionId;
    this.control = false;
    this.socket = null;
    this.term = null;
    this.observer = null;
    this.switch = el("input", {type: "checkbox", testid: "take-control", disabled: true,
      on: {change: () => this.askControl(this.switch.checked)}});
    this.mode = el("span", {class: "term-mode", testid: "terminal-mode"}, "connecting…");
    this.screen = el("div", {class: "term-screen", testid: "terminal-screen"});
    this.root = el("div", {class: "terminal", testid: "terminal"},
      el("div", {class: "term-bar"},
        el("label", {class: "switch"}, this.switch, " Take control"),
        this.mode),
      this.screen);
  }

  /** Call once `root` is in the document (xterm measures its container). */
  start() {
    const loaded = typeof window.Terminal === "function" && window.FitAddon;
    if (!loaded && document.readyState !== "complete") {
      // xterm.js is loaded async (index.html): still on its way.
      window.addEventListener("load", () => this.start(), {once: true});
      return;
    }
    if (!loaded) {
      this.say("the terminal is not available: xterm.js is not installed (npm ci --prefix aod/web/assets)", "error");
      return;
    }
    this.term = new window.Terminal({
      convertEol: false, cursorBlink: false, disableStdin: true, scrollback: 5000,
      fontFamily: "ui-monospace, Menlo, Consolas, monospace", fontSize: 13,
    });
    this.fit = new window.FitAddon.FitAddon();
    this.term.loadAddon(this.fit);
    this.term.open(this.screen);
    this.term.onData((data) => this.keys(data));
    this.term.onBinary((data) => this.keys(data, true));
    this.term.onResize(({cols, rows}) => this.sendJson({type: "resize", cols, rows}));
    this.observer = new ResizeObserver(() => this.refit());
    this.observer.observe(this.screen);
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/term/${encodeURIComponent(this.sessionId)}`);
    socket.binaryType = "arraybuffer";
    socket.addEventListener("open", () => {
      this.refit();
      this.sendJson({type: "resize", cols: this.term.cols, rows: this.term.rows});
    });
    socket.addEventListener("message", (message) => this.received(message.data));
    socket.addEventListener("close", () => {
      if (this.socket === socket && this.state !== "exit" && this.state !== "error") this.say("disconnected", "error");
      this.switch.disabled = true;
    });
    this.socket = socket;
  }

  refit() {
    if (!this.term || !this.screen.isConnected || this.screen.clientWidth === 0) return;
    try {
      this.fit.fit();
    } catch {
      // not laid out yet
    }
  }

  received(data) {
    if (data instanceof ArrayBuffer) {
      this.term.write(new Uint8Array(data));
      return;
    }
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    if (frame.type === "mode") {
      this.control = frame.control === true;
      this.switch.checked = this.control;
      this.switch.disabled = frame.readonly_reason !== null && frame.readonly_reason !== undefined;
      this.term.options.disableStdin = !this.control;
      this.say(frame.readonly_reason ? `read-only: ${frame.readonly_reason}` : this.control ? "you have control: keys go to the agent" : "read-only", this.control ? "control" : "");
      if (this.control) this.term.focus();
    } else if (frame.type === "exit") {
      this.say(`ended: ${frame.reason}`, "exit");
    } else if (frame.type === "error") {
      this.say(frame.message, "error");
    }
  }

  keys(data, binary = false) {
    if (!this.control || !this.socket || this.socket.readyState !== WebSocket.OPEN) return;
    const bytes = binary ? Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff) : encoder.encode(data);
    this.socket.send(bytes);
  }

  askControl(on) {
    // aod answers with a `mode` frame, which sets the switch to what really holds.
    this.say(on ? "taking control…" : "giving control back…", "");
    this.sendJson({type: "control", on});
  }

  sendJson(frame) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(frame));
  }

  say(text, state = "") {
    this.state = state;
    this.mode.textContent = text;
    this.mode.dataset.state = state;
  }

  stop() {
    this.observer?.disconnect();
    const socket = this.socket;
    this.socket = null;
    socket?.close();
    this.term?.dispose();
  }
}
