"""The Jira tracker plugin against a stateful Jira emulator on loopback.

The plugin runs unmodified with `jira.base_url` pointed at the emulator: Jira Cloud with REST
v3 (ADF bodies, basic auth with email + API token) and Jira Server with REST v2 (strings, a
bearer personal access token). Requests are counted on the emulator's side. Waiting out rate
limits uses a fake clock for the plugin; retries of 5xx answers use the real clock with
millisecond backoffs.
"""

from __future__ import annotations

import base64
import email.utils
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from aod.config import Config
from aod.plugins.forge import ForgeError, ForgeUnavailable, NoSuchIssue, RepoTarget
from aod.plugins.tracker import NoSuchState
from aod.plugins.tracker.jira import JiraTracker, jira_rate_limit, jql_string, split_order_by
from tests.support.jira_emulator import CLASSIC, JiraEmulator, Transition, Workflow

REPO = RepoTarget(project="shop", path="/nonexistent", default_branch="main")


class FakeClock:
    """The plugin's monotonic clock: moves only when a test says so."""

    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Flavor:
    deployment: str
    api_version: int

    @property
    def cloud(self) -> bool:
        return self.deployment == "cloud"


FLAVORS = {"cloud-v3": Flavor("cloud", 3), "server-v2": Flavor("server", 2)}


@pytest.fixture(params=list(FLAVORS))
def flavor(request: pytest.FixtureRequest) -> Flavor:
    return FLAVORS[request.param]


@pytest.fixture
def emulator(flavor: Flavor) -> Iterator[JiraEmulator]:
    emu = JiraEmulator(deployment=flavor.deployment)
    emu.create_project("PROJ", name="Shop")
    emu.create_user("alice", "Alice Doe")
    emu.create_user("bob", "Bob Roe")
    yield emu
    emu.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def config(emulator: JiraEmulator, flavor: Flavor, *, project: dict[str, Any] | None = None, **jira: Any) -> Config:
    settings: dict[str, Any] = {"base_url": emulator.base_url, "api_version": flavor.api_version, "retry_backoff": 0.005, "timeout": 5}
    if flavor.cloud:
        settings["email"] = emulator.email
    settings.update(jira)
    projects = {"shop": {"tracker": "jira", "jira": {"project": "PROJ"} if project is None else project}}
    return Config.model_validate({"jira": settings, "projects": projects})


@pytest.fixture
async def make_tracker(emulator: JiraEmulator, flavor: Flavor, clock: FakeClock) -> AsyncIterator[Callable[..., JiraTracker]]:
    made: list[JiraTracker] = []

    def make(env: dict[str, str] | None = None, *, project: dict[str, Any] | None = None, **jira: Any) -> JiraTracker:
        cfg = config(emulator, flavor, project=project, **jira)
        token = emulator.token if flavor.cloud else emulator.pat
        tracker = JiraTracker(lambda: cfg, env={"JIRA_API_TOKEN": token} if env is None else env, clock=clock)
        made.append(tracker)
        return tracker

    yield make
    for tracker in made:
        await tracker.aclose()


@pytest.fixture
def tracker(make_tracker: Callable[..., JiraTracker]) -> JiraTracker:
    return make_tracker()


def adf(*paragraphs: Any) -> dict[str, Any]:
    return {"version": 1, "type": "doc", "content": list(paragraphs)}


def para(*content: Any) -> dict[str, Any]:
    return {"type": "paragraph", "content": list(content)}


def text(value: str, **link: str) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "text", "text": value}
    if link:
        node["marks"] = [{"type": "link", "attrs": {"href": link["href"]}}]
    return node


def search_path(flavor: Flavor) -> str:
    return "/search/jql" if flavor.api_version == 3 else "/search"


# --- listing ---------------------------------------------------------------------------------------


