"""What members see of a rank that must be renewed: the API, the users pages, the flair, the boards and the member
page show the title the engine holds them to, until when, and after a lapse the lowered title and what it takes
again; each cached answer follows the lapse (new bytes, new ETag), and the windows are read only for members whose
title can lapse, in one round trip per page."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event as sa_event

from rewards.engine.loader import load_ruleset_text
from rewards.engine.perks import Profile, check
from rewards.renewals.tasks import check_renewals
from tests.conftest import Api, make_settings, open_api
from tests.factories import accept, answer, event, upvote
from tests.renewal_rules import EXPERT_RENEWS, LAPSE, MARCH_2026, WARNING, rules

RULES = rules(
    "renewing",
    EXPERT_RENEWS,
    """\
leaderboards:
  - id: reputation
    title: Reputation
    score: reputation
    periods: [all-time]
perks:
  - id: beta
    name: Beta programme
    description: Try the next router first.
    kind: beta_access
    eligibility: {rank: expert}
""",
)

HELD = "Expert until 2027-03-01: 2 accepted answers in the last 12 months (2 needed); 2 more by then keep it"
LAPSED = "Expert needs 2 accepted answers in the last 12 months: 0 so far"


async def _start(api: Api) -> None:
    await api.post_events(
        accept("asker", answer("a1", "ewa", "q1"), at=MARCH_2026),
        accept("asker", answer("a2", "ewa", "q2"), at=MARCH_2026, minutes=5),
        accept("asker", answer("a3", "bob", "q3"), at=MARCH_2026, minutes=6),  # 50: a Member, never Expert
    )


async def _reads(api: Api) -> dict[str, Any]:
    """Every read that shows ewa's title, with its ETag."""
    users = await api.client.get("/v1/users", params={"ids": "ewa,bob"})
    flair = await api.client.get("/v1/users/ewa/flair.svg")
    board = await api.client.get("/v1/leaderboards/reputation")
    assert users.status_code == flair.status_code == board.status_code == 200
    entry = next(e for e in board.json()["entries"] if e["user_id"] == "ewa")
    return {
        "profile": (await api.client.get("/v1/users/ewa")).json(),
        "users": (users.json()["users"][0], users.headers["etag"]),
        "flair": (flair.text, flair.headers["etag"]),
        "board": (entry["rank_title"], board.headers["etag"]),
    }


