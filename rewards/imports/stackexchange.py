"""Stack Exchange data dumps (Posts.xml, Votes.xml, optional PostHistory.xml) -> canonical events, streamed.

Users.xml gives each member's profile (`DisplayName`, `ProfileImageUrl`): `dump_profiles`.

Votes in a dump are anonymous (no voter, except on bounty and favourite votes) and dated by day only. Each vote
gets a stable synthetic voter, `se-vote-<vote id>`, so it can never be a vote on one's own post, and a time
within its day that keeps the dump's order (`00:00:00` plus its rank that day, in microseconds). Deleted posts
are not in a dump: votes on them are skipped and counted. Imported users keep the dump's user `Id`.

What Stack Exchange decides by the dump's date rather than the vote's (a question upvote is +5 in dumps taken
before 2019-11-13, +10 after: the site recalculated all history) travels in the event as `post.upvote_value`.
"""

import heapq
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from rewards.errors import RewardsError
from rewards.users.profiles import ProfileChange, change

ACCEPT, UPVOTE, DOWNVOTE, BOUNTY_START, BOUNTY_CLOSE = "1", "2", "3", "8", "9"
SUGGESTED_EDIT_APPLIED = "24"
# Stack Exchange made question upvotes worth +10 (from +5) on this day, for all history.
QUESTION_UPVOTE_CHANGE = date(2019, 11, 13)
PROPOSED_BY = re.compile(r"Proposed by (-?\d+)")


class DumpError(RewardsError):
    status_code = 422


@dataclass(frozen=True, slots=True)
class PostInfo:
    kind: str
    owner: str
    question: str | None
    tags: tuple[str, ...]
    wiki_since: date | None = None  # the day it became community wiki: votes from then on earn nothing


@dataclass
class DumpStats:
    posts: int = 0
    votes: int = 0
    bounties_started: int = 0
    bounties_awarded: int = 0
    bounties_closed_without_award: int = 0
    suggested_edits: int = 0
    post_history: bool = False
    dump_date: str | None = None
    question_upvote: int = 10
    question_upvote_from: str = "dump date"
    skipped_votes_on_missing_posts: int = 0
    skipped_votes_on_missing_posts_by_type: dict[str, int] = field(default_factory=dict)
    skipped_vote_types: dict[str, int] = field(default_factory=dict)
    # Bounties started on questions deleted since, by the user who started them (their only voter-named votes).
    bounties_on_missing_posts: dict[str, int] = field(default_factory=dict)


@dataclass
class Dump:
    """What the import needs to hold of a dump: one small record per post (never the posts' text)."""

    folder: Path
    posts: dict[str, PostInfo]
    latest: datetime | None
    first_answers: set[str] = field(default_factory=set)  # the earliest answer of each question (Enlightened)

    def question_upvote_by_date(self) -> int:
        return 5 if self.latest is not None and self.latest.date() < QUESTION_UPVOTE_CHANGE else 10