async def test_list_open_issues_newest_first_in_one_request(emulator: JiraEmulator, tracker: JiraTracker, flavor: Flavor) -> None:
    first = emulator.create_issue("PROJ", "Cart total is off by one", labels=["bug"], assignee="alice")
    second = emulator.create_issue("PROJ", "Checkout button is grey", status="In Progress")
    emulator.create_issue("PROJ", "Old thing", status="Done")
    before = emulator.mark()

    issues = await tracker.list_issues(REPO)

    assert [i.id for i in issues] == [second, first]
    assert issues[1].title == "Cart total is off by one"
    assert issues[1].labels == ("bug",) and issues[1].assignees == ("Alice Doe",) and issues[1].state == "open"
    assert issues[1].url == f"{emulator.base_url}/browse/{first}"
    sent = emulator.requests(before)
    assert len(sent) == 1
    assert sent[0].path == search_path(flavor) and sent[0].version == str(flavor.api_version)
    assert sent[0].query["jql"] == '(project = "PROJ") AND statusCategory != Done ORDER BY created DESC'
    assert set(sent[0].query["fields"].split(",")) >= {"summary", "description", "status", "labels", "assignee", "created", "reporter"}


async def test_list_filters_state_labels_assignee_and_fix_version(emulator: JiraEmulator, tracker: JiraTracker) -> None:
    emulator.create_project("OTHER")
    bug_ui = emulator.create_issue("PROJ", "bug ui", labels=["bug", "ui"], assignee="alice")
    bug = emulator.create_issue("PROJ", "bug", labels=["bug"], assignee="bob")
    chore = emulator.create_issue("PROJ", "chore", labels=["chore"])
    done = emulator.create_issue("PROJ", "fixed bug", labels=["bug"], status="Done")
    emulator.create_issue("OTHER", "someone else's bug", labels=["bug"])

    assert [i.id for i in await tracker.list_issues(REPO, labels=["bug"])] == [bug, bug_ui]
    assert [i.id for i in await tracker.list_issues(REPO, labels=["bug", "ui"])] == [bug_ui]
    assert [i.id for i in await tracker.list_issues(REPO, assignee="Alice Doe")] == [bug_ui]
    assert [i.id for i in await tracker.list_issues(REPO, assignee="none")] == [chore]
    closed = await tracker.list_issues(REPO, state="closed")
    assert [i.id for i in closed] == [done] and closed[0].state == "closed"
    assert [i.id for i in await tracker.list_issues(REPO, state="all", labels=["bug"])] == [done, bug, bug_ui]
    assert [i.id for i in await tracker.list_issues(REPO, state="all", limit=2)] == [done, chore]
    assert await tracker.list_issues(REPO, limit=0) == []


async def test_list_by_fix_version_and_me(emulator: JiraEmulator, make_tracker: Callable[..., JiraTracker]) -> None:
    emulator.create_project("REL", versions=("1.0", "2.0"))
    mine = emulator.create_issue("REL", "mine", assignee="bot", fix_versions=("1.0",))
    emulator.create_issue("REL", "later", fix_versions=("2.0",))
    rel = RepoTarget(project="shop", path="/x", default_branch="main")
    tracker = make_tracker(project={"project": "REL"})

    issues = await tracker.list_issues(rel, milestone="1.0")
    assert [i.id for i in issues] == [mine] and issues[0].milestone == "1.0"
    assert [i.id for i in await tracker.list_issues(rel, assignee="me")] == [mine]


async def test_the_projects_own_jql_is_combined_with_the_filters(emulator: JiraEmulator, make_tracker: Callable[..., JiraTracker]) -> None:
    emulator.create_project("OPS")
    a = emulator.create_issue("PROJ", "frontend bug", labels=["frontend", "bug"])
    emulator.create_issue("PROJ", "backend bug", labels=["backend", "bug"])
    b = emulator.create_issue("OPS", "frontend ops", labels=["frontend"])
    tracker = make_tracker(project={"jql": "project in (PROJ, OPS) AND labels = frontend ORDER BY key ASC"})
    before = emulator.mark()

    assert [i.id for i in await tracker.list_issues(REPO)] == [b, a]
    assert [i.id for i in await tracker.list_issues(REPO, labels=["bug"])] == [a]
    assert emulator.requests(before)[0].query["jql"] == (
        '(project in (PROJ, OPS) AND labels = frontend) AND statusCategory != Done ORDER BY created DESC'
    )


