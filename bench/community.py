"""Deterministic synthetic telecom support-forum community, streamed as CloudEvents 1.0 dicts.

``python -m bench.community --users N --events M --seed S --out FILE.jsonl`` writes one event per line."""

from __future__ import annotations

import argparse
import gc
import json
import math
import sys
import time
from bisect import bisect_right
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from itertools import accumulate
from random import Random
from typing import Any, TypeAlias

__all__ = ["EVENT_TYPES", "generate_community", "main"]

Data: TypeAlias = dict[str, Any]
Event: TypeAlias = tuple[str, Data]

EVENT_TYPES: tuple[str, ...] = (
    "question.posted",
    "answer.posted",
    "post.upvoted",
    "post.downvoted",
    "vote.retracted",
    "answer.accepted",
    "answer.unaccepted",
    "post.removed",
    "post.restored",
    "flag.resolved",
    "user.suspended",
    "user.reinstated",
)

DAY = 86_400

CATEGORIES: dict[str, tuple[float, tuple[str, ...]]] = {
    "internet": (25.0, ("fiber", "dsl", "outage", "speed", "ipv6", "dns", "latency", "installation")),
    "routers": (20.0, ("wifi", "firmware", "port-forwarding", "mesh", "modem", "factory-reset", "ethernet")),
    "mobile": (20.0, ("esim", "sim-card", "5g", "coverage", "apn", "voicemail", "number-porting", "sms")),
    "billing": (15.0, ("invoice", "refund", "direct-debit", "price-increase", "payment", "contract", "cancellation")),
    "tv": (12.0, ("set-top-box", "channels", "streaming", "recording", "remote", "app", "sports-package")),
    "roaming": (8.0, ("eu-roaming", "data-abroad", "roaming-charges", "travel-pass", "cruise", "sms-abroad")),
}
# Roaming questions spike over the summer holidays.
SEASONAL: dict[int, dict[str, float]] = {6: {"roaming": 2.5}, 7: {"roaming": 3.5}, 8: {"roaming": 3.0}}
TAG_COUNTS: tuple[int, ...] = (1, 2, 2, 3)

# Activity by UTC hour for a central-European operator: quiet nights, lunch and evening peaks.
HOURLY: tuple[float, ...] = (
    0.15, 0.10, 0.08, 0.07, 0.10, 0.25, 0.50, 0.85, 1.10, 1.25, 1.30, 1.25,
    1.15, 1.15, 1.20, 1.15, 1.10, 1.15, 1.30, 1.45, 1.40, 1.10, 0.70, 0.35,
)  # fmt: skip
WEEKDAY: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 0.95, 0.75, 0.7)

# Per-slot probabilities.  Slots that cannot be honoured (e.g. nothing awaits acceptance) become
# upvotes, so the accept slot is deliberately over-provisioned: actual accepts follow ACCEPT_SHARE.
SLOTS: tuple[tuple[str, float], ...] = (
    ("question", 0.115),
    ("answer", 0.20),
    ("downvote", 0.05),
    ("accept", 0.07),
    ("retract", 0.015),
    ("remove", 0.005),
    ("restore", 0.0011),
    ("flag", 0.0055),
    ("suspend", 0.00012),
    ("reinstate", 0.00005),
)
ACCEPT_SHARE = 0.55  # answered questions whose asker eventually accepts an answer
SWITCH_ACCEPT = 0.07  # accept slots spent on the asker switching to another answer
UNACCEPT = 0.035  # accept slots spent on the asker withdrawing the accept
SELF_ANSWER = 0.006
SELF_VOTE = 0.01
ASKER_UPVOTE = 0.3  # upvotes on an answer that come from the asker
VOTE_CHANGE = 0.2  # downvotes that replace the voter's own upvote
REMOVAL_REASONS: tuple[tuple[str, float], ...] = (
    ("spam", 0.15),
    ("offensive", 0.10),
    ("duplicate", 0.45),
    ("off-topic", 0.30),
)


