"""Reported contributions over the API, on SQLite and PostgreSQL: a member's report, a manager's approval that
becomes a `contribution.approved` event the rules reward (points, counters, a perk that needs beta feedback),
the history and the audit log that explain it, a replay that gives the same state, and every refusal with a
message a person can act on."""

from typing import Any

import pytest
from sqlalchemy import select

from rewards.apply.publish import replay
from rewards.auth.service import Scope
from rewards.contributions import service
from rewards.contributions.schemas import ContributionIn
from rewards.db import unit_of_work
from rewards.events import service as events_service
from rewards.outbox.models import OutboxMessage
from rewards.runtime import utcnow
from tests.conftest import Api
from tests.factories import answer, upvote
from tests.state_snapshot import snapshot

FEEDBACK = {
    "user_id": "ewa",
    "kind": "beta-feedback",
    "title": "Beta feedback for the 5G router",
    "details": "Twelve issues, three of them blocking.",
    "link": "https://forum.example.com/beta/5g/report-ewa",
}
WORKSHOP = {
    "user_id": "ewa",
    "kind": "workshop",
    "title": "Ran the router workshop in Warsaw",
    "file_name": "agenda.pdf",
}


async def report(api: Api, body: dict[str, Any], *, key: str | None = None, expect: int = 201) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = await api.client.post("/v1/contributions", json=body, headers=headers)
    assert response.status_code == expect, response.text
    found: dict[str, Any] = response.json()
    return found


async def decide(api: Api, number: int, action: str, comment: str | None = None, expect: int = 200) -> dict[str, Any]:
    response = await api.client.post(f"/v1/contributions/{number}/{action}", json={"comment": comment})
    assert response.status_code == expect, response.text
    found: dict[str, Any] = response.json()
    return found


async def perks_of(api: Api, user_id: str) -> dict[str, Any]:
    response = await api.client.get(f"/v1/users/{user_id}/perks")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def test_an_approved_contribution_earns_points_opens_a_perk_and_survives_a_replay(api: Api) -> None:
    await api.post_events(upvote("v1", answer("a1", "ewa", "q1")))
    adjusted = await api.client.post("/v1/users/ewa/adjust", json={"points": 490, "reason": "imported reputation"})
    assert adjusted.status_code == 201, adjusted.text
    mesh = next(p for p in (await perks_of(api, "ewa"))["in_reach"] if p["perk_id"] == "beta-mesh-wifi")
    assert mesh["missing_text"] == "1 more beta feedback reports"

    forum = await api.key(Scope.EVENTS_WRITE)
    reported = await report(api, FEEDBACK, key=forum)
    assert (reported["status"], reported["kind_name"], reported["reported_by"]) == (
        "pending",
        "Beta feedback",
        "key:test",
    )
    assert await api.reputation("ewa") == 500  # nothing until a manager approves

    approved = await decide(api, reported["id"], "approve", "Thorough, thank you")
    assert (approved["status"], approved["decided_by"], approved["comment"]) == (
        "approved",
        "key:admin",
        "Thorough, thank you",
    )
    assert (approved["event_source"], approved["event_id"]) == (
        "rewards:contributions",
        f"contribution-{reported['id']}",
    )
    assert await api.reputation("ewa") == 525
    history = (await api.client.get("/v1/users/ewa/history")).json()["entries"]
    assert history[0]["reason"] == "+25 beta feedback: Beta feedback for the 5G router"
    explained = (await api.client.get(f"/v1/events/rewards:contributions/contribution-{reported['id']}")).json()
    assert (explained["type"], explained["status"], explained["rules_fired"]) == (
        "contribution.approved",
        "applied",
        ["beta-feedback-given"],
    )
    assert [p["perk_id"] for p in (await perks_of(api, "ewa"))["offered"]] == ["beta-mesh-wifi"]
    audit = (await api.client.get("/v1/audit", params={"user_id": "ewa", "action": "contribution."})).json()
    assert [(e["action"], e["actor"], e["reason"]) for e in audit["entries"]] == [
        ("contribution.approve", "key:admin", "Thorough, thank you")
    ]
    async with api.runtime.sessionmaker() as session:
        topics = (await session.scalars(select(OutboxMessage.topic).where(OutboxMessage.user_id == "ewa"))).all()
    assert "contribution.approved" in topics

    workshop = await report(api, WORKSHOP)
    await decide(api, workshop["id"], "approve")
    assert await api.reputation("ewa") == 575

    async with api.runtime.sessionmaker() as session:
        live = await snapshot(session)
    async with unit_of_work(api.runtime.sessionmaker) as uow:
        await replay(uow.session, api.runtime.ruleset, 100, "test", utcnow())
    api.applier.kept = None
    async with api.runtime.sessionmaker() as session:
        assert await snapshot(session) == live
    assert await api.reputation("ewa") == 575
    assert [p["perk_id"] for p in (await perks_of(api, "ewa"))["offered"]] == ["beta-mesh-wifi"]


