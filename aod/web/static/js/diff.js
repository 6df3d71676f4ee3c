// The branch's committed changes against its base (session.diff): the files, then the unified
// patch, each line classed by its first character so additions and removals show as such.

import {badge, el, fill} from "./dom.js";

const MAX_BYTES = 2 * 1024 * 1024;

function lineClass(line) {
  if (line.startsWith("diff --git") || line.startsWith("index ") || line.startsWith("--- ") || line.startsWith("+++ ")) return "meta";
  if (line.startsWith("@@")) return "hunk";
  if (line.startsWith("+")) return "add";
  if (line.startsWith("-")) return "del";
  return "ctx";
}

export async function showDiff(root, rpc, sessionId) {
  const diff = await rpc.call("session.diff", {id: sessionId, max_bytes: MAX_BYTES});
  const files = diff.files.map((file) => el("tr", {testid: "diff-file"},
    el("td", {}, badge(file.status, `status-${file.status}`)),
    el("td", {class: "path"}, file.old_path ? `${file.old_path} → ${file.path}` : file.path),
    el("td", {class: "num add"}, file.binary ? "binary" : `+${file.additions}`),
    el("td", {class: "num del"}, file.binary ? "" : `−${file.deletions}`)));
  const lines = diff.patch ? diff.patch.replace(/\n$/, "").split("\n") : [];
  fill(root,
    el("p", {class: "diff-head", testid: "diff-head"},
      `${diff.head} (${diff.head_sha.slice(0, 12)}) against ${diff.base} (${diff.base_sha.slice(0, 12)}): `,
      `${diff.files.length} file${diff.files.length === 1 ? "" : "s"} changed`),
    diff.files.length
      ? el("table", {class: "diff-files", testid: "diff-files"}, el("tbody", {}, files))
      : el("p", {class: "empty", testid: "diff-files"}, "No committed changes yet."),
    lines.length ? el("pre", {class: "diff-patch", testid: "diff-patch"},
      lines.map((line) => el("span", {class: `line ${lineClass(line)}`}, line, "\n"))) : null,
    diff.truncated ? el("p", {class: "note"}, `The patch is longer than ${MAX_BYTES / 1024 / 1024} MiB: cut here; the file list is whole.`) : null);
}
