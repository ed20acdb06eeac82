"""How well a ruleset reproduces Khoros's own counts: kudos received and solutions authored, member by member, with
the likely cause of every difference.

Pure: the import's events run through the engine's core (`apply_event`) in memory, and the counters the ruleset
keeps are compared with what Khoros says (a users answer's `kudos_received.sum(weight)` and
`solutions_authored.count(*)`, or the flags and sums on the input's own messages).
"""

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rewards.engine.evaluate import apply_event
from rewards.engine.ruleset import Ruleset
from rewards.engine.state import EventInput, WorkingState
from rewards.imports.khoros import KhorosStats, UserFigures
from rewards.imports.stackexchange import DumpError

KUDOS_COUNTER = "kudos_received"
SOLUTIONS_COUNTER = "solutions_authored"

# Causes, in the words of the report.
REMOVED = "on messages a moderator rejected (their kudos and solutions are suspended until approved)"
SELF_KUDOS = "kudos on one's own messages (the ruleset gives them nothing)"
UNREAD = "on messages the import could not read (their authors are unknown: see the import's skipped counts)"
OUTSIDE = "history outside the imported data (Khoros's counts are lifetime; the import covers {period})"
TAKEN_BACK = (
    "kudos taken back, solutions un-accepted or messages deleted since: Khoros counts what stands today, and "
    "neither LiQL nor the Bulk Data export has an event for these"
)
NOT_IMPORTED = "a member the imported data never names"


@dataclass
class CounterReconstruction:
    """What the engine makes of the events under one ruleset: the two counters per member, and what may explain
    a difference from Khoros (per member: kudos or solutions on removed messages, self-kudos)."""

    kudos: dict[str, int]
    solutions: dict[str, int]
    removed_kudos: dict[str, int]
    removed_solutions: dict[str, int]
    self_kudos: dict[str, int]
    named: set[str]
    events: int = 0
    failed: list[str] = field(default_factory=list)


def reconstruct(ruleset: Ruleset, events: Iterable[dict[str, Any]]) -> CounterReconstruction:
    for counter in (KUDOS_COUNTER, SOLUTIONS_COUNTER):
        if counter not in ruleset.counters:
            raise DumpError(f"ruleset {ruleset.name!r} keeps no `{counter}` counter: the check compares it with Khoros")
    state = WorkingState()
    failed: list[str] = []
    kudos_on: dict[str, tuple[str, int]] = {}  # post -> (author, weight summed)
    solution_of: dict[str, str] = {}  # post -> author
    removed: set[str] = set()
    self_kudos: Counter[str] = Counter()
    named: set[str] = set()
    seq = 0
    for raw in events:
        seq += 1
        data = raw["data"]
        post = data.get("post") if isinstance(data.get("post"), dict) else {}
        author, post_id = str(post.get("author", "")), str(post.get("id", ""))
        named.update(user for user in (data.get("actor"), author) if isinstance(user, str) and user)
        if raw["type"] == "post.upvoted" and author:
            weight = int(post.get("upvote_weight") or 1)
            if data.get("actor") == author:
                self_kudos[author] += weight
            else:
                held = kudos_on.get(post_id, (author, 0))
                kudos_on[post_id] = (author, held[1] + weight)
        elif raw["type"] == "answer.accepted" and author:
            solution_of[post_id] = author
        elif raw["type"] == "post.removed":
            removed.add(post_id)
        elif raw["type"] == "post.restored":
            removed.discard(post_id)
        event = EventInput(seq=seq, source=raw["source"], id=raw["id"], type=raw["type"], time=raw["time"], data=data)
        try:
            apply_event(ruleset, event, state)
        except Exception as error:  # an event the ruleset cannot apply is a finding of the check, as in the service
            failed.append(f"{raw['id']}: {error}")
        if seq % 1000 == 0:
            state.committed()
    totals: dict[str, dict[str, int]] = {KUDOS_COUNTER: {}, SOLUTIONS_COUNTER: {}}
    for (owner, counter_id, scope), value in state.counters.items():
        if counter_id in totals and scope == "":
            totals[counter_id][owner] = value
    removed_kudos: Counter[str] = Counter()
    removed_solutions: Counter[str] = Counter()
    for post_id in removed:
        if post_id in kudos_on:
            removed_kudos[kudos_on[post_id][0]] += kudos_on[post_id][1]
        if post_id in solution_of:
            removed_solutions[solution_of[post_id]] += 1
    return CounterReconstruction(
        kudos=totals[KUDOS_COUNTER],
        solutions=totals[SOLUTIONS_COUNTER],
        removed_kudos=dict(removed_kudos),
        removed_solutions=dict(removed_solutions),
        self_kudos=dict(self_kudos),
        named=named,
        events=seq,
        failed=failed,
    )


