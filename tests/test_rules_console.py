"""The rules console and API over HTTP: validate with lines, preview, publish from now on or retroactively,
roll back, diffs, permissions, CSRF, and every process following the published version."""

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from rewards import PROJECT_ROOT
from rewards.apply import publish as publishing
from rewards.apply.applier import Applier
from rewards.apply.publish import publish_retroactively
from rewards.auth.service import Scope, create_key
from rewards.db import unit_of_work
from rewards.errors import Conflict
from rewards.events import repository as events_repository
from rewards.events import service as events
from rewards.rulesets import repository as rulesets_repository
from rewards.rulesets import service as rulesets
from rewards.rulesets.models import RulesetPublishJobRow
from rewards.runtime import Runtime, utcnow
from tests.conftest import make_settings, run_scheduled_publish
from tests.factories import answer, upvote
from tests.test_cli import rewards
from tests.test_web import Web, open_web, web_settings

DEFAULT = (PROJECT_ROOT / "rules" / "default.yaml").read_text()
UPVOTE_AWARD = "        points: 10\n        cap: upvotes-per-day\n"
DOUBLED = DEFAULT.replace(UPVOTE_AWARD, UPVOTE_AWARD.replace("10", "20"))
BROKEN_LINE = "    when: actor != post.author          # votes on one's own post earn nothing\n"
BROKEN = DEFAULT.replace(BROKEN_LINE, "    when: actor = post.author\n")
A1 = answer("a1", "piotr", "q1")


@pytest.fixture
async def web(database_url: str) -> AsyncIterator[Web]:
    async with open_web(web_settings(database_url)) as opened:
        yield opened


async def manager(web: Web) -> str:
    """Signs a manager in; the form token of the editor."""
    await web.sign_in("mia", roles=["manager"])
    return await web.csrf_token("/admin/rules/edit")


async def three_upvotes(web: Web) -> None:
    await web.post_events(*(upvote(voter, A1, minutes=n) for n, voter in enumerate(["ola", "marek", "tomek"])))


async def history(web: Web, user_id: str) -> list[dict[str, Any]]:
    response = await web.forum.get(f"/v1/users/{user_id}/history")
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["entries"]
    return entries


async def reputation(web: Web, user_id: str) -> int:
    response = await web.forum.get(f"/v1/users/{user_id}")
    assert response.status_code == 200, response.text
    value: int = response.json()["reputation"]
    return value


async def published_version(web: Web) -> int:
    response = await web.forum.get("/v1/rulesets")
    assert response.status_code == 200, response.text
    value: int = response.json()["published_version"]
    return value


async def edit(web: Web, token: str, action: str, source: str, **fields: str) -> Any:
    form = {"csrf_token": token, "action": action, "source": source, **fields}
    return await web.browser.post("/admin/rules/edit", data=form)


def test_the_broken_draft_breaks_the_line_it_says() -> None:
    assert DEFAULT.count(UPVOTE_AWARD) == 1 and DEFAULT.count(BROKEN_LINE) == 1


async def test_validate_shows_each_error_at_its_line(web: Web) -> None:
    token = await manager(web)
    page = await web.browser.get("/admin/rules/edit")
    assert page.status_code == 200
    assert "ruleset: default" in page.text  # prefilled with the published rules
    line = DEFAULT[: DEFAULT.index(BROKEN_LINE)].count("\n") + 1

    refused = await edit(web, token, "validate", BROKEN)

    assert refused.status_code == 422
    assert f'<a href="#line-{line}">Line {line}</a>' in refused.text
    assert "is not a valid expression" in refused.text
    assert f'<tr id="line-{line}" class="problem">' in refused.text
    assert 'class="problem"' not in refused.text.replace(f'<tr id="line-{line}" class="problem">', "")
    valid = await edit(web, token, "validate", DOUBLED)
    assert valid.status_code == 200 and "The draft is valid." in valid.text
    assert "upvote-cap" not in valid.text and "points: 20" in valid.text  # the draft is kept in the textarea


async def test_preview_shows_the_movers_and_changes_nothing(web: Web) -> None:
    await three_upvotes(web)
    token = await manager(web)

    page = await edit(web, token, "preview", DOUBLED, days="")

    assert page.status_code == 200, page.text
    assert "The whole event log, run from an empty state" in page.text
    assert re.search(r'data-testid="events-affected">3<', page.text)
    movers = page.text[page.text.index('data-testid="movers"') :]
    assert re.search(
        r'<td><span class="member" data-member="piotr">.*?<a href="/admin/people/piotr">piotr</a>.*?</td>'
        r'<td class="num">30</td><td class="num">60</td>',
        movers,
    )
    assert await reputation(web, "piotr") == 30  # nothing changed
    assert len(await history(web, "piotr")) == 3


