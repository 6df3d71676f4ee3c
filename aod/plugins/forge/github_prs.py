"""The GitHub forge's PR query and its reading into PRFacts: pure, no I/O.

One GraphQL query asks a repository for the newest PR of each tracked branch, with an alias
per branch (`b0: pullRequests(headRefName: $b0, first: 1, ...)`); branch names travel as
variables, so no branch name is ever spliced into query text. The shape is fixed: the test
emulator (tests/support/github_emulator.py) parses exactly this query.

What GitHub says is turned into the pure core's terms here:
- checks: any failing conclusion → failing; else anything not finished → pending; else passing
  (no checks at all: none). A re-run check appears twice; the newest run of a name counts.
- review: GitHub's reviewDecision when branch protection computes one; otherwise each
  reviewer's latest verdict (`latestOpinionatedReviews`: a later comment-only review does not
  undo an approval; changes requested beats approved).
- mergeable: conflicts, then GitHub's merge state (BLOCKED, BEHIND, DRAFT → blocked).
- comments: every comment of every unresolved review thread, and the body of each reviewer's
  latest review when it requests changes; ids are GitHub's node ids (stable, unique).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aod.facts import CheckFact, ChecksState, CommentFact, Mergeability, PRFacts, ReviewDecision

CHUNK = 50
"""Branches per query: GitHub limits a query's nodes and cost; 50 stays well inside both."""

# Connection sizes. GitHub prices a query by the connections it may have to fetch, so each one
# is as small as the facts allow; what does not fit is the oldest (threads) or the least
# likely to matter (a 51st check).
LATEST_REVIEWS = 20
THREADS = 30
THREAD_COMMENTS = 10
CONTEXTS = 50

FAILING_CONCLUSIONS = frozenset(
    {"FAILURE", "TIMED_OUT", "CANCELLED", "ACTION_REQUIRED", "STARTUP_FAILURE", "ERROR"}
)
_PASSING_CONCLUSIONS = frozenset({"SUCCESS", "NEUTRAL", "SKIPPED", "STALE"})
_PENDING_STATES = frozenset({"PENDING", "EXPECTED", "QUEUED", "IN_PROGRESS", "WAITING", "REQUESTED"})
ACTIONS_APP = "github-actions"

# Preview media type that unlocks `mergeStateStatus` (BLOCKED, BEHIND, ...); GitHub Enterprise
# versions without the field make aod ask without it (see `pr_query(merge_state=False)`).
MERGE_INFO_PREVIEW = "application/vnd.github.merge-info-preview+json"


def _fragment(merge_state: bool) -> str:
    merge_state_field = "mergeStateStatus" if merge_state else ""
    return f"""
fragment prFacts on PullRequest {{
  number url state isDraft updatedAt
  headRefName headRefOid baseRefName baseRefOid
  mergeable {merge_state_field} reviewDecision
  latestOpinionatedReviews(first: {LATEST_REVIEWS}) {{
    nodes {{ id state body url submittedAt author {{ __typename login }} }}
  }}
  reviewThreads(first: {THREADS}) {{
    nodes {{
      id isResolved
      comments(first: {THREAD_COMMENTS}) {{
        nodes {{ id databaseId body path line url createdAt author {{ __typename login }} }}
      }}
    }}
  }}
  commits(last: 1) {{
    nodes {{
      commit {{
        oid
        statusCheckRollup {{
          state
          contexts(first: {CONTEXTS}) {{
            nodes {{
              __typename
              ... on CheckRun {{
                name status conclusion detailsUrl databaseId title summary
                checkSuite {{ app {{ slug }} }}
              }}
              ... on StatusContext {{ context state targetUrl description }}
            }}
          }}
        }}
      }}
    }}
  }}
}}
"""


def pr_query(count: int, *, merge_state: bool = True) -> str:
    """The query for `count` branches, passed as variables $b0..$b{count-1}."""
    if not 1 <= count <= CHUNK:
        raise ValueError(f"1 to {CHUNK} branches per query, not {count}")
    variables = "".join(f", $b{i}: String!" for i in range(count))
    fields = "\n".join(
        f"    b{i}: pullRequests(headRefName: $b{i}, first: 1, "
        "orderBy: {field: CREATED_AT, direction: DESC}, states: [OPEN, MERGED, CLOSED]) "
        "{ nodes { ...prFacts } }"
        for i in range(count)
    )
    return (
        f"query PullRequestFacts($owner: String!, $name: String!{variables}) {{\n"
        f"  repository(owner: $owner, name: $name) {{\n{fields}\n  }}\n}}\n" + _fragment(merge_state)
    )


