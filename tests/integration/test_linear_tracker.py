"""The Linear tracker plugin against a stateful Linear emulator on loopback.

The plugin runs unmodified with `linear.api_url` pointed at the emulator. Requests are counted
on the emulator's side. Waiting out rate limits uses a fake clock for the plugin, moved together
with the emulator's own clock; retries of 5xx answers use the real clock with millisecond
backoffs.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from random import Random
from typing import Any

import pytest
import trio

from aod.config import Config
from aod.plugins.forge import ForgeError, ForgeUnavailable, NoSuchIssue, RepoTarget
from aod.plugins.service_http import NotSent, RateLimited
from aod.plugins.tracker import NoSuchState, Tracker
from aod.plugins.tracker.linear import REFUSED, LinearTracker
from tests.support.linear_emulator import LinearEmulator

PR = "https://github.com/acme/shop/pull/7"


class FakeClock:
    """The plugin's monotonic clock: moves only when a test says so."""

    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def emulator() -> Iterator[LinearEmulator]:
    emu = LinearEmulator()
    emu.create_team("ENG")
    emu.create_team("OPS", states=["Triage", "Todo", "Doing", "Shipped", ("Won't fix", "canceled")])
    yield emu
    emu.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def advance(emulator: LinearEmulator, clock: FakeClock, seconds: float) -> None:
    emulator.advance(seconds)
    clock.now += seconds


def config(emulator: LinearEmulator, *, linear: dict[str, Any] | None = None, **projects: dict[str, Any]) -> Config:
    settings = {"api_url": emulator.api_url, "retry_backoff": 0.005, "timeout": 5, **(linear or {})}
    sections = {name: {"path": "/tmp", "tracker": "linear", "linear": section} for name, section in projects.items()}
    return Config.model_validate({"linear": settings, "projects": sections})


@pytest.fixture
async def make_tracker(emulator: LinearEmulator, clock: FakeClock) -> AsyncIterator[Callable[..., LinearTracker]]:
    made: list[LinearTracker] = []

    def make(env: dict[str, str] | None = None, linear: dict[str, Any] | None = None, **projects: dict[str, Any]) -> LinearTracker:
        cfg = config(emulator, linear=linear, **(projects or {"shop": {"team": "ENG"}}))
        tracker = LinearTracker(lambda: cfg, env={"LINEAR_API_KEY": emulator.token} if env is None else env, clock=clock, rng=Random(7))
        made.append(tracker)
        return tracker

    yield make
    for tracker in made:
        await tracker.aclose()


@pytest.fixture
def tracker(make_tracker: Callable[..., LinearTracker]) -> LinearTracker:
    return make_tracker()


def repo(project: str = "shop") -> RepoTarget:
    return RepoTarget(project=project, path="/tmp", default_branch="main")


def mutations(emulator: LinearEmulator, since: int = 0) -> list[str]:
    return [r.query.split("(")[0].split()[-1] for r in emulator.requests(since) if r.mutation]


# --- reading issues ---------------------------------------------------------------------------


async def test_get_issue_with_its_comments_in_one_request(emulator: LinearEmulator, tracker: LinearTracker) -> None:
    emulator.create_user("Mona Lisa", display_name="mona", email="mona@acme.test")
    blocker = emulator.create_issue("ENG", "Price API")
    key = emulator.create_issue(
        "ENG", "Cart total is off by one", description="Steps: add two items", labels=["bug", "cart"],
        assignee="Mona Lisa", creator="Hubot Robot", project="Checkout", milestone="Beta", blocked_by=[blocker],
    )
    emulator.comment(key, "Seen on staging too", user="Hubot Robot")
    emulator.comment(key, "And in prod", user="Mona Lisa")
    before = emulator.mark()

    issue = await tracker.get_issue(repo(), key)

    assert len(emulator.requests(before)) == 1
    assert issue.id == key == "ENG-2"
    assert (issue.title, issue.body, issue.state) == ("Cart total is off by one", "Steps: add two items", "open")
    assert issue.labels == ("bug", "cart") and issue.assignees == ("mona",) and issue.author == "hubot"
    assert issue.milestone == "Beta" and issue.depends_on == ("ENG-1",)
    assert issue.url == emulator.issue_url("ENG-2") and issue.created_at.endswith("Z")
    assert [(c.author, c.body) for c in issue.comments] == [("hubot", "Seen on staging too"), ("mona", "And in prod")]
    sent = emulator.requests(before)[0]
    assert sent.headers["authorization"] == emulator.token  # a personal key goes as is, no "Bearer"
    assert sent.variables == {"id": "ENG-2"}


