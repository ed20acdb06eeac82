"""Who gets a scarce seat, who waits and in what order, who is withdrawn: decided event by event, so the same log
gives the same perk grants, waitlist and notifications whether it was applied one event at a time, in batches of
7 or of 2,000 (a worker's backlog, a crash and restart). On SQLite and PostgreSQL."""

import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from rewards import PROJECT_ROOT
from rewards.apply import steps
from rewards.apply.applier import Applier
from rewards.apply.publish import replay
from rewards.db import unit_of_work
from rewards.engine.state import WorkingState
from rewards.events import repository as events_repository
from rewards.events import service
from rewards.outbox.models import OutboxMessage
from rewards.perks.models import PerkGrantRow
from rewards.runtime import Runtime, utcnow
from tests.conftest import clean_postgres, make_settings
from tests.factories import answer, downvote, event, question, retract, upvote
from tests.state_snapshot import snapshot

SCARCE_PERKS = """
perks:
  - id: seat
    name: Workshop seat
    description: One seat.
    kind: workshop
    eligibility: {reputation: 20}
    seats: 1
    claim_within_days: 7
  - id: beta
    name: Router beta
    description: Two seats, taken at once.
    kind: beta_access
    eligibility: {reputation: 30}
    seats: 2

"""
USERS = ["ua", "ub", "uc"]
ANSWERS = {user: answer(f"a-{user}", user, f"q-{user}") for user in USERS}


def scarce_rules(folder: Path) -> Path:
    text = (PROJECT_ROOT / "rules" / "default.yaml").read_text()
    start, end = text.index("\nperks:"), text.index("# Titles by reputation")
    path = folder / f"scarce-{uuid.uuid4().hex}.yaml"
    path.write_text(text[:start] + "\n" + SCARCE_PERKS + text[end:])
    return path


def opening() -> list[dict[str, Any]]:
    return [event("question.posted", {"actor": "asker", "post": question(f"q-{u}", "asker")}) for u in USERS] + [
        event("answer.posted", {"actor": u, "post": ANSWERS[u]}, minutes=1) for u in USERS
    ]


@st.composite
def forum_events(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["up", "up", "up", "down", "retract", "suspend", "reinstate"]))
    user = draw(st.sampled_from(USERS))
    voter = draw(st.sampled_from(["v1", "v2", "v3", "v4"]))
    minutes = 2 + draw(st.integers(min_value=0, max_value=600))
    if kind == "up":
        return upvote(voter, ANSWERS[user], minutes=minutes)
    if kind == "down":
        return downvote(voter, ANSWERS[user], minutes=minutes)
    if kind == "retract":
        return retract(voter, ANSWERS[user], "up", minutes=minutes)
    return event(f"user.{'suspended' if kind == 'suspend' else 'reinstated'}", {"actor": "mod", "user": user})


async def perk_state(runtime: Runtime) -> dict[str, Any]:
    """Everything derived, with the perks' grants in the order they were made and the notifications in the order
    they were written; wall-clock times (when the worker got to it) left out."""
    async with runtime.sessionmaker() as session:
        grants = await session.execute(
            select(PerkGrantRow.perk_id, PerkGrantRow.user_id, PerkGrantRow.status, PerkGrantRow.end_reason).order_by(
                PerkGrantRow.id
            )
        )
        waitlists = await session.execute(
            select(PerkGrantRow.perk_id, PerkGrantRow.user_id)
            .where(PerkGrantRow.status == "waitlisted")
            .order_by(PerkGrantRow.perk_id, PerkGrantRow.queued_at, PerkGrantRow.id)
        )
        notifications = await session.execute(
            select(OutboxMessage.topic, OutboxMessage.user_id, OutboxMessage.data).order_by(OutboxMessage.id)
        )
        return {
            **await snapshot(session),
            "grants": [tuple(row) for row in grants],
            "waitlists": [tuple(row) for row in waitlists],
            "notifications": [
                (topic, user_id, {k: v for k, v in data.items() if k in ("perk", "status", "reason", "grant_id")})
                for topic, user_id, data in notifications
            ],
        }


