// The fleet-wide forms, shown in the drawer: spawn a session (session.spawn), add an issue to a
// local forge (issue.add), clean up ended sessions with a dry-run preview first (session.cleanup).

import {el, fill} from "./dom.js";
import {issueRef} from "./format.js";
import {perform, statusLine} from "./actions.js";

async function projectSelect(rpc, testid, {any = false} = {}) {
  const {projects} = await rpc.call("project.list");
  const select = el("select", {testid},
    any ? el("option", {value: ""}, "all projects") : null,
    projects.map((p) => el("option", {value: p.name, data: {agent: p.agent, forge: p.forge}}, p.name)));
  return {select, projects};
}

export async function spawnForm(rpc, onSpawned) {
  const {select: project} = await projectSelect(rpc, "spawn-project");
  const issueKind = el("input", {type: "radio", name: "spawn-kind", value: "issue", testid: "spawn-kind-issue", checked: true});
  const taskKind = el("input", {type: "radio", name: "spawn-kind", value: "task", testid: "spawn-kind-task"});
  const issue = el("input", {testid: "spawn-issue", placeholder: "issue number", list: "spawn-issues"});
  const issues = el("datalist", {id: "spawn-issues"});
  const task = el("textarea", {testid: "spawn-task", rows: "3", placeholder: "what the agent should do", hidden: true});
  const agent = el("input", {testid: "spawn-agent", placeholder: "agent (the project's default)"});
  const branch = el("input", {testid: "spawn-branch", placeholder: "branch (default: ao/<id>)"});
  const status = statusLine("spawn-status");
  const button = el("button", {type: "submit", testid: "spawn-submit"}, "Spawn");
  const kind = () => (taskKind.checked ? "task" : "issue");
  const shown = () => { issue.hidden = kind() !== "issue"; task.hidden = kind() !== "task"; };
  const loadIssues = async () => {
    const option = project.selectedOptions[0];
    agent.placeholder = `agent (default: ${option?.dataset.agent ?? "the project's"})`;
    try {
      const result = await rpc.call("issue.list", {project: project.value, state: "open", limit: 100});
      fill(issues, result.issues.map((i) => el("option", {value: i.id}, `${issueRef(i.id)} ${i.title}`)));
    } catch {
      fill(issues);  // a forge that cannot list: type the number
    }
  };
  issueKind.addEventListener("change", shown);
  taskKind.addEventListener("change", shown);
  project.addEventListener("change", loadIssues);
  loadIssues();
  return el("form", {class: "form", testid: "spawn-form", on: {submit: (event) => {
    event.preventDefault();
    const params = {project: project.value};
    if (kind() === "issue") params.issue = issue.value.trim();
    else params.task = task.value;
    if (agent.value.trim()) params.agent = agent.value.trim();
    if (branch.value.trim()) params.branch = branch.value.trim();
    perform(status, button, async () => {
      const session = await rpc.call("session.spawn", params);
      onSpawned?.(session);
      return session.state === "errored" ? `${session.id} failed to start: ${session.reason}` : `spawned ${session.id}`;
    });
  }}},
  el("h2", {}, "New session"),
  el("label", {}, "Project", project),
  el("div", {class: "row"}, el("label", {}, issueKind, " an issue"), el("label", {}, taskKind, " a task")),
  issue, issues, task,
  el("label", {}, "Agent", agent),
  el("label", {}, "Branch", branch),
  el("div", {class: "row"}, button, status));
}

export async function issueForm(rpc) {
  const {select: project} = await projectSelect(rpc, "issue-project");
  const title = el("input", {testid: "issue-title", required: true, placeholder: "title"});
  const body = el("textarea", {testid: "issue-body", rows: "5", placeholder: "what needs doing"});
  const labels = el("input", {testid: "issue-labels", placeholder: "labels, comma-separated"});
  const status = statusLine("issue-status");
  const button = el("button", {type: "submit", testid: "issue-submit"}, "Add issue");
  return el("form", {class: "form", testid: "issue-form", on: {submit: (event) => {
    event.preventDefault();
    const params = {project: project.value, title: title.value, body: body.value,
      labels: labels.value.split(",").map((l) => l.trim()).filter(Boolean)};
    perform(status, button, async () => {
      const issue = await rpc.call("issue.add", params);
      title.value = "";
      body.value = "";
      return `added issue #${issue.id}`;
    });
  }}},
  el("h2", {}, "New issue (local forge)"),
  el("label", {}, "Project", project), el("label", {}, "Title", title), el("label", {}, "Body", body),
  el("label", {}, "Labels", labels), el("div", {class: "row"}, button, status));
}

export async function cleanupForm(rpc) {
  const {select: project} = await projectSelect(rpc, "cleanup-project", {any: true});
  const force = el("input", {type: "checkbox", testid: "cleanup-force"});
  const preview = el("button", {type: "button", testid: "cleanup-preview"}, "Preview");
  const run = el("button", {type: "button", testid: "cleanup-run", class: "danger", disabled: true}, "Clean up");
  const items = el("ul", {class: "cleanup-items", testid: "cleanup-items"});
  const status = statusLine("cleanup-status");
  const params = (dryRun) => {
    const p = {dry_run: dryRun, force: force.checked};
    if (project.value) p.project = project.value;
    return p;
  };
  const show = (result) => fill(items, result.items.map((item) => el("li", {testid: "cleanup-item", data: {action: item.action}},
    el("code", {}, item.id), ` ${item.action}`, item.reason ? `: ${item.reason}` : "", item.wip_ref ? ` (work saved to ${item.wip_ref})` : "")));
  // What a real run does must be what was previewed: changing the options asks for a new preview.
  const stale = () => { run.disabled = true; fill(items); };
  project.addEventListener("change", stale);
  force.addEventListener("change", stale);
  preview.addEventListener("click", () => perform(status, preview, async () => {
    const result = await rpc.call("session.cleanup", params(true));
    show(result);
    const removable = result.items.filter((i) => i.action === "would-remove").length;
    run.disabled = removable === 0;
    return `${removable} would be removed`;
  }));
  run.addEventListener("click", () => perform(status, run, async () => {
    const result = await rpc.call("session.cleanup", params(false));
    show(result);
    run.disabled = true;
    return `${result.items.filter((i) => i.action === "removed").length} removed`;
  }));
  return el("div", {class: "form", testid: "cleanup-form"},
    el("h2", {}, "Clean up ended sessions"),
    el("p", {class: "note"}, "Removes the worktrees of ended sessions and archives them; uncommitted work is saved to refs/ao/wip/<id> first."),
    el("label", {}, "Project", project),
    el("label", {}, force, " also worktrees with uncommitted changes (force; saved to refs/ao/wip/<id> first)"),
    el("div", {class: "row"}, preview, run, status), items);
}
