"""Discourse webhooks -> canonical events. Pure: headers and payload in, CloudEvents out.

Discourse posts are global ids; a topic's first post is the question (`t<topic_id>`, so replies can name it),
replies are answers (`p<post_id>`). Users are Discourse user ids, as strings.

The fields the adapter reads are checked against the models below before anything is mapped: a delivery whose
fields do not fit (a string where the post should be, a `null` author) becomes one `discourse.delivery.unusable`
event that says why, rather than an error (Discourse would retry it) or a member made up from a `null`.

Deliveries also say how the members they name are shown (`username`, `name`, `avatar_template` of a post's author,
a like's giver, a topic's creator, a user event's user): `profiles` reads them, for rewards.users.profiles.
"""

import hashlib
import hmac
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from rewards.links import avatar_from_template, discourse_base
from rewards.users.profiles import ProfileChange, change

# Post fields that carry the post's text: not needed for rewards, and they would make events large.
_TEXT_FIELDS = ("cooked", "raw", "excerpt")

# Two words after `discourse.`, so no unknown event (`discourse.<event>`, one word) can take this type.
UNUSABLE = "discourse.delivery.unusable"

# Ids become parts of canonical ids (`p<id>`), which are limited to 200 characters.
MAX_ID_LENGTH = 100
# A delivery's reason names at most this many of its problems.
MAX_PROBLEMS = 5


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """`X-Discourse-Event-Signature: sha256=<hex HMAC-SHA256 of the raw body>`, compared in constant time."""
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix("sha256="))


def _discourse_id(value: object) -> int | str:
    """Discourse sends ids as integers (its system user is -1); an id sent as text is taken as it is if it is
    one word. Anything else (null, a number with a fraction, true, an object) names nobody."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH and not any(ch.isspace() for ch in value):
        return value
    raise PydanticCustomError(
        "discourse_id",
        "an id is an integer, or text of 1 to {max_length} characters without spaces",
        {"max_length": MAX_ID_LENGTH},
    )


def _iso_time(value: object) -> datetime:
    """Discourse sends ISO 8601 text (`2023-02-09T10:19:46.324Z`); pydantic alone would also read a number as a
    Unix time."""
    if not isinstance(value, str):
        raise PydanticCustomError("discourse_time", "a time is ISO 8601 text")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise PydanticCustomError("discourse_time", "a time is ISO 8601 text, such as 2023-02-09T10:19:46Z") from None


def _plausible(value: datetime) -> datetime:
    # The bounds of a canonical event's time.
    if not 1970 <= value.year <= 2200:
        raise PydanticCustomError("discourse_time", "a time is between the years 1970 and 2200")
    return value


DiscourseId = Annotated[int | str, BeforeValidator(_discourse_id)]
DiscourseTime = Annotated[AwareDatetime, BeforeValidator(_iso_time), AfterValidator(_plausible)]


class _Read(BaseModel):
    """Only what the adapter reads: Discourse sends many more fields, kept with the event as they came."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class DiscoursePost(_Read):
    """Discourse's WebHookPostSerializer, as far as rewards go."""

    id: DiscourseId
    topic_id: DiscourseId
    post_number: Annotated[StrictInt, Field(ge=1)]
    user_id: DiscourseId
    category_id: DiscourseId | None = None


class CreatedPost(DiscoursePost):
    created_at: DiscourseTime | None = None


class DiscourseUser(_Read):
    id: DiscourseId


class Like(_Read):
    post: DiscoursePost
    user: DiscourseUser  # who liked it


# What each mapped event's body holds: `{"<X-Discourse-Event-Type>": {...}}`.
class PostDelivery(_Read):
    post: DiscoursePost


class CreatedPostDelivery(_Read):
    post: CreatedPost


class LikeDelivery(_Read):
    like: Like


class SolvedDelivery(_Read):
    """The discourse-solved plugin's events: the accepted (or no longer accepted) post."""

    solved: DiscoursePost


class UserDelivery(_Read):
    user: DiscourseUser


DELIVERIES: dict[str, type[_Read]] = {
    "post_created": CreatedPostDelivery,
    "post_destroyed": PostDelivery,
    "post_recovered": PostDelivery,
    "post_liked": LikeDelivery,
    "accepted_solution": SolvedDelivery,
    "unaccepted_solution": SolvedDelivery,
    "user_suspended": UserDelivery,
    "user_unsuspended": UserDelivery,
}


class UnusableDelivery(ValueError):
    """A delivery of an event the adapter maps, whose fields do not fit; the message says which and why."""


def read(event: str, payload: dict[str, Any]) -> _Read | None:
    """The fields the adapter reads from a delivery of `event`, checked; None for an event it does not map."""
    model = DELIVERIES.get(event)
    if model is None:
        return None
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        raise UnusableDelivery(_reason(error)) from None


def solved_question(event: str, payload: dict[str, Any]) -> str | None:
    """The question (`t<topic_id>`) of an accepted or unaccepted solution, whose author is the one who accepted
    it; None for other events and for deliveries that cannot be used."""
    try:
        fields = read(event, payload)
    except UnusableDelivery:
        return None
    return f"t{fields.solved.topic_id}" if isinstance(fields, SolvedDelivery) else None


