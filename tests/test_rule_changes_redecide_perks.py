"""Rules published retroactively, or rolled back, decide the perks again: an unclaimed offer or a waitlist place
the rules no longer justify is withdrawn (notified, in the audit log, with the reason), one they newly justify
is made, and an active perk follows its `when_rules_no_longer_qualify`. The preview says which would be
withdrawn. On SQLite and PostgreSQL, through the API as a manager does it."""

import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select

from rewards import PROJECT_ROOT
from rewards.outbox.models import OutboxMessage
from rewards.perks.models import PerkGrantRow
from tests.conftest import Api, make_settings, open_api, run_scheduled_publish
from tests.factories import answer, event, question, upvote

PERKS = """
perks:
  - id: seat
    name: Workshop seat
    description: Two seats, claimed within a week.
    kind: workshop
    eligibility: {reputation: 20}
    seats: 2
    claim_within_days: 7
  - id: mods
    name: Moderators
    description: A role, given at once.
    kind: role
    eligibility: {reputation: 40}
  - id: beta
    name: Router beta
    description: Given at once, taken back if the rules say it was never earned.
    kind: beta_access
    eligibility: {reputation: 40}
    when_rules_no_longer_qualify: revoke

"""
UPVOTE_AWARD = "        points: 10\n        cap: upvotes-per-day\n"
USERS = ["ua", "ub", "uc"]
ANSWERS = {user: answer(f"a-{user}", user, f"q-{user}") for user in USERS}


def rules(folder: Path) -> tuple[Path, str]:
    """The default rules with these perks, and a draft where an upvote is worth 20."""
    text = (PROJECT_ROOT / "rules" / "default.yaml").read_text()
    start, end = text.index("\nperks:"), text.index("# Titles by reputation")
    text = text[:start] + "\n" + PERKS + text[end:]
    path = folder / f"perks-{uuid.uuid4().hex}.yaml"
    path.write_text(text)
    return path, text.replace(UPVOTE_AWARD, UPVOTE_AWARD.replace("10", "20"))


async def publish(api: Api, body: dict[str, Any]) -> None:
    asked = await api.client.post("/v1/rulesets/publish", json={"mode": "retroactive", **body})
    assert asked.status_code == 202, asked.text
    assert await run_scheduled_publish(api.applier) == 1
    job = (await api.client.get(asked.headers["location"])).json()
    assert job["status"] == "done", job


async def grants(api: Api) -> dict[tuple[str, str], list[str]]:
    """Each (perk, user)'s grants, oldest first, by status."""
    async with api.runtime.sessionmaker() as session:
        rows = await session.execute(
            select(PerkGrantRow.perk_id, PerkGrantRow.user_id, PerkGrantRow.status).order_by(PerkGrantRow.id)
        )
        found: dict[tuple[str, str], list[str]] = {}
        for perk_id, user_id, status in rows:
            found.setdefault((perk_id, user_id), []).append(status)
        return found


async def withdrawals_notified(api: Api) -> list[tuple[str, str | None, str]]:
    async with api.runtime.sessionmaker() as session:
        rows = await session.execute(
            select(OutboxMessage.topic, OutboxMessage.user_id, OutboxMessage.data)
            .where(OutboxMessage.topic.in_(["perk.withdrawn", "perk.revoked"]))
            .order_by(OutboxMessage.id)
        )
        return [(topic, user_id, data["reason"]) for topic, user_id, data in rows]


async def test_a_rollback_withdraws_what_only_the_rolled_back_rules_justified(
    database_url: str, tmp_path: Path
) -> None:
    path, doubled = rules(tmp_path)
    async with open_api(make_settings(database_url, rules_path=path)) as api:
        first = (await api.client.get("/v1/rulesets")).json()["published_version"]
        opening = [event("question.posted", {"actor": "asker", "post": question(f"q-{u}", "asker")}) for u in USERS]
        opening += [event("answer.posted", {"actor": u, "post": ANSWERS[u]}, minutes=1) for u in USERS]
        votes = [upvote("v1", ANSWERS["ua"], minutes=2), upvote("v2", ANSWERS["ua"], minutes=3)]
        votes += [upvote("v1", ANSWERS["ub"], minutes=4), upvote("v1", ANSWERS["uc"], minutes=5)]
        await api.post_events(*opening, *votes)
        # Under the published rules: ua has 20, a workshop seat offered; ub and uc have 10, nothing.
        assert await grants(api) == {("seat", "ua"): ["offered"]}

        await publish(api, {"source": doubled, "comment": "upvotes count double"})
        # ua 40: the role and the beta besides the seat; ub 20 takes the second seat; uc 20 waits for one.
        assert await grants(api) == {
            ("seat", "ua"): ["offered"],
            ("seat", "ub"): ["offered"],
            ("seat", "uc"): ["waitlisted"],
            ("mods", "ua"): ["active"],
            ("beta", "ua"): ["active"],
        }
        rolled_back = (await api.client.get(f"/v1/rulesets/{first}")).json()
        previewed = await api.client.post("/v1/rulesets/preview", json={"source": rolled_back["source"]})
        assert previewed.status_code == 200, previewed.text
        withdrawals = previewed.json()["withdrawals"]
        assert sorted((w["perk_id"], w["user_id"], w["status"]) for w in withdrawals) == [
            ("beta", "ua", "active"),
            ("seat", "ub", "offered"),
            ("seat", "uc", "waitlisted"),
        ]

        await publish(api, {"version": first, "comment": "back to single upvotes"})
        assert await grants(api) == {
            ("seat", "ua"): ["offered"],  # 20 again: still qualifies, the offer stands
            ("seat", "ub"): ["withdrawn"],  # 10: the unclaimed offer goes (before, it could still be claimed)
            ("seat", "uc"): ["withdrawn"],  # 10: so does the waitlist place
            ("mods", "ua"): ["active"],  # a role kept by its policy (keep, the default)
            ("beta", "ua"): ["revoked"],  # when_rules_no_longer_qualify: revoke
        }
        reason = f"rolled back to ruleset version {first}: the rules no longer justify it (needs "
        notified = await withdrawals_notified(api)
        assert [(topic, user) for topic, user, _ in notified] == [
            ("perk.withdrawn", "uc"),  # waitlist places first: a freed seat never goes to someone withdrawn next
            ("perk.revoked", "ua"),
            ("perk.withdrawn", "ub"),
        ]
        assert all(text.startswith(reason) for _, _, text in notified), notified
        audit = (await api.client.get("/v1/audit", params={"target": "perk:seat"})).json()["entries"]
        withdrawn = {entry["user_id"]: entry for entry in audit if entry["action"] == "perk.withdrawn"}
        assert {user: entry["detail"]["was"] for user, entry in withdrawn.items()} == {
            "ub": "offered",
            "uc": "waitlisted",
        }
        assert all(entry["reason"].startswith(reason) for entry in withdrawn.values())
        refused = await api.client.post("/v1/users/ub/perks/seat/claim")
        assert refused.status_code in (404, 409), refused.text  # the withdrawn offer cannot be claimed

        # The doubled rules again: what they justify is offered again (a withdrawn place is not final).
        await publish(api, {"source": doubled, "comment": "double after all"})
        after = await grants(api)
        assert after[("seat", "ub")] == ["withdrawn", "offered"] and after[("seat", "uc")] == [
            "withdrawn",
            "waitlisted",
        ]
        assert after[("beta", "ua")] == ["revoked"]  # revoked is final: a manager may grant it again by hand
