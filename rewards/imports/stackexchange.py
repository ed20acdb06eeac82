"""Stack Exchange data dumps (Posts.xml, Votes.xml, Users.xml) -> canonical events, streamed.

Votes in a dump are anonymous (no voter, except on bounty and favourite votes) and dated by day only. Each vote
gets a stable synthetic voter, `se-vote-<vote id>`, so it can never be a vote on one's own post, and a time
within its day that keeps the dump's order (`00:00:00` plus its rank that day, in microseconds). Deleted posts
are not in a dump: votes on them are skipped and counted. Imported users keep the dump's user `Id`.
"""

import heapq
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from rewards.errors import RewardsError

UPVOTE, DOWNVOTE, ACCEPT = "2", "3", "1"


class DumpError(RewardsError):
    status_code = 422


@dataclass(frozen=True, slots=True)
class PostInfo:
    kind: str
    owner: str
    question: str | None
    tags: tuple[str, ...]


@dataclass
class DumpStats:
    posts: int = 0
    votes: int = 0
    skipped_votes_on_missing_posts: int = 0
    skipped_vote_types: dict[str, int] = field(default_factory=dict)


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


def _post_body(post_id: str, info: PostInfo) -> dict[str, Any]:
    body: dict[str, Any] = {"id": post_id, "kind": info.kind, "author": info.owner}
    if info.kind == "question":
        body["tags"] = list(info.tags[:50])
    else:
        body["question"] = info.question
    return body


def dump_events(folder: Path, source: str, stats: DumpStats) -> Iterator[dict[str, Any]]:
    """Canonical events of a dump, in time order: posts and votes merged."""
    posts: dict[str, PostInfo] = {}
    for row in read_rows(folder / "Posts.xml"):
        if row.get("PostTypeId") == "1":
            posts[row["Id"]] = PostInfo("question", _owner(row), None, _tags(row.get("Tags")))
        elif row.get("PostTypeId") == "2" and row.get("ParentId"):
            posts[row["Id"]] = PostInfo("answer", _owner(row), row["ParentId"], ())
    yield from heapq.merge(
        _post_events(folder, source, posts, stats),
        _vote_events(folder, source, posts, stats),
        key=lambda event: event["time"],
    )


def _post_events(folder: Path, source: str, posts: dict[str, PostInfo], stats: DumpStats) -> Iterator[dict[str, Any]]:
    for row in read_rows(folder / "Posts.xml"):
        info = posts.get(row.get("Id", ""))
        if info is None or "CreationDate" not in row:
            continue
        stats.posts += 1
        yield _event(
            source,
            f"post-{row['Id']}",
            "question.posted" if info.kind == "question" else "answer.posted",
            _time(row["CreationDate"]),
            {"actor": info.owner, "post": _post_body(row["Id"], info)},
        )


def _vote_events(folder: Path, source: str, posts: dict[str, PostInfo], stats: DumpStats) -> Iterator[dict[str, Any]]:
    day: date | None = None
    rank = 0
    for row in read_rows(folder / "Votes.xml"):
        vote_type = row.get("VoteTypeId", "")
        when = _time(row["CreationDate"])
        rank = rank + 1 if when.date() == day else 0
        day = when.date()
        when += timedelta(microseconds=rank)
        if vote_type not in (UPVOTE, DOWNVOTE, ACCEPT):
            stats.skipped_vote_types[vote_type] = stats.skipped_vote_types.get(vote_type, 0) + 1
            continue
        post_id = row.get("PostId", "")
        info = posts.get(post_id)
        if info is None:
            stats.skipped_votes_on_missing_posts += 1
            continue
        stats.votes += 1
        post = _post_body(post_id, info)
        if vote_type == ACCEPT:
            question = posts.get(info.question or "")
            asker = question.owner if question is not None else f"deleted-user-of-post-{info.question}"
            yield _event(source, f"vote-{row['Id']}", "answer.accepted", when, {"actor": asker, "post": post})
        else:
            kind = "post.upvoted" if vote_type == UPVOTE else "post.downvoted"
            yield _event(source, f"vote-{row['Id']}", kind, when, {"actor": f"se-vote-{row['Id']}", "post": post})


def _event(source: str, event_id: str, kind: str, when: datetime, data: dict[str, Any]) -> dict[str, Any]:
    return {"specversion": "1.0", "id": event_id, "source": source, "type": kind, "time": when, "data": data}


def dump_reputations(folder: Path) -> dict[str, int]:
    return {row["Id"]: int(row.get("Reputation", "1")) for row in read_rows(folder / "Users.xml") if "Id" in row}