async def test_a_broken_jql_is_the_users_to_fix(emulator: JiraEmulator, make_tracker: Callable[..., JiraTracker]) -> None:
    tracker = make_tracker(project={"jql": "project = NOPE"})
    with pytest.raises(ForgeError, match=r"Jira refused the JQL .*The value 'NOPE' does not exist for the field 'project'.*projects.shop.jira.jql"):
        await tracker.list_issues(REPO)


async def test_no_jira_project_configured_says_what_to_set(emulator: JiraEmulator, make_tracker: Callable[..., JiraTracker]) -> None:
    tracker = make_tracker(project={})
    before = emulator.mark()
    with pytest.raises(ForgeError, match=r"set projects.shop.jira.project"):
        await tracker.list_issues(REPO)
    unknown = RepoTarget(project="elsewhere", path="/x", default_branch="main")
    with pytest.raises(ForgeError, match=r"set projects.elsewhere.jira.project"):
        await tracker.list_issues(unknown)
    assert emulator.requests(before) == []


async def test_list_follows_pages_up_to_the_limit(emulator: JiraEmulator, tracker: JiraTracker, flavor: Flavor) -> None:
    keys = [emulator.create_issue("PROJ", f"issue {n}") for n in range(230)]
    before = emulator.mark()

    issues = await tracker.list_issues(REPO, limit=150)

    assert [i.id for i in issues] == list(reversed(keys))[:150]
    sent = emulator.requests(before)
    assert [r.query["maxResults"] for r in sent] == ["100", "50"]  # the third page is never asked for
    if flavor.api_version == 3:
        assert "nextPageToken" in sent[1].query
    else:
        assert sent[1].query["startAt"] == "100"


# --- hostile text stays data -------------------------------------------------------------------


@pytest.mark.parametrize(
    "label",
    [
        'x" OR project = "OTHER',  # unquoted, this would list another project's issues
        'x" OR project != "Y',  # unquoted, Jira would refuse the query (no project Y)
        "x' OR 'a' = 'a",
        'bug\\" OR labels is not EMPTY OR labels = "',
        "line\nbreak ORDER BY key",
        "@ + [ ] ; | * % ^ $ #",
        "and",
    ],
)
async def test_a_hostile_label_stays_a_value(emulator: JiraEmulator, tracker: JiraTracker, label: str) -> None:
    emulator.create_project("OTHER")
    emulator.create_issue("OTHER", "secret", labels=["x"])
    emulator.create_issue("PROJ", "ours", labels=["bug"])
    match = emulator.create_issue("PROJ", "the label really is that", labels=[label])

    assert [i.id for i in await tracker.list_issues(REPO, labels=[label])] == [match]


async def test_a_hostile_assignee_and_fix_version_stay_values(emulator: JiraEmulator, tracker: JiraTracker) -> None:
    emulator.create_issue("PROJ", "assigned", assignee="alice")
    before = emulator.mark()
    with pytest.raises(ForgeError, match=r"does not exist for the field 'assignee'"):
        await tracker.list_issues(REPO, assignee='alice" OR assignee is not EMPTY OR assignee = "bob')
    with pytest.raises(ForgeError, match=r"does not exist for the field 'fixVersion'"):
        await tracker.list_issues(REPO, milestone='1.0" OR project is not EMPTY OR fixVersion = "2')
    jqls = [r.query["jql"] for r in emulator.requests(before)]
    assert 'assignee = "alice\\" OR assignee is not EMPTY OR assignee = \\"bob"' in jqls[0]


