"""Discourse webhooks -> canonical events. Pure: headers and payload in, CloudEvents out.

Discourse posts are global ids; a topic's first post is the question (`t<topic_id>`, so replies can name it),
replies are answers (`p<post_id>`). Users are Discourse user ids, as strings.
"""

import hashlib
import hmac
from datetime import datetime
from typing import Any

# Post fields that carry the post's text: not needed for rewards, and they would make events large.
_TEXT_FIELDS = ("cooked", "raw", "excerpt")


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """`X-Discourse-Event-Signature: sha256=<hex HMAC-SHA256 of the raw body>`, compared in constant time."""
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix("sha256="))


def _post(payload: dict[str, Any]) -> dict[str, Any]:
    topic = str(payload.get("topic_id", ""))
    category = payload.get("category_id")
    post: dict[str, Any] = {
        "author": str(payload.get("user_id", "")),
        "category": str(category) if category is not None else None,
    }
    if payload.get("post_number") == 1:
        post.update(id=f"t{topic}", kind="question")
    else:
        post.update(id=f"p{payload.get('id', '')}", kind="answer", question=f"t{topic}")
    if post["category"] is None:
        del post["category"]
    return post


def _kept(payload: Any) -> Any:
    if isinstance(payload, dict):
        return {key: _kept(value) for key, value in payload.items() if key not in _TEXT_FIELDS}
    if isinstance(payload, list):
        return [_kept(value) for value in payload]
    return payload


def to_events(
    *,
    event: str,
    event_id: str,
    instance: str,
    payload: dict[str, Any],
    received_at: datetime,
    question_author: str | None = None,
) -> list[dict[str, Any]]:
    """The canonical events one delivery stands for (an unknown event becomes `discourse.<event>`).

    `question_author` is the author of the topic's first post, when known: Discourse does not say who
    accepted a solution, and on Discourse only the topic's author (or staff) can.
    """
    group = next(iter(payload.values()), {}) if len(payload) == 1 else payload
    group = group if isinstance(group, dict) else {"value": group}
    data: dict[str, Any]
    when = received_at
    kind: str
    if event == "post_created":
        post = _post(group)
        kind = "question.posted" if post["kind"] == "question" else "answer.posted"
        data = {"actor": post["author"], "post": post}
        when = _time(group.get("created_at")) or received_at
    elif event in ("post_destroyed", "post_recovered"):
        post = _post(group)
        kind = "post.removed" if event == "post_destroyed" else "post.restored"
        data = {"actor": "discourse", "post": post}
        if event == "post_destroyed":
            data["reason"] = "deleted"
    elif event == "post_liked":
        post = _post(group.get("post", {}))
        kind = "post.upvoted"
        data = {"actor": str(group.get("user", {}).get("id", "")), "post": post}
    elif event in ("accepted_solution", "unaccepted_solution"):
        post = _post(group)
        kind = "answer.accepted" if event == "accepted_solution" else "answer.unaccepted"
        data = {"actor": question_author or f"topic-author:{post.get('question', '')}", "post": post}
    elif event in ("user_suspended", "user_unsuspended"):
        kind = "user.suspended" if event == "user_suspended" else "user.reinstated"
        data = {"actor": "discourse", "user": str(group.get("id", ""))}
    else:
        kind = f"discourse.{_type_part(event)}"
        data = {}
    data["discourse"] = {"event": event, "payload": _kept(payload)}
    return [
        {
            "specversion": "1.0",
            "id": event_id,
            "source": f"discourse:{instance}",
            "type": kind,
            "time": when.isoformat(),
            "data": data,
        }
    ]


def _type_part(event: str) -> str:
    cleaned = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "_-") else "-" for ch in event.lower())
    cleaned = cleaned.strip("-_")[:60]
    return cleaned if cleaned[:1].isalpha() else f"event-{cleaned}".rstrip("-")


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