async def test_publish_from_now_on_keeps_the_past_and_applies_the_new_version_to_new_events(web: Web) -> None:
    await three_upvotes(web)
    before = await history(web, "piotr")
    first = await published_version(web)
    token = await manager(web)

    published = await edit(web, token, "publish", DOUBLED, mode="from_now_on", comment="upvotes count double")

    assert published.status_code == 303, published.text
    second = await published_version(web)
    assert second != first
    assert published.headers["location"] == f"/admin/rules?published={second}"
    assert await history(web, "piotr") == before  # past awards stay as they were
    assert await reputation(web, "piotr") == 30
    await web.post_events(upvote("kasia", A1, minutes=10))
    newest = (await history(web, "piotr"))[0]
    assert (newest["points"], newest["ruleset_version"]) == (20, second)
    assert {entry["ruleset_version"] for entry in before} == {first}
    assert await reputation(web, "piotr") == 50

    page = await web.browser.get(f"/admin/rules?published={second}")
    assert f"Version {second} is published." in page.text
    assert "upvotes count double" in page.text and "user:mia" in page.text and "from now on" in page.text
    audit = await web.forum.get("/v1/audit", params={"action": "ruleset.published", "actor": "user:mia"})
    [entry] = audit.json()["entries"]
    assert entry["reason"] == "upvotes count double" and entry["detail"]["mode"] == "from_now_on"
    assert (entry["detail"]["version"], entry["detail"]["previous_version"]) == (second, first)


def runtime_of(web: Web) -> Runtime:
    return applier_of(web).runtime


def applier_of(web: Web) -> Applier:
    applier: Applier = web.forum._transport.app.state.applier  # type: ignore[attr-defined]
    return applier


async def ask_retroactive(web: Web, source: str = DOUBLED, comment: str = "d") -> Any:
    """`POST /v1/rulesets/publish`, retroactively: the answer (202 with the job, when taken)."""
    return await web.forum.post(
        "/v1/rulesets/publish", json={"source": source, "mode": "retroactive", "comment": comment}
    )


async def run_publish_job(web: Web) -> int:
    """What the scheduler does every few seconds (it does not run in these tests): run the queued job."""
    return await run_scheduled_publish(applier_of(web))


async def test_publish_retroactively_recomputes_the_past_and_a_rollback_restores_it(web: Web) -> None:
    await three_upvotes(web)
    first = await published_version(web)
    token = await manager(web)

    queued = await edit(web, token, "publish", DOUBLED, mode="retroactive", comment="double, for everyone")

    assert queued.status_code == 303, queued.text
    assert re.fullmatch(r"/admin/rules\?queued=\d+", queued.headers["location"])
    page = await web.browser.get(queued.headers["location"])
    assert "The retroactive publish is queued" in page.text and "Queued: it starts within seconds." in page.text
    assert '<meta http-equiv="refresh" content="5; url=/admin/rules">' in page.text  # it follows the job
    assert await published_version(web) == first and await reputation(web, "piotr") == 30  # nothing yet

    assert await run_publish_job(web) == 1

    second = await published_version(web)
    assert second != first
    assert await reputation(web, "piotr") == 60
    assert {entry["ruleset_version"] for entry in await history(web, "piotr")} == {second}
    page = await web.browser.get("/admin/rules")
    assert "Published: 3 events recomputed (0 failed)" in page.text
    assert '<meta http-equiv="refresh"' not in page.text
    assert await run_publish_job(web) == 0  # nothing left

    # Roll back: open version 1 as a draft and publish it again, retroactively.
    draft = await web.browser.get("/admin/rules/edit", params={"version": str(first)})
    assert f"This draft starts from version {first}." in draft.text
    rolled_back = await edit(
        web, token, "publish", DEFAULT, mode="retroactive", comment="back to single", based_on=str(first)
    )
    assert rolled_back.status_code == 303, rolled_back.text
    assert await run_publish_job(web) == 1
    assert await published_version(web) == first
    assert await reputation(web, "piotr") == 30
    audit = await web.forum.get("/v1/audit", params={"action": "ruleset.rolled_back"})
    [entry] = audit.json()["entries"]
    assert entry["actor"] == "user:mia" and entry["detail"]["previous_version"] == second
    asked = await web.forum.get("/v1/audit", params={"action": "ruleset.publish_requested"})
    assert [entry["reason"] for entry in asked.json()["entries"]] == ["back to single", "double, for everyone"]
    listed = (await web.forum.get("/v1/rulesets")).json()
    [one] = [version for version in listed["versions"] if version["version"] == first]
    assert [p["comment"] for p in one["publications"]][:1] == ["back to single"] and one["published"]


