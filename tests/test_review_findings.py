"""Regressions for defects found in review: poison events, ambiguous slots, double penalties, expression paths."""

from pathlib import Path

import pytest

from rewards.engine.expressions import Expression, ExpressionError
from rewards.engine.loader import load_ruleset_text
from rewards.engine.ruleset import STATE_FUNCTION_NAMES
from tests.conftest import Api, make_settings, open_api
from tests.engine_harness import Community
from tests.factories import answer, event, remove, restore, upvote

A = answer("a1", "expert", "q1")


async def test_text_with_a_nul_character_is_refused_at_intake(api: Api) -> None:
    bad_actor = upvote("v\u0000x", A)
    bad_id = dict(upvote("v1", A), id="e\u00001")
    response = await api.client.post("/v1/events", json=[bad_actor, bad_id])
    assert response.status_code == 422
    fields = {(d["index"], d["field"]) for d in response.json()["detail"]}
    assert fields == {(0, "data.actor"), (1, "id")}


@pytest.mark.parametrize("time", ["0001-01-01T00:30:00+01:00", "9999-12-31T23:59:59-01:00", "1800-01-01T00:00:00Z"])
async def test_implausible_times_are_refused_not_crashed_on(api: Api, time: str) -> None:
    response = await api.client.post("/v1/events", json=dict(upvote("v1", A), time=time))
    assert response.status_code == 422 and response.json()["detail"][0]["field"] == "time"


def test_ids_containing_the_slot_separator_cannot_collide() -> None:
    c = Community()
    c.send(upvote("v/w", answer("p", "X", "q1")), upvote("w", answer("p/v", "Y", "q1")))
    assert (c.rep("X"), c.rep("Y")) == (10, 10)


def test_a_post_removed_twice_as_abuse_costs_its_author_once() -> None:
    c = Community()
    c.send(remove("mod", A, "spam"), remove("mod2", A, "offensive"))
    assert c.rep("expert") == -100
    c.send(restore("mod", A))
    assert c.rep("expert") == 0
    c.send(remove("mod", A, "spam"))
    assert c.rep("expert") == -100


def test_both_expression_paths_agree() -> None:
    names = {"post": {"tags": ["wifi"]}, "actor": "u1"}
    fast = Expression('post.tags == ["wifi"]', STATE_FUNCTION_NAMES)
    slow = Expression('post.tags == ["wifi"] if actor else False', STATE_FUNCTION_NAMES)
    assert fast.evaluate(names) is True and slow.evaluate(names) is True
    missing = Expression('tier == "gold" or reputation(actor) < 0', STATE_FUNCTION_NAMES)
    assert missing.evaluate(names) is False  # a missing field reads as null on every path


def test_functions_take_a_field_that_names_a_user() -> None:
    with pytest.raises(ExpressionError, match="takes one field"):
        Expression('reputation("u" + actor) > 5', STATE_FUNCTION_NAMES)


CUSTOM = """
ruleset: custom
points:
  - id: tagged
    on: post.tagged
    subject: workshop
    when: post.tags[0] == "wifi"
    award:
      - to: actor
        points: 5
  - id: vouch
    on: user.vouched
    subject: vouchee
    when: reputation(voucher) >= 5
    award:
      - to: vouchee
        points: 1
"""


async def test_no_event_can_stop_the_log(database_url: str, tmp_path: Path) -> None:
    rules = tmp_path / "custom.yaml"
    rules.write_text(CUSTOM)
    async with open_api(make_settings(database_url, rules_path=rules, apply_batch_size=3)) as api:
        index_error = event("post.tagged", {"actor": "u1", "workshop": "w1", "post": {"tags": []}})
        too_long = event("post.tagged", {"actor": "u1", "workshop": "w" * 400, "post": {"tags": ["wifi"]}})
        fine = event("post.tagged", {"actor": "u1", "workshop": "w2", "post": {"tags": ["wifi"]}})
        await api.post_events(index_error, too_long, fine)
        assert (await api.client.get("/v1/health")).json()["pending_events"] == 0
        assert await api.reputation("u1") == 5
        for broken in (index_error, too_long):
            status = (await api.client.get(f"/v1/events/forum/{broken['id']}")).json()
            assert status["status"] == "failed", status
        assert "at most 300" in (await api.client.get(f"/v1/events/forum/{too_long['id']}")).json()["error"]


