"""Khoros Aurora's Firehose, as far as the public facts go: batched JSON POSTs whose schema Khoros does not publish.
Pure: a delivery's payload in, canonical events out.

A batch is an array, an object wrapping one, or a single object. An item that reads as a Bulk Data record
(`action.key` and its dotted fields, flat or nested) goes through the Bulk Data mapping, so an action reaching the
engine by both feeds is one event. Anything else is stored as it came, as `khoros.firehose.unknown` with the
reason, and reported: never guessed at. Event ids come from the item (`document.id`, else an `id`-like field), or
from a digest of its content, so Khoros's retries (every 2 hours for 24 hours) are duplicates.
"""

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from rewards.imports.khoros import MAPPED_ACTIONS, KhorosStats, Pending, PostInfo, bulk_event, event, flatten, text

UNKNOWN = "khoros.firehose.unknown"
BATCH_KEYS = ("events", "records", "items", "data", "payload", "batch", "messages")
ID_FIELDS = ("document.id", "event.id", "event_id", "eventId", "id", "uid")
MAX_KEPT_BYTES = 48 * 1024  # an event holds at most 64 KiB: a larger item is kept as its field names only


def batch_items(payload: Any) -> list[Any]:
    """The items of a delivery: an array; an object with one array of objects (under `events`, `records`... or
    alone); else the object itself, as one item."""
    if isinstance(payload, list):
        return payload
    if isinstance(payload, dict):
        for key in BATCH_KEYS:
            if isinstance(payload.get(key), list):
                return list(payload[key])
        lists = [value for value in payload.values() if isinstance(value, list) and value]
        if len(lists) == 1 and all(isinstance(item, dict) for item in lists[0]):
            return list(lists[0])
    return [payload]


def item_id(item: Any, flat: Mapping[str, Any]) -> str:
    for name in ID_FIELDS:
        found = text(flat.get(name))
        if found is not None and len(found) <= 150:
            return found
    return "sha256-" + hashlib.sha256(orjson.dumps(item, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass
class Delivery:
    events: list[dict[str, Any]] = field(default_factory=list)
    pending: list[Pending] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # reasons, one per item stored as unknown
    stats: KhorosStats = field(default_factory=KhorosStats)  # `skipped`: known records the mapping leaves out


def unknown_event(
    source: str, item: Any, flat: Mapping[str, Any], reason: str, received_at: datetime
) -> dict[str, Any]:
    kept = orjson.dumps(item)
    data: dict[str, Any] = {"reason": reason}
    if len(kept) <= MAX_KEPT_BYTES:
        data["item"] = item
    else:
        data["fields"] = sorted(flat)[:200]
        data["bytes"] = len(kept)
    return event(source, f"firehose-{item_id(item, flat)}", UNKNOWN, received_at, data)


def to_events(payload: Any, source: str, received_at: datetime, posts: Mapping[str, PostInfo]) -> Delivery:
    delivery = Delivery()
    for item in batch_items(payload):
        flat = flatten(item) if isinstance(item, dict) else {}
        key = text(flat.get("action.key"))
        if key is None:
            reason = "no action.key: not a shape the receiver knows (the Firehose schema is not public)"
        elif key not in MAPPED_ACTIONS:
            reason = f"action {key[:60]!r} has no canonical event"
        else:
            # A known record the mapping leaves out (a message of user -1...) is counted in `stats.skipped`.
            made = bulk_event(flat, source, delivery.stats, posts)
            if isinstance(made, Pending):
                made.record = item
                delivery.pending.append(made)
            elif made is not None:
                delivery.events.append(made)
            continue
        delivery.unknown.append(reason)
        delivery.events.append(unknown_event(source, item, flat, reason, received_at))
    return delivery
