"""Build forum events the way a forum would send them."""

import copy
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

_ids = itertools.count(1)
BASE_TIME = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def question(qid: str, author: str, category: str = "routers") -> dict[str, Any]:
    return {"id": qid, "kind": "question", "author": author, "category": category, "tags": ["wifi"]}


def answer(aid: str, author: str, qid: str, category: str = "routers") -> dict[str, Any]:
    return {"id": aid, "kind": "answer", "author": author, "question": qid, "category": category}


def event(
    type_: str, data: dict[str, Any], *, at: datetime | None = None, minutes: float = 0, source: str = "forum"
) -> dict[str, Any]:
    when = (at or BASE_TIME) + timedelta(minutes=minutes)
    return {
        "specversion": "1.0",
        "id": f"e{next(_ids)}",
        "source": source,
        "type": type_,
        "time": when.isoformat().replace("+00:00", "Z"),
        "data": copy.deepcopy(data),
    }


def upvote(voter: str, post: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return event("post.upvoted", {"actor": voter, "post": post}, **kw)


def downvote(voter: str, post: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return event("post.downvoted", {"actor": voter, "post": post}, **kw)


def retract(voter: str, post: dict[str, Any], vote: str, **kw: Any) -> dict[str, Any]:
    return event("vote.retracted", {"actor": voter, "post": post, "vote": vote}, **kw)


def accept(asker: str, post: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return event("answer.accepted", {"actor": asker, "post": post}, **kw)


def unaccept(asker: str, post: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return event("answer.unaccepted", {"actor": asker, "post": post}, **kw)


def remove(moderator: str, post: dict[str, Any], reason: str, **kw: Any) -> dict[str, Any]:
    return event("post.removed", {"actor": moderator, "post": post, "reason": reason}, **kw)


def restore(moderator: str, post: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return event("post.restored", {"actor": moderator, "post": post}, **kw)