def _reason(error: ValidationError) -> str:
    problems = []
    for detail in error.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in detail["loc"]) or "the body"
        if detail["type"] == "model_type":
            message = "should be an object"
        elif detail["type"] == "missing":
            message = "is missing"
        else:
            message = detail["msg"][:1].lower() + detail["msg"][1:]
        problems.append(f"{where}: {message}")
    more = len(problems) - MAX_PROBLEMS
    return "; ".join(problems[:MAX_PROBLEMS]) + (f"; and {more} more" if more > 0 else "")


def _post(fields: DiscoursePost) -> dict[str, Any]:
    post: dict[str, Any] = {"author": str(fields.user_id)}
    if fields.category_id is not None:
        post["category"] = str(fields.category_id)
    if fields.post_number == 1:
        post.update(id=f"t{fields.topic_id}", kind="question")
    else:
        post.update(id=f"p{fields.id}", kind="answer", question=f"t{fields.topic_id}")
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
    """The canonical events one delivery stands for (an unknown event becomes `discourse.<event>`, one whose
    fields do not fit `discourse.delivery.unusable`).

    `question_author` is the author of the topic's first post, when known: Discourse does not say who
    accepted a solution, and on Discourse only the topic's author (or staff) can.
    """
    try:
        fields = read(event, payload)
    except UnusableDelivery as unusable:
        return [unusable_event(event, event_id, instance, received_at, str(unusable), payload=payload)]
    data: dict[str, Any]
    when = received_at
    kind: str
    if isinstance(fields, CreatedPostDelivery):
        post = _post(fields.post)
        kind = "question.posted" if post["kind"] == "question" else "answer.posted"
        data = {"actor": post["author"], "post": post}
        when = fields.post.created_at or received_at
    elif isinstance(fields, PostDelivery):
        post = _post(fields.post)
        kind = "post.removed" if event == "post_destroyed" else "post.restored"
        data = {"actor": "discourse", "post": post}
        if event == "post_destroyed":
            data["reason"] = "deleted"
    elif isinstance(fields, LikeDelivery):
        kind = "post.upvoted"
        data = {"actor": str(fields.like.user.id), "post": _post(fields.like.post)}
    elif isinstance(fields, SolvedDelivery):
        post = _post(fields.solved)
        kind = "answer.accepted" if event == "accepted_solution" else "answer.unaccepted"
        data = {"actor": question_author or f"topic-author:{post.get('question', '')}", "post": post}
    elif isinstance(fields, UserDelivery):
        kind = "user.suspended" if event == "user_suspended" else "user.reinstated"
        data = {"actor": "discourse", "user": str(fields.user.id)}
    else:
        kind = f"discourse.{_type_part(event)}"
        data = {}
    data["discourse"] = {"event": event, "payload": _kept(payload)}
    return [_event(event_id, instance, kind, when, data)]


def unusable_event(
    event: str, event_id: str, instance: str, received_at: datetime, reason: str, *, payload: dict[str, Any] | None
) -> dict[str, Any]:
    """The one event a delivery that cannot be used stands for: what came and why it names nobody. Without
    `payload` when even that cannot be kept (too large, too deep)."""
    discourse: dict[str, Any] = {"event": event}
    if payload is not None:
        discourse["payload"] = _kept(payload)
    return _event(event_id, instance, UNUSABLE, received_at, {"unusable": reason, "discourse": discourse})


def _event(event_id: str, instance: str, kind: str, when: datetime, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": f"discourse:{instance}",
        "type": kind,
        "time": when.isoformat(),
        "data": data,
    }


def _type_part(event: str) -> str:
    cleaned = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "_-") else "-" for ch in event.lower())
    cleaned = cleaned.strip("-_")[:60]
    return cleaned if cleaned[:1].isalpha() else f"event-{cleaned}".rstrip("-")


# -- how the members a delivery names are shown ----------------------------------------------------------------

# Where Discourse puts a member in the deliveries of each event group: (path to an object, the key of its id).
_MEMBERS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("post",), "user_id"),  # post_created, post_edited...: the author (WebHookPostSerializer)
    (("solved",), "user_id"),  # accepted_solution: the accepted post's author
    (("like", "post"), "user_id"),  # post_liked: the liked post's author...
    (("like", "user"), "id"),  # ...and who liked it (BasicUserSerializer)
    (("topic", "created_by"), "id"),  # topic_created...
    (("user",), "id"),  # user_created, user_updated, user_suspended...
)


def profiles(instance: str, payload: dict[str, Any]) -> list[ProfileChange]:
    """What a delivery says of the members it names: username, name and picture (`avatar_template`, made absolute
    on the instance). A member whose id does not read as one is skipped, as the events skip them."""
    source = f"discourse:{instance}"
    base = discourse_base(source)
    found: dict[str, ProfileChange] = {}
    for path, id_key in _MEMBERS:
        node: Any = payload
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            continue
        try:
            user_id = str(_discourse_id(node.get(id_key)))
        except PydanticCustomError:
            continue
        template = node.get("avatar_template")
        avatar = avatar_from_template(base or "", template) if isinstance(template, str) else None
        made = change(user_id, source, username=node.get("username"), display_name=node.get("name"), avatar_url=avatar)
        if made is not None:
            found.setdefault(user_id, made)
    return list(found.values())