@dataclass(frozen=True)
class FigureComparison:
    user_id: str
    measure: str  # kudos_received or solutions_authored
    khoros: int
    engine: int
    origin: str
    causes: tuple[str, ...]

    @property
    def difference(self) -> int:
        return self.khoros - self.engine


def attribute(
    difference: int, *, removed: int, self_kudos: int, unread: int, period: str, named: bool
) -> tuple[str, ...]:
    """The likely causes of `difference` (Khoros minus the engine), or () when they agree."""
    if difference == 0:
        return ()
    if difference < 0:
        return (TAKEN_BACK,)
    if not named:
        return (NOT_IMPORTED, OUTSIDE.format(period=period))
    causes: list[str] = []
    remaining = difference
    for cause, amount in ((REMOVED, removed), (SELF_KUDOS, self_kudos)):
        if amount and remaining > 0:
            causes.append(cause)
            remaining -= amount
    if remaining > 0:
        if unread:
            causes.append(UNREAD)
        causes.append(OUTSIDE.format(period=period))
    elif remaining < 0:
        causes.append(TAKEN_BACK)
    return tuple(causes)


def compare(
    figures: Mapping[str, UserFigures], rebuilt: CounterReconstruction, stats: KhorosStats
) -> list[FigureComparison]:
    unread = sum(count for reason, count in stats.skipped.items() if "neither this input" in reason)
    period = f"{stats.first_time or '?'} to {stats.last_time or '?'}"
    rows: list[FigureComparison] = []
    for user_id, figure in sorted(figures.items()):
        named = user_id in rebuilt.named
        if figure.kudos_received is not None:
            engine = rebuilt.kudos.get(user_id, 0)
            causes = attribute(
                figure.kudos_received - engine,
                removed=rebuilt.removed_kudos.get(user_id, 0),
                self_kudos=rebuilt.self_kudos.get(user_id, 0),
                unread=unread,
                period=period,
                named=named,
            )
            rows.append(FigureComparison(user_id, KUDOS_COUNTER, figure.kudos_received, engine, figure.origin, causes))
        if figure.solutions_authored is not None:
            engine = rebuilt.solutions.get(user_id, 0)
            causes = attribute(
                figure.solutions_authored - engine,
                removed=rebuilt.removed_solutions.get(user_id, 0),
                self_kudos=0,
                unread=unread,
                period=period,
                named=named,
            )
            rows.append(
                FigureComparison(user_id, SOLUTIONS_COUNTER, figure.solutions_authored, engine, figure.origin, causes)
            )
    return rows


def summary(rows: list[FigureComparison], measure: str) -> dict[str, Any]:
    """For one measure: members compared, exact share, Khoros's and the engine's totals, members per cause."""
    mine = [row for row in rows if row.measure == measure]
    exact = sum(row.difference == 0 for row in mine)
    causes: Counter[str] = Counter(cause for row in mine for cause in row.causes)
    origins: defaultdict[str, int] = defaultdict(int)
    for row in mine:
        origins[row.origin] += 1
    return {
        "members": len(mine),
        "exact": exact,
        "exact_share": round(100 * exact / len(mine), 2) if mine else None,
        "khoros_total": sum(row.khoros for row in mine),
        "engine_total": sum(row.engine for row in mine),
        "figures_from": dict(origins),
        "causes": dict(causes.most_common()),
    }
