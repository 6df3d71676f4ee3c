// What a person can do to one session, each through the RPC method aoctl's command uses:
// send (session.send), pause/resume, done, kill (after a confirmation), restore, merge
// (pr.merge) and, on the local forge, review (pr.review). A refusal shows the method's message.

import {el} from "./dom.js";

/** Run `work` for a button: busy while it runs, then its message or the error's in `status`. */
export async function perform(status, button, work) {
  status.textContent = "…";
  status.dataset.state = "busy";
  if (button) button.disabled = true;
  try {
    const said = await work();
    status.textContent = said ?? "done";
    status.dataset.state = "ok";
    return true;
  } catch (error) {
    status.textContent = error.message;
    status.dataset.state = "error";
    return false;
  } finally {
    if (button) button.disabled = false;
  }
}

export function statusLine(testid = "action-status") {
  return el("div", {class: "status", testid, role: "status", "aria-live": "polite"});
}

function sendForm(rpc, id) {
  const message = el("textarea", {testid: "send-message", rows: "4", placeholder: "A message for the agent (sent exactly as written, line breaks included)"});
  const status = statusLine("send-status");
  const button = el("button", {type: "submit", testid: "send-submit"}, "Send");
  return el("form", {class: "send", testid: "send-form", on: {submit: (event) => {
    event.preventDefault();
    const text = message.value;
    perform(status, button, async () => {
      const result = await rpc.call("session.send", {id, message: text});
      message.value = "";
      return `queued as #${result.seq} (${result.queued} waiting)`;
    });
  }}}, el("label", {}, "Send a message", message), el("div", {class: "row"}, button, status));
}

function reviewForm(rpc, id) {
  const action = el("select", {testid: "review-action"},
    el("option", {value: "comment"}, "Comment"),
    el("option", {value: "request_changes"}, "Request changes"),
    el("option", {value: "approve"}, "Approve"));
  const message = el("textarea", {testid: "review-message", rows: "3", placeholder: "What the review says"});
  const file = el("input", {testid: "review-file", placeholder: "file (optional)"});
  const line = el("input", {testid: "review-line", type: "number", min: "1", placeholder: "line"});
  const status = statusLine("review-status");
  const button = el("button", {type: "submit", testid: "review-submit"}, "Review");
  const form = el("form", {class: "review", testid: "review-form", on: {submit: (event) => {
    event.preventDefault();
    const params = {id, action: action.value, message: message.value};
    if (file.value.trim()) params.file = file.value.trim();
    if (line.value) params.line = Number(line.value);
    perform(status, button, async () => {
      const pr = await rpc.call("pr.review", params);
      message.value = "";
      return `review: ${pr.review}`;
    });
  }}}, el("label", {}, "Action", action), message, el("div", {class: "row"}, file, line, button, status));
  return el("details", {class: "review-box"}, el("summary", {testid: "review-toggle"}, "Review the PR (local forge)"), form);
}

function killButton(rpc, id, status) {
  const ask = el("button", {type: "button", testid: "kill", class: "danger"}, "Kill…");
  const yes = el("button", {type: "button", testid: "kill-confirm", class: "danger"}, "Yes, kill the agent");
  const no = el("button", {type: "button", testid: "kill-cancel"}, "Cancel");
  const confirm = el("span", {class: "confirm", hidden: true}, `Stop ${id}'s agent? The worktree and branch stay. `, yes, no);
  ask.addEventListener("click", () => { confirm.hidden = false; ask.hidden = true; });
  no.addEventListener("click", () => { confirm.hidden = true; ask.hidden = false; });
  yes.addEventListener("click", async () => {
    await perform(status, yes, async () => `now ${(await rpc.call("session.kill", {id})).state}`);
    confirm.hidden = true;
    ask.hidden = false;
  });
  return [ask, confirm];
}

export function sessionActions(rpc, session) {
  const id = session.id;
  const status = statusLine("action-status");
  const simple = (label, testid, method, params = {id}) => el("button", {type: "button", testid, on: {click: (event) =>
    perform(status, event.currentTarget, async () => {
      const result = await rpc.call(method, params);
      return result && result.state ? `now ${result.state}` : "done";
    })}}, label);
  const mergeMethod = el("select", {testid: "merge-method"},
    el("option", {value: ""}, "project's method"),
    el("option", {value: "merge"}, "merge"), el("option", {value: "squash"}, "squash"), el("option", {value: "rebase"}, "rebase"));
  const merge = el("button", {type: "button", testid: "merge", on: {click: (event) =>
    perform(status, event.currentTarget, async () => {
      const params = {id};
      if (mergeMethod.value) params.method = mergeMethod.value;
      const result = await rpc.call("pr.merge", params);
      return `merged PR #${result.number} (${result.method}) at ${result.sha.slice(0, 12)}`;
    })}}, "Merge");
  return el("div", {class: "session-actions", testid: "session-actions"},
    el("div", {class: "row buttons"},
      simple("Pause", "pause", "session.pause"),
      simple("Resume", "resume", "session.resume"),
      simple("Restore", "restore", "session.restore"),
      simple("Mark done", "done", "session.done"),
      ...killButton(rpc, id, status),
      session.pr_number ? [el("span", {class: "sep"}), mergeMethod, merge] : null),
    status,
    sendForm(rpc, id),
    session.pr_number ? reviewForm(rpc, id) : null);
}