async def test_the_api_flair_boards_and_pages_show_the_window_and_follow_a_lapse(
    database_url: str, tmp_path: Path
) -> None:
    rules = tmp_path / "renewing.yaml"
    rules.write_text(RULES)
    async with open_api(make_settings(database_url, rules_path=rules)) as api:
        await _start(api)
        before = await _reads(api)
        rank = before["profile"]["rank"]
        assert rank["id"] == "expert"
        assert rank["renewal"] == {
            "counter": "accepted_answers",
            "counter_name": "Accepted answers",
            "at": 2,
            "window_months": 12,
            "count": 2,
            "held": True,
            "until": "2027-03-01T00:00:00Z",
            "warn_from": "2027-01-30T00:00:00Z",
            "needed_by_then": 2,
            "explanation": HELD,
        }
        assert before["users"][0] == before["profile"]  # a page of users holds the same answer
        assert "Expert" in before["flair"][0] and before["board"][0] == "Expert"
        bob = (await api.client.get("/v1/users/bob")).json()
        assert bob["rank"] == {"id": "member", "title": "Member", "reputation": 20, "renewal": None}
        assert bob["next_rank"]["id"] == "expert" and bob["next_rank"]["reputation_needed"] == 50

        perks = (await api.client.get("/v1/users/ewa/perks")).json()
        assert [grant["perk_id"] for grant in perks["active"]] == ["beta"]

        page = (await api.client.get("/u/ewa")).text
        assert "Expert until 2027-03-01: 2 accepted answers in the last 12 months (2 needed)." in page
        polish = (await api.client.get("/u/ewa", headers={"Accept-Language": "pl"})).text
        assert "Expert do 2027-03-01: accepted answers \u2013 2 w ostatnich 12 miesiącach (potrzeba 2)." in polish

        # Warned, still Expert until the lapse.
        assert await check_renewals(api.applier, WARNING + timedelta(days=1)) == 1
        warned = await _reads(api)
        assert warned["profile"]["rank"]["renewal"]["explanation"] == HELD
        assert "Expert until 2027-03-01" in (await api.client.get("/u/ewa")).text

        assert await check_renewals(api.applier, LAPSE + timedelta(minutes=1)) == 1
        after = await _reads(api)
        lowered = after["profile"]
        assert lowered["rank"] == {"id": "member", "title": "Member", "reputation": 20, "renewal": None}
        assert lowered["reputation"] == 100
        assert lowered["next_rank"]["id"] == "expert" and lowered["next_rank"]["reputation_needed"] == 0
        assert lowered["next_rank"]["renewal"]["held"] is False
        assert lowered["next_rank"]["renewal"]["until"] is None
        assert lowered["next_rank"]["renewal"]["explanation"] == LAPSED
        # Every cached answer follows the lapse: new bytes, new ETag.
        assert after["users"][0] == lowered and after["users"][1] != warned["users"][1]
        assert "Member" in after["flair"][0] and "Expert" not in after["flair"][0]
        assert after["flair"][1] != warned["flair"][1]
        assert after["board"][0] == "Member" and after["board"][1] != warned["board"][1]

        # A perk already held that needed the title is kept (a rank's lapse ends no perk; a perk's own renewal would).
        perks = (await api.client.get("/v1/users/ewa/perks")).json()
        assert [grant["perk_id"] for grant in perks["active"]] == ["beta"]

        page = (await api.client.get("/u/ewa")).text
        assert "Expert needs 2 accepted answers in the last 12 months: 0 so far." in page
        assert "more to Expert" not in page and "Expert until" not in page
        polish = (await api.client.get("/u/ewa", headers={"Accept-Language": "pl"})).text
        assert "Expert wymaga: accepted answers \u2013 2 w ostatnich 12 miesiącach; na razie 0." in polish

        # Renewed: two more accepted answers bring the title back, until a year after them.
        await api.post_events(
            accept("asker", answer("a4", "ewa", "q4"), at=LAPSE, minutes=60),
            accept("asker", answer("a5", "ewa", "q5"), at=LAPSE, minutes=61),
        )
        renewed = (await api.client.get("/v1/users/ewa")).json()["rank"]
        assert renewed["id"] == "expert" and renewed["renewal"]["until"] == "2028-03-01T00:00:00Z"


@contextmanager
def counted_window_reads(api: Api) -> Iterator[list[str]]:
    """The statements that read the counters table while inside."""
    found: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "counters" in statement:
            found.append(statement)

    engine = api.runtime.engine.sync_engine
    sa_event.listen(engine, "before_cursor_execute", seen)
    try:
        yield found
    finally:
        sa_event.remove(engine, "before_cursor_execute", seen)


async def test_windows_are_read_once_per_page_and_only_for_members_whose_title_can_lapse(
    database_url: str, tmp_path: Path
) -> None:
    rules = tmp_path / "renewing.yaml"
    rules.write_text(RULES)
    async with open_api(make_settings(database_url, rules_path=rules)) as api:
        await _start(api)
        await api.post_events(accept("asker", answer("a6", "cid", "q6"), at=MARCH_2026, minutes=7))  # a Member
        with counted_window_reads(api) as reads:
            assert (await api.client.get("/v1/users/bob")).status_code == 200
        assert reads == []  # 50 reputation: no title of theirs can lapse
        with counted_window_reads(api) as reads:
            assert (await api.client.get("/v1/users", params={"ids": "ewa,bob,cid"})).status_code == 200
        assert len(reads) == 1  # one round trip, for ewa only (bob is cached, cid below Expert)
        with counted_window_reads(api) as reads:
            assert (await api.client.get("/v1/users", params={"ids": "ewa,bob,cid"})).status_code == 200
            assert (await api.client.get("/v1/users/ewa")).status_code == 200
        assert reads == []  # encoded once: nothing changed, nothing read again


