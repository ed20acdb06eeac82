"""Perks end to end: eligibility after events, seats and the waitlist, offers, claims, codes, expiry, approval,
suspension, concurrency, and the admin API with its audit log. On SQLite and PostgreSQL."""

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from rewards import PROJECT_ROOT
from rewards.auth.service import Scope
from rewards.db import unit_of_work
from rewards.outbox.models import OutboxMessage
from rewards.perks import service as perks
from rewards.perks.models import PerkGrantRow
from rewards.runtime import utcnow
from tests.conftest import Api, make_settings, open_api
from tests.factories import accept, answer, event, question, upvote

PERKS = """
perks:
  - id: beta
    name: Router beta
    description: Test the router before launch.
    kind: beta_access
    eligibility: {reputation: 20}
    seats: 2
    claim_within_days: 7
    expires_after_days: 30
  - id: workshop
    name: Workshop
    description: A day with the engineers.
    kind: workshop
    eligibility: {reputation: 10, badges: [solver/bronze]}
    approval: true
    details: {place: Warsaw, date: "2027-03-12T09:00:00+01:00"}
  - id: mods
    name: Moderators
    description: Moderator rights.
    kind: role
    eligibility: {reputation: 10}
    details: {group: moderators}

"""


def rules_with_test_perks(tmp_path: Path) -> Path:
    text = (PROJECT_ROOT / "rules" / "default.yaml").read_text()
    start, end = text.index("\nperks:"), text.index("# Titles by reputation")
    path = tmp_path / "perks.yaml"
    path.write_text(text[:start] + "\n" + PERKS + text[end:])
    return path


@pytest.fixture
async def papi(database_url: str, tmp_path: Path) -> Any:
    async with open_api(make_settings(database_url, rules_path=rules_with_test_perks(tmp_path))) as opened:
        yield opened


async def earn(api: Api, user: str, upvotes: int, *, post: str | None = None) -> None:
    """`upvotes` upvotes (10 each) on an answer by `user`."""
    q = question(f"q-{user}-{post}", "asker")
    a = answer(post or f"a-{user}", user, q["id"])
    await api.post_events(*(upvote(f"voter{i}", a, minutes=i) for i in range(upvotes)))


async def perks_of(api: Api, user: str) -> dict[str, Any]:
    response = await api.client.get(f"/v1/users/{user}/perks")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_an_eligible_expert_is_offered_a_seat_claims_it_and_gets_a_code(papi: Api) -> None:
    codes = await papi.client.post("/v1/admin/perks/beta/codes", json={"codes": ["CODE-1", "CODE-1", " CODE-2 "]})
    assert codes.status_code == 200, codes.text
    assert codes.json()["added"] == 2 and codes.json()["codes_left"] == 2
    await earn(papi, "ania", 1)
    mine = await perks_of(papi, "ania")
    assert [p["perk_id"] for p in mine["in_reach"] if p["perk_id"] == "beta"] == ["beta"]
    beta = next(p for p in mine["in_reach"] if p["perk_id"] == "beta")
    assert beta["missing_text"] == "10 more reputation"
    await earn(papi, "ania", 1, post="a2")
    mine = await perks_of(papi, "ania")
    assert [o["perk_id"] for o in mine["offered"]] == ["beta"]
    assert mine["offered"][0]["respond_by"] is not None
    claimed = await papi.client.post("/v1/users/ania/perks/beta/claim")
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["status"] == "active"
    assert claimed.json()["code"] == "CODE-1" and claimed.json()["code_status"] == "issued"
    again = await papi.client.post("/v1/users/ania/perks/beta/claim")
    assert again.status_code == 409 and "active" in again.json()["error"]


async def test_a_role_perk_is_granted_at_once_and_names_the_forum_group(papi: Api) -> None:
    await earn(papi, "ola", 1)
    mine = await perks_of(papi, "ola")
    role = next(g for g in mine["active"] if g["perk_id"] == "mods")
    assert role["details"]["group"] == "moderators"


