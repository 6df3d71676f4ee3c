// The daemon itself (daemon.status): version, uptime, the last tick's figures, the forges'
// state (GitHub's rate limit) and the dashboard's listener.

import {el, facts, fill} from "./dom.js";
import {duration, time} from "./format.js";

function plain(value) {
  if (value === null || value === undefined) return "";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

export class DaemonView {
  constructor(root, rpc) {
    this.rpc = rpc;
    this.body = el("div", {testid: "daemon"});
    fill(root, el("div", {class: "filters"}, el("button", {type: "button", testid: "daemon-refresh", on: {click: () => this.load()}}, "Refresh")), this.body);
    rpc.addEventListener("event", (event) => { if (this.visible && event.detail.kind.startsWith("config.")) this.load(); });
  }

  async load() {
    try {
      const s = await this.rpc.call("daemon.status");
      const tick = s.last_tick;
      fill(this.body,
        el("section", {}, el("h3", {}, "aod"), facts([
          ["version", s.version], ["pid", s.pid], ["up", duration(s.uptime_s)], ["started", time(s.started_at)],
          ["sessions", s.sessions], ["poll interval", `${s.poll_interval_s}s`], ["subscribers", s.subscribers],
          ["config", `${s.config_path}${s.config_loaded ? "" : " (not found: defaults)"}`], ["state dir", s.state_dir], ["socket", s.socket_path],
        ], {testid: "daemon-facts"})),
        el("section", {}, el("h3", {}, "Last tick"), tick ? facts([
          ["ticks", tick.count], ["started", time(tick.started_at)], ["took", `${tick.duration_ms.toFixed(1)} ms`],
          ["sessions seen", tick.sessions], ["subprocesses", tick.subprocesses], ["captures", tick.captures],
          ["forge requests", tick.forge_requests], ["skipped", tick.skipped], ["longest gap", `${tick.longest_gap_ms.toFixed(0)} ms`],
        ], {testid: "daemon-tick"}) : el("p", {class: "empty", testid: "daemon-tick"}, "No tick yet.")),
        el("section", {}, el("h3", {}, "Forges"), Object.keys(s.forges ?? {}).length
          ? Object.entries(s.forges).map(([name, info]) => el("div", {class: "forge", testid: "daemon-forge"},
            el("h4", {}, name),
            info && typeof info === "object" ? facts(Object.entries(info).map(([k, v]) => [k, plain(v)])) : el("p", {}, plain(info))))
          : el("p", {class: "empty"}, "No forge in use.")),
        s.web ? el("section", {}, el("h3", {}, "Dashboard"), facts([
          ["state", s.web.state], ["address", s.web.address], ["connections", s.web.connections], ["reason", s.web.reason],
        ], {testid: "daemon-web"})) : null);
    } catch (error) {
      fill(this.body, el("p", {class: "error", testid: "daemon-error"}, error.message));
    }
  }
}
