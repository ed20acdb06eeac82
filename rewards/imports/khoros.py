"""Khoros Community (formerly Lithium) data -> canonical events: LiQL answers (Community API v2) and Bulk Data
exports (JSON or CSV), mapped onto the engine's own event types. Pure: records in, CloudEvents out.

Event ids name the fact, not the record, so that the same fact read twice (two overlapping windows, a LiQL
backfill and then the Bulk Data feed, a Firehose retry) is one event: `message-<id>` for a topic or a reply,
`kudos-<message>-<giver>` for a kudo, `solution-<message>` for an accepted solution. Moderation actions, which
can repeat, keep the export's own `document.id`: `moderation-<document.id>`.

Members are shown by their `login` (Khoros's own display name), with their profile page (`view_href`) and, from a
users answer, their picture: `input_profiles`.

Khoros's `weight` (a super user's kudo counts 2) travels as `post.upvote_weight`, beside Stack Exchange's
`post.upvote_value`: the contract closes `data`'s top level to rules, and leaves `post` open.
"""

import csv
import io
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from rewards.imports.stackexchange import DumpError
from rewards.users.profiles import ProfileChange, change

FORMER_USER = "-1"  # Khoros's id for an anonymous or deleted member ("ehemaliger Nutzer" in one export)
MAX_CATEGORY = 100  # the contract's `post.category` length

# Bulk Data `message.type` values (the export's field table) that open a thread, and those that answer in one.
TOPIC_TYPES = frozenset({"topic", "question", "idea", "article"})
REPLY_TYPES = frozenset({"reply", "answer", "comment", "review"})
# Bulk Data actions with a canonical event; every other `action.key` is counted and skipped (views, visits,
# searches, RSS, surveys, badges, registrations, edits...).
MAPPED_ACTIONS = frozenset(
    {"messages.publish", "kudos.give", "solutions.accept", "moderation.reject", "moderation.approve"}
)


def community_source(community: str) -> str:
    """`khoros:<host>` for `https://community.example.com/`, `community.example.com` or `Community.Example.com`."""
    text = community.strip()
    host = urlsplit(text if "//" in text else f"//{text}").hostname or ""
    if not host:
        raise DumpError(f"{community!r} is not a community: give its host name, e.g. community.example.com")
    return f"khoros:{host.lower()}"


# -- values as the exports give them ---------------------------------------------------------------------------
# The Bulk Data API documents field names, not JSON types: one consumer types `event.time.ms` as a number and
# most other fields as text, and CSV gives text only. Every reader takes both.


def text(value: Any) -> str | None:
    """A non-empty id or name: text as given, a whole number as its digits; anything else is missing."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        stripped = value.strip()
        return stripped or None
    return None


def flag(value: Any) -> bool | None:
    """`true`/`TRUE`/`"true"`/1 -> True, `false`/`"FALSE"`/0 -> False; missing or anything else -> None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value) if value in (0, 1) else None
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
    return None