async def test_the_emulator_refuses_what_an_unescaped_value_would_send(emulator: JiraEmulator, flavor: Flavor) -> None:
    """The check the hostile-label tests rely on: the same values pasted raw into JQL are
    refused (or widen the query), as Jira would."""
    emulator.create_project("OTHER")
    emulator.create_issue("OTHER", "secret", labels=["x"])
    token = emulator.token if flavor.cloud else emulator.pat
    auth = (
        {"Authorization": "Basic " + base64.b64encode(f"{emulator.email}:{token}".encode()).decode()}
        if flavor.cloud else {"Authorization": f"Bearer {token}"}
    )
    url = f"{emulator.base_url}/rest/api/{flavor.api_version}{search_path(flavor)}"
    async with httpx.AsyncClient() as client:
        refused = await client.get(url, params={"jql": '(project = "PROJ") AND labels = "x" OR project != "Y"', "fields": "summary"}, headers=auth)
        widened = await client.get(url, params={"jql": 'project = "PROJ" AND labels = "x" OR project = "OTHER"', "fields": "summary"}, headers=auth)
        reserved = await client.get(url, params={"jql": "project = PROJ AND labels = a@b", "fields": "summary"}, headers=auth)
    assert refused.status_code == 400
    assert refused.json()["errorMessages"] == ["The value 'Y' does not exist for the field 'project'."]
    assert [i["fields"]["summary"] for i in widened.json()["issues"]] == ["secret"]
    assert reserved.status_code == 400 and "reserved JQL character" in reserved.json()["errorMessages"][0]


async def test_hostile_issue_keys_are_refused_before_anything_is_sent(emulator: JiraEmulator, tracker: JiraTracker) -> None:
    before = emulator.mark()
    for key in ['PROJ-1" OR key = "OTHER-1', "../myself", "PROJ-1/../../myself", "PROJ-0", "PROJ-", "42x", "PROJ 1", "PROJ-١"]:
        with pytest.raises(NoSuchIssue, match="not a Jira issue key"):
            await tracker.get_issue(REPO, key)
        with pytest.raises(NoSuchIssue):
            await tracker.move_issue(REPO, key, "Done")
        with pytest.raises(NoSuchIssue):
            await tracker.link_pr(REPO, key, url="https://github.com/acme/shop/pull/1", title="x")
    assert emulator.requests(before) == []


async def test_issue_text_is_data(emulator: JiraEmulator, tracker: JiraTracker) -> None:
    hostile = "$(rm -rf ~); `reboot` \"; DROP TABLE issues; --"
    key = emulator.create_issue("PROJ", hostile, description=hostile, labels=["$(id)"])
    emulator.comment(key, hostile)

    issue = await tracker.get_issue(REPO, key)

    assert issue.title == hostile and issue.body == hostile and issue.labels == ("$(id)",)
    assert [c.body for c in issue.comments] == [hostile]


# --- reading one issue ------------------------------------------------------------------------------


async def test_get_issue_with_description_and_comments_as_text(emulator: JiraEmulator, tracker: JiraTracker, flavor: Flavor) -> None:
    description = adf(
        {"type": "heading", "attrs": {"level": 2}, "content": [text("Steps")]},
        {"type": "orderedList", "content": [
            {"type": "listItem", "content": [para(text("add two items"))]},
            {"type": "listItem", "content": [para(text("open the "), text("cart", href="https://shop.example/cart"))]},
        ]},
        para(text("cc "), {"type": "mention", "attrs": {"id": "5b10", "text": "@Alice Doe"}}),
    )
    key = emulator.create_issue("PROJ", "Cart total is off by one", description=description, labels=["bug"], assignee="alice", reporter="bob")
    emulator.comment(key, adf(para(text("Seen on staging"), {"type": "hardBreak"}, text("and prod"))), author="alice")
    emulator.comment(key, "plain words", author="bob")
    before = emulator.mark()

    issue = await tracker.get_issue(REPO, key)

    assert len(emulator.requests(before)) == 1
    assert emulator.requests(before)[0].path == f"/issue/{key}"
    assert "comment" in emulator.requests(before)[0].query["fields"].split(",")
    assert (issue.id, issue.title, issue.state) == (key, "Cart total is off by one", "open")
    assert issue.author == "Bob Roe" and issue.assignees == ("Alice Doe",) and issue.labels == ("bug",)
    assert issue.url == f"{emulator.base_url}/browse/{key}"
    assert issue.created_at.endswith("Z") and "T" in issue.created_at
    if flavor.api_version == 3:  # ADF, turned into text by the plugin
        assert issue.body == "## Steps\n\n1. add two items\n2. open the cart (https://shop.example/cart)\n\ncc @Alice Doe"
        assert [(c.author, c.body) for c in issue.comments] == [("Alice Doe", "Seen on staging\nand prod"), ("Bob Roe", "plain words")]
    else:  # v2: Jira's own strings, as they come
        assert "add two items" in issue.body and "@Alice Doe" in issue.body
        assert [(c.author, c.body) for c in issue.comments] == [("Alice Doe", "Seen on staging\nand prod"), ("Bob Roe", "plain words")]
    assert all(c.at.endswith("Z") for c in issue.comments)