async def test_without_a_renewing_rank_no_window_is_read(database_url: str, tmp_path: Path) -> None:
    rules = tmp_path / "forever.yaml"
    rules.write_text(
        RULES.replace("    renewal: {counter: accepted_answers, at: 2, window: 12 months, warn_before: 30 days}\n", "")
    )
    async with open_api(make_settings(database_url, rules_path=rules)) as api:
        await _start(api)
        with counted_window_reads(api) as reads:
            profile = (await api.client.get("/v1/users/ewa")).json()
            assert (await api.client.get("/v1/leaderboards/reputation")).status_code == 200
        assert reads == []
        assert profile["rank"] == {"id": "expert", "title": "Expert", "reputation": 100, "renewal": None}


def test_a_perk_needing_a_lapsed_rank_is_not_met() -> None:
    ruleset = load_ruleset_text(RULES)
    perk = ruleset.spec.perks[0]
    now = datetime(2027, 3, 2, tzinfo=UTC)
    held = Profile("ewa", 100, False, now, renewed=frozenset({"expert"}))
    lapsed = Profile("ewa", 100, False, now, renewed=frozenset())
    assert check(ruleset, perk, held, now).eligible
    assert check(ruleset, perk, lapsed, now).missing == ["the rank Expert"]


async def test_a_forum_cannot_post_a_renewal_check(api: Api) -> None:
    forged = event("renewal.check", {"actor": "x", "user": "ewa", "rank": "expert", "check": "lapse"})
    body = await api.post_events(forged, expect=422)
    assert "'renewal.check' is written by the engine itself" in str(body)
    assert "post the events that count" in str(body)
    assert (await api.client.get("/v1/users/ewa")).status_code == 404  # nothing was stored
    await api.post_events(upvote("v1", answer("a1", "ewa", "q1")))  # the forum's own events still go in


async def test_a_perk_needing_a_rank_is_not_offered_after_the_rank_lapsed(database_url: str, tmp_path: Path) -> None:
    """The perk step (after a batch, and the sweep) holds members to their renewal windows too: ewa's Expert
    lapsed, then an upvote takes her to the reputation `early-access` also asks for; it is not hers until two
    accepted answers renew the title."""
    rules = tmp_path / "renewing.yaml"
    rules.write_text(
        RULES
        + """\
  - id: early-access
    name: Early access
    description: For Experts above 110.
    kind: beta_access
    eligibility: {rank: expert, reputation: 110}
"""
    )
    async with open_api(make_settings(database_url, rules_path=rules)) as api:
        await _start(api)
        assert await check_renewals(api.applier, LAPSE + timedelta(minutes=1)) >= 1
        await api.post_events(upvote("fan", answer("a1", "ewa", "q1"), at=LAPSE, minutes=30))
        ewa = (await api.client.get("/v1/users/ewa")).json()
        assert ewa["reputation"] == 110 and ewa["rank"]["id"] == "member"
        perks = (await api.client.get("/v1/users/ewa/perks")).json()
        assert "early-access" not in [grant["perk_id"] for grant in perks["active"]]
        assert "early-access" not in [offer["perk_id"] for offer in perks.get("offers", [])]

        await api.post_events(
            accept("asker", answer("a4", "ewa", "q4"), at=LAPSE, minutes=60),
            accept("asker", answer("a5", "ewa", "q5"), at=LAPSE, minutes=61),
        )
        perks = (await api.client.get("/v1/users/ewa/perks")).json()
        assert "early-access" in [grant["perk_id"] for grant in perks["active"]]