async def test_a_decision_is_made_once_and_a_second_one_is_a_409_that_says_so(api: Api) -> None:
    first = await report(api, FEEDBACK)
    await decide(api, first["id"], "approve")
    again = await decide(api, first["id"], "approve", expect=409)
    assert again["error"].startswith(f"contribution {first['id']} was approved by key:admin on ")
    assert again["error"].endswith("; nothing changed")
    assert (await decide(api, first["id"], "deny", "Changed my mind", expect=409))["error"] == again["error"]
    assert await api.reputation("ewa") == 25  # one event, rewarded once

    second = await report(api, WORKSHOP)
    no_reason = await decide(api, second["id"], "deny", expect=422)
    assert "to deny a contribution, say why" in no_reason["error"]
    denied = await decide(api, second["id"], "deny", "No workshop took place on that date")
    assert (denied["status"], denied["comment"]) == ("denied", "No workshop took place on that date")
    assert (await decide(api, second["id"], "approve", expect=409))["error"].startswith(
        f"contribution {second['id']} was denied by key:admin"
    )
    assert await api.reputation("ewa") == 25
    listed = (await api.client.get("/v1/contributions", params={"user_id": "ewa", "status": "denied"})).json()
    assert [c["id"] for c in listed["contributions"]] == [second["id"]]
    assert [k["id"] for k in listed["kinds"]] == ["workshop", "beta-feedback"]


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"kind": "talk"}, "no contribution kind 'talk' in the published rules (kinds: workshop, beta-feedback)"),
        (
            {"link": "javascript:alert(1)"},
            "a link is an absolute http:// or https:// address, not 'javascript:alert(1)'",
        ),
        (
            {"link": "  ", "file_name": None},
            "give a link (https://...) or the name of a file that shows the contribution",
        ),
        ({"title": " a "}, "give a title of 3 to 200 characters on one line"),
        ({"title": "two\nlines"}, "give a title of 3 to 200 characters on one line"),
    ],
)
async def test_a_report_that_cannot_be_taken_is_a_422_that_says_what_to_change(
    api: Api, change: dict[str, Any], says: str
) -> None:
    refused = await report(api, {**FEEDBACK, **change}, expect=422)
    assert refused["error"] == says
    assert (await api.client.get("/v1/contributions")).json()["contributions"] == []


async def test_who_may_do_what_and_what_the_forum_cannot_post(api: Api) -> None:
    reader = await api.key(Scope.READ)
    forum = await api.key(Scope.EVENTS_WRITE)
    assert (
        await api.client.post("/v1/contributions", json=FEEDBACK, headers={"Authorization": f"Bearer {reader}"})
    ).status_code == 403
    made = await report(api, FEEDBACK, key=forum)
    approve = await api.client.post(
        f"/v1/contributions/{made['id']}/approve", json={}, headers={"Authorization": f"Bearer {forum}"}
    )
    assert approve.status_code == 403 and "'admin' scope" in approve.json()["error"]
    assert (await decide(api, 999, "approve", expect=404))["error"] == "no contribution 999"
    posed = await api.client.post(
        "/v1/events",
        json={
            "specversion": "1.0",
            "id": "fake-1",
            "source": "forum",
            "type": "contribution.approved",
            "time": "2026-03-02T09:00:00Z",
            "data": {"actor": "ewa", "contribution": "1", "kind": "workshop", "title": "x", "approved_by": "me"},
        },
    )
    assert posed.status_code == 422
    assert "POST /v1/contributions" in posed.json()["detail"][0]["message"]
    assert (await api.client.get("/v1/users/ewa")).status_code == 404  # no event named her: nothing was stored


async def test_the_status_and_the_event_commit_together_or_not_at_all(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = api.runtime
    async with unit_of_work(runtime.sessionmaker) as uow:
        made = await service.report(
            uow.session, runtime.ruleset, ContributionIn.model_validate(FEEDBACK), "key:test", utcnow()
        )

    async def refuse(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(events_service, "store", refuse)
    with pytest.raises(RuntimeError):
        await decide(api, made.id, "approve")
    monkeypatch.undo()
    assert (await api.client.get(f"/v1/contributions/{made.id}")).json()["status"] == "pending"
    audit = (await api.client.get("/v1/audit", params={"action": "contribution."})).json()["entries"]
    assert audit == []
    await decide(api, made.id, "approve")
    assert await api.reputation("ewa") == 25
