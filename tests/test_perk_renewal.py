"""Perks that must be renewed: offered and kept only while enough is counted in a rolling window; the schedule
warns the holder once before the lapse and ends the perk (or withdraws an unclaimed offer) at it, notified once,
audit-logged and explained on the member's page, the same after a replay."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from rewards.apply.publish import replay
from rewards.audit.models import AuditRow
from rewards.db import unit_of_work
from rewards.engine.loader import load_ruleset_text
from rewards.engine.perks import Profile, check, perk_windows
from rewards.engine.renewal import RENEWAL_CHECK, lapsed_at
from rewards.errors import RulesetError
from rewards.events.models import StoredEvent
from rewards.outbox.models import OutboxMessage
from rewards.perks.models import PerkGrantRow
from rewards.renewals.tasks import check_renewals
from rewards.runtime import utcnow
from tests.conftest import Api, make_settings, open_api
from tests.engine_harness import Community
from tests.factories import accept, answer, upvote
from tests.renewal_rules import LAPSE, MARCH_2026, WARNING, rules
from tests.state_snapshot import snapshot
from tests.test_web import open_web, web_settings

RULES = rules(
    "renewing-perks",
    """\
perks:
  - id: beta
    name: Beta access
    description: The next router's firmware before anyone else.
    kind: early_access
    eligibility: {reputation: 100}
    renewal: {counter: accepted_answers, at: 2, window: 12 months, warn_before: 30 days}
  - id: briefing
    name: Product briefing
    description: A seat at the quarterly briefing.
    kind: briefing
    eligibility: {reputation: 100}
    claim_within_days: 1000
    renewal: {counter: accepted_answers, at: 2, window: 12 months}
