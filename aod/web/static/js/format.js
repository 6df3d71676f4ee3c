// Numbers and times in words, the same way everywhere on the page.

export const LANES = [
  ["working", "Working"],
  ["needs_you", "Needs you"],
  ["in_review", "In review"],
  ["ready", "Ready to merge"],
  ["done", "Done"],
];

/** "40s", "12m", "3h", "5d": how long ago an ISO time was. */
export function age(iso, now = Date.now()) {
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return "";
  const seconds = Math.max(0, Math.round((now - then) / 1000));
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86400)}d`;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "";
  const s = Math.floor(seconds);
  const parts = [[Math.floor(s / 86400), "d"], [Math.floor(s / 3600) % 24, "h"], [Math.floor(s / 60) % 60, "m"], [s % 60, "s"]];
  const shown = parts.filter(([n]) => n > 0).slice(0, 2);
  return shown.length ? shown.map(([n, unit]) => `${n}${unit}`).join(" ") : "0s";
}

export function usd(value) {
  if (value === null || value === undefined) return "";
  return `$${Number(value).toFixed(value >= 100 ? 0 : 2)}`;
}

export function time(iso) {
  const at = new Date(iso);
  return Number.isNaN(at.getTime()) ? String(iso ?? "") : at.toLocaleTimeString();
}

/** A journal entry's or event's fields beyond the usual ones, as `key=value` text. */
export function fields(object, skip = []) {
  return Object.entries(object ?? {})
    .filter(([key]) => !skip.includes(key))
    .map(([key, value]) => `${key}=${typeof value === "string" ? value : JSON.stringify(value)}`)
    .join("  ");
}

/** An issue as people write it: `#42` when numbered, Linear's and Jira's keys (ENG-123) as they are. */
export function issueRef(id) {
  return /^\d+$/.test(String(id)) ? `#${id}` : String(id);
}

/** What a session works on, in words: its issue's title, else its task. */
export function subject(session) {
  if (session.title) return session.title;
  if (session.task) return session.task;
  if (session.issue) return `issue ${session.issue}`;
  return "";
}