async def test_full_seats_make_a_waitlist_and_a_freed_seat_goes_to_the_next_in_line(papi: Api) -> None:
    for user in ("u1", "u2", "u3", "u4"):
        await earn(papi, user, 2)
    states = {user: await perks_of(papi, user) for user in ("u1", "u2", "u3", "u4")}
    assert [o["perk_id"] for o in states["u1"]["offered"]] == ["beta"]
    assert [o["perk_id"] for o in states["u2"]["offered"]] == ["beta"]
    assert [(w["perk_id"], w["waitlist_position"]) for w in states["u3"]["waitlisted"]] == [("beta", 1)]
    assert [(w["perk_id"], w["waitlist_position"]) for w in states["u4"]["waitlisted"]] == [("beta", 2)]
    declined = await papi.client.post("/v1/users/u1/perks/beta/decline")
    assert declined.status_code == 200 and declined.json()["status"] == "declined"
    assert [o["perk_id"] for o in (await perks_of(papi, "u3"))["offered"]] == ["beta"]
    assert [w["waitlist_position"] for w in (await perks_of(papi, "u4"))["waitlisted"]] == [1]
    catalogue = (await papi.client.get("/v1/perks")).json()["perks"]
    beta = next(p for p in catalogue if p["id"] == "beta")
    assert beta["seats"] == 2 and beta["seats_taken"] == 2 and beta["waitlist"] == 1


async def test_offers_and_perks_expire_on_the_schedule_and_the_pool_running_dry_is_a_state(papi: Api) -> None:
    await earn(papi, "u1", 2)
    await earn(papi, "u2", 2)
    await earn(papi, "u3", 2)  # waits
    claimed = await papi.client.post("/v1/users/u1/perks/beta/claim")
    assert claimed.json()["code"] is None and claimed.json()["code_status"] == "awaiting_codes"
    runtime = papi.runtime
    later = utcnow() + timedelta(days=8)
    async with unit_of_work(runtime.sessionmaker) as uow:
        await perks.sweep(uow.session, runtime.ruleset, later)
    u2 = await perks_of(papi, "u2")
    assert [(g["perk_id"], g["status"]) for g in u2["past"]] == [("beta", "offer_expired")]
    assert [o["perk_id"] for o in (await perks_of(papi, "u3"))["offered"]] == ["beta"]
    async with unit_of_work(runtime.sessionmaker) as uow:  # running it twice changes nothing more
        await perks.sweep(uow.session, runtime.ruleset, later)
    assert [o["perk_id"] for o in (await perks_of(papi, "u3"))["offered"]] == ["beta"]
    uploaded = await papi.client.post("/v1/admin/perks/beta/codes", json={"codes": ["LATE-1"]})
    assert uploaded.json()["codes_issued_to_waiting"] == 1
    u1 = await perks_of(papi, "u1")
    assert [g["code"] for g in u1["active"] if g["perk_id"] == "beta"] == ["LATE-1"]
    async with unit_of_work(runtime.sessionmaker) as uow:
        await perks.sweep(uow.session, runtime.ruleset, utcnow() + timedelta(days=31))
    u1 = await perks_of(papi, "u1")
    assert [(g["perk_id"], g["status"]) for g in u1["past"] if g["perk_id"] == "beta"] == [("beta", "expired")]


