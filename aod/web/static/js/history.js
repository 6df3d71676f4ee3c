// A session's journal, oldest first: transitions, reactions, deliveries (session.history; an aod
// without it: the newest entries session.get carries).

import {el, fill} from "./dom.js";
import {fields, time} from "./format.js";
import {missing} from "./rpc.js";

export async function showHistory(root, rpc, sessionId) {
  let entries;
  let archived = false;
  try {
    const result = await rpc.call("session.history", {id: sessionId, lines: 200});
    entries = result.entries;
    archived = result.archived;
  } catch (error) {
    if (!missing(error)) throw error;
    entries = (await rpc.call("session.get", {id: sessionId})).journal ?? [];
  }
  const rows = entries.map((entry) => el("li", {class: `journal-entry kind-${String(entry.kind).replace(/\W/g, "-")}`, testid: "history-entry"},
    el("time", {}, time(entry.time)), " ",
    el("span", {class: "kind"}, entry.kind ?? ""), " ",
    entry.kind === "state.changed" && entry.to ? el("span", {class: "transition"}, `${entry.frm ?? entry.from ?? ""} → ${entry.to}`) : null, " ",
    el("span", {class: "fields"}, fields(entry, ["time", "kind", "frm", "from", "to"]))));
  fill(root,
    archived ? el("p", {class: "note"}, "This session was cleaned up: its journal from the archive.") : null,
    rows.length ? el("ol", {class: "journal", testid: "history"}, rows) : el("p", {class: "empty", testid: "history"}, "Nothing in the journal yet."));
}