def whole(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        stripped = value.strip()
        try:
            return int(stripped)
        except ValueError:
            try:
                number = float(stripped)
            except ValueError:
                return None
            return int(number) if number.is_integer() else None
    return None


def epoch_ms(value: Any) -> datetime | None:
    """`event.time.ms`: milliseconds since the epoch, as a number or as text."""
    ms = whole(value)
    if ms is None or not 0 < ms < 7_258_118_400_000:  # before 2200, as the contract requires
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def iso_time(value: Any) -> datetime | None:
    """LiQL times: ISO 8601 with milliseconds and an offset, `2022-12-01T11:07:46.919-08:00`."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def member(value: Any) -> str | None:
    """A member's id, from an id or a LiQL user object (`{"type": "user", "id": "15788", ...}`); Khoros's `-1`
    (anonymous, or deleted since) is kept as `-1`, a missing id is None."""
    if isinstance(value, dict):
        value = value.get("id")
    return text(value)


def _object_id(value: Any) -> str | None:
    return text(value.get("id")) if isinstance(value, dict) else text(value)


# -- posts and events ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PostInfo:
    """What an event about a message needs to say of it: the contract gives the post in full with every event."""

    id: str
    kind: str  # question (a topic) or answer (a reply)
    author: str
    question: str | None = None  # for a reply: its topic
    category: str | None = None  # the board
    style: str | None = None  # forum, blog, tkb, idea, qanda...

    def body(self) -> dict[str, Any]:
        post: dict[str, Any] = {"id": self.id, "kind": self.kind, "author": self.author}
        if self.question is not None:
            post["question"] = self.question
        if self.category is not None:
            post["category"] = self.category[:MAX_CATEGORY]
        if self.style is not None:
            post["style"] = self.style
        return post

    @classmethod
    def from_body(cls, post: Mapping[str, Any]) -> "PostInfo | None":
        """From a stored event's `data.post` (an earlier import, another window)."""
        post_id, kind, author = text(post.get("id")), text(post.get("kind")), text(post.get("author"))
        if post_id is None or kind is None or author is None:
            return None
        question, category, style = text(post.get("question")), text(post.get("category")), text(post.get("style"))
        return cls(post_id, kind, author, question, category, style)


@dataclass
class Pending:
    """An event about a message whose author the record does not give (a LiQL kudo names the message only):
    complete once the message is known, from the same input or from what is stored already."""

    message_id: str
    event: dict[str, Any]
    label: str  # what it came from, for the summary: `kudos.give`, `LiQL kudo`...
    post_extra: dict[str, Any] = field(default_factory=dict)
    needs_answer: bool = False  # an accepted solution: the message must be a reply
    settled: bool = False  # completed, or found unusable
    record: Mapping[str, Any] | None = None  # what it was made from, for a receiver that stores what it cannot use

    def complete(self, post: PostInfo) -> dict[str, Any] | None:
        self.settled = True
        if self.needs_answer and (post.kind != "answer" or post.question is None):
            return None
        self.event["data"]["post"] = {**post.body(), **self.post_extra}
        return self.event


@dataclass
class KhorosStats:
    """What an import read, made and left out, with the reasons."""

    files: list[str] = field(default_factory=list)
    liql_items: dict[str, int] = field(default_factory=dict)  # LiQL item type -> items read
    bulk_records: int = 0
    events: dict[str, int] = field(default_factory=dict)  # event type -> events made
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> records left out
    actions_not_mapped: dict[str, int] = field(default_factory=dict)  # Bulk Data action.key -> records
    weighted_kudos: int = 0  # kudos with a weight above 1 (a super user's)
    former_user_actors: int = 0  # actions by user -1, given a stand-in actor
    solutions_without_data: int = 0  # is_solution without solution_data: acceptor and time are guesses
    banned_users: int = 0  # LiQL users with banned: true (a state, not an event: no time to date it by)
    first_time: str | None = None
    last_time: str | None = None

    def count(self, kind: str) -> None:
        self.events[kind] = self.events.get(kind, 0) + 1

    def skip(self, reason: str, times: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + times

    def saw(self, when: datetime) -> None:
        stamp = when.astimezone(UTC).isoformat()
        if self.first_time is None or stamp < self.first_time:
            self.first_time = stamp
        if self.last_time is None or stamp > self.last_time:
            self.last_time = stamp


# Reasons, in the words of the summary.
FORMER_AUTHOR = "by user -1 (anonymous or deleted): no member to credit"
KUDOS_TO_FORMER = "kudos on a message of user -1 (anonymous or deleted): no member to credit"
NO_MESSAGE = "no message id"
NO_TIME = "no usable time"
NO_AUTHOR = "no author"
REPLY_WITHOUT_TOPIC = "a reply without its topic (conversation.uid)"
UNKNOWN_MESSAGE = "about a message neither this input nor the stored events hold (author unknown)"
SOLUTION_ON_TOPIC = "a solution on a topic, not a reply"
PRIVATE_MESSAGE = "a private message"
NOT_A_RECORD = "not an object"


def event(source: str, event_id: str, kind: str, when: datetime, data: dict[str, Any]) -> dict[str, Any]:
    return {"specversion": "1.0", "id": event_id, "source": source, "type": kind, "time": when, "data": data}


def _former(stand_in_for: str) -> str:
    """A stand-in actor for user -1, one per action, so that two former members' kudos on one message stay two."""
    return f"khoros-former-user-{stand_in_for}"[:200]


# -- LiQL ------------------------------------------------------------------------------------------------------


def liql_post(item: Mapping[str, Any]) -> PostInfo | None:
    """A LiQL message as a post: depth 0 is a topic (a question), deeper ones are replies (answers) in the topic's
    thread, whatever they reply to. Without `depth`, a message that is its own topic is a topic."""
    message_id, author = text(item.get("id")), member(item.get("author"))
    if message_id is None or author is None or author == FORMER_USER:
        return None
    topic = _object_id(item.get("topic")) or _object_id(item.get("conversation"))
    depth = whole(item.get("depth"))
    is_topic = depth == 0 if depth is not None else (topic is None or topic == message_id)
    board = _object_id(item.get("board"))
    conversation = item.get("conversation")
    style = text(conversation.get("style")) if isinstance(conversation, dict) else None
    if is_topic:
        return PostInfo(message_id, "question", author, None, board, style)
    if topic is None:
        return None
    return PostInfo(message_id, "answer", author, topic, board, style)


def liql_message_events(item: Mapping[str, Any], source: str, stats: KhorosStats) -> list[dict[str, Any]]:
    """A topic or a reply, and, on an accepted solution, its acceptance (who accepted it and when: the message's
    `solution_data`)."""
    message_id = text(item.get("id"))
    if message_id is None:
        stats.skip(f"LiQL message: {NO_MESSAGE}")
        return []
    posted = iso_time(item.get("post_time"))
    if posted is None:
        stats.skip(f"LiQL message: {NO_TIME}")
        return []
    author = member(item.get("author"))
    if author is None or author == FORMER_USER:
        stats.skip(f"LiQL message: {FORMER_AUTHOR if author else NO_AUTHOR}")
        return []
    post = liql_post(item)
    if post is None:
        stats.skip(f"LiQL message: {REPLY_WITHOUT_TOPIC}")
        return []
    stats.saw(posted)
    kind = "question.posted" if post.kind == "question" else "answer.posted"
    events = [event(source, f"message-{message_id}", kind, posted, {"actor": author, "post": post.body()})]
    stats.count(kind)
    if flag(item.get("is_solution")) and post.kind == "answer":
        accepted = _liql_acceptance(item, post, posted, source, stats)
        if accepted is not None:
            events.append(accepted)
    return events


def _liql_acceptance(
    item: Mapping[str, Any], post: PostInfo, posted: datetime, source: str, stats: KhorosStats
) -> dict[str, Any] | None:
    solution = item.get("solution_data")
    solution = solution if isinstance(solution, dict) else {}
    accepter = member(solution.get("accepter"))
    when = iso_time(solution.get("time"))
    data: dict[str, Any] = {"actor": accepter or "", "post": post.body()}
    if accepter is None or when is None:
        # Some callers see `solution_data: {}` on solutions (an anonymous one did): the solution is a fact, who
        # accepted it and when are not. The reply's own time stands in, and the event says so.
        stats.solutions_without_data += 1
        data["actor"] = accepter or _former(f"accepter-of-{post.id}")
        data["khoros"] = {"acceptance": "is_solution without solution_data: accepter and time unknown"}
        when = when or posted
    elif accepter == FORMER_USER:
        stats.former_user_actors += 1
        data["actor"] = _former(f"accepter-of-{post.id}")
    stats.saw(when)
    stats.count("answer.accepted")
    return event(source, f"solution-{post.id}", "answer.accepted", when, data)


def liql_kudo(item: Mapping[str, Any], source: str, stats: KhorosStats) -> Pending | None:
    """A LiQL kudo (`user` = the giver, `message`, `time`, `weight`). It does not name the message's author: the
    event waits for the message (`Pending`)."""
    message_id = _object_id(item.get("message"))
    when = iso_time(item.get("time"))
    if message_id is None or when is None:
        stats.skip(f"LiQL kudo: {NO_MESSAGE if message_id is None else NO_TIME}")
        return None
    giver = member(item.get("user"))
    kudo_id = text(item.get("id")) or f"{message_id}-{when.timestamp():.0f}"
    weight = _weight(item.get("weight"), stats)
    if giver is None or giver == FORMER_USER:
        stats.former_user_actors += 1
        giver_part, actor = f"former-{kudo_id}", _former(f"kudo-{kudo_id}")
    else:
        giver_part, actor = giver, giver
    stats.saw(when)
    data: dict[str, Any] = {"actor": actor, "post": {}, "khoros": {"kudo_id": kudo_id}}
    kudo = event(source, f"kudos-{message_id}-{giver_part}", "post.upvoted", when, data)
    return Pending(message_id, kudo, "LiQL kudo", {"upvote_weight": weight})


def _weight(value: Any, stats: KhorosStats) -> int:
    weight = whole(value)
    if weight is None or weight < 1:
        return 1  # a kudo counts once unless Khoros says more
    if weight > 1:
        stats.weighted_kudos += 1
    return min(weight, 1000)


@dataclass(frozen=True, slots=True)
class UserFigures:
    """Khoros's own counts for a member, as its LiQL answers give them (aggregates, when asked for)."""

    user_id: str
    kudos_received: int | None  # `kudos_received.sum(weight)`: weights summed, as Khoros shows them
    solutions_authored: int | None  # `solutions_authored.count(*)`
    origin: str  # "users" (a users answer) or "messages" (derived from the input's own messages)


def _aggregate(value: Any, function: str, column: str | None = None) -> int | None:
    """`{"sum": {"weight": 12}}` / `{"count": 3}` (how LiQL answers an aggregate), or a plain number."""
    if isinstance(value, dict):
        inner = value.get(function)
        if column is not None and isinstance(inner, dict):
            inner = inner.get(column)
        return whole(inner)
    return whole(value)


def liql_user_figures(item: Mapping[str, Any], stats: KhorosStats) -> UserFigures | None:
    user_id = text(item.get("id"))
    if user_id is None:
        return None
    if flag(item.get("banned")):
        stats.banned_users += 1
    kudos = _aggregate(item.get("kudos_received"), "sum", "weight")
    solutions = _aggregate(item.get("solutions_authored"), "count")
    if kudos is None and solutions is None:
        return None  # the answer carries sub-queries (`{"query": ...}`), not counts
    return UserFigures(user_id, kudos, solutions, "users")


# -- Bulk Data -------------------------------------------------------------------------------------------------


def _record_post(record: Mapping[str, Any], author: str, posts: Mapping[str, PostInfo]) -> PostInfo | None:
    """The message a record is about, from the record's own fields, else from a message already known."""
    message_id = text(record.get("message.uid"))
    if message_id is None:
        return None
    known = posts.get(message_id)
    conversation = text(record.get("conversation.uid"))
    is_topic = flag(record.get("message.is_topic"))
    message_type = (text(record.get("message.type")) or "").lower()
    if is_topic is None and message_type in TOPIC_TYPES:
        is_topic = True
    elif is_topic is None and message_type in REPLY_TYPES:
        is_topic = False
    if is_topic is None and known is not None:
        return PostInfo(known.id, known.kind, author, known.question, known.category, known.style)
    if is_topic is None:
        is_topic = conversation is None or conversation == message_id
    board = text(record.get("board.uid")) or (known.category if known is not None else None)
    style = text(record.get("community_app")) or (known.style if known is not None else None)
    if is_topic:
        return PostInfo(message_id, "question", author, None, board, style)
    question = conversation or (known.question if known is not None else None)
    if question is None:
        return None
    return PostInfo(message_id, "answer", author, question, board, style)


def bulk_post(record: Mapping[str, Any], posts: Mapping[str, PostInfo]) -> PostInfo | None:
    """The post a `messages.publish` record creates (for a first pass that learns every message's author)."""
    author = member(record.get("user.uid"))
    if text(record.get("action.key")) != "messages.publish" or author is None or author == FORMER_USER:
        return None
    if text(record.get("privatemessage.type")):
        return None
    return _record_post(record, author, posts)


def bulk_event(
    record: Mapping[str, Any], source: str, stats: KhorosStats, posts: Mapping[str, PostInfo]
) -> dict[str, Any] | Pending | None:
    """One Bulk Data record (flat dotted fields) as a canonical event, a `Pending` one, or None (counted)."""
    key = text(record.get("action.key")) or "(no action.key)"
    if key not in MAPPED_ACTIONS:
        stats.actions_not_mapped[key] = stats.actions_not_mapped.get(key, 0) + 1
        return None
    when = epoch_ms(record.get("event.time.ms"))
    message_id = text(record.get("message.uid"))
    if when is None or message_id is None:
        stats.skip(f"{key}: {NO_TIME if when is None else NO_MESSAGE}")
        return None
    if text(record.get("privatemessage.type")):
        stats.skip(f"{key}: {PRIVATE_MESSAGE}")
        return None
    document = text(record.get("document.id"))
    actor = member(record.get("user.uid"))
    target = member(record.get("target.user.uid"))
    stats.saw(when)
    if key == "messages.publish":
        return _published(record, source, stats, posts, when, actor)
    if actor is None or actor == FORMER_USER:
        stats.former_user_actors += 1
        stand_in = document or f"{key}-{message_id}-{int(when.timestamp() * 1000)}"
        actor_part, actor = f"former-{stand_in}", _former(stand_in)
    else:
        actor_part = actor
    if target == FORMER_USER:
        stats.skip(f"{key}: {KUDOS_TO_FORMER if key == 'kudos.give' else FORMER_AUTHOR}")
        return None
    data: dict[str, Any] = {"actor": actor, "post": {}}
    extra: dict[str, Any] = {}
    if key == "kudos.give":
        kind, event_id = "post.upvoted", f"kudos-{message_id}-{actor_part}"
        extra["upvote_weight"] = _weight(record.get("action.weight"), stats)
    elif key == "solutions.accept":
        kind, event_id = "answer.accepted", f"solution-{message_id}"
    else:
        kind = "post.removed" if key == "moderation.reject" else "post.restored"
        event_id = f"moderation-{document or f'{key}-{message_id}-{int(when.timestamp() * 1000)}'}"
        if kind == "post.removed":
            data["reason"] = "rejected"
    data["khoros"] = {"action": key, **({"document_id": document} if document else {})}
    made = event(source, event_id, kind, when, data)
    pending = Pending(message_id, made, key, extra, needs_answer=kind == "answer.accepted")
    post = _record_post(record, target, posts) if target is not None else None
    if post is None:
        return pending  # the author comes from the message, once known
    completed = pending.complete(post)
    if completed is None:
        stats.skip(f"{key}: {SOLUTION_ON_TOPIC}")
        return None
    stats.count(kind)
    return completed


def _published(
    record: Mapping[str, Any],
    source: str,
    stats: KhorosStats,
    posts: Mapping[str, PostInfo],
    when: datetime,
    author: str | None,
) -> dict[str, Any] | None:
    if author is None or author == FORMER_USER:
        stats.skip(f"messages.publish: {FORMER_AUTHOR if author else NO_AUTHOR}")
        return None
    post = _record_post(record, author, posts)
    if post is None:
        stats.skip(f"messages.publish: {REPLY_WITHOUT_TOPIC}")
        return None
    kind = "question.posted" if post.kind == "question" else "answer.posted"
    stats.count(kind)
    data = {"actor": author, "post": post.body()}
    document = text(record.get("document.id"))
    if document:
        data["khoros"] = {"action": "messages.publish", "document_id": document}
    return event(source, f"message-{post.id}", kind, when, data)


# -- reading files ---------------------------------------------------------------------------------------------


@dataclass
class KhorosInput:
    """Everything read from a set of files: LiQL items by type, and Bulk Data records (flat dotted fields)."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    kudos: list[dict[str, Any]] = field(default_factory=list)
    users: list[dict[str, Any]] = field(default_factory=list)
    bulk: list[Mapping[str, Any]] = field(default_factory=list)


def input_files(paths: Iterable[Path]) -> list[Path]:
    """The files named, and the `.json`/`.csv` files of the folders named, in name order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.suffix.lower() in (".json", ".csv") and p.is_file()))
        elif path.exists():
            found.append(path)
        else:
            raise DumpError(f"{path}: no such file or folder")
    if not found:
        raise DumpError("no Khoros file to read: give LiQL answers (.json) or Bulk Data exports (.json, .csv)")
    return found