""",
)

KEPT = "Beta access until 2027-03-01: 2 accepted answers in the last 12 months (2 needed); 2 more by then keep it"
LAPSED = "lapsed: Beta access needs 2 accepted answers in the last 12 months: 0 so far"


def ewa_answers(at: datetime, first: int = 1) -> list[dict[str, Any]]:
    return [accept("asker", answer(f"a{n}", "ewa", f"q{n}"), at=at, minutes=n) for n in range(first, first + 2)]


async def notified(api: Api) -> list[tuple[str, str, str | None, str | None]]:
    """Perk notifications meant for delivery (a replay's are kept as suppressed, never sent)."""
    async with api.runtime.sessionmaker() as session:
        rows = await session.execute(
            select(OutboxMessage.topic, OutboxMessage.data)
            .where(OutboxMessage.topic.like("perk.%"), OutboxMessage.status != "suppressed")
            .order_by(OutboxMessage.id)
        )
        return [(topic, data["perk"], data.get("status"), data.get("reason")) for topic, data in rows]


async def grants(api: Api) -> list[tuple[str, str, datetime | None, str | None]]:
    async with api.runtime.sessionmaker() as session:
        rows = await session.execute(
            select(PerkGrantRow.perk_id, PerkGrantRow.status, PerkGrantRow.ended_at, PerkGrantRow.end_reason).order_by(
                PerkGrantRow.id
            )
        )
        return [(perk, status, ended_at, reason) for perk, status, ended_at, reason in rows]


EXPECTED = [
    ("perk.granted", "beta", "active", None),
    ("perk.offered", "briefing", "offered", None),
    ("perk.renewal_due", "beta", "active", KEPT),
    ("perk.expired", "beta", "lapsed", LAPSED),
    (
        "perk.withdrawn",
        "briefing",
        "withdrawn",
        "lapsed: Product briefing needs 2 accepted answers in the last 12 months: 0 so far",
    ),
]


async def test_the_schedule_ends_a_lapsing_perk_on_time_warned_once_the_same_after_a_replay(
    database_url: str, tmp_path: Path
) -> None:
    rules = tmp_path / "renewing.yaml"
    rules.write_text(RULES)
    async with open_api(make_settings(database_url, rules_path=rules)) as api:
        await api.post_events(*ewa_answers(MARCH_2026))
        mine = (await api.client.get("/v1/users/ewa/perks")).json()
        assert [grant["perk_id"] for grant in mine["active"]] == ["beta"]
        assert [grant["perk_id"] for grant in mine["offered"]] == ["briefing"]
        renewal = mine["active"][0]["renewal"]
        assert (renewal["count"], renewal["at"], renewal["until"], renewal["window_months"]) == (
            2,
            2,
            "2027-03-01T00:00:00Z",
            12,
        )
        assert renewal["explanation"] == KEPT
        assert mine["offered"][0]["renewal"] is None  # an offer is not held yet

        # Nothing due before the warning; the job may run any number of times, on any worker.
        assert await check_renewals(api.applier, WARNING - timedelta(minutes=1)) == 0
        assert await check_renewals(api.applier, WARNING + timedelta(days=2)) == 1  # the briefing warns nobody
        assert await check_renewals(api.applier, WARNING + timedelta(days=3)) == 0
        assert await check_renewals(api.applier, LAPSE - timedelta(minutes=1)) == 0
        assert await check_renewals(api.applier, LAPSE + timedelta(minutes=1)) == 2
        assert await check_renewals(api.applier, LAPSE + timedelta(days=400)) == 0
        async with api.runtime.sessionmaker() as session:
            stored = await session.execute(
                select(StoredEvent.event_id, StoredEvent.time).where(StoredEvent.type == RENEWAL_CHECK)
            )
            assert sorted((event_id, time) for event_id, time in stored) == [
                ("renewal/ewa/perk:beta/lapse/2027-03-01", LAPSE),
                ("renewal/ewa/perk:beta/warn/2027-03-01", WARNING),
                ("renewal/ewa/perk:briefing/lapse/2027-03-01", LAPSE),
            ]
        assert await notified(api) == EXPECTED
        # Ended at the lapse, not when the job noticed; told why; in the audit log.
        assert await grants(api) == [
            ("beta", "lapsed", LAPSE, LAPSED),
            ("briefing", "withdrawn", LAPSE, EXPECTED[-1][3]),
        ]
        async with api.runtime.sessionmaker() as session:
            audit = await session.execute(
                select(AuditRow.actor, AuditRow.action, AuditRow.target).where(AuditRow.action.like("perk.%"))
            )
            assert sorted((actor, action, target) for actor, action, target in audit) == [
                ("rewards:renewal", "perk.lapsed", "perk:beta"),
                ("rewards:renewal", "perk.withdrawn", "perk:briefing"),
            ]
        mine = (await api.client.get("/v1/users/ewa/perks")).json()
        assert mine["active"] == [] and mine["offered"] == []
        assert [perk["missing_text"] for perk in mine["in_reach"]] == []  # had them: shown in `past`
        assert [(grant["perk_id"], grant["status"]) for grant in mine["past"]] == [
            ("briefing", "withdrawn"),
            ("beta", "lapsed"),
        ]

        # A replay (under the same rules) gives the same state and tells nobody anything again.
        async with api.runtime.sessionmaker() as session:
            live = await snapshot(session)
        async with unit_of_work(api.runtime.sessionmaker) as uow:
            await replay(uow.session, api.runtime.ruleset, 1000, "replay", utcnow())
        async with api.runtime.sessionmaker() as session:
            assert await snapshot(session) == live
        assert await notified(api) == EXPECTED
        assert len(await grants(api)) == 2
        assert await check_renewals(api.applier, LAPSE + timedelta(days=1)) == 0

        # Enough again in a later window: offered again (a lapse is not final), kept until the next lapse.
        await api.post_events(*ewa_answers(datetime(2027, 4, 5, tzinfo=UTC), first=3))
        mine = (await api.client.get("/v1/users/ewa/perks")).json()
        assert [grant["perk_id"] for grant in mine["active"]] == ["beta"]
        assert mine["active"][0]["renewal"]["until"] == "2028-04-01T00:00:00Z"
        assert [topic for topic, *_ in await notified(api)][len(EXPECTED) :] == ["perk.granted", "perk.offered"]


async def test_an_answer_before_the_lapse_keeps_the_perk_and_a_stale_check_ends_nothing(
    database_url: str, tmp_path: Path
) -> None:
    rules = tmp_path / "renewing.yaml"
    rules.write_text(RULES)
    async with open_api(make_settings(database_url, rules_path=rules)) as api:
        await api.post_events(*ewa_answers(MARCH_2026))
        assert await check_renewals(api.applier, WARNING + timedelta(days=1)) == 1
        # Renewed after the warning was stored: the window now holds until 2028.
        await api.post_events(*ewa_answers(datetime(2027, 2, 10, tzinfo=UTC), first=3))
        assert await check_renewals(api.applier, LAPSE + timedelta(minutes=1)) == 0
        assert [status for _, status, _, _ in await grants(api)] == ["active", "offered"]
        topics = [topic for topic, *_ in await notified(api)]
        assert topics == ["perk.granted", "perk.offered", "perk.renewal_due"]


async def test_a_perk_given_by_hand_is_not_ended_by_its_window(database_url: str, tmp_path: Path) -> None:
    rules = tmp_path / "renewing.yaml"
    rules.write_text(
        RULES.replace(
            "eligibility: {reputation: 100}\n    renewal:", "eligibility: {reputation: 9000}\n    renewal:", 1
        )
    )
    async with open_api(make_settings(database_url, rules_path=rules)) as api:
        await api.post_events(*ewa_answers(MARCH_2026))
        granted = await api.client.post(
            "/v1/admin/perks/beta/grant", json={"user_id": "ewa", "reason": "ran the Warsaw workshop"}
        )
        assert granted.status_code == 201, granted.text
        assert await check_renewals(api.applier, LAPSE + timedelta(days=1)) == 1  # the briefing's offer only
        await api.post_events(upvote("v1", answer("a1", "ewa", "q1"), at=LAPSE, minutes=60))
        assert [(perk, status) for perk, status, _, _ in await grants(api)] == [
            ("briefing", "withdrawn"),
            ("beta", "active"),
        ]


def test_a_window_is_part_of_eligibility_and_says_what_is_missing() -> None:
    ruleset = load_ruleset_text(RULES)
    community = Community(ruleset)
    community.send(*ewa_answers(MARCH_2026))
    beta = ruleset.spec.perks[0]

    def verdict(windows: dict[str, Any] | None) -> list[str]:
        profile = Profile("ewa", community.rep("ewa"), False, MARCH_2026, windows=windows)
        return check(ruleset, beta, profile, MARCH_2026).missing

    counters = community.state.counters
    assert verdict(perk_windows(ruleset.spec.perks, counters, "ewa")) == []
    assert beta.renewal is not None and lapsed_at(counters, "ewa", beta.renewal) is None
    community.send(upvote("v1", answer("a1", "ewa", "q1"), at=LAPSE, minutes=60 * 24 * 40))  # April 2027
    windows = perk_windows(ruleset.spec.perks, counters, "ewa")
    assert verdict(windows) == ["2 more accepted answers in the last 12 months"]
    assert windows is not None and windows["beta"].lapsed_at == LAPSE
    assert verdict(None) == []  # windows not read: as a perk without one


def test_without_a_window_a_perk_is_decided_as_before() -> None:
    plain = load_ruleset_text(
        RULES.replace("    renewal: {counter: accepted_answers, at: 2, window: 12 months, warn_before: 30 days}\n", "")
    )
    assert plain.spec.perks[0].renewal is None and "accepted_answers" in plain.windowed_counters  # the briefing's
    community = Community(plain)
    community.send(*ewa_answers(MARCH_2026))
    assert perk_windows(plain.spec.perks[:1], community.state.counters, "ewa") is None


@pytest.mark.parametrize(
    ("renewal", "message"),
    [
        ("{counter: accepted_answers, at: 2, window: 365d}", "write it in months"),
        ("{counter: answers, at: 2, window: 12 months}", "'answers' is not a declared `per: user` counter"),
        ("{counter: accepted_answers, at: 2, window: 12 months, on_lapse: lower}", "'end'"),
    ],
)
def test_a_bad_perk_renewal_is_refused_with_file_line_and_reason(renewal: str, message: str) -> None:
    rules = RULES.replace(
        "renewal: {counter: accepted_answers, at: 2, window: 12 months, warn_before: 30 days}", f"renewal: {renewal}"
    )
    with pytest.raises(RulesetError) as error:
        load_ruleset_text(rules, "renewing.yaml")
    problem = error.value.detail[0]
    assert (problem["file"], problem["line"]) == ("renewing.yaml", 20), problem
    assert message in problem["message"], problem


async def test_me_says_until_when_a_renewing_perk_is_kept_in_english_and_polish(
    database_url: str, tmp_path: Path
) -> None:
    rules = tmp_path / "renewing.yaml"
    rules.write_text(RULES)
    async with open_web(web_settings(database_url, rules_path=rules)) as web:
        await web.post_events(*ewa_answers(MARCH_2026))
        await web.sign_in("ewa")
        page = (await web.browser.get("/me")).text
        assert "Beta access until 2027-03-01: 2 of 2 accepted answers in the last 12 months." in page
        polish = (await web.browser.get("/me", headers={"Accept-Language": "pl"})).text
        assert "Beta access do 2027-03-01: accepted answers \u2013 2 z 2 w ostatnich 12 miesiącach." in polish