async def test_a_long_thread_is_read_to_its_end(emulator: JiraEmulator, tracker: JiraTracker) -> None:
    key = emulator.create_issue("PROJ", "chatty")
    for n in range(130):
        emulator.comment(key, f"comment {n}")
    emulator.comments_in_issue = 20  # the issue's `comment` field holds the first 20
    before = emulator.mark()

    issue = await tracker.get_issue(REPO, key)

    assert [c.body for c in issue.comments] == [f"comment {n}" for n in range(130)]
    assert [(r.path, r.query.get("startAt")) for r in emulator.requests(before)] == [
        (f"/issue/{key}", None), (f"/issue/{key}/comment", "20"), (f"/issue/{key}/comment", "120"),
    ]


async def test_keys_are_case_insensitive_and_a_bare_number_is_in_the_project(emulator: JiraEmulator, tracker: JiraTracker) -> None:
    key = emulator.create_issue("PROJ", "one")
    assert (await tracker.get_issue(REPO, key.lower())).id == key
    assert (await tracker.get_issue(REPO, key.split("-")[1])).id == key


async def test_an_unknown_key_is_no_such_issue(emulator: JiraEmulator, tracker: JiraTracker) -> None:
    with pytest.raises(NoSuchIssue, match="Jira has no issue PROJ-99"):
        await tracker.get_issue(REPO, "PROJ-99")
    with pytest.raises(NoSuchIssue):
        await tracker.move_issue(REPO, "PROJ-99", "Done")
    with pytest.raises(NoSuchIssue):
        await tracker.link_pr(REPO, "PROJ-99", url="https://github.com/acme/shop/pull/1", title="x")


# --- moving an issue -------------------------------------------------------------------------------


async def test_move_to_in_progress_then_done_writing_only_when_needed(emulator: JiraEmulator, tracker: JiraTracker) -> None:
    key = emulator.create_issue("PROJ", "work")
    before = emulator.mark()

    assert await tracker.move_issue(REPO, key, "in progress") == "In Progress"
    assert emulator.status_of(key) == "In Progress"
    writes = emulator.writes(before)
    assert [(w.path, w.body) for w in writes] == [(f"/issue/{key}/transitions", {"transition": {"id": "21"}})]
    assert len(emulator.requests(before)) == 2  # one read (status + transitions), one write

    again = emulator.mark()
    assert await tracker.move_issue(REPO, key, "In Progress") == "In Progress"
    assert emulator.writes(again) == [] and len(emulator.requests(again)) == 1

    assert await tracker.move_issue(REPO, key, "Done") == "Done"
    assert emulator.status_of(key) == "Done"
    done = emulator.mark()
    assert await tracker.move_issue(REPO, key, "DONE") == "Done"
    assert emulator.writes(done) == []


async def test_an_unknown_state_names_the_transitions_there_are(emulator: JiraEmulator, tracker: JiraTracker) -> None:
    key = emulator.create_issue("PROJ", "work")
    before = emulator.mark()
    with pytest.raises(NoSuchState, match=r"no transition to 'Shipped'.*'In Progress' \(to In Progress\), 'Done' \(to Done\)"):
        await tracker.move_issue(REPO, key, "Shipped")
    assert emulator.writes(before) == []
    assert emulator.status_of(key) == "To Do"