async def test_an_unknown_issue_is_no_such_issue(emulator: LinearEmulator, tracker: LinearTracker) -> None:
    with pytest.raises(NoSuchIssue, match="Linear has no issue ENG-99"):
        await tracker.get_issue(repo(), "ENG-99")
    assert len(emulator.requests()) == 1


@pytest.mark.parametrize(
    "issue_id",
    ["fix-the-cart", "42", "ENG-0", "ENG-", "ENG-1; rm -rf ~", "ENG-1\nOPS-2", "$(whoami)-1", "ENG-1 ", "E N G-1", "ENGINEERING1-1", ""],
)
async def test_ids_are_checked_before_anything_is_sent(emulator: LinearEmulator, tracker: LinearTracker, issue_id: str) -> None:
    emulator.create_issue("ENG", "one")
    if issue_id == "ENG-1 ":  # surrounding blanks are forgiven, nothing else
        assert (await tracker.get_issue(repo(), issue_id)).id == "ENG-1"
        return
    with pytest.raises(NoSuchIssue, match="not a Linear issue id: use its identifier, like ENG-123"):
        await tracker.get_issue(repo(), issue_id)
    assert emulator.requests() == []


async def test_ids_as_typed_in_lower_case_or_as_a_linear_url(emulator: LinearEmulator, tracker: LinearTracker) -> None:
    emulator.create_issue("ENG", "one")
    assert (await tracker.get_issue(repo(), "eng-1")).id == "ENG-1"
    assert (await tracker.get_issue(repo(), "https://linear.app/acme/issue/ENG-1/one")).id == "ENG-1"


async def test_an_issue_of_another_team_is_refused_without_asking(emulator: LinearEmulator, tracker: LinearTracker) -> None:
    emulator.create_issue("OPS", "not ours")
    with pytest.raises(NoSuchIssue, match=r"OPS-1 is not an issue of team ENG \(projects.shop.linear.team\)"):
        await tracker.get_issue(repo(), "OPS-1")
    with pytest.raises(NoSuchIssue, match="not an issue of team ENG"):
        await tracker.move_issue(repo(), "OPS-1", "Doing")
    assert emulator.requests() == []


async def test_list_open_issues_of_the_team_newest_first(emulator: LinearEmulator, tracker: LinearTracker) -> None:
    emulator.create_issue("ENG", "first")
    emulator.create_issue("ENG", "in backlog", state="Backlog")
    emulator.create_issue("ENG", "being done", state="In Progress")
    emulator.create_issue("ENG", "finished", state="Done")
    emulator.create_issue("ENG", "dropped", state="Canceled")
    emulator.create_issue("ENG", "twice", state="Duplicate")
    emulator.create_issue("OPS", "another team")
    before = emulator.mark()

    open_ = await tracker.list_issues(repo())

    assert [i.title for i in open_] == ["being done", "in backlog", "first"]
    assert {i.state for i in open_} == {"open"}
    assert len(emulator.requests(before)) == 1
    closed = await tracker.list_issues(repo(), state="closed")
    assert [i.title for i in closed] == ["twice", "dropped", "finished"] and {i.state for i in closed} == {"closed"}
    assert len(await tracker.list_issues(repo(), state="all")) == 6
    assert len(emulator.requests(before)) == 3  # one request per list


async def test_list_filters_by_labels_assignee_milestone_all_at_once(emulator: LinearEmulator, tracker: LinearTracker) -> None:
    emulator.create_user("Mona Lisa", display_name="mona", email="mona@acme.test")
    emulator.create_issue("ENG", "bug one", labels=["Bug", "ui"], assignee="Mona Lisa", milestone="Beta")
    emulator.create_issue("ENG", "bug two", labels=["bug"], milestone="GA")
    emulator.create_issue("ENG", "chore", labels=["chore"], assignee="Mona Lisa")
    emulator.create_issue("ENG", "old bug", labels=["bug"], state="Done")

    async def titles(**filters: Any) -> list[str]:
        return [i.title for i in await tracker.list_issues(repo(), **filters)]

    assert await titles(labels=["bug"]) == ["bug two", "bug one"]  # label names match case-insensitively
    assert await titles(labels=["bug", "ui"]) == ["bug one"]  # every label must match
    assert await titles(labels=["bug", "chore"]) == []
    for who in ("Mona Lisa", "mona", "MONA@acme.test"):  # name, display name or email
        assert await titles(assignee=who) == ["chore", "bug one"]
    assert await titles(assignee="nobody") == []
    emulator.create_issue("ENG", "mine", assignee=emulator.viewer)
    assert await titles(assignee="me") == await titles(assignee="@me") == ["mine"]  # the key's owner
    assert await titles(milestone="beta") == ["bug one"]
    assert await titles(labels=["bug"], state="all") == ["old bug", "bug two", "bug one"]