async def apply_log(
    database_url: str, rules: Path, log: list[dict[str, Any]], batch_size: int, *, then_replay: bool = False
) -> dict[str, Any]:
    """Store the whole log, then apply it in batches of `batch_size`, as a worker with a backlog does (and, with
    `then_replay`, rebuild everything from the log as `rewards replay` does)."""
    applier = await Applier.start(
        make_settings(database_url, rules_path=rules, apply_batch_size=batch_size), connect_queue=False
    )
    runtime = applier.runtime
    try:
        async with unit_of_work(runtime.sessionmaker) as uow:
            await service.store(uow.session, service.validate_batch(log), utcnow())
        await applier.drain("test")
        if then_replay:
            async with unit_of_work(runtime.sessionmaker) as uow:
                await replay(uow.session, runtime.ruleset, batch_size, "test-replay", utcnow())
        return await perk_state(runtime)
    finally:
        await applier.stop()


async def fresh_sqlite(template: Path, folder: Path) -> str:
    path = folder / f"{uuid.uuid4().hex}.db"
    shutil.copyfile(template, path)
    return f"sqlite+aiosqlite:///{path}"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(forum_events(), min_size=1, max_size=30))
async def test_batch_sizes_never_change_who_gets_a_seat(
    events: list[dict[str, Any]], sqlite_template: Path, tmp_path: Path
) -> None:
    rules = scarce_rules(tmp_path)
    log = opening() + events
    states = [
        await apply_log(await fresh_sqlite(sqlite_template, tmp_path), rules, log, batch_size)
        for batch_size in (1, 7, 2000)
    ]
    assert states[1] == states[0]
    assert states[2] == states[0]
    # A replay rebuilds the derived tables as they were and decides no perk differently.
    replayed = await apply_log(await fresh_sqlite(sqlite_template, tmp_path), rules, log, 7, then_replay=True)
    assert replayed == states[0]


def the_seat_changes_hands() -> list[dict[str, Any]]:
    """ua qualifies first and is offered the one seat, ub next and waits; ua is suspended (the seat goes to ub)
    and reinstated (ua queues again)."""
    return [
        *opening(),
        *(upvote(f"v{i}", ANSWERS["ua"], minutes=10 + i) for i in range(2)),
        *(upvote(f"v{i}", ANSWERS["ub"], minutes=20 + i) for i in range(2)),
        event("user.suspended", {"actor": "mod", "user": "ua"}, minutes=30),
        event("user.reinstated", {"actor": "mod", "user": "ua"}, minutes=31),
    ]


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_a_suspension_and_reinstatement_in_one_batch_still_pass_the_seat_on(
    kind: str, sqlite_template: Path, postgres_url: str, tmp_path: Path
) -> None:
    rules = scarce_rules(tmp_path)
    log = the_seat_changes_hands()
    states = []
    for batch_size in (1, 7, 2000):
        if kind == "sqlite":
            url = await fresh_sqlite(sqlite_template, tmp_path)
        else:
            await clean_postgres(postgres_url)
            url = postgres_url
        states.append(await apply_log(url, rules, log, batch_size))
    seats = [(perk, user, status) for perk, user, status, _ in states[0]["grants"] if perk == "seat"]
    assert seats == [("seat", "ua", "suspended"), ("seat", "ub", "offered"), ("seat", "ua", "waitlisted")]
    assert states[1] == states[0]
    assert states[2] == states[0]


async def test_applying_events_in_one_call_writes_every_event_even_where_perks_end_a_batch(
    sqlite_template: Path, tmp_path: Path
) -> None:
    """`apply_events` is handed a list: a batch that ends early for perks must not drop the events after it."""
    rules = scarce_rules(tmp_path)
    log = the_seat_changes_hands()
    one_by_one = await apply_log(await fresh_sqlite(sqlite_template, tmp_path), rules, log, batch_size=1)
    applier = await Applier.start(
        make_settings(await fresh_sqlite(sqlite_template, tmp_path), rules_path=rules), connect_queue=False
    )
    runtime = applier.runtime
    try:
        async with unit_of_work(runtime.sessionmaker) as uow:
            await service.store(uow.session, service.validate_batch(log), utcnow())
        async with unit_of_work(runtime.sessionmaker) as uow:
            pending = await events_repository.events_after(uow.session, 0, len(log))
            result = await steps.apply_events(uow.session, runtime.ruleset, pending, utcnow(), WorkingState())
            await events_repository.advance_cursor(uow.session, result.last_seq, "test")
        assert (result.applied, result.failed, result.last_seq) == (len(log), 0, pending[-1].seq)
        in_one_call = await perk_state(runtime)
    finally:
        await applier.stop()
    assert in_one_call["grants"] == one_by_one["grants"]
    assert in_one_call["notifications"] == one_by_one["notifications"]
