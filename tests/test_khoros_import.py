"""Importing Khoros data: the real LiQL answers in ../shared/data/khoros/ and Bulk Data fixtures built from the
documented fields (tests/fixtures/khoros/README.md): the mapping, idempotence across files and overlapping windows,
and the check against Khoros's own counts."""

import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from rewards import PROJECT_ROOT
from rewards.apply.applier import Applier
from rewards.events import service as events
from rewards.imports import khoros, khoros_fidelity, service
from rewards.imports.stackexchange import DumpError
from rewards.rulesets.service import problems_of
from rewards.users import repository as users
from tests.conftest import make_settings

FIXTURES = Path(__file__).parent / "fixtures" / "khoros"
COMMUNITY = "community.example.com"
SOURCE = "khoros:community.example.com"
NEO4J = "community.neo4j.com"


@pytest.fixture
async def sqlite_applier(tmp_path: Path, sqlite_template: Path) -> AsyncIterator[Applier]:
    """The service on SQLite, running the Khoros ruleset."""
    path = tmp_path / "khoros.db"
    shutil.copyfile(sqlite_template, path)
    started = await Applier.start(make_settings(f"sqlite+aiosqlite:///{path}", rules_path=service.KHOROS_RULES))
    yield started
    await started.stop()


@pytest.fixture
async def khoros_applier(database_url: str) -> AsyncIterator[Applier]:
    """The service running the Khoros ruleset, once on SQLite and once on PostgreSQL."""
    started = await Applier.start(make_settings(database_url, rules_path=service.KHOROS_RULES))
    yield started
    await started.stop()


def mapped(*files: Path) -> tuple[list[dict[str, Any]], khoros.KhorosStats]:
    """The events of some files, with nothing stored to look messages up in."""
    stats = khoros.KhorosStats()
    read = khoros.read_input(list(files), stats)
    posts = khoros.input_posts(read)
    result = khoros.map_input(read, SOURCE, stats, posts)
    khoros.complete_pending(result.pending, {}, stats, final=True)
    return result.events, stats


async def reputations(applier: Applier, *user_ids: str) -> dict[str, int]:
    async with applier.runtime.sessionmaker() as session:
        found = await users.get_many_reputations(session, list(user_ids))
    return {user_id: found.get(user_id, 0) for user_id in user_ids}


# -- the real LiQL answers ---------------------------------------------------------------------------------------


async def test_the_real_liql_answers_import_once_with_stable_ids(sqlite_applier: Applier, shared_data: Path) -> None:
    folder = shared_data / "khoros"
    first = await service.import_khoros(sqlite_applier, [folder], NEO4J)
    stats = first.khoros
    # 56 + 10 messages: 16 topics, 50 replies at depths 1 to 5, 3 accepted solutions with their accepter and time.
    assert stats.events == {"question.posted": 16, "answer.posted": 50, "answer.accepted": 3}
    assert first.accepted == 69 and first.failed == 0
    assert stats.liql_items == {"board": 23, "kudo": 3, "message": 66, "user": 25}
    # The 3 real kudos are on message 57501, which no answer holds: who received them is unknown.
    assert stats.skipped["LiQL kudo: " + khoros.UNKNOWN_MESSAGE] == 3
    again = await service.import_khoros(sqlite_applier, [folder], NEO4J)
    assert again.accepted == 0 and again.duplicates == 69

    async with sqlite_applier.runtime.sessionmaker() as session:
        solution = await events.explain(session, "khoros:community.neo4j.com", "solution-62740")
        reply = await events.explain(session, "khoros:community.neo4j.com", "message-62690")
    assert solution.status == "applied" and solution.type == "answer.accepted"
    assert solution.time.isoformat() == "2022-12-01T19:29:02+00:00"  # solution_data.time, -08:00 -> UTC
    assert reply.type == "answer.posted"  # depth 5: a reply to a reply, an answer in topic 62624's thread
    # 62740 (member 9010) was accepted by member 15788; 62723 and 62692 were accepted by their own authors.
    assert await reputations(sqlite_applier, "9010", "15587", "15442", "15788") == {
        "9010": 25,
        "15587": 0,
        "15442": 0,
        "15788": 0,
    }