async def test_publishing_waits_while_a_retroactive_publish_is_unfinished(web: Web) -> None:
    await three_upvotes(web)
    first = await published_version(web)
    token = await manager(web)
    queued = await edit(web, token, "publish", DOUBLED, mode="retroactive", comment="double")
    assert queued.status_code == 303, queued.text

    for mode in ("from_now_on", "retroactive"):
        refused = await edit(web, token, "publish", DEFAULT.replace("max: 200", "max: 300", 1), mode=mode, comment="x")
        assert refused.status_code == 409, mode
        assert "a retroactive publish of version" in refused.text and "is queued" in refused.text
        assert "max: 300" in refused.text  # the draft is kept
    api = await web.forum.post("/v1/rulesets/publish", json={"version": first, "mode": "from_now_on", "comment": "x"})
    assert api.status_code == 409 and "/v1/rulesets/publish-jobs/" in api.json()["error"]

    assert await run_publish_job(web) == 1
    assert await published_version(web) != first
    allowed = await web.forum.post(
        "/v1/rulesets/publish", json={"version": first, "mode": "from_now_on", "comment": "back"}
    )
    assert allowed.status_code == 200, allowed.text


async def test_a_failing_retroactive_publish_changes_nothing_and_says_why(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    await three_upvotes(web)
    first = await published_version(web)
    before = await history(web, "piotr")

    replay = publishing.replay

    async def broken_replay(*args: Any, **kwargs: Any) -> Any:
        await replay(*args, **kwargs)  # the work is done, then the transaction fails before it commits
        raise OSError("no space left on device")

    monkeypatch.setattr(publishing, "replay", broken_replay)
    asked = await ask_retroactive(web)
    assert asked.status_code == 202, asked.text

    assert await run_publish_job(web) == 1

    job = (await web.forum.get(asked.headers["location"])).json()
    assert job["status"] == "failed" and job["finished_at"] is not None
    assert job["error"] == "internal error: OSError('no space left on device'); nothing was changed"
    assert await published_version(web) == first
    assert await history(web, "piotr") == before and await reputation(web, "piotr") == 30
    audit = await web.forum.get("/v1/audit", params={"action": "ruleset.publish_failed"})
    [entry] = audit.json()["entries"]
    assert (entry["actor"], entry["detail"]["by"], entry["detail"]["job"]) == (
        "rewards:schedule",
        "key:forum",
        job["id"],
    )
    await manager(web)
    page = await web.browser.get("/admin/rules")
    assert "Failed, nothing was changed:" in page.text and "no space left on device" in page.text
    # Not stuck: it can be asked for again.
    monkeypatch.undo()
    again = await ask_retroactive(web)
    assert again.status_code == 202, again.text
    assert await run_publish_job(web) == 1 and await reputation(web, "piotr") == 60


async def test_a_retroactive_publish_whose_process_died_is_marked_failed(web: Web) -> None:
    await three_upvotes(web)
    runtime = runtime_of(web)
    asked = await ask_retroactive(web)
    assert asked.status_code == 202, asked.text
    started = utcnow() - timedelta(minutes=5)
    # A process marked it running five minutes ago, then was killed before it committed.
    async with unit_of_work(runtime.sessionmaker) as uow:
        assert await rulesets_repository.mark_job_running(uow.session, asked.json()["id"], started, 3)
    running = (await web.forum.get(asked.headers["location"])).json()
    assert running["status"] == "running" and running["events_total"] == 3

    assert await run_publish_job(web) == 0  # the dead job is marked; nothing else is queued

    job = (await web.forum.get(asked.headers["location"])).json()
    assert job["status"] == "failed" and job["error"].startswith("interrupted: the process running it was killed")
    assert await reputation(web, "piotr") == 30
    again = await ask_retroactive(web)
    assert again.status_code == 202, again.text


async def test_a_retroactive_publish_started_a_moment_ago_is_left_alone(web: Web) -> None:
    """It is marked running just before it takes the publishing lock: not mistaken for a dead one."""
    runtime = runtime_of(web)
    asked = await ask_retroactive(web)
    async with unit_of_work(runtime.sessionmaker) as uow:
        assert await rulesets_repository.mark_job_running(uow.session, asked.json()["id"], utcnow(), 0)
    assert await run_publish_job(web) == 0
    assert (await web.forum.get(asked.headers["location"])).json()["status"] == "running"


async def test_a_long_retroactive_publish_holding_the_lock_is_not_taken_for_dead(postgres_database_url: str) -> None:
    """On PostgreSQL a running job holds the publishing lock: however long it runs, it is left alone; once the
    lock is free (its process died), it is marked failed."""
    async with open_web(web_settings(postgres_database_url)) as web:
        runtime = runtime_of(web)
        asked = await ask_retroactive(web)
        async with unit_of_work(runtime.sessionmaker) as uow:
            assert await rulesets_repository.mark_job_running(
                uow.session, asked.json()["id"], utcnow() - timedelta(hours=2), 0
            )
        async with runtime.sessionmaker() as holder, holder.begin():
            await rulesets_repository.lock_publications(holder)  # as the running replay does
            assert await run_publish_job(web) == 0
            assert (await web.forum.get(asked.headers["location"])).json()["status"] == "running"
        assert await run_publish_job(web) == 0
        assert (await web.forum.get(asked.headers["location"])).json()["status"] == "failed"


async def test_a_retroactive_publish_reports_its_progress_while_it_runs(
    postgres_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL, from a connection of its own, without waiting for the replay's transaction."""
    async with open_web(web_settings(postgres_database_url, apply_batch_size=1)) as web:
        runtime = runtime_of(web)
        await three_upvotes(web)
        asked = await ask_retroactive(web)
        seen: list[tuple[str, int | None]] = []
        record = rulesets_repository.record_job_progress

        async def spy(session: Any, job_id: int, events_done: int) -> None:
            # What GET .../publish-jobs/{id} shows meanwhile: the value the previous call wrote, committed.
            async with runtime.sessionmaker() as reader:
                job = await rulesets.publish_job(reader, job_id)
            seen.append((job.status, job.events_done))
            await record(session, job_id, events_done)

        monkeypatch.setattr(rulesets_repository, "record_job_progress", spy)
        monkeypatch.setattr(publishing, "PROGRESS_EVERY_SECONDS", 0.0)
        monkeypatch.setattr(publishing, "REPLAY_BATCH", 1)  # a batch per event, a progress report each

        assert await asyncio.wait_for(run_publish_job(web), timeout=60) == 1

        assert seen == [("running", None), ("running", 1), ("running", 2)]
        done = (await web.forum.get(asked.headers["location"])).json()
        assert (done["status"], done["events_done"]) == ("done", 3)


async def test_publishing_while_a_replay_runs_is_refused_at_once_not_after_it(postgres_database_url: str) -> None:
    """A running job holds the publishing lock for its whole replay: a publish must not wait on it."""
    async with open_web(web_settings(postgres_database_url)) as web:
        runtime = runtime_of(web)
        first = await published_version(web)
        asked = await ask_retroactive(web)
        async with unit_of_work(runtime.sessionmaker) as uow:
            assert await rulesets_repository.mark_job_running(uow.session, asked.json()["id"], utcnow(), 0)
        async with runtime.sessionmaker() as holder, holder.begin():
            await rulesets_repository.lock_publications(holder)  # as the running replay does
            for mode in ("from_now_on", "retroactive"):
                body = {"version": first, "mode": mode, "comment": "x"}
                refused = await asyncio.wait_for(web.forum.post("/v1/rulesets/publish", json=body), timeout=10)
                assert refused.status_code == 409 and "is running" in refused.json()["error"], mode
            cancel = await web.forum.post(f"{asked.json()['url']}/cancel")
            assert cancel.status_code == 409 and "cannot be stopped halfway" in cancel.json()["error"]
            # A process starting with the same rules file does not wait for the replay either.
            other = await asyncio.wait_for(Applier.start(web.settings, connect_queue=False), timeout=10)
            await other.stop()


async def test_a_badge_granted_by_hand_during_a_replay_is_refused_after_a_short_wait(web: Web) -> None:
    """The replay holds the apply cursor until it commits: a manager gets a 409 that says why, not a hang."""
    await three_upvotes(web)
    runtime = runtime_of(web)
    grant = {"user_id": "piotr", "badge_id": "deputy", "reason": "careful flags"}
    async with runtime.sessionmaker() as replay, replay.begin():
        await events_repository.take_cursor(replay, "replay", utcnow())  # as a replay does, until it commits
        refused = await asyncio.wait_for(web.forum.post("/v1/admin/badges/grant", json=grant), timeout=20)
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"].startswith("the event log is being replayed")
    granted = await web.forum.post("/v1/admin/badges/grant", json=grant)
    assert granted.status_code == 201, granted.text


async def test_a_process_that_stops_mid_replay_puts_the_job_back_in_the_queue(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    await three_upvotes(web)
    applier = applier_of(web)
    first = await published_version(web)
    replay = publishing.replay
    replayed = asyncio.Event()

    async def slow_replay(*args: Any, **kwargs: Any) -> Any:
        result = await replay(*args, **kwargs)
        replayed.set()
        await asyncio.Event().wait()  # a long replay: the process stops before it ends
        return result

    monkeypatch.setattr(publishing, "replay", slow_replay)
    asked = await ask_retroactive(web)
    assert await publish_retroactively(applier, utcnow()) == 1  # the scheduled job starts it in a task
    assert applier.publish_task is not None
    await asyncio.wait_for(replayed.wait(), timeout=30)
    assert (await web.forum.get(asked.headers["location"])).json()["status"] == "running"
    assert await publish_retroactively(applier, utcnow()) == 0  # one at a time

    applier.publish_task.cancel()  # what Applier.stop does
    with pytest.raises(asyncio.CancelledError):
        await applier.publish_task

    job = (await web.forum.get(asked.headers["location"])).json()
    assert (job["status"], job["started_at"]) == ("queued", None)
    assert await published_version(web) == first and await reputation(web, "piotr") == 30
    monkeypatch.undo()
    assert await run_publish_job(web) == 1
    assert await reputation(web, "piotr") == 60


async def test_a_queued_retroactive_publish_can_be_cancelled(web: Web) -> None:
    await three_upvotes(web)
    first = await published_version(web)
    token = await manager(web)
    await edit(web, token, "publish", DOUBLED, mode="retroactive", comment="wrong draft")
    [job] = (await web.forum.get("/v1/rulesets/publish-jobs")).json()["jobs"]
    page = await web.browser.get("/admin/rules")
    assert f'action="/admin/rules/jobs/{job["id"]}/cancel"' in page.text

    cancelled = await web.browser.post(f"/admin/rules/jobs/{job['id']}/cancel", data={"csrf_token": token})

    assert cancelled.status_code == 303, cancelled.text
    page = await web.browser.get("/admin/rules")
    assert "Cancelled, nothing was changed." in page.text and '<meta http-equiv="refresh"' not in page.text
    assert await run_publish_job(web) == 0
    assert await published_version(web) == first and await reputation(web, "piotr") == 30
    again = await web.forum.post(f"/v1/rulesets/publish-jobs/{job['id']}/cancel")
    assert again.status_code == 409 and "already ended (cancelled)" in again.json()["error"]
    assert (await web.forum.post("/v1/rulesets/publish-jobs/999/cancel")).status_code == 404
    audit = (await web.forum.get("/v1/audit", params={"action": "ruleset.publish_cancelled"})).json()["entries"]
    assert [(entry["actor"], entry["detail"]["job"]) for entry in audit] == [("user:mia", job["id"])]
    allowed = await ask_retroactive(web, comment="x")
    assert allowed.status_code == 202, allowed.text


async def test_a_changed_rules_file_at_start_up_supersedes_a_queued_retroactive_publish(
    database_url: str, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(DEFAULT)
    settings = web_settings(database_url, rules_path=rules)
    async with open_web(settings) as web:
        asked = await ask_retroactive(web)
        assert asked.status_code == 202
    rules.write_text(DEFAULT.replace("max: 200", "max: 300", 1))  # an operator changes the file and restarts
    async with open_web(settings) as web:
        job = (await web.forum.get(asked.headers["location"])).json()
        assert job["status"] == "cancelled" and job["error"].startswith(f"superseded: the rules file {rules}")
        assert await run_publish_job(web) == 0
        published = (await web.forum.get("/v1/rulesets")).json()
        [latest] = [version for version in published["versions"] if version["published"]]
        assert latest["publications"][0]["via"] == "file"


async def test_a_job_claimed_before_a_changed_rules_file_is_published_does_not_undo_it(
    database_url: str, tmp_path: Path
) -> None:
    """Claimed (running) but not yet holding the publishing lock when a process starts with a changed file."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(DEFAULT)
    settings = web_settings(database_url, rules_path=rules)
    async with open_web(settings) as web:
        applier = applier_of(web)
        asked = await ask_retroactive(web)
        async with unit_of_work(applier.runtime.sessionmaker) as uow:
            claimed = await rulesets.claim_queued_job(uow.session, utcnow())
        assert claimed is not None
        rules.write_text(DEFAULT.replace("max: 200", "max: 300", 1))
        restarted_applier = await Applier.start(settings, connect_queue=False)  # publishes the file
        restarted = restarted_applier.runtime
        await restarted_applier.stop()

        await publishing.run_claimed_job(applier, claimed)

        job = (await web.forum.get(asked.headers["location"])).json()
        assert job["status"] == "failed" and "superseded: the rules file was published at start-up" in job["error"]
        assert await published_version(web) == restarted.ruleset.version


async def test_at_most_one_job_is_unfinished_whatever_the_race(database_url: str) -> None:
    """Two requests that both found no unfinished job (SQLite has no publishing lock): the second insert fails."""
    applier = await Applier.start(make_settings(database_url), connect_queue=False)
    runtime = applier.runtime
    try:

        async def add(session: AsyncSession) -> object:
            return await rulesets_repository.add_job(
                session,
                version=runtime.ruleset.version,
                requested_at=utcnow(),
                requested_by="key:x",
                comment="c",
                via="api",
                events_total=0,
            )

        async def refused() -> None:
            with pytest.raises(Conflict):
                async with unit_of_work(runtime.sessionmaker) as uow:
                    if await add(uow.session) is None:
                        raise Conflict("refused, as request_retroactive does")

        async with unit_of_work(runtime.sessionmaker) as uow:
            first = await add(uow.session)
        assert isinstance(first, RulesetPublishJobRow)
        await refused()  # two queued
        async with unit_of_work(runtime.sessionmaker) as uow:
            assert await rulesets_repository.mark_job_running(uow.session, first.id, utcnow(), 0)
        await refused()  # one running, one queued
        async with runtime.sessionmaker() as session:
            assert [job.status for job in (await rulesets.publish_jobs(session)).jobs] == ["running"]
    finally:
        await applier.stop()


async def test_publishing_needs_a_comment_and_a_valid_draft(web: Web) -> None:
    token = await manager(web)
    first = await published_version(web)
    refused = await edit(web, token, "publish", DOUBLED, mode="from_now_on", comment="  ")
    assert refused.status_code == 422 and "say why in a comment" in refused.text
    broken = await edit(web, token, "publish", BROKEN, mode="from_now_on", comment="oops")
    assert broken.status_code == 422 and "is not a valid expression" in broken.text
    same = await edit(web, token, "publish", DEFAULT, mode="from_now_on", comment="again")
    assert same.status_code == 409 and "already the published ruleset" in same.text
    assert await published_version(web) == first


async def test_the_diff_between_two_versions_has_line_numbers(web: Web) -> None:
    first = await published_version(web)
    token = await manager(web)
    await edit(web, token, "publish", DOUBLED, mode="from_now_on", comment="double")
    second = await published_version(web)
    line = DEFAULT[: DEFAULT.index(UPVOTE_AWARD)].count("\n") + 1

    page = await web.browser.get("/admin/rules/diff", params={"from": str(first), "to": str(second)})

    assert page.status_code == 200
    assert f'<tr class="removed">\n    \n    <td class="no">{line}</td><td class="no"></td>' in page.text
    assert f'<tr class="added">\n    \n    <td class="no"></td><td class="no">{line}</td>' in page.text
    assert "points: 20" in page.text and "points: 10" in page.text
    default_diff = await web.browser.get("/admin/rules/diff")  # the published version against the one before
    assert default_diff.status_code == 200 and "points: 20" in default_diff.text
    missing = await web.browser.get("/admin/rules/diff", params={"from": "999", "to": str(second)})
    assert missing.status_code == 404 and "no ruleset version 999" in missing.text


async def test_only_managers_reach_the_rules_pages_and_forms_need_their_token(web: Web) -> None:
    await web.sign_in("piotr")  # an expert
    for path in ("/admin/rules", "/admin/rules/edit", "/admin/rules/diff"):
        response = await web.browser.get(path)
        assert response.status_code == 403, path
    expert_token = await web.csrf_token("/me")
    refused = await edit(web, expert_token, "publish", DOUBLED, mode="from_now_on", comment="sneaky")
    assert refused.status_code == 403
    first = await published_version(web)

    await manager(web)
    no_token = await web.browser.post(
        "/admin/rules/edit", data={"action": "publish", "source": DOUBLED, "mode": "retroactive", "comment": "x"}
    )
    assert no_token.status_code == 403 and "This form has expired" in no_token.text
    assert await published_version(web) == first


async def test_the_api_lists_validates_previews_and_publishes(web: Web) -> None:
    await three_upvotes(web)
    listed = await web.forum.get("/v1/rulesets")
    first = listed.json()["published_version"]
    [version] = listed.json()["versions"]
    assert version["published"] and version["publications"][0]["via"] == "file"
    source = await web.forum.get(f"/v1/rulesets/{first}")
    assert source.status_code == 200 and source.json()["source"] == DEFAULT
    missing = await web.forum.get("/v1/rulesets/999")
    assert missing.status_code == 404 and "no ruleset version 999" in missing.json()["error"]

    invalid = await web.forum.post("/v1/rulesets/validate", json={"source": BROKEN})
    assert invalid.status_code == 422
    [problem] = invalid.json()["detail"]
    assert problem["line"] == DEFAULT[: DEFAULT.index(BROKEN_LINE)].count("\n") + 1
    assert problem["rule_id"] == "upvote" and "is not a valid expression" in problem["message"]
    assert (await web.forum.post("/v1/rulesets/validate", json={"source": DOUBLED})).json() == {
        "valid": True,
        "problems": [],
    }

    preview = await web.forum.post("/v1/rulesets/preview", json={"source": DOUBLED, "max_events": 2})
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert (body["window_events"], body["capped"], body["baseline"]) == (3, True, "empty")
    assert body["message"].startswith("capped: the window holds 3 events; the preview ran the newest 2")
    assert body["result"]["gainers"] == [{"user_id": "piotr", "before": 20, "after": 40, "delta": 20}]
    assert (await web.forum.post("/v1/rulesets/preview", json={"source": BROKEN})).status_code == 422

    asked = await web.forum.post(
        "/v1/rulesets/publish", json={"source": DOUBLED, "mode": "retroactive", "comment": "by the API"}
    )
    assert asked.status_code == 202, asked.text
    job = asked.json()
    assert (job["status"], job["events_total"], job["requested_by"], job["via"]) == ("queued", 3, "key:forum", "api")
    assert asked.headers["location"] == job["url"] == f"/v1/rulesets/publish-jobs/{job['id']}"
    assert await reputation(web, "piotr") == 30
    assert await run_publish_job(web) == 1
    done = (await web.forum.get(job["url"])).json()
    assert (done["status"], done["replayed_events"], done["failed_events"]) == ("done", 3, 0)
    assert done["events_done"] == done["events_total"] == 3 and done["action"] == "ruleset.published"
    assert done["started_at"] is not None and done["finished_at"] >= done["started_at"]
    assert await reputation(web, "piotr") == 60
    listed_jobs = (await web.forum.get("/v1/rulesets/publish-jobs")).json()["jobs"]
    assert [listed["id"] for listed in listed_jobs] == [job["id"]]
    assert (await web.forum.get("/v1/rulesets/publish-jobs/999")).status_code == 404
    published = await web.forum.get("/v1/rulesets")
    assert published.json()["published_version"] == job["version"]
    again = await web.forum.post(
        "/v1/rulesets/publish", json={"version": job["version"], "mode": "from_now_on", "comment": "x"}
    )
    assert again.status_code == 409
    unknown = await web.forum.post("/v1/rulesets/publish", json={"version": 999, "mode": "from_now_on", "comment": "x"})
    assert unknown.status_code == 404
    both = await web.forum.post(
        "/v1/rulesets/publish", json={"version": 1, "source": DEFAULT, "mode": "from_now_on", "comment": "x"}
    )
    assert both.status_code == 422
    back = await web.forum.post(
        "/v1/rulesets/publish", json={"version": first, "mode": "retroactive", "comment": "rollback"}
    )
    assert back.status_code == 202 and await run_publish_job(web) == 1
    assert (await web.forum.get(back.json()["url"])).json()["action"] == "ruleset.rolled_back"
    assert await reputation(web, "piotr") == 30
    missing = await web.forum.post("/v1/rulesets/publish", json={"version": 999, "mode": "retroactive", "comment": "x"})
    assert missing.status_code == 404  # checked when asked for, not later in the background
    broken = await ask_retroactive(web, BROKEN, "x")
    assert broken.status_code == 422 and broken.json()["detail"][0]["line"] is not None
    audit = await web.forum.get("/v1/audit", params={"action": "ruleset.rolled_back"})
    assert audit.json()["entries"][0]["actor"] == "key:forum"

    runtime = runtime_of(web)
    async with unit_of_work(runtime.sessionmaker) as uow:
        reader = await create_key(uow.session, "reader", [Scope.READ], utcnow())
    refused = await web.forum.get("/v1/rulesets", headers={"Authorization": f"Bearer {reader}"})
    assert refused.status_code == 403


async def test_a_second_process_follows_a_publication(database_url: str) -> None:
    settings = make_settings(database_url, run_scheduler=False)
    first_applier = await Applier.start(settings, connect_queue=False)
    first = first_applier.runtime
    second_applier = await Applier.start(settings, connect_queue=False)
    second = second_applier.runtime
    try:
        assert first.ruleset.version == second.ruleset.version
        async with unit_of_work(first.sessionmaker) as uow:
            out = await publishing.publish(
                uow.session,
                source=DOUBLED,
                version=None,
                mode="from_now_on",
                comment="double",
                actor="test",
                via="api",
                now=utcnow(),
                batch_size=100,
                holder="test",
            )
        # The other process, draining: its next batch notices, rolls back and applies under the new version.
        vote = upvote("ola", A1)
        async with unit_of_work(second.sessionmaker) as uow:
            await events.store(uow.session, events.validate_batch([vote]), utcnow())
        result = await second_applier.drain("test")
        assert result.applied == 1
        assert second.ruleset.version == out.version and second.ruleset.digest == rulesets.compile_draft(DOUBLED).digest
        async with second.sessionmaker() as session:
            entries = (await events.explain(session, vote["source"], vote["id"])).ledger_entries
        assert [(entry.points, entry.ruleset_version) for entry in entries] == [(20, out.version)]
        # A process that does not drain (an API process in production) switches between requests.
        assert first.ruleset.version != out.version
        assert await first_applier.refresh() and first.ruleset.version == out.version
        assert not await first_applier.refresh()
    finally:
        await first_applier.stop()
        await second_applier.stop()


async def test_a_restart_keeps_a_console_publication_but_publishes_a_changed_rules_file(
    database_url: str, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(DEFAULT)
    settings = make_settings(database_url, rules_path=rules)
    applier = await Applier.start(settings, connect_queue=False)
    runtime = applier.runtime
    try:
        file_version = runtime.ruleset.version
        async with unit_of_work(runtime.sessionmaker) as uow:
            console = await publishing.publish(
                uow.session,
                source=DOUBLED,
                version=None,
                mode="from_now_on",
                comment="console",
                actor="user:mia",
                via="console",
                now=utcnow(),
                batch_size=100,
                holder="test",
            )
    finally:
        await applier.stop()

    restarted_applier = await Applier.start(settings, connect_queue=False)  # the same file: the console's version stays
    restarted = restarted_applier.runtime
    await restarted_applier.stop()
    assert restarted.ruleset.version == console.version and restarted.ruleset.source == DOUBLED

    rules.write_text(DEFAULT.replace("max: 200", "max: 300", 1))  # an operator changes the file and restarts
    changed_applier = await Applier.start(settings, connect_queue=False)
    changed = changed_applier.runtime
    try:
        assert changed.ruleset.version not in (file_version, console.version)
        async with changed.sessionmaker() as session:
            [latest, *_] = await rulesets.history(session)
        assert (latest.via, latest.version, latest.published_by) == ("file", changed.ruleset.version, "file")
    finally:
        await changed_applier.stop()


def test_rules_publish_on_the_command_line(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    draft = tmp_path / "doubled.yaml"
    draft.write_text(DOUBLED)
    result = rewards("rules", "publish", str(draft), "--comment", "from the shell", "--retroactive", database_url=url)
    assert result.returncode == 0, result.stderr
    assert '"mode":"retroactive"' in result.stdout and '"action":"ruleset.published"' in result.stdout
    again = rewards("rules", "publish", str(draft), "--comment", "again", database_url=url)
    assert again.returncode == 1 and "already the published ruleset" in again.stderr
