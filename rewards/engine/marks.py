"""Marks: what the decisions that depend on order rest on for one user (rank title, suspension, the perks they
qualify for), looked at after every event for the users it changed. Pure.

A rank title that moved is notified with that event; perks that moved make the apply step end its batch after
that event, so they are decided on the state as that event left it. Who is offered a seat, waitlisted or
withdrawn, in what order, and every rank change, is then a function of the log in order, never of where one
batch ended and the next began."""

from collections.abc import Iterable
from datetime import datetime

from rewards.engine.perks import Profile, check, counter_name, perk_windows, reputation_floor
from rewards.engine.ranks import rank_change_notice, rank_position, renewed_ranks
from rewards.engine.renewal import RENEWAL_CHECK, explain, perk_check, status
from rewards.engine.ruleset import Rank, Ruleset
from rewards.engine.state import EventInput, Mark, Notice, WorkingState


class Marker:
    """Computes marks from a working state, reading only what they depend on: most users are far below every
    perk's reputation floor, and for them a mark is a rank lookup and a flag (a full profile, with every badge
    an expert holds, would cost more than the engine's own work on the event)."""

    def __init__(self, ruleset: Ruleset, *, perks: bool) -> None:
        self.ruleset = ruleset
        self.ranks = ruleset.spec.ranks
        self.perks = perks and bool(ruleset.spec.perks)
        # Each perk with the least reputation anyone eligible has: below it, the perk is not even looked at.
        self.perk_floors = [(perk, reputation_floor(ruleset, perk)) for perk in ruleset.spec.perks]
        self.floor = min((floor for _, floor in self.perk_floors), default=0)
        self.ranks_need_badges = any(rank.badges for rank in self.ranks)
        referenced = {ref.partition("/")[0] for rank in self.ranks for ref in rank.badges}
        referenced |= {ref.partition("/")[0] for perk in ruleset.spec.perks for ref in perk.eligibility.badges}
        self.badge_ids = frozenset(referenced)
        self.counter_ids = sorted({c for perk in ruleset.spec.perks for c in perk.eligibility.counters})
        # Ranks held only while a window has enough: read at the member's as-of month (`rewards.engine.renewal`).
        self.renewing = [rank for rank in self.ranks if rank.renewal is not None]
        self.renewing_perks = [perk for perk in ruleset.spec.perks if perk.renewal is not None]
        self.active = bool(self.ranks) or self.perks
        self._nobody = WorkingState()  # where a new user's mark is read: nothing about them yet

    def rank(self, rank_id: str | None) -> Rank | None:
        return next((rank for rank in self.ranks if rank.id == rank_id), None)

    def mark(self, state: WorkingState, user_id: str, when: datetime) -> Mark:
        user = state.users.get(user_id)
        reputation = user.reputation if user is not None else 0
        suspended = user.suspended if user is not None else False
        deciding = self.perks and reputation >= self.floor and not suspended  # else eligible for none
        held: frozenset[tuple[str, str]] = frozenset()
        if self.badge_ids and (deciding or self.ranks_need_badges):
            held = frozenset(
                (h.badge_id, h.tier) for h in state.badges_of(user_id) if h.badge_id in self.badge_ids and h.held
            )
        renewed = self.renewed(state, user_id, reputation)
        rank = self._rank(reputation, held, renewed)
        eligible: frozenset[str] = frozenset()
        if deciding:
            profile = Profile(
                user_id=user_id,
                reputation=reputation,
                suspended=suspended,
                last_active_at=user.last_active_at if user is not None else None,
                badges=held,
                counters={c: state.counters.get((user_id, c, ""), 0) for c in self.counter_ids},
                renewed=renewed,
                windows=perk_windows(self.renewing_perks, state.counters, user_id),
            )
            eligible = frozenset(
                perk.id
                for perk, floor in self.perk_floors
                if reputation >= floor and check(self.ruleset, perk, profile, when).eligible
            )
        return Mark(rank=rank, suspended=suspended, perks=eligible)

    def _rank(self, reputation: int, held: frozenset[tuple[str, str]], renewed: frozenset[str] | None) -> str | None:
        """The id of `standing(...).rank`, without the rest of the standing (the next rank, the progress)."""
        position = rank_position(self.ranks, reputation, held, renewed)
        return self.ranks[position].id if position >= 0 else None

    def renewed(self, state: WorkingState, user_id: str, reputation: int) -> frozenset[str] | None:
        """The renewing ranks within the member's reach whose windows have enough (None: no rank renews)."""
        return renewed_ranks(self.renewing, state.counters, user_id, reputation) if self.renewing else None

    def _lapse_reason(self, state: WorkingState, user_id: str, rank: Rank | None) -> str | None:
        """Why a renewing rank was lost, when its window is what lost it."""
        if rank is None or rank.renewal is None:
            return None
        found = status(state.counters, user_id, rank.renewal)
        if found.held:
            return None
        name = counter_name(self.ruleset, rank.renewal.counter)
        return f"lapsed: {explain(rank.title, name, rank.renewal, found)}"

    def _warn(self, state: WorkingState, event: EventInput) -> None:
        """A renewal check the schedule stored when a warning fell due: warn the member whose title lapses soon,
        once per lapse (the key names it; a check stored again, or a retried batch, adds nothing)."""
        user_id = event.data.get("user")
        mark = state.marks.get(user_id) if isinstance(user_id, str) else None
        rank = self.rank(mark.rank) if mark is not None else None
        if not isinstance(user_id, str) or rank is None or rank.renewal is None:
            return
        found = status(state.counters, user_id, rank.renewal)
        warns_at = found.warns_at(rank.renewal)
        if warns_at is None or found.lapses_at is None or not warns_at <= event.time < found.lapses_at:
            return
        name = counter_name(self.ruleset, rank.renewal.counter)
        lapses_on = found.lapses_at.date().isoformat()
        state.notices.append(
            Notice(
                topic="rank.renewal_due",
                user_id=user_id,
                data={
                    "rank": {"id": rank.id, "title": rank.title},
                    "lapses_at": found.lapses_at.isoformat(),
                    "count": found.count,
                    "at": found.at,
                    "needed": found.needed_by_then,
                    "reason": explain(rank.title, name, rank.renewal, found),
                },
                occurred_at=event.time,
                key=f"rank.renewal_due:{user_id}:{rank.id}:{lapses_on}",
            )
        )

    def note(self, state: WorkingState, user_ids: Iterable[str], when: datetime) -> None:
        """Note the marks of users just loaded, before the batch changes them, for those the state has not noted
        yet (a user the state does not hold is new: the mark of an empty profile)."""
        if not self.active:
            return
        for user_id in user_ids:
            if user_id not in state.marks:
                state.marks[user_id] = self.mark(state, user_id, when)

    def after_event(self, state: WorkingState, event: EventInput) -> bool:
        """After `event` is settled: note the marks of the users it changed (`state.touched`), add a notice for
        every rank title it changed, and say whether perks must be decided before the next event (someone's
        eligibility or suspension moved, and this marker decides perks)."""
        if not self.active:
            return False
        moved = False
        for user_id in sorted(state.touched):
            mark = self.mark(state, user_id, event.time)
            # Every user the batch loaded was noted: one without a mark is new (what `mark` gives for nobody).
            before = state.marks.get(user_id) or self.mark(self._nobody, user_id, event.time)
            if before == mark:
                continue
            state.marks[user_id] = mark
            if before.rank != mark.rank:
                notice = rank_change_notice(
                    user_id,
                    self.rank(before.rank),
                    self.rank(mark.rank),
                    state.reputation(user_id),
                    event.time,
                    f"{event.seq}",
                    self._lapse_reason(state, user_id, self.rank(before.rank)),
                )
                if notice is not None:
                    state.notices.append(notice)
            if before.suspended != mark.suspended or before.perks != mark.perks:
                moved = True
        for_perk = perk_check(event.type, event.source, event.data) is not None
        if self.renewing and event.type == RENEWAL_CHECK and event.source.startswith("rewards:") and not for_perk:
            self._warn(state, event)
        if self.renewing_perks and for_perk:
            # A perk's warning or lapse is decided (by the perk step, which knows who holds it) on the state as
            # the check left it, whatever the batch size.
            moved = True
        return moved and self.perks