async def test_config_team_project_and_labels_narrow_every_list(emulator: LinearEmulator, make_tracker: Callable[..., LinearTracker]) -> None:
    emulator.create_issue("ENG", "checkout bug", project="Checkout", labels=["aod", "bug"])
    emulator.create_issue("ENG", "checkout, not for aod", project="Checkout", labels=["bug"])
    emulator.create_issue("ENG", "search", project="Search", labels=["aod"])
    emulator.create_issue("OPS", "ops", project="Checkout", labels=["aod"])
    tracker = make_tracker(shop={"team": "ENG", "project": "Checkout", "labels": ["aod"]}, other={})

    assert [i.title for i in await tracker.list_issues(repo())] == ["checkout bug"]
    assert [i.title for i in await tracker.list_issues(repo(), labels=["bug"])] == ["checkout bug"]
    assert [i.title for i in await tracker.list_issues(repo(), labels=["ui"])] == []
    # A project whose section sets nothing (or that has none): every team the key can see.
    assert len(await tracker.list_issues(repo("other"))) == 4
    assert len(await tracker.list_issues(repo("unconfigured"))) == 4
    assert (await tracker.get_issue(repo("unconfigured"), "OPS-1")).title == "ops"


async def test_list_follows_pages_up_to_the_limit(emulator: LinearEmulator, tracker: LinearTracker) -> None:
    for i in range(230):
        emulator.create_issue("ENG", f"issue {i}")
    before = emulator.mark()

    issues = await tracker.list_issues(repo(), limit=150)

    assert [i.title for i in issues] == [f"issue {i}" for i in range(229, 79, -1)]
    sent = emulator.requests(before)
    assert [r.variables["first"] for r in sent] == [100, 50]  # the third page is never asked for
    assert sent[1].variables["after"] is not None

    before = emulator.mark()
    assert len(await tracker.list_issues(repo(), limit=10_000)) == 230
    assert len(emulator.requests(before)) == 3  # stops when Linear says there is no next page
    before = emulator.mark()
    assert await tracker.list_issues(repo(), limit=0) == []
    assert emulator.requests(before) == []


# --- moving issues ----------------------------------------------------------------------------


async def test_move_to_in_progress_then_done(emulator: LinearEmulator, tracker: LinearTracker) -> None:
    key = emulator.create_issue("ENG", "do it")
    before = emulator.mark()

    assert await tracker.move_issue(repo(), key, "in progress") == "In Progress"

    assert emulator.issue(key).state.name == "In Progress"
    assert len(emulator.requests(before)) == 2  # the issue and the team's states in one query, one write
    assert mutations(emulator, before) == ["AodMoveIssue"]
    middle = emulator.mark()

    assert await tracker.move_issue(repo(), key, "Done") == "Done"

    assert emulator.issue(key).state.type == "completed"
    assert len(emulator.requests(middle)) == 2  # the states are known now: the issue, the write
    assert "workflowStates" not in emulator.requests(middle)[0].query
    assert (await tracker.get_issue(repo(), key)).state == "closed"


async def test_moving_to_the_state_it_is_in_writes_nothing(emulator: LinearEmulator, tracker: LinearTracker) -> None:
    key = emulator.create_issue("ENG", "busy", state="In Progress")
    before = emulator.mark()

    assert await tracker.move_issue(repo(), key, "IN PROGRESS") == "In Progress"

    assert len(emulator.requests(before)) == 1 and mutations(emulator, before) == []


async def test_an_unknown_state_names_the_choices_and_writes_nothing(emulator: LinearEmulator, tracker: LinearTracker) -> None:
    key = emulator.create_issue("ENG", "x")
    with pytest.raises(NoSuchState, match="team ENG has no workflow state 'Shipped'; its states: Backlog, Todo, In Progress, In Review, Done, Canceled, Duplicate"):
        await tracker.move_issue(repo(), key, "Shipped")
    assert mutations(emulator) == [] and emulator.issue(key).state.name == "Todo"
    with pytest.raises(NoSuchIssue):
        await tracker.move_issue(repo(), "ENG-404", "Done")