async def test_classic_workflow_by_transition_name_target_status_or_category(emulator: JiraEmulator, make_tracker: Callable[..., JiraTracker]) -> None:
    emulator.create_project("CL", workflow=CLASSIC)
    tracker = make_tracker(project={"project": "CL"})
    a = emulator.create_issue("CL", "by target")
    b = emulator.create_issue("CL", "by name")
    c = emulator.create_issue("CL", "by category")

    assert await tracker.move_issue(REPO, a, "In Progress") == "In Progress"  # via "Start Progress"
    assert emulator.status_of(a) == "In Progress"
    assert await tracker.move_issue(REPO, b, "resolve issue") == "Resolved"
    # No status or transition is called Done: the first transition into the Done category.
    assert await tracker.move_issue(REPO, c, "Done") == "Resolved"
    before = emulator.mark()
    assert await tracker.move_issue(REPO, c, "Done") == "Resolved"  # already in a done status
    assert emulator.writes(before) == []
    with pytest.raises(NoSuchState, match=r"'Reopen Issue' \(to Reopened\)"):
        await tracker.move_issue(REPO, c, "Open")  # Resolved has no way back to Open, only Reopened


async def test_a_transition_jira_refuses_is_explained(emulator: JiraEmulator, tracker: JiraTracker) -> None:
    strict = Workflow(
        statuses={"To Do": "new", "Done": "done"},
        transitions=(Transition("51", "Done", "Done", required=("resolution",)),),
        initial="To Do",
    )
    emulator.create_project("ST", workflow=strict)
    key = emulator.create_issue("ST", "needs a resolution")
    with pytest.raises(ForgeError, match=r"Jira refused the transition 'Done' of ST-1: resolution: Resolution is required"):
        await tracker.move_issue(REPO, key, "Done")
    assert emulator.status_of(key) == "To Do"


# --- linking a PR -----------------------------------------------------------------------------------


async def test_link_pr_once_however_often_it_is_asked(emulator: JiraEmulator, tracker: JiraTracker) -> None:
    key = emulator.create_issue("PROJ", "work")
    url = "https://github.com/acme/shop/pull/7"

    await tracker.link_pr(REPO, key, url=url, title="Fix the cart total")
    await tracker.link_pr(REPO, key, url=url, title="Fix the cart total (v2)")

    links = emulator.remote_links(key)
    assert len(links) == 1
    assert links[0]["globalId"] == url
    assert links[0]["object"] == {"url": url, "title": "PR: Fix the cart total (v2)"}
    await tracker.link_pr(REPO, key, url="https://github.com/acme/shop/pull/8", title="PR #8: Another")
    assert [link["object"] for link in emulator.remote_links(key)][1] == {"url": "https://github.com/acme/shop/pull/8", "title": "PR #8: Another"}
    assert len(emulator.remote_links(key)) == 2


async def test_link_pr_refuses_what_is_not_a_web_address(emulator: JiraEmulator, tracker: JiraTracker) -> None:
    key = emulator.create_issue("PROJ", "work")
    before = emulator.mark()
    for url in ["javascript:alert(1)", "file:///etc/passwd", "https://x y", ""]:
        with pytest.raises(ForgeError, match="not a PR's web address"):
            await tracker.link_pr(REPO, key, url=url, title="x")
    assert emulator.requests(before) == []


async def test_a_long_pr_url_still_links_once(emulator: JiraEmulator, tracker: JiraTracker) -> None:
    key = emulator.create_issue("PROJ", "work")
    url = "https://git.example.com/" + "a" * 300 + "/pull/1"
    await tracker.link_pr(REPO, key, url=url, title="t" * 400)
    await tracker.link_pr(REPO, key, url=url, title="t")
    links = emulator.remote_links(key)
    assert len(links) == 1 and len(links[0]["globalId"]) <= 255 and links[0]["object"]["url"] == url


# --- rate limits, outages, slowness --------------------------------------------------------------------


async def test_429_is_unavailable_then_nothing_is_sent_until_retry_after(emulator: JiraEmulator, tracker: JiraTracker, clock: FakeClock) -> None:
    emulator.create_issue("PROJ", "work")
    emulator.fail(429, retry_after=30)

    with pytest.raises(ForgeUnavailable) as raised:
        await tracker.list_issues(REPO)
    assert raised.value.retry_after == 30
    assert len(emulator.requests()) == 1  # a rate limit is never retried into

    waiting = emulator.mark()
    clock.now += 29
    with pytest.raises(ForgeUnavailable):
        await tracker.list_issues(REPO)
    with pytest.raises(ForgeUnavailable):
        await tracker.get_issue(REPO, "PROJ-1")
    assert emulator.requests(waiting) == []
    assert tracker.status()["waiting_s"]

    clock.now += 10  # past Retry-After and its jitter
    assert [i.id for i in await tracker.list_issues(REPO)] == ["PROJ-1"]
    assert len(emulator.requests(waiting)) == 1


