"""Property tests: duplicates, redeliveries and batch boundaries never change the outcome."""

import json
import random
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rewards.apply.applier import Applier
from rewards.db import unit_of_work
from rewards.events import service
from rewards.runtime import utcnow
from tests.conftest import Api, make_settings
from tests.engine_harness import Community
from tests.factories import BASE_TIME, accept, answer, downvote, question, remove, restore, retract, unaccept, upvote
from tests.state_snapshot import reputation_from_entries, snapshot

USERS = ["u1", "u2", "u3", "u4"]
POSTS = [question("q1", "u1"), answer("a1", "u2", "q1"), answer("a2", "u3", "q1"), answer("a3", "u1", "q1")]
ANSWERS = POSTS[1:]


@st.composite
def forum_events(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["up", "down", "retract", "accept", "unaccept", "remove", "restore"]))
    actor = draw(st.sampled_from(USERS))
    post = draw(st.sampled_from(POSTS))
    minutes = draw(st.integers(min_value=0, max_value=3 * 24 * 60))
    at = {"at": BASE_TIME + timedelta(minutes=minutes)}
    if kind == "up":
        return upvote(actor, post, **at)
    if kind == "down":
        return downvote(actor, post, **at)
    if kind == "retract":
        return retract(actor, post, draw(st.sampled_from(["up", "down"])), **at)
    if kind in ("accept", "unaccept"):
        chosen = draw(st.sampled_from(ANSWERS))
        return (accept if kind == "accept" else unaccept)("u1", chosen, **at)
    if kind == "remove":
        return remove("mod", post, draw(st.sampled_from(["spam", "off-topic"])), **at)
    return restore("mod", post, **at)


streams = st.lists(forum_events(), min_size=1, max_size=40)


async def _apply(template: Path, tmp: Path, deliveries: list[list[dict[str, Any]]], batch_size: int) -> dict[str, Any]:
    path = tmp / f"db-{random.random()}.db"
    shutil.copyfile(template, path)
    applier = await Applier.start(make_settings(f"sqlite+aiosqlite:///{path}", apply_batch_size=batch_size))
    runtime = applier.runtime
    try:
        for request in deliveries:
            async with unit_of_work(runtime.sessionmaker) as uow:
                await service.store(uow.session, service.validate_batch(request), utcnow())
            await applier.drain("test")
        async with runtime.sessionmaker() as session:
            return await snapshot(session)
    finally:
        await applier.stop()
        path.unlink()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=streams, data=st.data())
async def test_duplicates_and_batch_boundaries_give_the_same_state_as_one_clean_pass(
    events: list[dict[str, Any]], data: st.DataObject, sqlite_template: Path, tmp_path: Path
) -> None:
    clean = await _apply(sqlite_template, tmp_path, [events], batch_size=1000)

    # The same events, delivered in arbitrary requests, each event possibly several times (a redelivery
    # may come before or after the original's neighbours), applied in batches of any size.
    deliveries: list[list[dict[str, Any]]] = []
    position = 0
    while position < len(events):
        size = data.draw(st.integers(min_value=1, max_value=5), label="request size")
        request = list(events[position : position + size])
        earlier = events[: position + size]
        redelivered = data.draw(st.lists(st.sampled_from(earlier), max_size=3), label="redeliveries")
        deliveries.append(request + redelivered)
        position += size
    batch_size = data.draw(st.integers(min_value=1, max_value=7), label="apply batch size")
    messy = await _apply(sqlite_template, tmp_path, deliveries, batch_size=batch_size)

    assert messy == clean
    reputations = {user: rep for user, rep, _ in clean["users"]}
    assert reputation_from_entries(clean) == {
        u: r for u, r in reputations.items() if u in reputation_from_entries(clean)
    }


@settings(max_examples=60, deadline=None)
@given(order=st.permutations(list(range(26))), retracted=st.sets(st.integers(min_value=0, max_value=25), max_size=8))
def test_the_daily_cap_does_not_depend_on_the_order_of_a_days_events(order: list[int], retracted: set[int]) -> None:
    posts = [answer(f"a{i}", "expert", "q1") for i in range(26)]
    votes = [upvote(f"v{i}", posts[i], minutes=i) for i in range(26)]
    undo = [retract(f"v{i}", posts[i], "up", minutes=30 + i) for i in sorted(retracted)]
    in_order = Community()
    in_order.send(*votes, *undo)
    shuffled = Community()
    events = [votes[i] for i in order]
    # Retractions must follow their vote; put each right after it.
    stream: list[dict[str, Any]] = []
    for event in events:
        stream.append(event)
        index = int(event["data"]["actor"][1:])
        if index in retracted:
            stream.append(retract(f"v{index}", posts[index], "up", minutes=30 + index))
    shuffled.send(*stream)
    expected = min(200, 10 * (26 - len(retracted)))
    assert in_order.rep("expert") == shuffled.rep("expert") == expected
    assert shuffled.ledger_sum("expert") == expected


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=25,
)
almost_events = st.fixed_dictionaries(
    {
        "specversion": st.sampled_from(["1.0", "0.3", 1]),
        "id": st.text(max_size=5) | st.integers(),
        "source": st.just("forum") | st.none(),
        "type": st.sampled_from(["post.upvoted", "answer.accepted", "user.suspended", "x.y", "bad type"]),
        "time": st.sampled_from(["2026-01-01T00:00:00Z", "2026-01-01", "yesterday", 5]),
        "data": json_values,
    }
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=json_values | almost_events | st.lists(almost_events, max_size=3))
async def test_no_input_whatever_its_shape_gets_a_500(body: Any, api: Api) -> None:
    # The app (and its database) is shared by all examples: state accumulates, which is what a live service sees.
    response = await api.client.post(
        "/v1/events", content=json.dumps(body), headers={"content-type": "application/json"}
    )
    assert response.status_code in (202, 400, 413, 422), response.text
    assert response.json()["error"] if response.status_code != 202 else response.json()["accepted"] >= 0
