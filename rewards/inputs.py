"""Text a request may carry: PostgreSQL's text and JSON cannot hold the NUL character, so every request that
has one is refused at the edge (422, saying where), the same on SQLite, instead of failing in the database.

Where it is checked: `nul_problem` for event payloads and Discourse deliveries (the intake reports which
event), `RequestBody` for JSON request bodies, `NoNul` for form fields, and `rewards.deps.refuse_nul`, an
application-wide dependency, for the URL's path and query. Here too: the other bounds of what a request may
name (`MAX_BIGINT`, `UtcTime`)."""

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, field_validator
from pydantic_core import PydanticCustomError

# PostgreSQL's bigint: ids, versions and page cursors a request names are refused above it (422), where the
# database would refuse them with an error.
MAX_BIGINT = 2**63 - 1

# Request bodies (FastAPI's `max_body_size`, enforced as the body arrives, before it is parsed and before any
# dependency, authentication included, runs): every route takes at most `REWARDS_MAX_REQUEST_BODY_BYTES` (64 KiB)
# unless it declares one of these. Rules drafts and code uploads...
UPLOAD_BODY_BYTES = 4 * 1024 * 1024
# ...and the routes that check the key first and then read their body themselves against
# `REWARDS_MAX_BODY_BYTES` (events, Discourse deliveries): this is the most that setting may be.
MAX_BODY_BYTES_CEILING = 64 * 1024 * 1024
NUL = "\x00"
NUL_IN_TEXT = "text cannot contain the NUL character (\\u0000)"
NUL_IN_NAME = "a field name cannot contain the NUL character (\\u0000)"


def nul_problem(value: Any) -> tuple[str, str] | None:
    """Where in `value` (a dotted path, "" for the value itself) a NUL character is, and what is wrong; None
    if there is none. Walks dicts and lists; other values cannot hold text. A path is spelt out only for a
    container or a hit: a list of 100,000 codes costs no 100,000 path strings."""
    stack: list[tuple[Any, str, object]] = [(value, "", None)]  # (item, its parent's path, its key or index)
    while stack:
        item, parent, key = stack.pop()
        if isinstance(item, str):
            if NUL in item:
                return _path(parent, key), NUL_IN_TEXT
        elif isinstance(item, dict):
            path = _path(parent, key)
            for name, child in item.items():
                if isinstance(name, str) and NUL in name:
                    return path, NUL_IN_NAME
                stack.append((child, path, name))
        elif isinstance(item, list | tuple):
            path = _path(parent, key)
            stack.extend((child, path, index) for index, child in enumerate(item))
    return None


def _path(parent: str, key: object) -> str:
    if key is None:
        return parent
    return f"{parent}.{key}" if parent else str(key)


class RequestBody(BaseModel):
    """The base of every JSON request body."""

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        problem = nul_problem(value)
        if problem is not None:
            path, message = problem
            where = f" (item {path})" if path.isdigit() else f" (at {path})" if path else ""
            raise PydanticCustomError("nul_character", "{message}{where}", {"message": message, "where": where})
        return value


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise PydanticCustomError(
            "time_out_of_range", "the time is out of range: give one between the years 1 and 9999 in UTC"
        ) from None


def without_nul(value: str | None) -> str | None:
    """For form fields (`Annotated[str, Form(...), NoNul]`): refuse text holding NUL."""
    if value is not None and NUL in value:
        raise PydanticCustomError("nul_character", NUL_IN_TEXT)
    return value


NoNul = AfterValidator(without_nul)


RFC_3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})")


def rfc3339_text(value: Any) -> Any:
    """A time is RFC 3339 text with its offset, as the OpenAPI document says: pydantic alone would also take a
    number (or a numeric string) as Unix seconds."""
    if isinstance(value, datetime) or (isinstance(value, str) and RFC_3339.fullmatch(value.strip())):
        return value
    raise PydanticCustomError(
        "rfc3339_time", "a time is RFC 3339 text with its offset, like 2026-12-06T09:00:00+01:00 or ...Z"
    )


Rfc3339 = BeforeValidator(rfc3339_text)

# A time a request gives: with its offset (RFC 3339), within the range the databases store.
UtcTime = Annotated[AwareDatetime, Rfc3339, AfterValidator(_in_utc)]
