"""Importing a real Stack Exchange dump: idempotent, streamed, checked against the dump's own reputation."""

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rewards.imports import service
from rewards.imports.stackexchange import DumpError
from rewards.runtime import Runtime
from tests.conftest import make_settings


@pytest.fixture
async def runtime(tmp_path: Path, sqlite_template: Path) -> AsyncIterator[Runtime]:
    path = tmp_path / "se.db"
    shutil.copyfile(sqlite_template, path)
    started = await Runtime.start(make_settings(f"sqlite+aiosqlite:///{path}"))
    yield started
    await started.stop()


async def test_cardano_imports_once_and_is_checked_against_users_xml(runtime: Runtime, shared_data: Path) -> None:
    folder = shared_data / "stackexchange" / "cardano"
    first = await service.import_dump(runtime, folder)
    assert first.accepted == first.stats.posts + first.stats.votes > 10_000 and first.failed == 0
    assert first.stats.skipped_votes_on_missing_posts > 0  # deleted posts are not in a dump
    again = await service.import_dump(runtime, folder)
    assert again.accepted == 0 and again.duplicates == first.accepted
    report = await service.check(runtime, folder)
    assert report.users > 3000 and report.active_users > 1000
    # Under the default ruleset (Stack Exchange's rules since 2019) nine active users in ten already match to
    # the point, allowing the +100 association bonus a dump cannot show; most of the rest is what a dump does
    # not carry (approved suggested edits, bounties, deleted posts).
    assert report.active_exact_or_association_bonus > 90
    assert report.active_within_5_percent > 95
    assert report.exact_or_association_bonus >= report.exact
    assert all(row["difference"] != 0 for row in report.biggest_differences)


async def test_a_meta_site_imports_cleanly_and_is_reported_as_such(runtime: Runtime, shared_data: Path) -> None:
    folder = shared_data / "stackexchange" / "bicycles.meta"
    summary = await service.import_dump(runtime, folder)
    assert summary.accepted > 0 and summary.failed == 0
    report = await service.check(runtime, folder)
    assert report.meta_site and report.note is not None and "parent site" in report.note
    assert not (await service.check(runtime, shared_data / "stackexchange" / "cardano")).meta_site


async def test_broken_dumps_are_refused_with_file_and_line_and_keep_what_was_imported(
    runtime: Runtime, shared_data: Path, tmp_path: Path
) -> None:
    source = shared_data / "stackexchange" / "cardano"
    missing = tmp_path / "cardano"
    missing.mkdir()
    shutil.copy(source / "Posts.xml", missing / "Posts.xml")
    with pytest.raises(DumpError, match=r"Votes\.xml is missing"):
        await service.import_dump(runtime, missing)
    truncated = tmp_path / "truncated" / "cardano"
    truncated.mkdir(parents=True)
    shutil.copy(source / "Posts.xml", truncated / "Posts.xml")
    votes = (source / "Votes.xml").read_bytes()
    (truncated / "Votes.xml").write_bytes(votes[: len(votes) // 2])
    with pytest.raises(DumpError, match=r"Votes\.xml: line \d+, column \d+: not well-formed"):
        await service.import_dump(runtime, truncated)
    # What was stored before the error stays, and a complete import later adds the rest, no duplicates lost.
    complete = await service.import_dump(runtime, source)
    assert (
        complete.failed == 0 and complete.accepted + complete.duplicates == complete.stats.posts + complete.stats.votes
    )