async def test_a_condition_about_any_named_user_reads_their_real_reputation(database_url: str, tmp_path: Path) -> None:
    rules = tmp_path / "custom.yaml"
    rules.write_text(CUSTOM)
    async with open_api(make_settings(database_url, rules_path=rules)) as api:
        await api.post_events(event("post.tagged", {"actor": "senior", "workshop": "w1", "post": {"tags": ["wifi"]}}))
        # a new process, with nothing in memory, must still see senior's 5 points
        api.applier.kept = None
        await api.post_events(event("user.vouched", {"voucher": "senior", "vouchee": "junior"}))
        assert await api.reputation("junior") == 1


def test_rules_with_a_bad_function_argument_are_refused_with_their_line() -> None:
    from rewards.errors import RulesetError

    with pytest.raises(RulesetError) as error:
        load_ruleset_text(CUSTOM.replace("reputation(voucher)", 'reputation("x")'), "custom.yaml")
    assert error.value.detail[0]["line"] == 14  # the `when:` line of rule vouch


async def test_an_event_the_database_itself_refuses_is_isolated_and_recorded_as_failed(api: Api) -> None:
    # A real refusal, not an injected exception: a constraint the database enforces on one ledger row. On
    # PostgreSQL the applier writes through the driver itself (COPY), whose errors are not SQLAlchemy's.
    poison = upvote("v2", A)
    postgres = api.runtime.engine.dialect.name == "postgresql"
    async with api.runtime.engine.begin() as connection:
        if postgres:
            await connection.exec_driver_sql(
                "ALTER TABLE ledger_entries ADD CONSTRAINT refused_by_test "
                "CHECK (NOT (user_id = 'expert' AND event_seq = 2)) NOT VALID"
            )
        else:
            await connection.exec_driver_sql(
                "CREATE TRIGGER refused_by_test BEFORE INSERT ON ledger_entries "
                "WHEN NEW.user_id = 'expert' AND NEW.event_seq = 2 "
                "BEGIN SELECT RAISE(ABORT, 'refused_by_test'); END"
            )
    try:
        await api.post_events(upvote("v1", A), poison, upvote("v3", A), upvote("v4", A))
        assert (await api.client.get("/v1/health")).json()["pending_events"] == 0
        assert await api.reputation("expert") == 30  # every vote but the refused one
        status = (await api.client.get(f"/v1/events/forum/{poison['id']}")).json()
        assert status["status"] == "failed" and "refused_by_test" in status["error"]
    finally:
        if postgres:  # the PostgreSQL schema outlives the test (SQLite's file does not)
            async with api.runtime.engine.begin() as connection:
                await connection.exec_driver_sql("ALTER TABLE ledger_entries DROP CONSTRAINT refused_by_test")


async def test_an_event_the_database_refuses_is_isolated_and_recorded_as_failed(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import DataError

    from rewards.ledger import repository

    poison = upvote("v2", A)
    events = [upvote("v1", A), poison, upvote("v3", A), upvote("v4", A)]
    real_save = repository.save_changes

    async def refusing_save(session: object, changes: repository.LedgerChanges) -> None:
        # Ledger rows are (id, user_id, points, kind, award_id, reverses_id, event_seq, ...).
        if any(entry[1] == "expert" and entry[6] == 2 for entry in changes.entries):
            raise DataError("INSERT ...", {}, Exception("value out of range"))
        await real_save(session, changes)  # type: ignore[arg-type]

    monkeypatch.setattr(repository, "save_changes", refusing_save)
    await api.post_events(*events)
    assert (await api.client.get("/v1/health")).json()["pending_events"] == 0
    assert await api.reputation("expert") == 30  # every vote but the refused one
    status = (await api.client.get(f"/v1/events/forum/{poison['id']}")).json()
    assert status["status"] == "failed" and "value out of range" in status["error"]