async def test_a_kudo_finds_its_message_among_events_an_earlier_import_stored(
    sqlite_applier: Applier, shared_data: Path
) -> None:
    await service.import_khoros(sqlite_applier, [shared_data / "khoros" / "messages.json"], NEO4J)
    kudos = await service.import_khoros(sqlite_applier, [FIXTURES / "kudos-on-a-real-message.json"], NEO4J)
    assert kudos.accepted == 2 and not kudos.khoros.skipped
    # 25 for the solution, 10 for a kudo, 20 for a super user's kudo (weight 2).
    assert (await reputations(sqlite_applier, "9010"))["9010"] == 55


async def test_the_check_on_the_real_answers_compares_solutions_and_says_what_is_missing(
    sqlite_applier: Applier, shared_data: Path
) -> None:
    report = await service.check_khoros(sqlite_applier.runtime, [shared_data / "khoros"], NEO4J)
    # The users answer has sub-queries, not counts: solutions come from the messages' own `is_solution` flags,
    # self-accepted ones included (Khoros counts them in solutions_authored; so does rules/khoros.yaml).
    assert report.solutions_authored["members"] == 23 and report.solutions_authored["exact_share"] == 100.0
    assert report.solutions_authored["khoros_total"] == report.solutions_authored["engine_total"] == 3
    assert report.kudos_received["members"] == 0  # no message carries kudos.sum(weight)
    assert report.users_without_counts == 25 and report.note is not None and report.events_failed == []
    assert "solutions authored" in service.format_khoros_check(report)


# -- Bulk Data fixtures ------------------------------------------------------------------------------------------


def test_csv_and_json_exports_of_the_same_window_make_the_same_events() -> None:
    from_json, json_stats = mapped(FIXTURES / "bulk-window-1.json")
    from_csv, csv_stats = mapped(FIXTURES / "bulk-window-1.csv")
    assert from_json == from_csv
    assert json_stats.skipped == csv_stats.skipped and json_stats.events == csv_stats.events


def test_bulk_records_map_onto_the_canonical_events() -> None:
    made, stats = mapped(FIXTURES / "bulk-window-1.json")
    by_id = {event["id"]: event for event in made}
    assert [event["time"] for event in made] == sorted(event["time"] for event in made)
    assert by_id["message-9000"]["type"] == "question.posted"
    assert by_id["message-9000"]["data"]["post"]["category"] == "routers"
    # `message.is_topic` missing, `message.type: reply`: an answer in conversation 9000.
    assert by_id["message-9002"]["data"]["post"] == {
        "id": "9002",
        "kind": "answer",
        "author": "502",
        "question": "9000",
        "category": "routers",
    }
    # A super user's kudo: `action.weight` "2" (text) and 2 (number) alike; the giver is user.uid.
    super_kudo = by_id["kudos-9001-503"]
    assert super_kudo["type"] == "post.upvoted" and super_kudo["data"]["actor"] == "503"
    assert super_kudo["data"]["post"]["author"] == "501" and super_kudo["data"]["post"]["upvote_weight"] == 2
    assert by_id["kudos-9001-502"]["data"]["post"]["upvote_weight"] == 1
    # The accepter is user.uid, the solution's author target.user.uid.
    accepted = by_id["solution-9001"]
    assert accepted["type"] == "answer.accepted" and accepted["data"]["actor"] == "504"
    assert accepted["data"]["post"]["author"] == "501" and accepted["data"]["post"]["question"] == "9000"
    # A kudo by user -1 still counts for the author, from a stand-in giver of its own.
    former = by_id["kudos-9002-former-d-0007"]
    assert former["data"]["actor"] == "khoros-former-user-d-0007" and former["data"]["post"]["author"] == "502"
    # A moderator's rejection removes the message (its kudos are suspended until it is approved).
    removed = by_id["moderation-d-0010"]
    assert removed["type"] == "post.removed" and removed["data"]["reason"] == "rejected"
    # No target.user.uid: the author comes from the window's own messages.publish of 9001.
    assert by_id["kudos-9001-504"]["data"]["post"]["author"] == "501"
    # Numbers for ids (501, 8000) read as the same ids as text.
    assert by_id["kudos-8000-501"]["data"]["post"] == {
        "id": "8000",
        "kind": "question",
        "author": "504",
        "category": "billing",
        "upvote_weight": 1,
    }
    assert stats.skipped == {
        "messages.publish: " + khoros.FORMER_AUTHOR: 1,
        "kudos.give: " + khoros.KUDOS_TO_FORMER: 1,
        "kudos.give: " + khoros.UNKNOWN_MESSAGE: 1,
    }
    assert stats.actions_not_mapped == {"view": 1, "badges.award": 1}
    assert stats.weighted_kudos == 1 and stats.former_user_actors == 1
    for event in made:  # every event fits the published contract
        events.validate_batch([event])


