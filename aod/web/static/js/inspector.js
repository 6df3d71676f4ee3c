// One session up close: its live terminal, its journal, its PR's readiness, its diff, and what
// can be done to it. Opened by clicking a card; kept current by the store's change events.

import {badge, el, facts, fill, link} from "./dom.js";
import {age, issueRef, subject, usd} from "./format.js";
import {sessionActions} from "./actions.js";
import {prBadges} from "./card.js";
import {TerminalView} from "./terminal.js";
import {showHistory} from "./history.js";
import {showPr} from "./pr.js";
import {showDiff} from "./diff.js";
import {showAttempts, workflowBadges} from "./workflow.js";

const TABS = [["terminal", "Terminal"], ["history", "History"], ["pr", "PR readiness"], ["diff", "Diff"], ["attempts", "Attempts"]];

export class Inspector {
  constructor(root, rpc, store) {
    this.root = root;
    this.rpc = rpc;
    this.store = store;
    this.id = null;
    this.terminal = null;
    store.addEventListener("change", (event) => {
      const ids = event.detail.ids;
      if (this.id && (ids === null || ids.includes(this.id))) this.refresh();
    });
    document.addEventListener("keydown", (event) => { if (event.key === "Escape" && this.id) this.close(); });
  }

  open(id) {
    if (this.id === id) return;
    this.close();
    this.id = id;
    this.hasPr = null;
    this.head = el("div", {class: "inspector-head", testid: "inspector-head"});
    this.actions = el("div", {class: "inspector-actions"});
    this.tabs = new Map();
    this.panels = new Map();
    const bar = el("nav", {class: "tabs", testid: "inspector-tabs"}, TABS.map(([tab, title]) => {
      const button = el("button", {type: "button", testid: `tab-${tab}`, on: {click: () => this.show(tab)}}, title);
      this.tabs.set(tab, button);
      this.panels.set(tab, el("div", {class: `panel panel-${tab}`, testid: `panel-${tab}`, hidden: true}));
      return button;
    }));
    fill(this.root,
      el("button", {type: "button", class: "close", testid: "inspector-close", title: "Close (Esc)", on: {click: () => this.close()}}, "×"),
      this.head, this.actions, bar, [...this.panels.values()]);
    this.root.hidden = false;
    this.root.dataset.session = id;
    this.refresh();
    this.tabs.get("attempts").hidden = !this.store.get(id)?.group;
    this.show("terminal");
  }

  close() {
    this.terminal?.stop();
    this.terminal = null;
    this.id = null;
    this.tab = null;
    this.root.hidden = true;
    delete this.root.dataset.session;
    this.root.replaceChildren();
  }

  refresh() {
    const session = this.store.get(this.id);
    if (!session) {
      fill(this.head, el("h2", {}, this.id), el("p", {class: "note"}, "This session is no longer listed (cleaned up?)."));
      return;
    }
    fill(this.head,
      el("h2", {}, el("span", {testid: "inspector-id"}, session.id), " ",
        el("span", {class: "title", testid: "inspector-title"}, session.issue ? `${issueRef(session.issue)} ` : "", subject(session))),
      el("div", {class: "badges"},
        badge(session.state, `state-${session.state}`, {testid: "inspector-state"}),
        badge(session.activity, "activity"), ...prBadges(session), ...workflowBadges(session)),
      session.reason ? el("p", {class: "reason", testid: "inspector-reason"}, session.reason) : null,
      facts([
        ["project", session.project], ["agent", session.agent], ["branch", session.branch],
        ["workspace", session.workspace], ["age", age(session.created_at)],
        ["cost", session.cost_usd !== null && session.cost_usd !== undefined ? usd(session.cost_usd) : ""],
        ["pending messages", session.pending_messages || ""],
        ["PR", session.pr_url ? link(session.pr_url, session.pr_url) : ""],
      ]));
    // The forms keep what is being typed: they are rebuilt only when merge and review appear.
    const hasPr = Boolean(session.pr_number);
    if (hasPr !== this.hasPr) {
      this.hasPr = hasPr;
      fill(this.actions, sessionActions(this.rpc, session));
    }
    if (this.tab === "history" || this.tab === "pr") this.load(this.tab);
  }

  show(tab) {
    this.tab = tab;
    for (const [name, button] of this.tabs) button.classList.toggle("active", name === tab);
    for (const [name, panel] of this.panels) panel.hidden = name !== tab;
    if (tab === "terminal") {
      if (!this.terminal) {
        this.terminal = new TerminalView(this.id);
        fill(this.panels.get("terminal"), this.terminal.root);
        this.terminal.start();
      } else {
        this.terminal.refit();
      }
    } else {
      this.load(tab);
    }
  }

  async load(tab) {
    const panel = this.panels.get(tab);
    const id = this.id;
    const session = this.store.get(id);
    const show = {history: showHistory, pr: showPr, diff: showDiff,
      attempts: (root, rpc) => showAttempts(root, rpc, session)}[tab];
    if (!panel.firstChild) fill(panel, el("p", {class: "note"}, "loading…"));
    try {
      await show(panel, this.rpc, id);
    } catch (error) {
      if (this.id === id) fill(panel, el("p", {class: "error", testid: `${tab}-error`}, error.message));
    }
  }
}