async def test_5xx_is_retried(emulator: JiraEmulator, tracker: JiraTracker) -> None:
    key = emulator.create_issue("PROJ", "work")
    emulator.fail(502, times=2)
    before = emulator.mark()

    assert (await tracker.get_issue(REPO, key)).id == key
    assert [r.status for r in emulator.requests(before)] == [502, 502, 200]


async def test_5xx_that_goes_on_is_unavailable(emulator: JiraEmulator, tracker: JiraTracker) -> None:
    emulator.fail(503, times=5)
    with pytest.raises(ForgeUnavailable, match="503"):
        await tracker.list_issues(REPO)
    assert len(emulator.requests()) == 3  # the first try and two retries


async def test_a_transition_is_not_retried_after_a_5xx(emulator: JiraEmulator, tracker: JiraTracker) -> None:
    key = emulator.create_issue("PROJ", "work")
    emulator.fail(502, path="/transitions")
    with pytest.raises(ForgeUnavailable):
        await tracker.move_issue(REPO, key, "Done")
    assert len(emulator.writes()) == 1  # the first POST may have worked: never sent twice


async def test_a_slow_jira_is_unavailable_within_the_timeout(emulator: JiraEmulator, make_tracker: Callable[..., JiraTracker]) -> None:
    tracker = make_tracker(timeout=0.5)
    emulator.slow(5)
    started = time.monotonic()
    with pytest.raises(ForgeUnavailable, match="no answer from Jira within 0.5s"):
        await tracker.list_issues(REPO)
    assert time.monotonic() - started < 3


async def test_requests_and_the_budget_are_counted(emulator: JiraEmulator, tracker: JiraTracker) -> None:
    emulator._budget = emulator._remaining = 500  # a site that sends X-RateLimit-* on each answer
    key = emulator.create_issue("PROJ", "work")
    await tracker.list_issues(REPO)
    await tracker.get_issue(REPO, key)

    status = tracker.status()
    assert status["requests"] == 2 == len(emulator.requests())
    assert status["rate_limit"] == {"core": {"remaining": 498, "limit": 500}}
    assert status["token_source"] == "JIRA_API_TOKEN"


def test_rate_limit_reads_retry_after_or_jiras_iso_reset() -> None:
    date = email.utils.formatdate(1_700_000_000, usegmt=True)
    request = httpx.Request("GET", "https://x.atlassian.net/rest/api/3/search/jql")
    after = httpx.Response(429, headers={"Retry-After": "12", "Date": date}, request=request)
    iso = httpx.Response(429, headers={"X-RateLimit-Reset": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(1_700_000_000 + 120)), "Date": date}, request=request)
    bare = httpx.Response(429, request=request)
    busy = httpx.Response(503, headers={"Retry-After": "5"}, request=request)
    assert jira_rate_limit(after) == 12
    assert 60 <= (jira_rate_limit(iso) or 0) <= 120  # minute resolution
    assert jira_rate_limit(bare) == 60
    assert jira_rate_limit(busy) == 5
    assert jira_rate_limit(httpx.Response(503, request=request)) is None  # retried as an outage
    assert jira_rate_limit(httpx.Response(200, request=request)) is None


# --- auth and configuration -----------------------------------------------------------------------


async def test_a_refused_token_says_so(emulator: JiraEmulator, make_tracker: Callable[..., JiraTracker], flavor: Flavor) -> None:
    tracker = make_tracker(env={"JIRA_API_TOKEN": "wrong"})
    expected = r"Jira refused the credentials.*jira.email" if flavor.cloud else r"Jira refused the token.*personal access token"
    with pytest.raises(ForgeError, match=expected) as raised:
        await tracker.list_issues(REPO)
    assert not isinstance(raised.value, ForgeUnavailable)
    assert "wrong" not in str(raised.value)