def read_rows(path: Path) -> Iterator[dict[str, str]]:
    """The `<row .../>` elements of a dump file, one at a time (the file is never held in memory)."""
    if not path.exists():
        raise DumpError(f"{path} is missing: a Stack Exchange dump folder has Posts.xml, Votes.xml and Users.xml")
    try:
        for _, element in ET.iterparse(path, events=("end",)):  # noqa: S314 (a data dump, not a network input)
            if element.tag == "row":
                yield dict(element.attrib)
            element.clear()
    except ET.ParseError as error:
        line, column = error.position
        raise DumpError(f"{path}: line {line}, column {column}: not well-formed XML ({error})") from None


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _tags(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(tag for tag in value.replace("|", "<").replace(">", "<").split("<") if tag)


def _owner(row: dict[str, str]) -> str:
    return row.get("OwnerUserId") or f"deleted-user-of-post-{row['Id']}"


def read_dump(folder: Path) -> Dump:
    """One pass over Posts.xml: who owns each post, and the dump's date (its latest activity)."""
    posts: dict[str, PostInfo] = {}
    latest: datetime | None = None
    earliest: dict[str, tuple[datetime, str]] = {}  # question -> (time, id) of its first answer
    for row in read_rows(folder / "Posts.xml"):
        for name in ("CreationDate", "LastActivityDate", "LastEditDate"):
            if name in row:
                when = _time(row[name])
                latest = when if latest is None or when > latest else latest
        wiki = _time(row["CommunityOwnedDate"]).date() if "CommunityOwnedDate" in row else None
        if row.get("PostTypeId") == "1":
            posts[row["Id"]] = PostInfo("question", _owner(row), None, _tags(row.get("Tags")), wiki)
        elif row.get("PostTypeId") == "2" and row.get("ParentId"):
            posts[row["Id"]] = PostInfo("answer", _owner(row), row["ParentId"], (), wiki)
            if "CreationDate" in row:
                first = (_time(row["CreationDate"]), row["Id"])
                earliest[row["ParentId"]] = min(earliest.get(row["ParentId"], first), first)
    return Dump(folder, posts, latest, {answer for _, answer in earliest.values()})


def _post_body(post_id: str, info: PostInfo, dump: Dump) -> dict[str, Any]:
    body: dict[str, Any] = {"id": post_id, "kind": info.kind, "author": info.owner}
    if info.kind == "question":
        body["tags"] = list(info.tags[:50])
    else:
        body["question"] = info.question
        question = dump.posts.get(info.question or "")
        if question is not None:
            body["question_author"] = question.owner  # for Self-Learner (an answer to one's own question)
        if post_id in dump.first_answers:
            body["first_answer"] = True  # for Enlightened (the first answer, accepted, score 10)
    return body


def dump_events(
    folder: Path, source: str, stats: DumpStats, question_upvote: int | None = None
) -> Iterator[dict[str, Any]]:
    """Canonical events of a dump, in time order: posts, votes and approved suggested edits merged.

    `question_upvote` (5 or 10) overrides what the dump's date says a question upvote is worth."""
    dump = read_dump(folder)
    stats.dump_date = dump.latest.date().isoformat() if dump.latest is not None else None
    if question_upvote is None:
        stats.question_upvote = dump.question_upvote_by_date()
        side = "before" if stats.question_upvote == 5 else "on or after"
        stats.question_upvote_from = f"dump date {stats.dump_date} ({side} {QUESTION_UPVOTE_CHANGE})"
    else:
        stats.question_upvote, stats.question_upvote_from = question_upvote, "option --question-upvote"
    stats.post_history = (folder / "PostHistory.xml").exists()
    streams = [_post_events(dump, source, stats), _vote_events(dump, source, stats)]
    if stats.post_history:
        streams.append(_suggested_edit_events(dump, source, stats))
    yield from heapq.merge(*streams, key=lambda event: event["time"])


def _post_events(dump: Dump, source: str, stats: DumpStats) -> Iterator[dict[str, Any]]:
    for row in read_rows(dump.folder / "Posts.xml"):
        info = dump.posts.get(row.get("Id", ""))
        if info is None or "CreationDate" not in row:
            continue
        stats.posts += 1
        yield _event(
            source,
            f"post-{row['Id']}",
            "question.posted" if info.kind == "question" else "answer.posted",
            _time(row["CreationDate"]),
            {"actor": info.owner, "post": _post_body(row["Id"], info, dump)},
        )


def _vote_events(dump: Dump, source: str, stats: DumpStats) -> Iterator[dict[str, Any]]:
    day: date | None = None
    rank = 0
    open_bounties: dict[str, str] = {}  # question id -> who started its bounty
    for row in read_rows(dump.folder / "Votes.xml"):
        vote_type = row.get("VoteTypeId", "")
        when = _time(row["CreationDate"])
        rank = rank + 1 if when.date() == day else 0
        day = when.date()
        when += timedelta(microseconds=rank)
        if vote_type not in (UPVOTE, DOWNVOTE, ACCEPT, BOUNTY_START, BOUNTY_CLOSE):
            stats.skipped_vote_types[vote_type] = stats.skipped_vote_types.get(vote_type, 0) + 1
            continue
        post_id = row.get("PostId", "")
        info = dump.posts.get(post_id)
        if info is None:
            stats.skipped_votes_on_missing_posts += 1
            by_type = stats.skipped_votes_on_missing_posts_by_type
            by_type[vote_type] = by_type.get(vote_type, 0) + 1
            if vote_type == BOUNTY_START and row.get("UserId") and row.get("BountyAmount"):
                spent = stats.bounties_on_missing_posts
                spent[row["UserId"]] = spent.get(row["UserId"], 0) + int(row["BountyAmount"])
            continue
        post = _post_body(post_id, info, dump)
        event_id = f"vote-{row['Id']}"
        if vote_type == ACCEPT:
            question = dump.posts.get(info.question or "")
            asker = question.owner if question is not None else f"deleted-user-of-post-{info.question}"
            stats.votes += 1
            yield _event(source, event_id, "answer.accepted", when, {"actor": asker, "post": post})
        elif vote_type in (UPVOTE, DOWNVOTE):
            if info.wiki_since is not None and day >= info.wiki_since:
                post["wiki"] = True
            if vote_type == UPVOTE:
                post["upvote_value"] = stats.question_upvote if info.kind == "question" else 10
            kind = "post.upvoted" if vote_type == UPVOTE else "post.downvoted"
            stats.votes += 1
            yield _event(source, event_id, kind, when, {"actor": f"se-vote-{row['Id']}", "post": post})
        elif vote_type == BOUNTY_START and row.get("UserId") and row.get("BountyAmount"):
            open_bounties[post_id] = row["UserId"]
            stats.bounties_started += 1
            bounty = {"id": row["Id"], "amount": int(row["BountyAmount"])}
            yield _event(
                source, event_id, "bounty.started", when, {"actor": row["UserId"], "post": post, "bounty": bounty}
            )
        elif vote_type == BOUNTY_CLOSE and row.get("BountyAmount") and info.kind == "answer":
            # The dump names no awarder here: the starter of the question's open bounty, else the Community user
            # (-1), which awards bounties nobody awarded by hand.
            awarder = open_bounties.pop(info.question or "", "-1")
            stats.bounties_awarded += 1
            bounty = {"id": row["Id"], "amount": int(row["BountyAmount"])}
            yield _event(source, event_id, "bounty.awarded", when, {"actor": awarder, "post": post, "bounty": bounty})
        elif vote_type == BOUNTY_CLOSE:
            open_bounties.pop(post_id, None)  # closed on the question, without an award: the amount stays spent
            stats.bounties_closed_without_award += 1
        else:
            stats.skipped_vote_types[vote_type] = stats.skipped_vote_types.get(vote_type, 0) + 1


def _suggested_edit_events(dump: Dump, source: str, stats: DumpStats) -> Iterator[dict[str, Any]]:
    """`Suggested Edit Applied` (PostHistoryTypeId 24) rows credit the user its Comment names: `Proposed by 5567
    approved by -1 edit id of 3` (the row's own UserId is empty). `edit.ordinal` counts a user's approved
    suggested edits, so that a rule can stop at Stack Exchange's lifetime limit (1,000 reputation)."""
    ordinals: Counter[str] = Counter()
    for row in read_rows(dump.folder / "PostHistory.xml"):
        if row.get("PostHistoryTypeId") != SUGGESTED_EDIT_APPLIED:
            continue
        match = PROPOSED_BY.search(row.get("Comment", ""))
        if match is None or "CreationDate" not in row:
            continue
        proposer = match.group(1)
        ordinals[proposer] += 1
        stats.suggested_edits += 1
        edit: dict[str, Any] = {"id": row["Id"], "post": row.get("PostId"), "ordinal": ordinals[proposer]}
        yield _event(
            source,
            f"history-{row['Id']}",
            "edit.approved",
            _time(row["CreationDate"]),
            {"actor": proposer, "edit": edit},
        )


def _event(source: str, event_id: str, kind: str, when: datetime, data: dict[str, Any]) -> dict[str, Any]:
    return {"specversion": "1.0", "id": event_id, "source": source, "type": kind, "time": when, "data": data}


@dataclass(frozen=True, slots=True)
class DumpUser:
    reputation: int
    downvotes_cast: int


def dump_users(folder: Path) -> dict[str, DumpUser]:
    return {
        row["Id"]: DumpUser(int(row.get("Reputation", "1")), int(row.get("DownVotes", "0")))
        for row in read_rows(folder / "Users.xml")
        if "Id" in row
    }


def dump_badge_holders(folder: Path) -> dict[str, set[str]]:
    """Badge name -> ids of the users holding it (Badges.xml; missing file: no badges)."""
    holders: dict[str, set[str]] = {}
    if not (folder / "Badges.xml").exists():
        return holders
    for row in read_rows(folder / "Badges.xml"):
        if "Name" in row and "UserId" in row:
            holders.setdefault(row["Name"], set()).add(row["UserId"])
    return holders


def dump_profiles(folder: Path, source: str) -> Iterator[ProfileChange]:
    """Each member's name and picture (Users.xml `DisplayName`, `ProfileImageUrl`), under the dump's source, whose
    name gives the profile's address (https://<site>/users/<Id>: rewards.links). Nothing without a Users.xml."""
    if not (folder / "Users.xml").exists():
        return
    for row in read_rows(folder / "Users.xml"):
        if "Id" not in row:
            continue
        made = change(row["Id"], source, display_name=row.get("DisplayName"), avatar_url=row.get("ProfileImageUrl"))
        if made is not None:
            yield made