async def test_states_are_read_once_per_team_and_again_for_a_new_name(emulator: LinearEmulator, make_tracker: Callable[..., LinearTracker]) -> None:
    tracker = make_tracker(ops={"team": "OPS"})
    one, two = emulator.create_issue("OPS", "one"), emulator.create_issue("OPS", "two")

    assert await tracker.move_issue(repo("ops"), one, "doing") == "Doing"
    assert await tracker.move_issue(repo("ops"), two, "shipped") == "Shipped"
    assert await tracker.move_issue(repo("ops"), one, "won't FIX") == "Won't fix"
    assert sum("workflowStates" in r.query for r in emulator.requests()) == 1
    assert emulator.issue(two).state.name == "Shipped"

    emulator.team("OPS").states.append(emulator.team("OPS").states[0].__class__("state-new", "Blocked", "started", 9.0))
    assert await tracker.move_issue(repo("ops"), one, "Blocked") == "Blocked"  # added since: read again, once
    assert sum("workflowStates" in r.query for r in emulator.requests()) == 2


# --- linking PRs --------------------------------------------------------------------------------


async def test_link_pr_comments_once_per_url(emulator: LinearEmulator, tracker: LinearTracker) -> None:
    key = emulator.create_issue("ENG", "x")

    await tracker.link_pr(repo(), key, url=PR, title="Fix the cart")
    await tracker.link_pr(repo(), key, url=PR, title="Fix the cart")
    await tracker.link_pr(repo(), key, url=PR + "0", title="Another PR")  # pull/70 is not pull/7

    assert [c.body for c in emulator.issue(key).comments] == [f"PR: {PR}", f"PR: {PR}0"]
    assert mutations(emulator) == ["AodLinkPr", "AodLinkPr"]


async def test_link_pr_writes_nothing_when_linear_has_it_attached(emulator: LinearEmulator, tracker: LinearTracker) -> None:
    key = emulator.create_issue("ENG", "x")
    emulator.attach(key, PR, "acme/shop#7")  # Linear's own GitHub integration did it
    emulator.comment("ENG-1", f"I opened {PR} for this", user="Mona Lisa")
    await tracker.link_pr(repo(), key, url=PR, title="t")
    assert mutations(emulator) == [] and len(emulator.issue(key).comments) == 1


@pytest.mark.parametrize("url", ["javascript:alert(1)", "https://x.test/pull/1 [click](https://evil.test)", "https://x.test/a\nb", ""])
async def test_link_pr_refuses_what_is_not_a_url(emulator: LinearEmulator, tracker: LinearTracker, url: str) -> None:
    emulator.create_issue("ENG", "x")
    with pytest.raises(ForgeError, match="is not a PR URL"):
        await tracker.link_pr(repo(), "ENG-1", url=url, title="t")
    assert emulator.requests() == []


# --- rate limits, outages, errors -------------------------------------------------------------------


async def test_rate_limited_is_unavailable_and_nothing_is_sent_until_the_reset(emulator: LinearEmulator, tracker: LinearTracker, clock: FakeClock) -> None:
    emulator.create_issue("ENG", "x")
    emulator.advance(86_400)  # Linear's clock is a day ahead of ours: the wait is read against its Date
    emulator.exhaust("requests", reset_in=120)

    with pytest.raises(RateLimited) as caught:
        await tracker.get_issue(repo(), "ENG-1")
    assert 100 <= (caught.value.retry_after or 0) <= 121
    assert isinstance(caught.value, ForgeUnavailable)
    sent = emulator.mark()

    for _ in range(3):
        with pytest.raises(NotSent):
            await tracker.list_issues(repo())
    advance(emulator, clock, 60)
    with pytest.raises(NotSent):
        await tracker.move_issue(repo(), "ENG-1", "Done")
    assert emulator.mark() == sent  # nothing sent while waiting

    advance(emulator, clock, 75)  # past the reset and the jitter
    assert (await tracker.get_issue(repo(), "ENG-1")).title == "x"
    assert emulator.mark() == sent + 1


async def test_a_spent_complexity_budget_waits_for_its_own_reset(emulator: LinearEmulator, tracker: LinearTracker, clock: FakeClock) -> None:
    emulator.create_issue("ENG", "x")
    emulator.exhaust("complexity", reset_in=600)
    with pytest.raises(RateLimited) as caught:
        await tracker.list_issues(repo())
    assert 500 <= (caught.value.retry_after or 0) <= 601
    assert tracker.status()["rate_limit"]["complexity"]["remaining"] == 0  # type: ignore[index]
    advance(emulator, clock, 700)
    assert len(await tracker.list_issues(repo())) == 1


