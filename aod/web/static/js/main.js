// The page: sign in, connect, then the views. Each view is its own module; this one only wires
// them to the navigation, the drawer (fleet-wide forms) and the connection's state.

import {signInFromHash} from "./auth.js";
import {el, fill} from "./dom.js";
import {Rpc} from "./rpc.js";
import {SessionStore} from "./sessions.js";
import {Board} from "./board.js";
import {Inspector} from "./inspector.js";
import {EventsView} from "./events.js";
import {CostView} from "./cost.js";
import {DaemonView} from "./daemon.js";
import {cleanupForm, issueForm, spawnForm} from "./forms.js";

const $ = (testid) => document.querySelector(`[data-testid="${testid}"]`);

function banner(text) {
  const node = $("banner");
  node.textContent = text;
  node.hidden = !text;
}

function showConnection(state, message) {
  const node = $("connection");
  node.dataset.state = state;
  node.textContent = {connecting: "connecting…", connected: "connected", reconnecting: "reconnecting…", "signed-out": "signed out", error: "error"}[state] ?? state;
  if (state === "signed-out" || state === "error") banner(message);
  else if (state === "connected") banner("");
}

async function main() {
  try {
    await signInFromHash();
  } catch (error) {
    banner(error.message);
  }
  const rpc = new Rpc();
  rpc.addEventListener("status", (event) => showConnection(event.detail.state, event.detail.message));
  const store = new SessionStore(rpc);
  store.addEventListener("failed", (event) => banner(`could not read the sessions: ${event.detail.message}`));
  const inspector = new Inspector($("inspector"), rpc, store);
  new Board($("view-board"), store, (id) => inspector.open(id));
  const views = {
    events: new EventsView($("view-events"), rpc),
    cost: new CostView($("view-cost"), rpc),
    daemon: new DaemonView($("view-daemon"), rpc),
  };

  const show = (name) => {
    for (const button of document.querySelectorAll("[data-view]")) button.classList.toggle("active", button.dataset.view === name);
    for (const panel of document.querySelectorAll("[data-view-panel]")) panel.hidden = panel.dataset.viewPanel !== name;
    for (const [key, view] of Object.entries(views)) view.visible = key === name;
    views.events.shown(name === "events");
    if (name === "cost" || name === "daemon") views[name].load();
  };
  for (const button of document.querySelectorAll("[data-view]")) button.addEventListener("click", () => show(button.dataset.view));

  const drawer = $("drawer");
  const openDrawer = async (make) => {
    const close = el("button", {type: "button", class: "close", testid: "drawer-close", on: {click: () => { drawer.hidden = true; drawer.replaceChildren(); }}}, "×");
    fill(drawer, close, el("p", {class: "note"}, "loading…"));
    drawer.hidden = false;
    try {
      fill(drawer, close, await make());
    } catch (error) {
      fill(drawer, close, el("p", {class: "error", testid: "drawer-error"}, error.message));
    }
  };
  $("open-spawn").addEventListener("click", () => openDrawer(() => spawnForm(rpc)));
  $("open-issue").addEventListener("click", () => openDrawer(() => issueForm(rpc)));
  $("open-cleanup").addEventListener("click", () => openDrawer(() => cleanupForm(rpc)));

  rpc.connect();
}

main();