def read_input(paths: Iterable[Path], stats: KhorosStats) -> KhorosInput:
    read = KhorosInput()
    for path in input_files(paths):
        stats.files.append(str(path))
        raw = path.read_bytes()
        if raw.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"["):
            try:
                payload = orjson.loads(raw.removeprefix(b"\xef\xbb\xbf"))
            except orjson.JSONDecodeError as error:
                raise DumpError(f"{path}: not valid JSON ({error})") from None
            add_payload(read, payload, stats, str(path))
        else:
            read.bulk.extend(bulk_csv(raw, str(path)))
    stats.bulk_records += len(read.bulk)
    return read


def add_payload(read: KhorosInput, payload: Any, stats: KhorosStats, where: str) -> None:
    """A LiQL answer (`{"status", "data": {"type", "items"}}`), a bare list of LiQL items, a Bulk Data JSON
    export (`{"records": [...]}`) or a bare list of its records."""
    if isinstance(payload, dict) and "records" in payload:
        records = payload["records"]
        if not isinstance(records, list):
            raise DumpError(f"{where}: `records` is not a list")
        read.bulk.extend(flatten(record) if isinstance(record, dict) else {} for record in records)
        return
    if isinstance(payload, dict) and isinstance(payload.get("data"), dict):
        if payload.get("status") not in (None, "success"):
            raise DumpError(f"{where}: the LiQL answer is an error: {payload.get('message') or payload.get('status')}")
        items = payload["data"].get("items")
        if not isinstance(items, list):
            raise DumpError(f"{where}: a LiQL answer without `data.items`")
    elif isinstance(payload, list):
        items = payload
    else:
        raise DumpError(f"{where}: neither a LiQL answer nor a Bulk Data export")
    for item in items:
        if not isinstance(item, dict):
            stats.skip(NOT_A_RECORD)
            continue
        if "action.key" in item:
            read.bulk.append(item)
            continue
        kind = item.get("type")
        stats.liql_items[str(kind)] = stats.liql_items.get(str(kind), 0) + 1
        if kind == "message":
            read.messages.append(item)
        elif kind == "kudo":
            read.kudos.append(item)
        elif kind == "user":
            read.users.append(item)
        else:
            stats.skip(f"LiQL item of type {str(kind)[:40]!r} (boards, ranks...: no event)")


