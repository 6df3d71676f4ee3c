"""Shared rendering for session and project results (plain text, no colours, fits a terminal)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aod.protocol import GroupInfo, SessionInfo


def age(iso: str, now: datetime | None = None) -> str:
    if not iso:
        return "-"
    try:
        then = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return "-"
    seconds = max(0, int(((now or datetime.now(UTC)) - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _one_line(text: str | None, width: int) -> str:
    if not text:
        return "-"
    flat = " ".join(text.split())
    # Control characters from a hostile title must not drive the user's terminal.
    flat = "".join(c if c.isprintable() else "?" for c in flat)
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def work_of(s: SessionInfo) -> str:
    if s.issue:
        return f"#{s.issue}" + (f" {s.title}" if s.title else "")
    return s.task or "-"


def table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def sessions_table(sessions: list[SessionInfo], cost: bool = False) -> str:
    if not sessions:
        return "no sessions (start one with `aoctl spawn ISSUE` or `aoctl spawn --task TEXT`)"
    rows = [
        [
            s.id + ("!" if s.overlaps else ""),
            _one_line(s.project, 20),
            _one_line(work_of(s), 40),
            s.agent or "-",
            state_cell(s),
            s.activity,
            _one_line(s.branch, 30),
            f"#{s.pr_number}" if s.pr_number else "-",
            age(s.created_at),
        ]
        + ([f"${s.cost_usd:,.2f}" if s.cost_usd is not None else "-"] if cost else [])
        for s in sessions
    ]
    headers = ["ID", "PROJECT", "WORK", "AGENT", "STATE", "ACTIVITY", "BRANCH", "PR", "AGE"]
    headers += ["COST"] if cost else []
    # issue 19: the role and the group of attempts, as columns only when some session has one.
    if any(s.role for s in sessions):
        headers.append("ROLE")
        for row, s in zip(rows, sessions, strict=True):
            row.append(s.role or "-")
    if any(s.group for s in sessions):
        headers.append("GROUP")
        for row, s in zip(rows, sessions, strict=True):
            row.append((s.group + (" (picked)" if s.group_picked else "")) if s.group else "-")
    # issue 21: which machine runs it, as a column once some session runs on a remote host.
    if any(s.host for s in sessions):
        headers.insert(1, "HOST")
        for row, s in zip(rows, sessions, strict=True):
            row.insert(1, s.host or "local")
    return table(rows, headers) + overlap_notes(sessions) + _unreachable_notes(sessions)


def _unreachable_notes(sessions: list[SessionInfo]) -> str:
    """issue 21: why sessions read `unknown`: their host's link is down (they run on there)."""
    reasons = sorted({s.reason for s in sessions if s.host and s.state == "unknown"})
    return "".join(f"\n{r}" for r in reasons)


def overlap_notes(sessions: list[SessionInfo]) -> str:
    """issue 19: a line under the table per pair of sessions changing the same files (`!`)."""
    lines = []
    for s in sessions:
        for o in s.overlaps:
            if s.id < o.session or not any(t.id == o.session for t in sessions):
                lines.append(f"! {s.id} and {o.session} both change {overlap_files(o)}")
    return "".join(f"\n{line}" for line in lines)


def overlap_files(o: Any) -> str:
    named = ", ".join(_one_line(f, 80) for f in o.files[:5])
    more = o.file_count - min(len(o.files), 5)
    return named + (f" and {more} more" if more > 0 else "")


def pr_table(sessions: list[SessionInfo]) -> str:
    """`aoctl status --pr`: each session's PR as the forge said when aod last looked."""
    if not sessions:
        return "no sessions (start one with `aoctl spawn ISSUE` or `aoctl spawn --task TEXT`)"
    rows = [
        [
            s.id,
            s.state,
            f"#{s.pr_number}" if s.pr_number else "-",
            s.pr_state or "-",
            s.pr_checks or "-",
            s.pr_review or "-",
            s.pr_mergeable or "-",
            _one_line(s.pr_url, 80) if s.pr_url else "-",
        ]
        for s in sessions
    ]
    return table(rows, ["ID", "STATE", "PR", "PR STATE", "CHECKS", "REVIEW", "MERGEABLE", "URL"])


def session_detail(s: SessionInfo) -> str:
    lines = [
        f"{s.id}  {s.state}" + (f" ({_one_line(s.reason, 200)})" if s.reason else ""),
        f"  project   {s.project}",
        f"  work      {_one_line(work_of(s), 200)}",
        f"  agent     {s.agent}  activity {s.activity}",
        f"  branch    {s.branch or '-'}",
        f"  workspace {s.workspace or '-'}",
    ]
    if s.runtime:
        lines.append(f"  runtime   {s.runtime.kind} {s.runtime.name}" + (f" ({s.runtime.pane_id})" if s.runtime.pane_id else ""))
    if s.pr_number:
        lines.append(f"  pr        #{s.pr_number} {_one_line(s.pr_url or '', 200)}".rstrip())
        if s.pr_state:
            lines.append(f"            {s.pr_state}, checks {s.pr_checks}, review {s.pr_review}, {s.pr_mergeable}")
    if s.wip_ref:
        lines.append(f"  saved     {s.wip_ref}  (git show --stat {s.wip_ref} / git checkout {s.wip_ref} -- .)")
    if s.role:
        lines.append(f"  role      {s.role}" + (f"  ({_one_line(s.role_note, 200)})" if s.role_note else ""))
    if s.group:
        lines.append(f"  group     {s.group}" + ("  (picked)" if s.group_picked else f"  (aoctl compare {s.group})"))
    for o in s.overlaps:  # issue 19
        lines.append(f"  overlap   {o.session} also changes {o.file_count} of these file(s) (since {o.since}):")
        lines.extend(f"              {_one_line(f, 200)}" for f in o.files)
        if o.file_count > len(o.files):
            lines.append(f"              and {o.file_count - len(o.files)} more")
    return "\n".join(lines)


def group_work(group: GroupInfo) -> str:
    """What a group's attempts work on, in a few words."""
    return f"issue {group.issue}" if group.issue else repr(_one_line(group.task or "", 60))


def plain(value: Any) -> Any:
    return value


def state_cell(s: SessionInfo) -> str:
    """The STATE column: a queued session says what it waits for (`queued (after demo-3)`)."""
    if s.state == "queued" and s.reason:
        return f"{s.state} ({_one_line(s.reason, 60)})"
    return s.state
