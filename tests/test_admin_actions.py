"""What managers do by hand through the API: adjust points, grant and revoke badges, read the audit log; and
the schedule lifting suspensions that end. On SQLite and PostgreSQL."""

from datetime import timedelta

from sqlalchemy import select

from rewards.apply.publish import replay
from rewards.db import unit_of_work
from rewards.events import service as events_service
from rewards.runtime import utcnow
from rewards.users.models import UserRow
from rewards.users.tasks import lift_ended_suspensions
from tests.conftest import Api
from tests.factories import BASE_TIME, accept, answer, event, question, upvote


async def test_a_manager_adjusts_points_with_a_reason_that_history_and_audit_show_and_replay_keeps(api: Api) -> None:
    a = answer("a1", "ewa", "q1")
    await api.post_events(upvote("v1", a))
    response = await api.client.post("/v1/users/ewa/adjust", json={"points": 40, "reason": "ran the router workshop"})
    assert response.status_code == 201, response.text
    assert response.json()["reputation"] == 50
    history = (await api.client.get("/v1/users/ewa/history")).json()["entries"]
    assert history[0]["reason"] == "+40 adjusted by key:admin: ran the router workshop"
    audit = (await api.client.get("/v1/audit", params={"user_id": "ewa"})).json()["entries"]
    assert [(e["action"], e["reason"], e["detail"]["points"]) for e in audit] == [
        ("points.adjust", "ran the router workshop", 40)
    ]
    runtime = api.runtime
    async with unit_of_work(runtime.sessionmaker) as uow:
        await replay(uow.session, runtime.ruleset, 100, "test", utcnow())
    api.applier.kept = None
    assert await api.reputation("ewa") == 50


async def test_adjustments_that_cannot_be_made_are_refused_with_the_reason(api: Api) -> None:
    await api.post_events(upvote("v1", answer("a1", "ewa", "q1")))
    zero = await api.client.post("/v1/users/ewa/adjust", json={"points": 0, "reason": "nothing"})
    assert zero.status_code == 422 and "0 points" in zero.json()["error"]
    unknown = await api.client.post("/v1/users/nobody/adjust", json={"points": 5, "reason": "welcome"})
    assert unknown.status_code == 404 and "nobody" in unknown.json()["error"]
    no_reason = await api.client.post("/v1/users/ewa/adjust", json={"points": 5})
    assert no_reason.status_code == 422 and "reason" in no_reason.json()["error"]
    reader = await api.key()
    forbidden = await api.client.post(
        "/v1/users/ewa/adjust", json={"points": 5, "reason": "hello"}, headers={"Authorization": f"Bearer {reader}"}
    )
    assert forbidden.status_code == 403
    assert await api.reputation("ewa") == 10


async def test_badges_catalogue_user_badges_progress_and_grants_by_hand(api: Api) -> None:
    a = answer("a1", "ewa", "q1", category="routers")
    await api.post_events(
        event("question.posted", {"actor": "asker", "post": question("q1", "asker")}),
        event("answer.posted", {"actor": "ewa", "post": a}, minutes=1),
        upvote("v1", a, minutes=2),
        accept("asker", a, minutes=3),
    )
    mine = (await api.client.get("/v1/users/ewa/badges")).json()
    assert {(b["badge_id"], b["tier"]) for b in mine["earned"]} == {("teacher", "bronze"), ("solver", "bronze")}
    progress = {p["badge_id"]: p["text"] for p in mine["progress"]}
    assert progress["solver"] == "Solver silver: 1/25"
    assert progress["router-expert"] == "Router Expert bronze: 1/5"
    catalogue = {b["id"]: b for b in (await api.client.get("/v1/badges")).json()["badges"]}
    assert [(t["tier"], t["at"], t["holders"]) for t in catalogue["solver"]["tiers"]] == [
        ("bronze", 1, 1),
        ("silver", 25, 0),
        ("gold", 100, 0),
    ]
    granted = await api.client.post(
        "/v1/admin/badges/grant", json={"user_id": "ewa", "badge_id": "deputy", "reason": "years of careful flags"}
    )
    assert granted.status_code == 201 and granted.json()["source"] == "manual"
    twice = await api.client.post(
        "/v1/admin/badges/grant", json={"user_id": "ewa", "badge_id": "deputy", "reason": "again"}
    )
    assert twice.status_code == 409 and "already holds" in twice.json()["error"]
    post_badge = await api.client.post(
        "/v1/admin/badges/grant", json={"user_id": "ewa", "badge_id": "nice-answer", "reason": "a fine answer"}
    )
    assert post_badge.status_code == 422 and "post" in post_badge.json()["error"]
    revoked = await api.client.post(
        "/v1/admin/badges/revoke", json={"user_id": "ewa", "badge_id": "solver", "reason": "accepted by a sock puppet"}
    )
    assert revoked.status_code == 200 and revoked.json()["revoked_reason"] == "accepted by a sock puppet"
    profile = (await api.client.get("/v1/users/ewa")).json()
    assert profile["badges"]["silver"] == 1 and profile["badges"]["bronze"] == 1
    assert [b["id"] for b in profile["badges"]["top"]] == ["deputy", "teacher"]
    # The rules do not give back what a manager took away, even when the count moves again.
    b = answer("a2", "ewa", "q2")
    await api.post_events(upvote("v2", b, minutes=10), accept("asker2", b, minutes=11))
    mine = (await api.client.get("/v1/users/ewa/badges")).json()
    assert "solver" not in {b["badge_id"] for b in mine["earned"]}
    audit = await api.client.get("/v1/audit", params={"action": "badge."})
    actions = [e["action"] for e in audit.json()["entries"]]
    assert actions == ["badge.revoke", "badge.grant"]


