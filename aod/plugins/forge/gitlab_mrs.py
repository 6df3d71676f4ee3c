"""The GitLab plugin's pure parts, no I/O: the merge-request query and its reading into
PRFacts; which project a git remote names; REST answers (issues, a new MR) as aod's values;
GitLab job logs made plain for aod.ci_logs.

One GraphQL query asks a project for the merge requests of every tracked branch at once:
`project(fullPath: $path) { mergeRequests(sourceBranches: $branches, first: N, after: $after,
sort: CREATED_DESC) }` (GitLab batches natively: one list argument, no aliases). Branch names
and the project path travel as variables, never spliced into the query text. The answer is a
flat list, newest first; the first MR of each branch from this project (not a fork's branch
of the same name) is that branch's MR.

What GitLab says is turned into the pure core's terms here:
- checks: the head pipeline's. A job that failed and may not fail (`allowFailure: false`, not
  retried since) → failing, each such job a CheckFact, even while other jobs still run (as a
  failing check on GitHub); else SUCCESS, SKIPPED → passing; FAILED, CANCELED → failing;
  anything still to run (CREATED, PENDING, RUNNING, MANUAL, ...) → pending; no pipeline →
  none. Only the jobs that failed are asked for (`statuses: [FAILED, CANCELED]`).
- review: GitLab has approvals, not verdicts. Approved by someone and `approved` (the
  required approvals, if any, are given) → approved; approvals required and not given →
  review_required; else none. GitLab has no "changes requested" in this sense: what a
  reviewer wants changed is an unresolved thread, reported as comments.
- mergeable: `conflicts` or CONFLICT → conflicting; MERGEABLE → mergeable; UNCHECKED,
  CHECKING, PREPARING (still computing), NOT_OPEN or no value → unknown; every other
  detailed status (NOT_APPROVED, DISCUSSIONS_NOT_RESOLVED, CI_MUST_PASS, DRAFT_STATUS,
  NEED_REBASE, ...) → blocked.
- comments: every non-system note of every unresolved resolvable discussion (the MR's
  threads, inline ones with their file and line). Ids are GitLab's global note ids
  (`gid://gitlab/DiffNote/123`): stable, unique. Notes aod itself wrote (they end with
  AOD_MARK) are left out, so aod's own escalation notes are never sent to the agent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aod.facts import CheckFact, ChecksState, CommentFact, Mergeability, PRFacts, ReviewDecision
from aod.plugins.forge import ForgeError, Issue, IssueComment

PAGE = 100
"""Merge requests per page (GitLab's maximum); also the most branches asked about per query."""
DISCUSSIONS = 50
"""The newest discussions of each MR (older ones are usually resolved)."""
NOTES = 20
APPROVERS = 20
FAILED_JOBS = 20
AOD_MARK = "<!-- aod -->"
"""Ends every note aod writes (invisible in GitLab's rendering)."""
OPTIONAL_FIELDS = ("approved", "approvalsRequired")
"""Fields of GitLab EE (gitlab.com, Premium self-managed) that a Community Edition lacks: a
query naming one it lacks fails, and is asked again without it."""

_PASSING = frozenset({"SUCCESS", "SKIPPED"})
_FAILING = frozenset({"FAILED", "CANCELED", "CANCELING"})
_COMPUTING = frozenset({"UNCHECKED", "CHECKING", "PREPARING", "APPROVALS_SYNCING", "NOT_OPEN"})


def mr_query(*, optional: Sequence[str] = OPTIONAL_FIELDS, page: int = PAGE) -> str:
    """The query; variables $path (the project's full path), $branches, $after (a cursor)."""
    extra = " ".join(field for field in OPTIONAL_FIELDS if field in optional)
    return f"""query MergeRequestFacts($path: ID!, $branches: [String!], $after: String) {{
  project(fullPath: $path) {{
    id
    mergeRequests(sourceBranches: $branches, first: {page}, after: $after, sort: CREATED_DESC) {{
      pageInfo {{ hasNextPage endCursor }}
      nodes {{ ...mrFacts }}
    }}
  }}
}}
fragment mrFacts on MergeRequest {{
  iid webUrl state draft sourceBranch targetBranch sourceProjectId
  diffHeadSha diffRefs {{ baseSha }}
  detailedMergeStatus conflicts
  {extra}
  approvedBy(first: {APPROVERS}) {{ nodes {{ username }} }}
  headPipeline {{
    id sha status
    jobs(retried: false, statuses: [FAILED, CANCELED], first: {FAILED_JOBS}) {{
      nodes {{ id name status webPath allowFailure }}
    }}
  }}
  discussions(last: {DISCUSSIONS}) {{
    nodes {{
      id resolvable resolved
      notes(first: {NOTES}) {{
        nodes {{ id body system createdAt url author {{ username bot }} position {{ filePath newLine oldLine }} }}
      }}
    }}
  }}
}}
"""


@dataclass(frozen=True)
class FailedJob:
    """A failing job whose log is at REST /projects/:id/jobs/:job_id/trace."""

    check: str
    job_id: int


@dataclass(frozen=True)
class ReadMR:
    facts: PRFacts
    jobs: tuple[FailedJob, ...] = ()


def project_numeric_id(project: Mapping[str, Any]) -> int | None:
    """`gid://gitlab/Project/42` → 42."""
    return gid_number(project.get("id"))


def gid_number(value: Any) -> int | None:
    text = str(value or "")
    tail = text.rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else None


def pick(nodes: Sequence[Mapping[str, Any]], branches: Sequence[str], project_id: int | None) -> dict[str, Mapping[str, Any]]:
    """Each branch's newest MR among `nodes` (newest first), from the project itself."""
    wanted = set(branches)
    found: dict[str, Mapping[str, Any]] = {}
    for node in nodes:
        branch = str(node.get("sourceBranch") or "")
        if branch not in wanted or branch in found:
            continue
        source = node.get("sourceProjectId")
        if project_id is not None and source is not None and source != project_id:
            continue  # a fork's branch of the same name is not ours
        found[branch] = node
    return found


def read_mr(node: Mapping[str, Any], web_base: str) -> ReadMR:
    """One MergeRequest node (the mrFacts fragment) as PRFacts. Raises ValueError when it does
    not have the shape asked for."""
    if "iid" not in node:
        raise ValueError("a merge request without an iid")
    checks, failing, jobs = _checks(node.get("headPipeline"), web_base)
    state = {"merged": "merged", "closed": "closed"}.get(str(node.get("state")), "open")  # opened, locked
    refs = node.get("diffRefs")
    facts = PRFacts(
        number=str(node["iid"]),
        url=str(node.get("webUrl") or ""),
        state=state,  # type: ignore[arg-type]
        draft=bool(node.get("draft")),
        head_sha=str(node.get("diffHeadSha") or ""),
        base=str(node.get("targetBranch") or ""),
        base_sha=str(refs.get("baseSha") or "") if isinstance(refs, Mapping) else "",
        checks=checks,
        failing=failing,
        review=_review(node),
        mergeable=_mergeable(node),
        comments=_comments(node),
    )
    return ReadMR(facts=facts, jobs=jobs)


def _nodes(value: Any, *path: str) -> list[Mapping[str, Any]]:
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    nodes = value.get("nodes") if isinstance(value, Mapping) else None
    return [n for n in nodes or () if isinstance(n, Mapping)]


def _checks(pipeline: Any, web_base: str) -> tuple[ChecksState, tuple[CheckFact, ...], tuple[FailedJob, ...]]:
    if not isinstance(pipeline, Mapping) or not pipeline.get("status"):
        return "none", (), ()
    status = str(pipeline["status"]).upper()
    failing: list[CheckFact] = []
    jobs: list[FailedJob] = []
    for job in _nodes(pipeline, "jobs"):
        if job.get("allowFailure") or str(job.get("status") or "").upper() not in _FAILING:
            continue
        name = str(job.get("name") or "job")
        path = str(job.get("webPath") or "")
        failing.append(CheckFact(name=name, conclusion=str(job.get("status")).lower(), url=web_base + path if path.startswith("/") else path))
        job_id = gid_number(job.get("id"))
        if job_id is not None:
            jobs.append(FailedJob(check=name, job_id=job_id))
    if failing:  # a job failed: the pipeline will fail, even while its other jobs still run
        return "failing", tuple(failing), tuple(jobs)
    if status in _FAILING:
        return "failing", (CheckFact(name="pipeline", conclusion=status.lower()),), ()
    return ("passing" if status in _PASSING else "pending"), (), ()


def _review(node: Mapping[str, Any]) -> ReviewDecision:
    approvers = _nodes(node, "approvedBy")
    required = node.get("approvalsRequired")
    approved = node.get("approved")
    if approvers and approved is not False:
        return "approved"
    if isinstance(required, int) and required > 0 and not approved:
        return "review_required"
    return "none"


def _mergeable(node: Mapping[str, Any]) -> Mergeability:
    status = str(node.get("detailedMergeStatus") or "").upper()
    if node.get("conflicts") is True or status == "CONFLICT":
        return "conflicting"
    if status == "MERGEABLE":
        return "mergeable"
    if not status or status in _COMPUTING:
        return "unknown"
    return "blocked"


def _comments(node: Mapping[str, Any]) -> tuple[CommentFact, ...]:
    comments: list[CommentFact] = []
    for discussion in _nodes(node, "discussions"):
        if not discussion.get("resolvable") or discussion.get("resolved"):
            continue
        for note in _nodes(discussion, "notes"):
            body = str(note.get("body") or "")
            if note.get("system") or not note.get("id") or body.rstrip().endswith(AOD_MARK):
                continue
            author = note.get("author")
            position = note.get("position")
            path, line = "", None
            if isinstance(position, Mapping):
                path = str(position.get("filePath") or "")
                raw = position.get("newLine") if position.get("newLine") is not None else position.get("oldLine")
                line = raw if isinstance(raw, int) else None
            comments.append(
                CommentFact(
                    id=str(note["id"]),
                    author=str(author.get("username") or "ghost") if isinstance(author, Mapping) else "ghost",
                    body=body,
                    path=path,
                    line=line,
                    bot=bool(author.get("bot")) if isinstance(author, Mapping) else False,
                    at=str(note.get("createdAt") or ""),
                    url=str(note.get("url") or ""),
                )
            )
    return tuple(comments)


# ---------------------------------------------------------------------------------------------
# Which project a remote names; REST answers; job logs

_SCP_LIKE = re.compile(r"^(?:[^@/\s]+@)?(?P<host>[^:/\s]+):(?!//)(?P<path>[^\s]+)$")
_PATH_PART = re.compile(r"^[A-Za-z0-9_.-]+$")
_SECTION = re.compile(r"section_(?:start|end):\d+:[A-Za-z0-9_.\-]+(?:\[[^\]\r\n]*\])?\r?")
_ERASE = re.compile(r"\x1b\[0?K")


def parse_remote(remote_url: str | None, base_url: str) -> str:
    """The project path (`group/sub/name`) of a remote on `base_url`'s host:
    https://HOST/group/name(.git), git@HOST:group/sub/name.git, ssh://git@HOST[:port]/group/name.git.
    Raises ForgeError saying what was expected."""
    base = urlsplit(base_url)
    host = (base.hostname or "").lower()
    expected = f"https://{host}/GROUP/PROJECT or git@{host}:GROUP/PROJECT.git"
    setting = "projects.NAME.gitlab.project"
    if not remote_url:
        raise ForgeError(f"the project has no remote URL; add one (`git remote add origin https://{host}/GROUP/PROJECT`) or set {setting}")
    text = remote_url.strip()
    shown = re.sub(r"(://)[^/@\s]+@", r"\1***@", text)  # a credential in the URL is never echoed
    if "://" in text:
        try:
            parts = urlsplit(text)
            found, path = (parts.hostname or "").lower(), parts.path
        except ValueError:
            raise ForgeError(f"{shown} is not a URL aod can read; expected {expected}") from None
        if parts.scheme not in ("https", "http", "ssh", "git", "git+ssh", "ssh+git"):
            raise ForgeError(f"{shown} is not a GitLab remote ({parts.scheme}:// URLs are not); expected {expected}")
        prefix = base.path.rstrip("/")  # GitLab under a relative URL: https://example.com/gitlab
        if prefix and parts.scheme in ("https", "http") and path.startswith(prefix + "/"):
            path = path[len(prefix):]
    else:
        match = _SCP_LIKE.match(text)
        if match is None:
            raise ForgeError(f"{shown} is not a GitLab remote; expected {expected}")
        found, path = match["host"].lower(), match["path"]
    if found != host:
        raise ForgeError(f"{shown} is not a project on {host} (gitlab.base_url); expected {expected}, or set {setting}")
    segments = [s for s in path.strip("/").split("/") if s]
    if segments:
        segments[-1] = segments[-1].removesuffix(".git")
    if len(segments) < 2 or not all(_PATH_PART.match(s) for s in segments):
        raise ForgeError(f"{shown} does not name a GitLab project (GROUP/PROJECT); expected {expected}, or set {setting}")
    return "/".join(segments)


def clean_trace(text: str) -> str:
    """A GitLab job log without its collapsible-section markers and line-erase escapes."""
    return _SECTION.sub("", _ERASE.sub("", text))


def username(user: Any) -> str:
    return str(user.get("username") or "ghost") if isinstance(user, Mapping) else "ghost"


def issue_of(data: Mapping[str, Any], comments: tuple[IssueComment, ...]) -> Issue:
    milestone = data.get("milestone")
    return Issue(
        id=str(data["iid"]),
        title=str(data.get("title") or ""),
        body=str(data.get("description") or ""),
        state="closed" if data.get("state") == "closed" else "open",
        labels=tuple(str(label) for label in data.get("labels") or () if label),
        assignees=tuple(username(a) for a in data.get("assignees") or () if isinstance(a, Mapping)),
        milestone=str(milestone.get("title") or "") if isinstance(milestone, Mapping) else "",
        author=username(data.get("author")),
        url=str(data.get("web_url") or ""),
        created_at=str(data.get("created_at") or ""),
        comments=comments,
    )


def rest_mr_facts(data: Mapping[str, Any]) -> PRFacts:
    """A freshly opened MR from the REST answer; pipeline and approvals come with the next tick."""
    refs = data.get("diff_refs") if isinstance(data.get("diff_refs"), Mapping) else {}
    state = str(data.get("state") or "")
    return PRFacts(
        number=str(data["iid"]),
        url=str(data.get("web_url") or ""),
        state="merged" if state == "merged" else "closed" if state == "closed" else "open",
        draft=bool(data.get("draft") or data.get("work_in_progress")),
        head_sha=str(data.get("sha") or refs.get("head_sha") or ""),
        base=str(data.get("target_branch") or ""),
        base_sha=str(refs.get("base_sha") or ""),
    )
