// The lanes: every session in the lane aod/board.py put it in (SessionInfo.lane), oldest first.
// Only changed sessions' cards are rebuilt; the rest move as they are.

import {el, fill} from "./dom.js";
import {LANES, age} from "./format.js";
import {card} from "./card.js";

export class Board {
  constructor(root, store, onOpen) {
    this.store = store;
    this.onOpen = onOpen;
    this.cards = new Map();
    this.lists = new Map();
    this.counts = new Map();
    this.empty = el("p", {class: "empty", testid: "board-empty", hidden: true},
      "No sessions yet. Start one with “New session”, or `aoctl spawn`.");
    const lanes = LANES.map(([lane, title]) => {
      const list = el("div", {class: "lane-cards"});
      const count = el("span", {class: "lane-count", testid: `lane-count-${lane}`}, "0");
      this.lists.set(lane, list);
      this.counts.set(lane, count);
      return el("section", {class: `lane lane-${lane}`, testid: `lane-${lane}`, data: {lane}},
        el("h2", {}, title, " ", count), list);
    });
    fill(root, this.empty, el("div", {class: "lanes", testid: "lanes"}, lanes));
    store.addEventListener("change", (event) => this.render(event.detail.ids));
    // Ages are worked out here from the times aod gave; refreshing the words asks aod nothing.
    setInterval(() => this.refreshAges(), 30000);
  }

  render(changed) {
    const sessions = this.store.all();
    const live = new Set(sessions.map((s) => s.id));
    for (const id of [...this.cards.keys()]) if (!live.has(id)) this.cards.delete(id);
    const byLane = new Map(LANES.map(([lane]) => [lane, []]));
    for (const session of sessions) {
      if (changed === null || changed.includes(session.id) || !this.cards.has(session.id)) {
        this.cards.set(session.id, card(session, this.onOpen));
      }
      (byLane.get(session.lane) ?? byLane.get("working")).push(this.cards.get(session.id));
    }
    for (const [lane, cards] of byLane) {
      const list = this.lists.get(lane);
      const same = cards.length === list.children.length && cards.every((c, i) => list.children[i] === c);
      if (!same) list.replaceChildren(...cards);
      this.counts.get(lane).textContent = String(cards.length);
    }
    this.empty.hidden = sessions.length > 0;
  }

  refreshAges() {
    const now = Date.now();
    for (const node of document.querySelectorAll("[data-testid=card-age]")) node.textContent = age(node.dataset.since, now);
  }
}