async def test_a_ratelimited_answer_without_a_spent_budget_still_stops_sending(emulator: LinearEmulator, tracker: LinearTracker, clock: FakeClock) -> None:
    emulator.create_issue("ENG", "x")
    emulator.ratelimit_once()  # a limit other than the two budgets (both still have plenty)
    with pytest.raises(RateLimited) as caught:
        await tracker.get_issue(repo(), "ENG-1")
    assert caught.value.retry_after == 60  # no reset told for it: a minute
    sent = emulator.mark()
    with pytest.raises(NotSent):
        await tracker.get_issue(repo(), "ENG-1")
    assert emulator.mark() == sent
    advance(emulator, clock, 70)
    assert (await tracker.get_issue(repo(), "ENG-1")).id == "ENG-1"


async def test_a_5xx_is_retried_then_succeeds(emulator: LinearEmulator, tracker: LinearTracker) -> None:
    emulator.create_issue("ENG", "x")
    emulator.fail(502, times=2)
    assert [i.id for i in await tracker.list_issues(repo())] == ["ENG-1"]
    assert [r.status for r in emulator.requests()] == [502, 502, 200]


async def test_a_write_is_not_sent_twice_after_a_5xx(emulator: LinearEmulator, tracker: LinearTracker, clock: FakeClock) -> None:
    key = emulator.create_issue("ENG", "x")
    before = emulator.mark()
    emulator.fail(None, times=1)  # the links are read first (answered as usual), then the comment fails
    emulator.fail(503, times=1)
    with pytest.raises(ForgeUnavailable, match="503"):
        await tracker.link_pr(repo(), key, url=PR, title="t")
    assert [r.status for r in emulator.requests(before)] == [200, 503]
    assert emulator.issue(key).comments == []
    clock.now += 1  # the short outage backoff passes
    await tracker.link_pr(repo(), key, url=PR, title="t")
    assert [c.body for c in emulator.issue(key).comments] == [f"PR: {PR}"]


async def test_a_down_linear_is_unavailable_after_the_retries(emulator: LinearEmulator, tracker: LinearTracker) -> None:
    emulator.fail(500, times=10)
    with pytest.raises(ForgeUnavailable, match="Linear answered 500"):
        await tracker.get_issue(repo(), "ENG-1")
    assert len(emulator.requests()) == 3  # the first try and linear.retries (2)


async def test_a_slow_linear_is_given_up_on_within_the_timeout(emulator: LinearEmulator, make_tracker: Callable[..., LinearTracker]) -> None:
    tracker = make_tracker(linear={"timeout": 0.5})
    emulator.create_issue("ENG", "x")
    emulator.slow(10)
    started = trio.current_time()
    with pytest.raises(ForgeUnavailable, match="no answer from Linear within 0.5s"):
        await tracker.get_issue(repo(), "ENG-1")
    assert trio.current_time() - started < 3


async def test_graphql_errors_are_forge_errors_with_linear_s_message(emulator: LinearEmulator, tracker: LinearTracker) -> None:
    emulator.error_once("Argument Validation Error", code="INVALID_INPUT")
    with pytest.raises(ForgeError, match="Linear refused reading ENG-1: Argument Validation Error") as caught:
        await tracker.get_issue(repo(), "ENG-1")
    assert not isinstance(caught.value, (ForgeUnavailable, NoSuchIssue))


async def test_hostile_titles_and_filters_stay_data(emulator: LinearEmulator, tracker: LinearTracker) -> None:
    hostile = '"; $(rm -rf ~) `id` } mutation { issueDelete(id: "x") { success } } #\n\x1b[31mred'
    key = emulator.create_issue("ENG", hostile, description="{{ config.token }} ${LINEAR_API_KEY}", labels=['we"ird'])
    emulator.comment(key, "') OR 1=1 --", user="Eve")

    issue = await tracker.get_issue(repo(), key)
    assert issue.title == hostile and issue.body == "{{ config.token }} ${LINEAR_API_KEY}"
    assert issue.labels == ('we"ird',) and issue.comments[0].body == "') OR 1=1 --"
    assert [i.title for i in await tracker.list_issues(repo(), labels=['we"ird'])] == [hostile]
    assert await tracker.list_issues(repo(), labels=['"} ) { x'], assignee='") { id } #') == []
    assert all(hostile not in r.query for r in emulator.requests())  # text only ever goes as variables
    assert mutations(emulator) == []