async def test_a_suspension_with_an_end_is_lifted_by_the_schedule_once(api: Api) -> None:
    until = BASE_TIME + timedelta(days=7)
    await api.post_events(
        upvote("v1", answer("a1", "zed", "q1")),
        event("user.suspended", {"actor": "mod", "user": "zed", "until": until.isoformat()}, minutes=5),
    )
    runtime = api.runtime
    assert await lift_ended_suspensions(api.applier, until - timedelta(minutes=1)) == 0
    assert await lift_ended_suspensions(api.applier, until + timedelta(minutes=1)) == 1
    assert await lift_ended_suspensions(api.applier, until + timedelta(minutes=2)) == 0
    async with runtime.sessionmaker() as session:
        user = (await session.scalars(select(UserRow).where(UserRow.user_id == "zed"))).one()
    assert not user.suspended and user.suspended_until is None


async def test_a_forum_cannot_post_the_engines_own_events(api: Api) -> None:
    await api.post_events(upvote("v1", answer("a1", "ewa", "q1")))
    adjustment = event("points.adjusted", {"actor": "x", "user": "ewa", "points": 100000, "reason": "free points"})
    refused = await api.post_events(adjustment, expect=422)
    assert "POST /v1/users/{id}/adjust" in refused["detail"][0]["message"]
    spoofed = event("user.reinstated", {"actor": "x", "user": "ewa"}, source="rewards:schedule")
    refused = await api.post_events(spoofed, expect=422)
    assert refused["detail"][0]["field"] == "source"
    assert await api.reputation("ewa") == 10
    assert (await api.client.get("/v1/users/x")).status_code == 404


async def test_a_suspension_extended_before_the_schedule_runs_is_not_lifted(api: Api) -> None:
    until = BASE_TIME + timedelta(days=7)
    await api.post_events(
        upvote("v1", answer("a1", "zed", "q1")),
        event("user.suspended", {"actor": "mod", "user": "zed", "until": until.isoformat()}, minutes=5),
    )
    runtime = api.runtime
    # The schedule stores its reinstatement, then a permanent suspension is applied before it: the later
    # suspension is what holds.
    async with unit_of_work(runtime.sessionmaker) as uow:
        await events_service.store(
            uow.session,
            events_service.validate_batch([event("user.suspended", {"actor": "mod", "user": "zed"}, minutes=9)]),
            utcnow(),
        )
    assert await lift_ended_suspensions(api.applier, until + timedelta(minutes=1)) == 1
    async with runtime.sessionmaker() as session:
        user = (await session.scalars(select(UserRow).where(UserRow.user_id == "zed"))).one()
    assert user.suspended and user.suspended_until is None
    assert (await api.client.get("/v1/users", params={"ids": "zed,rewards:schedule"})).json()["missing"] == [
        "rewards:schedule"
    ]