def flatten(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested objects as flat dotted keys (`{"user": {"uid": 5}}` -> `{"user.uid": 5}`); flat ones stay."""
    flat: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def bulk_csv(raw: bytes, where: str) -> Iterator[dict[str, str]]:
    """A Bulk Data CSV export: a header line of field names, one record a line; columns are taken by name,
    never by position (an account's default export has 60 of them, in an order nobody promises)."""
    text_body = raw.decode("utf-8-sig", errors="replace")
    reader = csv.DictReader(io.StringIO(text_body, newline=""))
    if not reader.fieldnames or "action.key" not in reader.fieldnames:
        raise DumpError(f"{where}: a Bulk Data CSV export starts with a header of field names, action.key among them")
    for row in reader:
        yield {name: value for name, value in row.items() if name is not None and value not in (None, "")}


def input_posts(read: KhorosInput, known: Mapping[str, PostInfo] | None = None) -> dict[str, PostInfo]:
    """Every message the input holds (LiQL messages, Bulk Data `messages.publish`), by id."""
    posts: dict[str, PostInfo] = dict(known or {})
    for item in read.messages:
        post = liql_post(item)
        if post is not None:
            posts[post.id] = post
    for record in read.bulk:
        post = bulk_post(record, posts)
        if post is not None:
            posts[post.id] = post
    return posts


@dataclass
class Mapped:
    events: list[dict[str, Any]]
    pending: list[Pending]


def map_input(read: KhorosInput, source: str, stats: KhorosStats, posts: Mapping[str, PostInfo]) -> Mapped:
    """Every event the input makes, in time order; those about messages the input does not hold wait in
    `pending` for the caller to look them up (`complete_pending`)."""
    events: list[dict[str, Any]] = []
    pending: list[Pending] = []
    for item in read.messages:
        events.extend(liql_message_events(item, source, stats))
    for item in read.kudos:
        kudo = liql_kudo(item, source, stats)
        if kudo is not None:
            pending.append(kudo)
    for record in read.bulk:
        made = bulk_event(record, source, stats, posts)
        if isinstance(made, Pending):
            pending.append(made)
        elif made is not None:
            events.append(made)
    events.extend(complete_pending(pending, posts, stats, final=False))
    waiting = [item for item in pending if not item.settled]
    events.sort(key=lambda made: made["time"])
    return Mapped(events, waiting)


def complete_pending(
    pending: list[Pending], posts: Mapping[str, PostInfo], stats: KhorosStats, *, final: bool
) -> list[dict[str, Any]]:
    """The pending events whose message `posts` knows; with `final`, the rest are skipped and counted."""
    done: list[dict[str, Any]] = []
    for item in pending:
        if item.settled:
            continue
        post = posts.get(item.message_id)
        if post is None:
            if final:
                item.settled = True
                stats.skip(f"{item.label}: {UNKNOWN_MESSAGE}")
            continue
        made = item.complete(post)
        if made is None:
            stats.skip(f"{item.label}: {SOLUTION_ON_TOPIC}")
            continue
        stats.count(made["type"])
        done.append(made)
    return done


def figures_from_input(read: KhorosInput, stats: KhorosStats) -> dict[str, UserFigures]:
    """Khoros's own counts: a users answer's aggregates where it has them; otherwise, for the authors of the input's
    messages, the solutions Khoros flags on them (`is_solution`) and, where every message of theirs carries it,
    the kudos it sums on them (`kudos.sum(weight)`)."""
    figures: dict[str, UserFigures] = {}
    for item in read.users:
        found = liql_user_figures(item, stats)
        if found is not None:
            figures[found.user_id] = found
    solutions: Counter[str] = Counter()
    kudos: Counter[str] = Counter()
    without_sum: set[str] = set()
    for item in read.messages:
        post = liql_post(item)
        if post is None:
            continue
        solutions[post.author] += 1 if flag(item.get("is_solution")) and post.kind == "answer" else 0
        summed = _aggregate(item.get("kudos"), "sum", "weight")
        if summed is None:
            without_sum.add(post.author)
        else:
            kudos[post.author] += summed
    for author in solutions:
        if author not in figures:
            figures[author] = UserFigures(
                author, None if author in without_sum else kudos[author], solutions[author], "messages"
            )
    return figures


# -- how members are shown -----------------------------------------------------------------------------------------


def _member_profile(value: Any, source: str, avatar: Any = None) -> ProfileChange | None:
    """A LiQL user object (`{"id", "login", "view_href"}`, a users answer's item with its `avatar`) as a profile:
    the login is the name Khoros shows; the profile page is `view_href`, made absolute on the community."""
    if not isinstance(value, dict):
        return None
    user_id = member(value)
    if user_id is None or user_id == FORMER_USER:
        return None
    page = value.get("view_href")
    if isinstance(page, str) and page.startswith("/"):
        page = f"https://{source.removeprefix('khoros:')}{page}"
    picture = avatar.get("profile") if isinstance(avatar, dict) else None
    return change(user_id, source, username=text(value.get("login")), profile_url=page, avatar_url=picture)


def input_profiles(read: KhorosInput, source: str) -> list[ProfileChange]:
    """What the input says of its members: users answers first (they carry pictures), then the authors of its
    messages, the givers of its kudos, and the members of its Bulk Data records (`user.login`,
    `target.user.login`). One change per member: the first found."""
    found: dict[str, ProfileChange] = {}

    def add(made: ProfileChange | None) -> None:
        if made is not None:
            found.setdefault(made.user_id, made)

    for item in read.users:
        add(_member_profile(item, source, item.get("avatar")))
    for item in read.messages:
        add(_member_profile(item.get("author"), source))
    for item in read.kudos:
        add(_member_profile(item.get("user"), source))
    for record in read.bulk:
        for prefix in ("user", "target.user"):
            user_id = member(record.get(f"{prefix}.uid"))
            if user_id is not None and user_id != FORMER_USER:
                add(change(user_id, source, username=text(record.get(f"{prefix}.login"))))
    return list(found.values())