class _Weighted:
    """Sample integers with fixed weights by bisecting a cumulative table."""

    __slots__ = ("cum", "items", "last")

    def __init__(self, items: Sequence[int], weights: Sequence[float]) -> None:
        self.items = list(items)
        self.cum = list(accumulate(weights))
        self.last = len(self.items) - 1

    def pick(self, rng: Random) -> int:
        i = bisect_right(self.cum, rng.random() * self.cum[-1])
        return self.items[i if i <= self.last else self.last]


class _Ring:
    """Fixed-size buffer of recent ints with O(1) random access (unlike deque)."""

    __slots__ = ("buf", "pos", "size")

    def __init__(self, size: int) -> None:
        self.buf: list[int] = []
        self.size = size
        self.pos = 0

    def add(self, item: int) -> None:
        if len(self.buf) < self.size:
            self.buf.append(item)
        else:
            self.buf[self.pos] = item
            self.pos = (self.pos + 1) % self.size

    def sample(self, rng: Random) -> int | None:
        return self.buf[rng.randrange(len(self.buf))] if self.buf else None


class _Post:
    __slots__ = ("accepted", "answers", "author", "category", "id", "num", "question", "removed", "skill", "tags")

    def __init__(
        self, num: int, author: int, category: str, skill: float, question: _Post | None, tags: tuple[str, ...]
    ) -> None:
        self.num = num
        self.id = f"p{num + 1}"
        self.author = author
        self.category = category
        self.skill = skill
        self.question = question
        self.tags = tags
        self.removed = False
        self.answers: list[_Post] = []
        self.accepted: _Post | None = None

    def hidden(self) -> bool:
        # Removing a question takes its answers off the forum too.
        return self.removed or (self.question is not None and self.question.removed)