def pr_variables(owner: str, name: str, branches: Sequence[str]) -> dict[str, str]:
    variables = {"owner": owner, "name": name}
    variables.update({f"b{i}": branch for i, branch in enumerate(branches)})
    return variables


@dataclass(frozen=True)
class ActionsJob:
    """A failing check that is a GitHub Actions job: its log can be fetched by `job_id`."""

    check: str
    job_id: int


@dataclass(frozen=True)
class ReadPR:
    facts: PRFacts
    actions_jobs: tuple[ActionsJob, ...] = ()
    updated_at: str = ""


def read_repository(data: Mapping[str, Any] | None, branches: Sequence[str]) -> dict[str, ReadPR | None]:
    """Each branch's newest PR from the query's `data.repository`, None where it has none.

    Raises ValueError when the answer does not have the shape asked for.
    """
    if not isinstance(data, Mapping):
        raise ValueError("no repository in the answer (does the token see this repository?)")
    found: dict[str, ReadPR | None] = {}
    for i, branch in enumerate(branches):
        connection = data.get(f"b{i}")
        if not isinstance(connection, Mapping):
            raise ValueError(f"the answer lacks b{i} ({branch})")
        nodes = [n for n in connection.get("nodes") or () if isinstance(n, Mapping)]
        found[branch] = read_pr(nodes[0]) if nodes else None
    return found


def read_pr(node: Mapping[str, Any]) -> ReadPR:
    """One PullRequest node (the prFacts fragment) as PRFacts."""
    checks, failing, jobs = _checks(node)
    review, review_id = _review(node)
    state = {"OPEN": "open", "MERGED": "merged", "CLOSED": "closed"}.get(str(node.get("state")), "open")
    facts = PRFacts(
        number=str(node["number"]),
        url=str(node.get("url") or ""),
        review_id=review_id,
        state=state,  # type: ignore[arg-type]
        draft=bool(node.get("isDraft")),
        head_sha=str(node.get("headRefOid") or ""),
        base=str(node.get("baseRefName") or ""),
        base_sha=str(node.get("baseRefOid") or ""),
        checks=checks,
        failing=failing,
        review=review,
        mergeable=_mergeable(node),
        comments=_comments(node),
    )
    return ReadPR(facts=facts, actions_jobs=jobs, updated_at=str(node.get("updatedAt") or ""))


def _nodes(value: Any, *path: str) -> list[Mapping[str, Any]]:
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    nodes = value.get("nodes") if isinstance(value, Mapping) else None
    return [n for n in nodes or () if isinstance(n, Mapping)]


def _checks(node: Mapping[str, Any]) -> tuple[ChecksState, tuple[CheckFact, ...], tuple[ActionsJob, ...]]:
    commits = _nodes(node, "commits")
    commit = commits[-1].get("commit") if commits else None
    rollup = commit.get("statusCheckRollup") if isinstance(commit, Mapping) else None
    contexts = _nodes(rollup, "contexts")
    # A re-run leaves the old run in the rollup; the newest run of each name is the verdict.
    newest: dict[str, Mapping[str, Any]] = {}
    for context in contexts:
        name = str(context.get("name") or context.get("context") or "")
        seen = newest.get(name)
        if seen is None or (context.get("databaseId") or 0) >= (seen.get("databaseId") or 0):
            newest[name] = context
    if not newest:
        return "none", (), ()
    failing: list[CheckFact] = []
    jobs: list[ActionsJob] = []
    pending = False
    for name, context in newest.items():
        verdict = _verdict(context)
        if verdict == "pending":
            pending = True
        elif verdict == "failing":
            failing.append(_check_fact(name, context))
            job = _actions_job(name, context)
            if job is not None:
                jobs.append(job)
    if failing:
        return "failing", tuple(failing), tuple(jobs)
    return ("pending" if pending else "passing"), (), ()


def _verdict(context: Mapping[str, Any]) -> str:
    if context.get("__typename") == "StatusContext":
        state = str(context.get("state") or "")
        if state in ("FAILURE", "ERROR"):
            return "failing"
        return "pending" if state in _PENDING_STATES or not state else "passing"
    status = str(context.get("status") or "")
    conclusion = str(context.get("conclusion") or "")
    if status != "COMPLETED" or not conclusion:
        return "pending"
    if conclusion in FAILING_CONCLUSIONS:
        return "failing"
    return "passing" if conclusion in _PASSING_CONCLUSIONS else "pending"


