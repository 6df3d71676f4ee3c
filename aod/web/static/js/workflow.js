// How a session fits with the others (docs/workflows.md): its role, its group of attempts, and —
// once those parts land — what it waits for, the stack it sits on, whom it reviews and whom it
// overlaps. Badges for the card and the inspector, and the side-by-side view of a group's attempts.

import {badge, el, fill} from "./dom.js";
import {usd} from "./format.js";

const SAFE_COLOR = /^(#[0-9a-fA-F]{3,8}|[a-z]{3,20})$/;

/** The badges saying how `session` fits with the others; [] when it stands alone. */
export function workflowBadges(session) {
  const out = [];
  if (session.role) {
    const node = badge(session.role, "role", {testid: "card-role", title: session.role_note || `role: ${session.role}`});
    // The colour comes from the user's config: set through the CSSOM (the CSP refuses style
    // attributes), and only when it is a plain CSS colour.
    if (session.role_color && SAFE_COLOR.test(session.role_color)) node.style.borderLeft = `4px solid ${session.role_color}`;
    out.push(node);
  }
  if (session.kind === "reviewer" && session.reviews) out.push(badge(`reviews ${session.reviews}`, "reviewer", {testid: "card-reviews"}));
  if (session.group) {
    // Discarded attempts are cleaned up at the pick, so a listed one is either kept or undecided.
    const text = session.group_picked ? `picked in ${session.group}` : `attempt in ${session.group}`;
    out.push(badge(text, session.group_picked ? "good" : "group", {testid: "card-group"}));
  }
  if (session.state === "queued" && session.depends_on?.length) out.push(badge(`after ${session.depends_on.join(", ")}`, "wait", {testid: "card-after"}));
  if (session.stack_parent) out.push(badge(`on ${session.stack_parent}`, "stack", {testid: "card-stack"}));
  for (const overlap of session.overlaps ?? []) {
    const files = overlap.files ?? [];
    out.push(badge(`overlaps ${overlap.session}`, "bad", {testid: "card-overlap", title: files.join("\n")}));
  }
  return out;
}

function count(value, sign = "") { return value === null || value === undefined ? "–" : `${sign}${value}`; }

/** The group's attempts side by side (group.compare), with a button to keep one (group.pick). */
export async function showAttempts(root, rpc, session) {
  const result = await rpc.call("group.compare", {id: session.group});
  const picked = result.group.picked;
  const rows = result.rows.map((row) => el("tr", {testid: "attempt-row", data: {session: row.id}, class: row.picked ? "picked" : ""},
    el("td", {}, row.id), el("td", {}, row.agent), el("td", {}, badge(row.state, `state-${row.state}`)),
    el("td", {class: "num"}, count(row.files)), el("td", {class: "num add"}, count(row.additions, "+")),
    el("td", {class: "num del"}, count(row.deletions, "−")),
    el("td", {}, row.ci ?? "no PR"), el("td", {}, row.review ?? ""),
    el("td", {class: "num"}, row.cost_usd === null || row.cost_usd === undefined ? "" : usd(row.cost_usd)),
    el("td", {}, picked ? (row.picked ? "kept" : "") : row.archived ? "" : pickButton(root, rpc, session, row.id))));
  fill(root,
    el("p", {class: "note", testid: "attempts-head"}, picked
      ? `${result.group.id}: ${picked} was picked; the others were stopped with their work saved.`
      : `${result.group.id}: ${result.rows.length} attempts. Keep one: the others are stopped, their work saved, their PRs closed.`),
    el("table", {class: "attempts", testid: "attempts"},
      el("thead", {}, el("tr", {}, ...["session", "agent", "state", "files", "+", "−", "CI", "review", "cost", ""].map((h) => el("th", {}, h)))),
      el("tbody", {}, rows)));
}

function pickButton(root, rpc, session, id) {
  return el("button", {type: "button", testid: "attempt-pick", on: {click: async (event) => {
    if (!window.confirm(`Keep ${id} and stop the other attempts (their work is saved)?`)) return;
    event.target.disabled = true;
    try {
      await rpc.call("group.pick", {id: session.group, session: id});
      await showAttempts(root, rpc, session);
    } catch (error) {
      event.target.disabled = false;
      root.append(el("p", {class: "error", testid: "attempts-error"}, error.message));
    }
  }}}, "Keep this one");
}