def _timestamps(rng: Random, n: int, start: int, days: int) -> Iterator[int]:
    """Yield ``n`` sorted epoch seconds whose density follows daily, weekly and growth rhythms."""
    weights: list[float] = []
    start_weekday = datetime.fromtimestamp(start, UTC).weekday()
    outages = set(rng.sample(range(days), k=min(days, max(1, days // 60))))
    for d in range(days):
        # A slowly growing community, with a few network-outage days that flood the forum.
        day_w = WEEKDAY[(start_weekday + d) % 7] * (0.85 + 0.3 * d / days) * (2.0 if d in outages else 1.0)
        weights.extend(day_w * h for h in HOURLY)
    cum = list(accumulate(weights))
    total, last = cum[-1], len(cum) - 1
    log, expm1, random = math.log, math.expm1, rng.random
    x, hour, prev = 0.0, 0, start
    for remaining in range(n, 0, -1):
        # The minimum of m uniforms on [x, 1) is x + (1 - x)(1 - U**(1/m)): sorted uniforms, streamed.
        x -= (1.0 - x) * expm1(log(1.0 - random()) / remaining)
        target = x * total
        while hour < last and cum[hour] <= target:
            hour += 1
        lo = cum[hour - 1] if hour else 0.0
        second = start + int((hour + (target - lo) / weights[hour]) * 3600)
        # Float rounding at bin edges must never move time backwards.
        if second > prev:
            prev = second
        yield prev


class _Formatter:
    """RFC 3339 UTC strings, cheap for mostly increasing times: the hour prefix is cached."""

    __slots__ = ("hour", "prefix")

    MINUTES_SECONDS = tuple(f"{m:02d}:{s:02d}Z" for m in range(60) for s in range(60))

    def __init__(self) -> None:
        self.hour = -1
        self.prefix = ""

    def __call__(self, epoch: int) -> str:
        hour, rem = divmod(epoch, 3600)
        if hour != self.hour:
            self.hour = hour
            self.prefix = datetime.fromtimestamp(hour * 3600, UTC).strftime("%Y-%m-%dT%H:")
        return self.prefix + self.MINUTES_SECONDS[rem]


def _zipf(rng: Random, users: int, exponent: float, offset: float, share: float = 1.0) -> list[float]:
    """Zipf-Mandelbrot weights for users in a random order (index 0 unused); only ``share`` of them take part."""
    order = list(range(1, users + 1))
    rng.shuffle(order)
    weights = [0.0] * (users + 1)
    for rank, user in enumerate(order[: max(1, math.ceil(share * users))], 1):
        weights[user] = 1.0 / (rank + offset) ** exponent
    return weights


class _Community:
    def __init__(self, rng: Random, users: int, start: int, moderators: int) -> None:
        self.rng = rng
        self.start = start
        self.now = start
        self.user_ids = ["", *(f"u{i}" for i in range(1, users + 1))]
        self.stride = users + 1
        ids = range(1, users + 1)

        # Most users only ask; a few hundred experts write most answers.
        ask = _zipf(rng, users, 0.7, 2.0)
        answer = _zipf(rng, users, 1.5, 20.0, share=0.3)
        top = max(answer)
        self.skill = [0.0] + [rng.lognormvariate(0.0, 0.35) * (1.0 + 3.0 * (answer[u] / top) ** 0.5) for u in ids]
        self.askers = _Weighted(ids, ask[1:])
        helpers = [u for u in ids if answer[u] > 0.0]
        self.answerers = _Weighted(helpers, [answer[u] for u in helpers])
        ask_total, answer_total = sum(ask), sum(answer)
        self.voters = _Weighted(ids, [0.4 * ask[u] / ask_total + 0.6 * answer[u] / answer_total for u in ids])

        # Experts concentrate on one category each, so questions draw on the matching specialists.
        names = list(CATEGORIES)
        base = [CATEGORIES[c][0] for c in names]
        specialty = rng.choices(names, weights=base, k=users)
        self.experts = {c: self.answerers for c in names}
        for c in names:
            specialists = [u for u in helpers if specialty[u - 1] == c]
            if specialists:
                self.experts[c] = _Weighted(specialists, [answer[u] for u in specialists])
        self.category_tables = {
            month: (
                names,
                list(accumulate(w * SEASONAL.get(month, {}).get(c, 1.0) for c, w in zip(names, base, strict=True))),
            )
            for month in range(1, 13)
        }
        self.month_of_day: dict[int, int] = {}

        self.moderators = rng.sample(range(1, users + 1), k=moderators)
        self.moderator_set = set(self.moderators)
        self.suspended: dict[int, int] = {}
        self.suspended_list: list[int] = []
        self.offenders: list[int] = []

        self.posts: list[_Post] = []
        self.questions: list[_Post] = []
        self.answers: list[_Post] = []
        self.awaiting: list[_Post] = []
        self.accepted = _Ring(5_000)
        self.removed: list[_Post] = []
        self.votes: dict[int, int] = {}
        self.recent_votes = _Ring(20_000)
        self.pending: deque[Event] = deque()
        self.time_str = _Formatter()

    # -- helpers -------------------------------------------------------------------------------

    def active(self, user: int) -> bool:
        until = self.suspended.get(user)
        if until is None:
            return True
        if until <= self.now:
            del self.suspended[user]
            return True
        return False

    def pick_active(self, sampler: _Weighted, avoid: int = 0, tries: int = 4) -> int | None:
        for _ in range(tries):
            user = sampler.pick(self.rng)
            if user != avoid and self.active(user):
                return user
        return None

    def recent(self, pool: list[_Post], scale: float) -> _Post | None:
        """A visible post, usually from about the last ``scale`` ones, with a heavy tail of old threads.

        Ages follow a Lomax law (P(age > k) = scale / (scale + k)): search traffic keeps old threads alive.
        """
        n = len(pool)
        if not n:
            return None
        random = self.rng.random
        for _ in range(4):
            r = random()
            i = n - 1 - int(scale * r / (1.0 - r))
            if i < 0:
                i = int(random() * n)
            post = pool[i]
            # Inlined post.hidden(): this is the hottest loop.
            if not post.removed and (post.question is None or not post.question.removed):
                return post
        return None

    def pick_post(self, answer_share: float, best: bool) -> _Post | None:
        """The better (skill-weighted) or the worse of two candidate posts."""
        rng = self.rng
        if self.answers and rng.random() < answer_share:
            pool, scale = self.answers, 400.0
        else:
            pool, scale = self.questions, 150.0
        a = self.recent(pool, scale)
        b = self.recent(pool, scale)
        if a is None or b is None:
            return a or b
        if best:
            return a if rng.random() * (a.skill + b.skill) < a.skill else b
        return a if a.skill < b.skill else b

    def view(self, post: _Post) -> Data:
        if post.question is None:
            return {
                "id": post.id,
                "kind": "question",
                "author": self.user_ids[post.author],
                "category": post.category,
                "tags": list(post.tags),
            }
        return {
            "id": post.id,
            "kind": "answer",
            "author": self.user_ids[post.author],
            "question": post.question.id,
            "category": post.category,
        }

    def new_post(self, author: int, category: str, question: _Post | None, tags: tuple[str, ...]) -> _Post:
        skill = self.skill[author] * (0.5 + self.rng.random())
        post = _Post(len(self.posts), author, category, skill, question, tags)
        self.posts.append(post)
        return post

    def category(self) -> str:
        day = (self.now - self.start) // DAY
        month = self.month_of_day.get(day)
        if month is None:
            month = self.month_of_day[day] = datetime.fromtimestamp(self.now, UTC).month
        names, cum = self.category_tables[month]
        return names[bisect_right(cum, self.rng.random() * cum[-1])]

    def moderator(self, avoid: int = 0) -> int:
        mods = [m for m in self.moderators if m != avoid] or self.moderators
        return self.rng.choice(mods)

    def vote_event(self, kind: str, voter: int, post: _Post, value: int) -> Event:
        key = post.num * self.stride + voter
        self.votes[key] = value
        self.recent_votes.add(key)
        return kind, {"actor": self.user_ids[voter], "post": self.view(post)}

    # -- event makers; None means "not possible right now" -----------------------------------

    def question(self) -> Event:
        rng = self.rng
        # Moderators are never suspended, so there is always someone able to ask.
        author = self.pick_active(self.askers, tries=20) or self.moderators[0]
        category = self.category()
        tags = tuple(rng.sample(CATEGORIES[category][1], k=rng.choice(TAG_COUNTS)))
        post = self.new_post(author, category, None, tags)
        self.questions.append(post)
        return "question.posted", {"actor": self.user_ids[author], "post": self.view(post)}

    def answer(self) -> Event | None:
        rng = self.rng
        question = self.recent(self.questions, 40.0)
        if question is None:
            return None
        author: int | None
        if rng.random() < SELF_ANSWER and self.active(question.author):
            author = question.author
        else:
            sampler = self.experts[question.category] if rng.random() < 0.6 else self.answerers
            author = self.pick_active(sampler, avoid=question.author)
            if author is None:
                return None
        post = self.new_post(author, question.category, question, ())
        question.answers.append(post)
        self.answers.append(post)
        if len(question.answers) == 1 and rng.random() < ACCEPT_SHARE:
            self.awaiting.append(question)
        return "answer.posted", {"actor": self.user_ids[author], "post": self.view(post)}

    def upvote(self) -> Event | None:
        rng = self.rng
        post = self.pick_post(0.78, best=True)
        if post is None:
            return None
        for _ in range(3):
            r = rng.random()
            if r < SELF_VOTE:
                voter = post.author
            elif post.question is not None and r < ASKER_UPVOTE and post.question.author != post.author:
                voter = post.question.author
            else:
                voter = self.voters.pick(rng)
                if voter == post.author:
                    continue
            # A current downvote here turns into an upvote: a change of mind, not a second vote.
            if self.active(voter) and self.votes.get(post.num * self.stride + voter) != 1:
                return self.vote_event("post.upvoted", voter, post, 1)
        return None

    def downvote(self) -> Event | None:
        rng = self.rng
        if rng.random() < VOTE_CHANGE:
            for _ in range(3):
                key = self.recent_votes.sample(rng)
                if key is None or self.votes.get(key) != 1:
                    continue
                changed = self.posts[key // self.stride]
                voter = key % self.stride
                if not changed.hidden() and self.active(voter):
                    return self.vote_event("post.downvoted", voter, changed, -1)
        post = self.pick_post(0.6, best=False)
        if post is None:
            return None
        for _ in range(3):
            voter = self.voters.pick(rng)
            if voter != post.author and self.active(voter) and self.votes.get(post.num * self.stride + voter) != -1:
                return self.vote_event("post.downvoted", voter, post, -1)
        return None

    def retract(self) -> Event | None:
        for _ in range(6):
            key = self.recent_votes.sample(self.rng)
            value = self.votes.get(key) if key is not None else None
            if key is None or value is None:
                continue
            post = self.posts[key // self.stride]
            voter = key % self.stride
            if post.hidden() or not self.active(voter):
                continue
            del self.votes[key]
            data = {"actor": self.user_ids[voter], "post": self.view(post), "vote": "up" if value > 0 else "down"}
            return "vote.retracted", data
        return None

    def choose_answer(self, question: _Post, exclude: _Post | None) -> _Post | None:
        live = [a for a in question.answers if not a.removed and a is not exclude]
        if not live:
            return None
        # Askers who answered themselves (found the fix) often mark that answer.
        own = [a for a in live if a.author == question.author]
        if own and self.rng.random() < 0.4:
            return own[0]
        return self.rng.choices(live, weights=[a.skill for a in live])[0]

    def accept_event(self, kind: str, question: _Post, answer: _Post) -> Event:
        return kind, {"actor": self.user_ids[question.author], "post": self.view(answer)}

    def accept(self) -> Event | None:
        rng = self.rng
        r = rng.random()
        if r < SWITCH_ACCEPT + UNACCEPT:
            num = self.accepted.sample(rng)
            if num is None:
                return None
            question = self.posts[num]
            current = question.accepted
            if current is None or current.removed or question.removed or not self.active(question.author):
                return None
            if r < SWITCH_ACCEPT:
                other = self.choose_answer(question, exclude=current)
                if other is None:
                    return None
                question.accepted = other
                return self.accept_event("answer.accepted", question, other)
            question.accepted = None
            if rng.random() < 0.5:
                self.awaiting.append(question)
            return self.accept_event("answer.unaccepted", question, current)
        awaiting = self.awaiting
        for _ in range(4):
            if not awaiting:
                return None
            i = rng.randrange(len(awaiting))
            question = awaiting[i]
            awaiting[i] = awaiting[-1]
            awaiting.pop()
            if question.removed or question.accepted is not None or not self.active(question.author):
                continue
            answer = self.choose_answer(question, exclude=None)
            if answer is None:
                continue
            question.accepted = answer
            self.accepted.add(question.num)
            return self.accept_event("answer.accepted", question, answer)
        return None

    def remove(self) -> Event | None:
        rng = self.rng
        reason = rng.choices([r for r, _ in REMOVAL_REASONS], weights=[w for _, w in REMOVAL_REASONS])[0]
        abusive = reason in ("spam", "offensive")
        # Duplicates are questions; spam and abuse mostly come from low-reputation accounts.
        post = self.recent(self.questions, 100.0) if reason == "duplicate" else self.pick_post(0.4, best=not abusive)
        if post is None:
            return None
        post.removed = True
        mod = self.moderator(avoid=post.author)
        if not abusive or rng.random() < 0.1:
            self.removed.append(post)
        if abusive and post.author not in self.moderator_set:
            self.offenders.append(post.author)
        if rng.random() < 0.5:
            flagger = self.pick_active(self.voters, avoid=post.author) or self.moderators[0]
            data = {"actor": self.user_ids[mod], "post": self.view(post), "flagger": self.user_ids[flagger]}
            self.pending.append(("flag.resolved", {**data, "outcome": "helpful"}))
        return "post.removed", {"actor": self.user_ids[mod], "post": self.view(post), "reason": reason}

    def restore(self) -> Event | None:
        removed = self.removed
        while removed:
            i = self.rng.randrange(len(removed))
            post = removed[i]
            removed[i] = removed[-1]
            removed.pop()
            if post.removed:
                post.removed = False
                mod = self.moderator(avoid=post.author)
                return "post.restored", {"actor": self.user_ids[mod], "post": self.view(post)}
        return None

    def flag(self) -> Event | None:
        post = self.pick_post(0.5, best=True)
        if post is None:
            return None
        flagger = self.pick_active(self.voters, avoid=post.author)
        if flagger is None or flagger in self.moderator_set:
            return None
        outcome = "helpful" if self.rng.random() < 0.25 else "declined"
        mod = self.moderator(avoid=post.author)
        data = {"actor": self.user_ids[mod], "post": self.view(post), "flagger": self.user_ids[flagger]}
        return "flag.resolved", {**data, "outcome": outcome}

    def suspend(self) -> Event | None:
        rng = self.rng
        if self.offenders and rng.random() < 0.8:
            user = self.offenders.pop(rng.randrange(len(self.offenders)))
        else:
            user = self.askers.pick(rng)
        if user in self.moderator_set or not self.active(user):
            return None
        until = self.now + rng.choice((1, 3, 7, 14, 30)) * DAY
        self.suspended[user] = until
        self.suspended_list.append(user)
        data = {"actor": self.user_ids[self.moderator()], "user": self.user_ids[user], "until": self.time_str(until)}
        return "user.suspended", data

    def reinstate(self) -> Event | None:
        candidates = [u for u in self.suspended_list if self.suspended.get(u, 0) > self.now]
        self.suspended_list = candidates
        if not candidates:
            return None
        user = self.rng.choice(candidates)
        del self.suspended[user]
        self.suspended_list.remove(user)
        return "user.reinstated", {"actor": self.user_ids[self.moderator()], "user": self.user_ids[user]}


def generate_community(
    users: int = 10_000,
    events: int = 500_000,
    seed: int = 42,
    source: str = "bench",
    start: datetime = datetime(2025, 1, 1, tzinfo=UTC),
    days: int = 365,
) -> Iterator[dict[str, Any]]:
    """Yield ``events`` CloudEvents in non-decreasing time order; identical output for identical arguments."""
    if users < 2:
        raise ValueError("users must be at least 2")
    if events < 0:
        raise ValueError("events must be non-negative")
    if days < 1:
        raise ValueError("days must be at least 1")
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    return _generate(users, events, seed, source, int(start.timestamp()), days)


def _generate(users: int, events: int, seed: int, source: str, start: int, days: int) -> Iterator[dict[str, Any]]:
    rng = Random(seed)
    community = _Community(rng, users, start, moderators=min(10, max(1, users // 50)))
    makers: dict[str, Callable[[], Event | None]] = {
        "question": community.question,
        "answer": community.answer,
        "downvote": community.downvote,
        "accept": community.accept,
        "retract": community.retract,
        "remove": community.remove,
        "restore": community.restore,
        "flag": community.flag,
        "suspend": community.suspend,
        "reinstate": community.reinstate,
    }
    slot_makers = [makers[name] for name, _ in SLOTS] + [community.upvote]
    slot_cum = list(accumulate(p for _, p in SLOTS))
    upvote, question, pending = community.upvote, community.question, community.pending
    time_str = community.time_str
    id_prefix = f"{source}-{seed}-"
    for i, now in enumerate(_timestamps(rng, events, start, days)):
        community.now = now
        if pending:
            kind, data = pending.popleft()
        else:
            # A slot that cannot be honoured right now (e.g. nothing to accept yet) becomes an upvote.
            kind, data = slot_makers[bisect_right(slot_cum, rng.random())]() or upvote() or question()
        yield {
            "specversion": "1.0",
            "id": f"{id_prefix}{i}",
            "source": source,
            "type": kind,
            "time": time_str(now),
            "data": data,
        }


def main(argv: Sequence[str] | None = None) -> int:
    """Write the community as JSON lines and print a per-type summary to stderr."""
    parser = argparse.ArgumentParser(prog="python -m bench.community", description=__doc__)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--source", default="bench")
    parser.add_argument("--out", default="-", help="output JSONL file, or - for stdout")
    args = parser.parse_args(argv)

    # No reference cycles are created per event, so collector passes over the growing post graph only cost time.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    began = time.perf_counter()
    counts: Counter[str] = Counter()
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    out = sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8")  # noqa: SIM115
    try:
        for event in generate_community(args.users, args.events, args.seed, args.source, days=args.days):
            counts[event["type"]] += 1
            out.write(dumps(event) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
        if gc_was_enabled:
            gc.enable()
    elapsed = time.perf_counter() - began

    total = sum(counts.values())
    print(f"{total} events, {args.users} users, seed {args.seed}, {elapsed:.1f} s", file=sys.stderr)
    for kind in EVENT_TYPES:
        print(f"  {kind:<18} {counts[kind]:>9}  {100 * counts[kind] / max(total, 1):5.2f}%", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
