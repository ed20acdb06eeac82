"""Answers encoded once per change: a per-process map from what an answer is about to the bytes sent for it, with
the validator they were computed from (a user's `updated_seq` and held badges, a board page's rows...).

A read still asks the stores for the validator (one round trip), but when it is unchanged it sends the bytes it
encoded before instead of building and serialising the models again, which was most of a read's CPU.
"""

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from weakref import WeakKeyDictionary

from sqlalchemy.ext.asyncio import AsyncSession

K = TypeVar("K", bound=Hashable)

# Bounded so that a process's memory does not grow with the community: about 1 kB an entry.
DEFAULT_ENTRIES = 50_000


@dataclass(frozen=True, slots=True)
class Encoded:
    validator: Hashable
    body: bytes
    etag: str


class EncodedCache(Generic[K]):
    """The newest encoding of each key; the oldest key is dropped when full (insertion order, no LRU bookkeeping
    on the read path)."""

    def __init__(self, entries: int = DEFAULT_ENTRIES) -> None:
        self._entries = entries
        self._found: dict[K, Encoded] = {}

    def get(self, key: K, validator: Hashable) -> Encoded | None:
        found = self._found.get(key)
        return found if found is not None and found.validator == validator else None

    def put(self, key: K, encoded: Encoded) -> Encoded:
        self._found.pop(key, None)
        if len(self._found) >= self._entries:
            del self._found[next(iter(self._found))]
        self._found[key] = encoded
        return encoded

    def clear(self) -> None:
        self._found.clear()


@dataclass
class ReadCaches:
    """One database's encoded answers: members (a profile, also an entry of a page of users), flair, board pages."""

    members: EncodedCache[str]
    flair: EncodedCache[str]
    boards: EncodedCache[Hashable]


# Per database engine, so that two apps in one process (tests, benches) never share an answer.
_BY_ENGINE: "WeakKeyDictionary[Any, ReadCaches]" = WeakKeyDictionary()


def caches_of(session: AsyncSession) -> ReadCaches:
    engine = session.bind
    found = _BY_ENGINE.get(engine)
    if found is None:
        found = _BY_ENGINE[engine] = ReadCaches(EncodedCache(), EncodedCache(), EncodedCache(DEFAULT_ENTRIES // 10))
    return found