def test_missing_and_odd_values_are_read_or_left_out_with_a_reason() -> None:
    stats = khoros.KhorosStats()
    base = {"action.key": "kudos.give", "message.uid": "1", "user.uid": "2", "target.user.uid": "3"}
    assert khoros.bulk_event({**base}, SOURCE, stats, {}) is None  # no time
    assert khoros.bulk_event({**base, "event.time.ms": "not a number"}, SOURCE, stats, {}) is None
    assert stats.skipped == {"kudos.give: " + khoros.NO_TIME: 2}
    made = khoros.bulk_event({**base, "event.time.ms": 1.7e12, "action.weight": "0"}, SOURCE, stats, {})
    assert isinstance(made, dict) and made["data"]["post"]["upvote_weight"] == 1  # a weight below 1 counts 1
    assert made["data"]["post"]["kind"] == "question"  # no conversation, no flag: a message that is its own topic
    private = {**base, "event.time.ms": 1.7e12, "privatemessage.type": "ONE_TO_ONE_THREAD"}
    assert khoros.bulk_event(private, SOURCE, stats, {}) is None
    assert khoros.text(" 42 ") == "42" and khoros.text(42.0) == "42" and khoros.text(True) is None
    assert khoros.flag("TRUE") is True and khoros.flag("false") is False and khoros.flag("maybe") is None
    assert khoros.community_source("https://Community.Example.com/t5/") == SOURCE
    with pytest.raises(DumpError, match="header"):
        list(khoros.bulk_csv(b"a,b\n1,2\n", "x.csv"))


def test_a_liql_solution_without_solution_data_is_credited_and_says_what_it_does_not_know() -> None:
    stats = khoros.KhorosStats()
    reply = {
        "type": "message",
        "id": "7",
        "author": {"type": "user", "id": "42"},
        "topic": {"id": "6"},
        "depth": 1,
        "post_time": "2022-12-01T11:07:46.919-08:00",
        "is_solution": True,
        "solution_data": {},  # as an anonymous caller was seen to get it
    }
    posted, accepted = khoros.liql_message_events(reply, SOURCE, stats)
    assert posted["type"] == "answer.posted" and accepted["type"] == "answer.accepted"
    assert accepted["time"] == posted["time"] and accepted["data"]["actor"] == "khoros-former-user-accepter-of-7"
    assert "unknown" in accepted["data"]["khoros"]["acceptance"] and stats.solutions_without_data == 1
    by_former = {**reply, "id": "8", "author": {"type": "user", "id": "-1"}}
    assert khoros.liql_message_events(by_former, SOURCE, stats) == []
    assert stats.skipped == {"LiQL message: " + khoros.FORMER_AUTHOR: 1}


