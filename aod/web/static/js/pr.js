// Whether the session's PR can merge, and if not, why: blockers in plain words, failing checks
// with the excerpt of their logs, the review comments still open (pr.show reads what aod last
// observed; it asks the forge nothing).

import {badge, el, facts, fill, link} from "./dom.js";
import {missing} from "./rpc.js";

const GOOD = new Set(["passing", "approved", "mergeable", "merged"]);
const BAD = new Set(["failing", "changes_requested", "conflicting", "closed"]);

function tone(value) {
  return GOOD.has(value) ? "good" : BAD.has(value) ? "bad" : "wait";
}

export async function showPr(root, rpc, sessionId) {
  let result;
  try {
    result = await rpc.call("pr.show", {id: sessionId});
  } catch (error) {
    if (missing(error)) {
      fill(root, el("p", {class: "empty", testid: "pr-unavailable"}, "PR readiness is not available: this aod has no pr.show."));
      return;
    }
    throw error;
  }
  const pr = result.pr;
  if (!pr) {
    fill(root, el("p", {class: "empty", testid: "pr-none"}, "No PR yet."));
    return;
  }
  const blockers = pr.blockers ?? [];
  const comments = pr.review_comments ?? [];
  fill(root, el("div", {class: "pr", testid: "pr"},
    el("h3", {}, link(pr.url, `PR #${pr.number}`, {testid: "pr-link"}), " ", pr.draft ? badge("draft", "wait") : null,
      " ", badge(pr.state, tone(pr.state), {testid: "pr-state"})),
    el("div", {class: "badges"},
      badge(`checks: ${pr.checks}`, tone(pr.checks), {testid: "pr-checks"}),
      badge(`review: ${pr.review}`, tone(pr.review), {testid: "pr-review"}),
      badge(`mergeable: ${pr.mergeable}`, tone(pr.mergeable), {testid: "pr-mergeable"})),
    facts([["base", pr.base], ["head", pr.head_sha ? pr.head_sha.slice(0, 12) : ""]]),
    el("section", {testid: "pr-blockers"},
      el("h4", {}, "Blockers"),
      blockers.length
        ? el("ul", {class: "blockers"}, blockers.map((text) => el("li", {testid: "pr-blocker"}, text)))
        : el("p", {class: "ready", testid: "pr-ready"}, "Nothing blocks it: approved, green and mergeable.")),
    el("section", {testid: "pr-failing"},
      el("h4", {}, "Failing checks"),
      pr.failing.length
        ? pr.failing.map((check) => el("div", {class: "check", testid: "pr-check"},
          el("div", {}, badge(check.conclusion, "bad"), " ", link(check.url, check.name), check.summary ? ` — ${check.summary}` : ""),
          check.log_excerpt ? el("pre", {class: "log-excerpt", testid: "pr-log-excerpt"}, check.log_excerpt) : null))
        : el("p", {class: "empty"}, "None.")),
    el("section", {testid: "pr-comments"},
      el("h4", {}, `Unresolved review comments (${comments.length || pr.comments || 0})`),
      comments.length
        ? el("ul", {class: "comments"}, comments.map((comment) => el("li", {class: "comment", testid: "pr-comment"},
          el("div", {class: "comment-head"},
            el("strong", {}, comment.author), " ",
            comment.path ? el("code", {}, comment.line ? `${comment.path}:${comment.line}` : comment.path) : null, " ",
            comment.url ? link(comment.url, "open") : null),
          el("pre", {class: "comment-body"}, comment.body))))
        : el("p", {class: "empty"}, "None."))));
}