async def test_a_perk_needing_approval_waits_for_a_manager_and_the_audit_log_keeps_the_decision(papi: Api) -> None:
    q = question("q1", "asker")
    a = answer("a1", "ewa", "q1")
    await papi.post_events(
        event("question.posted", {"actor": "asker", "post": q}),
        upvote("v1", a),
        upvote("v2", a, minutes=1),
        accept("asker", a, minutes=2),
    )
    mine = await perks_of(papi, "ewa")
    assert [g["perk_id"] for g in mine["pending_approval"]] == ["workshop"]
    missing_reason = await papi.client.post("/v1/admin/perks/workshop/approve", json={"user_id": "ewa"})
    assert missing_reason.status_code == 422
    approved = await papi.client.post(
        "/v1/admin/perks/workshop/approve", json={"user_id": "ewa", "reason": "great answers on routers"}
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "active" and approved.json()["details"]["place"] == "Warsaw"
    again = await papi.client.post("/v1/admin/perks/workshop/approve", json={"user_id": "ewa", "reason": "again"})
    assert again.status_code == 409
    audit = (await papi.client.get("/v1/audit", params={"action": "perk."})).json()["entries"]
    assert [(e["action"], e["user_id"], e["reason"]) for e in audit] == [
        ("perk.approve", "ewa", "great answers on routers")
    ]
    csv = await papi.client.get("/v1/admin/perks/workshop/attendees.csv")
    assert csv.status_code == 200 and csv.text.splitlines()[1].startswith("ewa,active,")
    assert await papi.reputation("asker") == 2  # the asker, who accepted, is no candidate for the workshop
    assert (await perks_of(papi, "asker"))["pending_approval"] == []


async def test_a_suspension_ends_open_perks_and_reinstatement_lets_the_expert_queue_again(papi: Api) -> None:
    await earn(papi, "zed", 2)
    assert {g["perk_id"] for g in (await perks_of(papi, "zed"))["active"]} == {"mods"}
    await papi.post_events(event("user.suspended", {"actor": "mod", "user": "zed"}, minutes=30))
    mine = await perks_of(papi, "zed")
    assert mine["active"] == [] and mine["offered"] == []
    assert {(g["perk_id"], g["status"]) for g in mine["past"]} == {("mods", "suspended"), ("beta", "suspended")}
    await earn(papi, "zed", 1, post="a-later")  # still suspended: no new offers
    assert (await perks_of(papi, "zed"))["offered"] == []
    await papi.post_events(event("user.reinstated", {"actor": "mod", "user": "zed"}, minutes=60))
    mine = await perks_of(papi, "zed")
    assert [g["perk_id"] for g in mine["offered"]] == ["beta"] and [g["perk_id"] for g in mine["active"]] == ["mods"]


async def test_a_waitlisted_expert_who_stops_qualifying_leaves_the_line_and_rejoins_when_qualifying_again(
    papi: Api,
) -> None:
    for user in ("u1", "u2", "u3"):
        await earn(papi, user, 2)
    assert [w["perk_id"] for w in (await perks_of(papi, "u3"))["waitlisted"]] == ["beta"]
    a = answer("a-u3", "u3", "q-u3-None")
    await papi.post_events(event("post.downvoted", {"actor": "critic", "post": a}, minutes=40))
    mine = await perks_of(papi, "u3")
    assert mine["waitlisted"] == [] and [g["status"] for g in mine["past"] if g["perk_id"] == "beta"] == ["withdrawn"]
    await earn(papi, "u3", 1, post="a-more")
    assert [w["perk_id"] for w in (await perks_of(papi, "u3"))["waitlisted"]] == ["beta"]


async def test_claims_and_declines_need_the_forums_write_key(papi: Api) -> None:
    await earn(papi, "ania", 2)
    reader = await papi.key(Scope.READ)
    refused = await papi.client.post("/v1/users/ania/perks/beta/decline", headers={"Authorization": f"Bearer {reader}"})
    assert refused.status_code == 403
    assert [g["perk_id"] for g in (await perks_of(papi, "ania"))["offered"]] == ["beta"]


async def test_two_sweeps_at_once_end_an_offer_once(postgres_database_url: str, tmp_path: Path) -> None:
    settings = make_settings(postgres_database_url, rules_path=rules_with_test_perks(tmp_path))
    async with open_api(settings) as api:
        await earn(api, "u1", 2)
        await earn(api, "u2", 2)
        runtime = api.runtime
        later = utcnow() + timedelta(days=8)

        async def sweep() -> None:
            async with unit_of_work(runtime.sessionmaker) as uow:
                await perks.sweep(uow.session, runtime.ruleset, later)

        await asyncio.gather(sweep(), sweep(), sweep())
        async with runtime.sessionmaker() as session:
            topics = (
                await session.scalars(select(OutboxMessage.topic).where(OutboxMessage.topic == "perk.offer_expired"))
            ).all()
            rows = (await session.scalars(select(PerkGrantRow).where(PerkGrantRow.perk_id == "beta"))).all()
        assert len(topics) == 2
        assert sorted(row.status for row in rows) == ["offer_expired", "offer_expired"]


async def test_managers_grant_revoke_and_change_seats_and_bad_requests_are_explained(papi: Api) -> None:
    await earn(papi, "u1", 2)
    await earn(papi, "u2", 2)
    await earn(papi, "u3", 2)
    unknown = await papi.client.post("/v1/admin/perks/nope/grant", json={"user_id": "u1", "reason": "because"})
    assert unknown.status_code == 404 and "beta" in unknown.json()["error"]
    seats = await papi.client.put("/v1/admin/perks/beta/seats", json={"seats": 3})
    assert seats.status_code == 200 and seats.json()["seats"] == 3 and seats.json()["waitlist"] == 0
    assert [o["perk_id"] for o in (await perks_of(papi, "u3"))["offered"]] == ["beta"]
    revoked = await papi.client.post("/v1/admin/perks/beta/revoke", json={"user_id": "u3", "reason": "test account"})
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    codes = await papi.client.post("/v1/admin/perks/mods/codes", json={"codes": ["x"]})
    assert codes.status_code == 422 and "beta_access" in codes.json()["error"]
    reader = await papi.key()  # no scopes: not a manager
    forbidden = await papi.client.post(
        "/v1/admin/perks/beta/grant",
        json={"user_id": "u1", "reason": "hello"},
        headers={"Authorization": f"Bearer {reader}"},
    )
    assert forbidden.status_code == 403


async def test_concurrent_allocation_never_overbooks_seats(postgres_database_url: str, tmp_path: Path) -> None:
    settings = make_settings(postgres_database_url, rules_path=rules_with_test_perks(tmp_path))
    async with open_api(settings) as api:
        users = [f"c{i}" for i in range(12)]
        for user in users:  # reputation without perks: apply with the perks hook, then take seats concurrently
            await earn(api, user, 1)
        runtime = api.runtime
        profiles = await _profiles(runtime, users)
        boosted = [type(p)(**{**p.__dict__, "reputation": 100}) for p in profiles]

        async def one(profile: Any) -> None:
            async with unit_of_work(runtime.sessionmaker) as uow:
                await perks.reconcile(uow.session, runtime.ruleset, [profile], utcnow())

        await asyncio.gather(*(one(profile) for profile in boosted))
        async with runtime.sessionmaker() as session:
            rows = (await session.scalars(select(PerkGrantRow).where(PerkGrantRow.perk_id == "beta"))).all()
        statuses = sorted(row.status for row in rows)
        assert statuses.count("offered") == 2
        assert statuses.count("waitlisted") == 10


async def _profiles(runtime: Any, users: list[str]) -> list[Any]:
    async with runtime.sessionmaker() as session:
        return await perks.profiles_from_db(session, users)


ACTIVE_PERK = """
perks:
  - id: act
    name: Active experts' beta
    description: For those who helped this month.
    kind: beta_access
    eligibility: {reputation: 10, active_within_days: 30}
    seats: 1
    claim_within_days: 90

"""


async def test_the_next_in_line_who_no_longer_qualifies_by_time_alone_is_passed_over(
    database_url: str, tmp_path: Path
) -> None:
    text = (PROJECT_ROOT / "rules" / "default.yaml").read_text()
    start, end = text.index("\nperks:"), text.index("# Titles by reputation")
    rules = tmp_path / "active.yaml"
    rules.write_text(text[:start] + "\n" + ACTIVE_PERK + text[end:])
    recently = utcnow() - timedelta(days=1)
    async with open_api(make_settings(database_url, rules_path=rules)) as api:
        for user in ("u1", "u2", "u3"):
            a = answer(f"a-{user}", user, "q1")
            await api.post_events(
                event("answer.posted", {"actor": user, "post": a}, at=recently), upvote("v", a, at=recently)
            )
        assert [w["waitlist_position"] for w in (await perks_of(api, "u2"))["waitlisted"]] == [1]
        runtime = api.runtime
        # Forty days on, u2 and u3 have been quiet: when u1 declines, the seat skips them.
        async with unit_of_work(runtime.sessionmaker) as uow:
            await perks.decline(uow.session, runtime.ruleset, "u1", "act", utcnow() + timedelta(days=40))
        for user in ("u2", "u3"):
            mine = await perks_of(api, user)
            assert mine["offered"] == [] and [g["status"] for g in mine["past"]] == ["withdrawn"]
            assert "activity in the last 30 days" in mine["past"][0]["end_reason"]


async def test_a_replay_checks_everyone_above_the_floor_page_by_page(
    papi: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A perk new to the rules reaches every qualified member after a replay, not only the first page of them."""
    from sqlalchemy import delete

    from rewards.apply.publish import replay

    for user, upvotes in (("ann", 3), ("bob", 2), ("cid", 1), ("dan", 2)):
        await earn(papi, user, upvotes)
    async with unit_of_work(papi.runtime.sessionmaker) as uow:  # as if the perks had not existed until now
        await uow.session.execute(delete(PerkGrantRow))
    monkeypatch.setattr(perks, "CANDIDATES_PER_SWEEP", 1)
    async with unit_of_work(papi.runtime.sessionmaker) as uow:
        await replay(uow.session, papi.runtime.ruleset, 1000, "test", utcnow())
    for user in ("ann", "bob", "cid", "dan"):  # 30, 20, 10 and 20 reputation: all reach the moderators' 10
        assert "mods" in {g["perk_id"] for g in (await perks_of(papi, user))["active"]}, user
    assert [g["perk_id"] for g in (await perks_of(papi, "voter0"))["active"]] == []  # 0 reputation