@pytest.mark.parametrize("flavor", ["cloud-v3"], indirect=True)
async def test_cloud_wants_the_email_with_its_api_token(make_tracker: Callable[..., JiraTracker], emulator: JiraEmulator, flavor: Flavor) -> None:
    tracker = make_tracker(email=None)  # the API token sent as a bearer token
    with pytest.raises(ForgeError, match="Jira refused the token"):
        await tracker.list_issues(REPO)
    tracker = make_tracker(email="someone-else@example.com")
    with pytest.raises(ForgeError, match=r"check jira.email \(someone-else@example.com\)"):
        await tracker.list_issues(REPO)


async def test_token_source_and_problems_without_a_request(emulator: JiraEmulator, make_tracker: Callable[..., JiraTracker], flavor: Flavor) -> None:
    configured = make_tracker(env={}, token=emulator.token if flavor.cloud else emulator.pat)
    assert configured.token_source() == "jira.token" and await configured.token_problem() is None
    assert (await configured.list_issues(REPO)) == []
    from_env = make_tracker()
    assert from_env.token_source() == "JIRA_API_TOKEN" and await from_env.token_problem() is None

    before = emulator.mark()
    none = make_tracker(env={})
    assert none.token_source() is None
    assert "set JIRA_API_TOKEN" in (await none.token_problem() or "")
    with pytest.raises(ForgeError, match="set JIRA_API_TOKEN"):
        await none.list_issues(REPO)
    no_site = make_tracker(base_url=None)
    assert "set jira.base_url" in (await no_site.token_problem() or "")
    with pytest.raises(ForgeError, match="set jira.base_url"):
        await no_site.get_issue(REPO, "PROJ-1")
    cloud_without_email = make_tracker(base_url="https://acme.atlassian.net", email=None)
    assert "set jira.email" in (await cloud_without_email.token_problem() or "")
    assert emulator.requests(before) == []


@pytest.mark.parametrize("flavor", ["cloud-v3"], indirect=True)
async def test_cloud_with_api_version_2_uses_the_search_that_remains(make_tracker: Callable[..., JiraTracker], emulator: JiraEmulator, flavor: Flavor) -> None:
    tracker = make_tracker(api_version=2)
    key = emulator.create_issue("PROJ", "work", description=adf(para(text("rich"))))
    before = emulator.mark()

    issues = await tracker.list_issues(REPO)
    assert [i.id for i in issues] == [key] and issues[0].body == "rich"
    assert [(r.path, r.status) for r in emulator.requests(before)] == [("/search", 410), ("/search/jql", 200)]
    again = emulator.mark()
    await tracker.list_issues(REPO)
    assert [r.path for r in emulator.requests(again)] == ["/search/jql"]


# --- pure helpers ---------------------------------------------------------------------------------


def test_jql_strings_escape_quotes_backslashes_and_controls() -> None:
    assert jql_string("plain") == '"plain"'
    assert jql_string('x" OR project != "Y') == '"x\\" OR project != \\"Y"'
    assert jql_string("back\\slash") == '"back\\\\slash"'
    assert jql_string("a\nb\tc\x01") == '"a\\nb\\tc\\u0001"'


def test_order_by_is_split_off_outside_quotes_only() -> None:
    assert split_order_by("project = X ORDER BY rank") == ("project = X", "ORDER BY rank")
    assert split_order_by('summary ~ "order by" and labels = a') == ('summary ~ "order by" and labels = a', "")
    assert split_order_by("order by created") == ("", "order by created")
    assert split_order_by("labels = reorder") == ("labels = reorder", "")


async def test_doctor_shows_the_token_source_or_what_to_set(emulator: JiraEmulator, make_tracker: Callable[..., JiraTracker]) -> None:
    from aod.doctor import _remote_check

    good = await _remote_check("shop", "tracker", "jira", lambda kind: make_tracker())
    assert good.ok and good.detail == "Jira token from JIRA_API_TOKEN"
    bad = await _remote_check("shop", "tracker", "jira", lambda kind: make_tracker(env={}))
    assert not bad.ok and "set JIRA_API_TOKEN" in bad.detail and bad.fix
    assert emulator.requests() == []