async def test_overlapping_windows_csv_and_json_store_every_fact_once(khoros_applier: Applier) -> None:
    first = await service.import_khoros(khoros_applier, [FIXTURES / "bulk-window-1.json"], COMMUNITY)
    assert first.accepted == 11 and first.failed == 0
    # Reply 9002 was rejected: the kudo it had is suspended.
    assert await reputations(khoros_applier, "501", "502", "504") == {"501": 65, "502": 0, "504": 10}

    second = await service.import_khoros(khoros_applier, [FIXTURES / "bulk-window-2.json"], COMMUNITY)
    # d-0003 again (same document.id) and the same kudo under d-0103 are one fact: `kudos-9001-502`.
    assert second.duplicates == 2 and second.accepted == 4
    assert second.khoros.actions_not_mapped == {"visits.member-entrance": 1}
    # Approved: the kudo is back (+10); a super user's kudo (+20); a solution accepted by a moderator (+25).
    assert await reputations(khoros_applier, "501", "502", "504") == {"501": 65, "502": 55, "504": 10}

    as_csv = await service.import_khoros(khoros_applier, [FIXTURES / "bulk-window-1.csv"], COMMUNITY)
    assert as_csv.accepted == 0 and as_csv.duplicates == 11


async def test_the_check_names_a_cause_for_every_difference_from_khoros_counts(sqlite_applier: Applier) -> None:
    files = [FIXTURES / "bulk-window-1.json", FIXTURES / "bulk-window-2.json", FIXTURES / "users-counts.json"]
    report = await service.check_khoros(sqlite_applier.runtime, files, COMMUNITY)
    kudos, solutions = report.kudos_received, report.solutions_authored
    assert kudos["members"] == solutions["members"] == 5 and kudos["figures_from"] == {"users": 5}
    assert kudos["exact"] == 2 and solutions["exact"] == 4  # bob and carol; all but eve
    rows = {(row["user_id"], row["measure"]): row for row in report.differences}
    alice = rows[("501", "kudos_received")]
    assert (alice["khoros"], alice["engine"]) == (6, 4)
    assert khoros_fidelity.UNREAD in alice["causes"]  # the kudo on message 7000, whose author nobody knows
    assert any(cause.startswith("history outside") for cause in alice["causes"])
    assert rows[("504", "kudos_received")]["causes"] == [khoros_fidelity.TAKEN_BACK]  # Khoros 0, engine 1
    assert rows[("505", "solutions_authored")]["causes"][0] == khoros_fidelity.NOT_IMPORTED
    assert all(row["causes"] for row in report.differences)

    # Window 1 alone: bob's kudo is on his rejected reply.
    early = await service.check_khoros(
        sqlite_applier.runtime, [FIXTURES / "bulk-window-1.json", FIXTURES / "users-counts.json"], COMMUNITY
    )
    bob = next(row for row in early.differences if row["user_id"] == "502" and row["measure"] == "kudos_received")
    assert (bob["khoros"], bob["engine"]) == (3, 0) and bob["causes"][0] == khoros_fidelity.REMOVED


def test_the_khoros_ruleset_passes_the_checks_drafts_get() -> None:
    assert problems_of((PROJECT_ROOT / "rules" / "khoros.yaml").read_text(), "rules/khoros.yaml") == []


def test_rewards_import_khoros_prints_a_summary_and_runs_again_as_duplicates(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "REWARDS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        "REWARDS_ENVIRONMENT": "test",
    }
    env.pop("REWARDS_REDIS_URL", None)
    command = [sys.executable, "-m", "rewards.cli", "import", "khoros", str(FIXTURES / "bulk-window-1.csv")]
    first = subprocess.run(
        [*command, "--community", COMMUNITY, "--check"], env=env, capture_output=True, text=True, timeout=120
    )
    assert first.returncode == 0, first.stderr
    assert '"accepted": 11' in first.stdout and '"actions_not_mapped"' in first.stdout
    assert "importing" in first.stderr and "kudos received" in first.stderr
    again = subprocess.run([*command, "--community", COMMUNITY], env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and '"duplicates": 11' in again.stdout
    missing = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert missing.returncode != 0 and "--community" in missing.stderr
