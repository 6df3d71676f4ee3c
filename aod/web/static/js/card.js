// One session as a card on the board: what it is, where it stands, its PR, what it cost.

import {badge, el, link} from "./dom.js";
import {age, issueRef, subject, usd} from "./format.js";
import {workflowBadges} from "./workflow.js";

const CHECKS = {passing: ["CI passing", "good"], failing: ["CI failing", "bad"], pending: ["CI pending", "wait"], none: ["no CI", ""]};
const REVIEW = {
  approved: ["approved", "good"], changes_requested: ["changes requested", "bad"],
  review_required: ["review required", "wait"], none: ["no review", ""],
};

export function prBadges(session) {
  if (!session.pr_number) return [];
  const [checks, checksKind] = CHECKS[session.pr_checks] ?? [session.pr_checks ?? "", ""];
  const [review, reviewKind] = REVIEW[session.pr_review] ?? [session.pr_review ?? "", ""];
  return [
    link(session.pr_url, `PR #${session.pr_number}`, {class: "pr-link", testid: "card-pr", on: {click: (e) => e.stopPropagation()}}),
    session.pr_state && session.pr_state !== "open" ? badge(session.pr_state, "", {testid: "card-pr-state"}) : null,
    checks ? badge(checks, checksKind, {testid: "card-checks"}) : null,
    review ? badge(review, reviewKind, {testid: "card-review"}) : null,
  ];
}

const REPORTED = {done: "reports done", blocked: "reports blocked", needs_input: "asks", working: "reports working"};

// What the agent said of its own work (session.report, human.ask), while it stands.
export function reportLine(session) {
  const report = session.report;
  if (!report) return null;
  const said = REPORTED[report.status] ?? report.status;
  return el("div", {class: `card-report report-${report.status}`, testid: "card-report", title: report.at},
    report.message ? `${said}: ${report.message}` : said);
}

function workflowLine(session) {
  const badges = workflowBadges(session);
  return badges.length ? el("div", {class: "card-workflow badges", testid: "card-workflow"}, badges) : null;
}

export function card(session, onOpen) {
  const work = subject(session);
  const node = el("article", {
    class: `card lane-${session.lane}`, testid: "card", tabindex: "0",
    data: {session: session.id, lane: session.lane, state: session.state},
    on: {
      click: () => onOpen(session.id),
      keydown: (event) => { if (event.key === "Enter") onOpen(session.id); },
    },
  },
  el("header", {},
    el("span", {class: "card-id", testid: "card-id"}, session.id),
    el("span", {class: "card-project"}, session.project),
    el("span", {class: "card-age", testid: "card-age", title: session.created_at, data: {since: session.created_at}}, age(session.created_at))),
  el("div", {class: "card-title", testid: "card-title"}, session.issue ? `${issueRef(session.issue)} ` : "", work),
  el("div", {class: "card-state"},
    badge(session.state, `state-${session.state}`, {testid: "card-state"}),
    badge(session.activity, "activity", {testid: "card-activity"}),
    el("span", {class: "card-agent", testid: "card-agent"}, session.agent),
    session.pending_messages ? badge(`${session.pending_messages} queued`, "wait", {testid: "card-queued"}) : null),
  session.reason ? el("div", {class: "card-reason", testid: "card-reason"}, session.reason) : null,
  session.report && session.report.status !== "blocked" && session.report.status !== "needs_input" ? reportLine(session) : null,
  workflowLine(session),
  el("div", {class: "card-branch", testid: "card-branch"}, session.branch),
  el("footer", {}, ...prBadges(session),
    session.cost_usd !== null && session.cost_usd !== undefined ? el("span", {class: "card-cost", testid: "card-cost"}, usd(session.cost_usd)) : null));
  return node;
}