def _check_fact(name: str, context: Mapping[str, Any]) -> CheckFact:
    if context.get("__typename") == "StatusContext":
        return CheckFact(
            name=name,
            conclusion=str(context.get("state") or "").lower(),
            url=str(context.get("targetUrl") or ""),
            summary=str(context.get("description") or ""),
        )
    summary = " — ".join(str(part) for part in (context.get("title"), context.get("summary")) if part)
    return CheckFact(
        name=name,
        conclusion=str(context.get("conclusion") or "").lower(),
        url=str(context.get("detailsUrl") or ""),
        summary=summary[:1000],
    )


def _actions_job(name: str, context: Mapping[str, Any]) -> ActionsJob | None:
    suite = context.get("checkSuite")
    app = suite.get("app") if isinstance(suite, Mapping) else None
    slug = app.get("slug") if isinstance(app, Mapping) else None
    job_id = context.get("databaseId")
    # An Actions check run's database id is its job's id: the log is at /actions/jobs/{id}/logs.
    if slug == ACTIONS_APP and isinstance(job_id, int):
        return ActionsJob(check=name, job_id=job_id)
    return None


_DECISIONS: dict[str, ReviewDecision] = {
    "APPROVED": "approved",
    "CHANGES_REQUESTED": "changes_requested",
    "REVIEW_REQUIRED": "review_required",
}


def _review(node: Mapping[str, Any]) -> tuple[ReviewDecision, str]:
    latest = _nodes(node, "latestOpinionatedReviews")
    decision = _DECISIONS.get(str(node.get("reviewDecision") or ""))
    if decision is None:  # no branch protection asking for reviews: the reviewers' latest say
        states = {str(r.get("state")) for r in latest}
        decision = (
            "changes_requested" if "CHANGES_REQUESTED" in states
            else "approved" if "APPROVED" in states
            else "none"
        )
    wanted = {"approved": "APPROVED", "changes_requested": "CHANGES_REQUESTED"}.get(decision)
    deciding = [r for r in latest if r.get("state") == wanted]
    if not deciding:
        return decision, ""
    newest = max(enumerate(deciding), key=lambda pair: (str(pair[1].get("submittedAt") or ""), pair[0]))[1]
    return decision, str(newest.get("id") or "")


def _mergeable(node: Mapping[str, Any]) -> Mergeability:
    mergeable = node.get("mergeable")
    merge_state = node.get("mergeStateStatus")
    if mergeable == "CONFLICTING" or merge_state == "DIRTY":
        return "conflicting"
    if mergeable != "MERGEABLE" or merge_state == "UNKNOWN":
        return "unknown"
    if merge_state in ("BLOCKED", "BEHIND", "DRAFT"):
        return "blocked"
    return "mergeable"


def _author(value: Any) -> tuple[str, bool]:
    if not isinstance(value, Mapping):
        return "ghost", False  # a deleted account
    return str(value.get("login") or "ghost"), value.get("__typename") == "Bot"


def _comments(node: Mapping[str, Any]) -> tuple[CommentFact, ...]:
    comments: list[CommentFact] = []
    for review in _nodes(node, "latestOpinionatedReviews"):
        body = str(review.get("body") or "").strip()
        if review.get("state") == "CHANGES_REQUESTED" and body and review.get("id"):
            author, bot = _author(review.get("author"))
            comments.append(
                CommentFact(
                    id=str(review["id"]), author=author, body=body, bot=bot,
                    at=str(review.get("submittedAt") or ""), url=str(review.get("url") or ""),
                )
            )
    for thread in _nodes(node, "reviewThreads"):
        if thread.get("isResolved"):
            continue
        for comment in _nodes(thread, "comments"):
            if not comment.get("id"):
                continue
            author, bot = _author(comment.get("author"))
            line = comment.get("line")
            comments.append(
                CommentFact(
                    id=str(comment["id"]),
                    author=author,
                    body=str(comment.get("body") or ""),
                    path=str(comment.get("path") or ""),
                    line=line if isinstance(line, int) else None,
                    bot=bot,
                    at=str(comment.get("createdAt") or ""),
                    url=str(comment.get("url") or ""),
                )
            )
    return tuple(comments)


def needs_watching(facts: PRFacts | None) -> bool:
    """Whether an open PR is in a state GitHub changes without touching the PR's `updated_at`
    (checks running, mergeability being computed): such PRs are re-read every tick."""
    if facts is None or facts.state != "open":
        return False
    return facts.checks == "pending" or facts.mergeable == "unknown"