# --- token and status ---------------------------------------------------------------------------------


async def test_no_api_key_says_what_to_do_and_sends_nothing(emulator: LinearEmulator, make_tracker: Callable[..., LinearTracker]) -> None:
    tracker = make_tracker(env={})
    assert tracker.token_source() is None
    problem = await tracker.token_problem()
    assert problem is not None and "LINEAR_API_KEY" in problem and "linear.token" in problem
    with pytest.raises(ForgeError, match="no Linear API key: set LINEAR_API_KEY"):
        await tracker.list_issues(repo())
    assert emulator.requests() == []


async def test_the_key_from_config_or_the_environment(emulator: LinearEmulator, make_tracker: Callable[..., LinearTracker]) -> None:
    from_env = make_tracker()
    assert from_env.token_source() == "LINEAR_API_KEY" and await from_env.token_problem() is None
    from_config = make_tracker(env={"LINEAR_API_KEY": "lin_api_stale"}, linear={"token": emulator.token})
    assert from_config.token_source() == "linear.token"
    assert await from_config.list_issues(repo()) == []
    assert emulator.requests()[-1].headers["authorization"] == emulator.token
    assert emulator.mark() == 1  # token_problem() asked nothing


async def test_a_refused_key_is_a_clear_error(emulator: LinearEmulator, make_tracker: Callable[..., LinearTracker]) -> None:
    for key in ("lin_api_wrong", f"Bearer {emulator.token}"):
        tracker = make_tracker(env={"LINEAR_API_KEY": key})
        with pytest.raises(ForgeError) as caught:
            await tracker.get_issue(repo(), "ENG-1")
        assert str(caught.value) == REFUSED and not isinstance(caught.value, ForgeUnavailable)
    assert "set LINEAR_API_KEY" in REFUSED
    assert [r.status for r in emulator.requests()] == [401, 401]


async def test_a_key_that_is_not_a_key_is_never_sent(emulator: LinearEmulator, make_tracker: Callable[..., LinearTracker]) -> None:
    tracker = make_tracker(env={"LINEAR_API_KEY": "lin_api_x\r\nX-Evil: 1"})
    assert "not a Linear API key" in (await tracker.token_problem() or "")
    with pytest.raises(ForgeError, match="not a Linear API key"):
        await tracker.get_issue(repo(), "ENG-1")
    assert emulator.requests() == []


async def test_status_counts_requests_and_shows_the_budgets(emulator: LinearEmulator, tracker: LinearTracker) -> None:
    assert tracker.status() == {"token_source": "LINEAR_API_KEY", "requests": 0}
    emulator.create_issue("ENG", "x")
    await tracker.list_issues(repo())
    await tracker.get_issue(repo(), "ENG-1")
    status = tracker.status()
    assert status["requests"] == 2 == len(emulator.requests())
    budgets = status["rate_limit"]
    assert budgets["core"] == {"remaining": 4998, "limit": 5000}  # type: ignore[index]
    assert 0 < 3_000_000 - budgets["complexity"]["remaining"] < 1000  # type: ignore[index]


def test_linear_tracker_has_the_tracker_slot_s_methods_and_signatures() -> None:
    assert LinearTracker.kind == "linear"
    for name, member in vars(Tracker).items():
        if name.startswith("_") or not callable(member):
            continue
        ours = getattr(LinearTracker, name)
        assert inspect.iscoroutinefunction(ours) == inspect.iscoroutinefunction(member), name
        assert list(inspect.signature(ours).parameters) == list(inspect.signature(member).parameters), name
    assert inspect.iscoroutinefunction(LinearTracker.token_problem) and inspect.iscoroutinefunction(LinearTracker.aclose)


async def test_a_wrong_api_url_says_so(emulator: LinearEmulator, make_tracker: Callable[..., LinearTracker]) -> None:
    tracker = make_tracker(linear={"api_url": emulator.base_url + "/api"})
    with pytest.raises(ForgeError, match=r"with 404 and no data \(is linear.api_url, .*/api, Linear's GraphQL endpoint\?\)"):
        await tracker.list_issues(repo())


async def test_a_429_in_front_of_the_api_is_a_rate_limit_too(emulator: LinearEmulator, tracker: LinearTracker) -> None:
    emulator.fail(429)
    with pytest.raises(RateLimited) as caught:
        await tracker.list_issues(repo())
    assert caught.value.retry_after == 60
    assert len(emulator.requests()) == 1  # never retried
