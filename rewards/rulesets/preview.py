"""What a draft ruleset would change: the same events run in memory under the published and the draft ruleset,
both from an empty state, and the two outcomes compared. Pure: no database, no clock (`now` is given).

Reputation movers, badges gained and lost, perk eligibility, the top of each all-time leaderboard, and how many
events and users the change touches.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from rewards.engine.boards import BoardSpec, board_deltas, competition_ranks
from rewards.engine.evaluate import evaluate, settle
from rewards.engine.perks import check, describe_missing
from rewards.engine.ruleset import Ruleset
from rewards.engine.state import EventInput, WorkingState
from rewards.perks.service import profiles_from_state

TOP_MOVERS = 10
TOP_OF_BOARD = 10
EXAMPLES = 5

# What an event did under one ruleset, comparable across rulesets: its ledger entries, counter changes and
# badge notices (or the reason it failed).
Footprint = tuple[object, ...]


@dataclass(frozen=True)
class ReputationMove:
    user_id: str
    before: int  # under the published ruleset
    after: int  # under the draft
    delta: int


@dataclass(frozen=True)
class BadgeChange:
    """Holdings of one badge tier (a post badge counts once per post) gained and lost under the draft."""

    badge_id: str
    tier: str
    name: str
    holders_before: int
    holders_after: int
    gained: int
    lost: int
    gained_examples: list[str]
    lost_examples: list[str]


@dataclass(frozen=True)
class PerkChange:
    perk_id: str
    name: str
    eligible_before: int
    eligible_after: int
    newly_eligible: int
    no_longer_eligible: int
    newly_examples: list[str]
    no_longer_examples: list[str]
    changed: bool


@dataclass(frozen=True)
class Withdrawal:
    """An open grant the rules made that the draft, published retroactively, would end: `status` is what it is
    now (an unclaimed offer, a request, a waitlist place; an active perk whose policy is to revoke)."""

    perk_id: str
    user_id: str
    status: str
    missing: str


@dataclass(frozen=True)
class BoardRow:
    rank: int
    user_id: str
    score: int


@dataclass(frozen=True)
class BoardChange:
    """The top of a board's all-time period under each ruleset; a board only one ruleset declares is empty in
    the other."""

    board_id: str
    title: str
    in_published: bool
    in_draft: bool
    before: list[BoardRow]
    after: list[BoardRow]
    changed: bool


@dataclass(frozen=True)
class PreviewResult:
    events: int
    first_event_at: datetime | None
    last_event_at: datetime | None
    events_affected: int
    affected_examples: list[str]  # "source/id" of events that would do something else
    users: int  # users either ruleset's run knows
    users_affected: int  # another reputation, other badges or another perk eligibility
    reputation_changed: int
    gainers: list[ReputationMove]
    losers: list[ReputationMove]
    badges: list[BadgeChange]
    perks: list[PerkChange]
    boards: list[BoardChange]
    failed_published: int
    failed_draft: int
    draft_failure_examples: list[str]


@dataclass(slots=True)
class _Score:
    points: int
    reached_at: datetime


@dataclass
class _Run:
    """One ruleset's in-memory run: its state, its all-time board scores, its failures."""

    ruleset: Ruleset
    state: WorkingState = field(default_factory=WorkingState)
    boards: list[BoardSpec] = field(default_factory=list)
    scores: dict[str, dict[str, _Score]] = field(default_factory=dict)  # board -> user -> all-time score
    failed: int = 0
    failures: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Only the all-time period is compared: one delta per board and user instead of six.
        self.boards = [board.model_copy(update={"periods": ["all-time"]}) for board in self.ruleset.spec.leaderboards]
        self.scores = {board.id: {} for board in self.boards}

    def apply(self, event: EventInput) -> Footprint:
        state = self.state
        changes_before, notices_before = len(state.counter_changes), len(state.notices)
        try:
            decisions = evaluate(self.ruleset, event, state)
            entries = settle(self.ruleset, event, state, decisions)
        except Exception as error:  # the service records such an event as failed and goes on; so does a preview
            self.failed += 1
            if len(self.failures) < EXAMPLES:
                self.failures.append(f"{event.source}/{event.id}: {error}")
            return ("failed", str(error))
        return (
            tuple(sorted((entry.user_id, entry.points, entry.rule_id) for entry in entries)),
            tuple(
                sorted(
                    (change.user_id, change.counter_id, change.scope or "", change.delta)
                    for change in state.counter_changes[changes_before:]
                )
            ),
            tuple(sorted((notice.topic, notice.user_id, notice.key) for notice in state.notices[notices_before:])),
        )

    def settle_page(self) -> None:
        """Add what the page wrote to the board scores, then forget it (keeps memory flat on long logs)."""
        for delta in board_deltas(self.boards, self.state.entries, self.state.counter_changes):
            found = self.scores[delta.board].get(delta.user_id)
            if found is None:
                self.scores[delta.board][delta.user_id] = _Score(delta.points, delta.reached_at)
            else:
                found.points += delta.points
                found.reached_at = max(found.reached_at, delta.reached_at)
        self.state.committed()

    def top(self, board_id: str) -> list[BoardRow]:
        scores = self.scores.get(board_id, {})
        rows = sorted(
            (
                (user_id, score.points, score.reached_at)
                for user_id, score in scores.items()
                if score.points > 0 and not self.state.is_suspended(user_id)
            ),
            key=lambda row: (-row[1], row[2], row[0]),
        )[:TOP_OF_BOARD]
        ranked = competition_ranks(rows, 1, 0)
        return [BoardRow(rank=row.rank, user_id=row.user_id, score=row.score) for row in ranked]

    def holdings(self) -> dict[tuple[str, str], set[tuple[str, str]]]:
        """Held badges: (badge, tier) -> {(user, post)}."""
        held: dict[tuple[str, str], set[tuple[str, str]]] = {}
        for holding in self.state.badges.values():
            if holding.held:
                held.setdefault((holding.badge_id, holding.tier), set()).add((holding.user_id, holding.post))
        return held

    def eligible(self, perk_id: str, user_ids: list[str], now: datetime) -> set[str]:
        perk = next((perk for perk in self.ruleset.spec.perks if perk.id == perk_id), None)
        if perk is None:
            return set()
        return {
            profile.user_id
            for profile in profiles_from_state(self.state, user_ids)
            if check(self.ruleset, perk, profile, now).eligible
        }


class Comparison:
    """Feed it the events page by page (in the order they were applied), then `finish`."""

    def withdrawals(self, open_grants: Iterable[tuple[str, str, str]], now: datetime) -> list[Withdrawal]:
        """Which of these open grants (perk, user, status) the draft would withdraw (`rewards.perks.service.
        redecide`): exact when the whole log was fed."""
        perks = {perk.id: perk for perk in self.draft.ruleset.spec.perks}
        wanted = [
            (perks[perk_id], user_id, status)
            for perk_id, user_id, status in open_grants
            if perk_id in perks and (status != "active" or perks[perk_id].when_rules_no_longer_qualify == "revoke")
        ]
        profiles = {
            profile.user_id: profile
            for profile in profiles_from_state(self.draft.state, sorted({user_id for _, user_id, _ in wanted}))
        }
        found: list[Withdrawal] = []
        for perk, user_id, status in wanted:
            profile = profiles.get(user_id)
            if profile is None:  # no event names them under the draft
                found.append(Withdrawal(perk.id, user_id, status, "any activity"))
                continue
            verdict = check(self.draft.ruleset, perk, profile, now)
            if not verdict.eligible:
                found.append(Withdrawal(perk.id, user_id, status, describe_missing(verdict.missing)))
        return found

    def __init__(self, published: Ruleset, draft: Ruleset) -> None:
        self.published = _Run(published)
        self.draft = _Run(draft)
        self.events = 0
        self.affected = 0
        self.affected_examples: list[str] = []
        self.first_event_at: datetime | None = None
        self.last_event_at: datetime | None = None

    def feed(self, events: Iterable[EventInput]) -> None:
        for event in events:
            self.events += 1
            if self.first_event_at is None:
                self.first_event_at = event.time
            self.last_event_at = event.time
            if self.published.apply(event) != self.draft.apply(event):
                self.affected += 1
                if len(self.affected_examples) < EXAMPLES:
                    self.affected_examples.append(f"{event.source}/{event.id}")
        self.published.settle_page()
        self.draft.settle_page()

    def finish(self, now: datetime) -> PreviewResult:
        before, after = self.published, self.draft
        user_ids = sorted(set(before.state.users) | set(after.state.users))
        moves = []
        for user_id in user_ids:
            was, is_now = before.state.reputation(user_id), after.state.reputation(user_id)
            moves.append(ReputationMove(user_id, was, is_now, is_now - was))
        changed_moves = [move for move in moves if move.delta]
        affected_users = {move.user_id for move in changed_moves}

        badges: list[BadgeChange] = []
        held_before, held_after = before.holdings(), after.holdings()
        for key in sorted(set(held_before) | set(held_after)):
            holders_then, now_held = held_before.get(key, set()), held_after.get(key, set())
            gained, lost = sorted(now_held - holders_then), sorted(holders_then - now_held)
            if not gained and not lost:
                continue
            affected_users.update(user for user, _ in gained)
            affected_users.update(user for user, _ in lost)
            badge = after.ruleset.badges.get(key[0]) or before.ruleset.badges.get(key[0])
            badges.append(
                BadgeChange(
                    badge_id=key[0],
                    tier=key[1],
                    name=badge.name if badge is not None else key[0],
                    holders_before=len(holders_then),
                    holders_after=len(now_held),
                    gained=len(gained),
                    lost=len(lost),
                    gained_examples=[_holder(user, post) for user, post in gained[:EXAMPLES]],
                    lost_examples=[_holder(user, post) for user, post in lost[:EXAMPLES]],
                )
            )

        perks: list[PerkChange] = []
        perk_names = {perk.id: perk.name for perk in before.ruleset.spec.perks}
        perk_names.update({perk.id: perk.name for perk in after.ruleset.spec.perks})
        for perk_id, name in perk_names.items():
            was_eligible = before.eligible(perk_id, user_ids, now)
            is_eligible = after.eligible(perk_id, user_ids, now)
            newly, no_longer = sorted(is_eligible - was_eligible), sorted(was_eligible - is_eligible)
            affected_users.update(newly)
            affected_users.update(no_longer)
            perks.append(
                PerkChange(
                    perk_id=perk_id,
                    name=name,
                    eligible_before=len(was_eligible),
                    eligible_after=len(is_eligible),
                    newly_eligible=len(newly),
                    no_longer_eligible=len(no_longer),
                    newly_examples=newly[:EXAMPLES],
                    no_longer_examples=no_longer[:EXAMPLES],
                    changed=bool(newly or no_longer),
                )
            )

        boards: list[BoardChange] = []
        titles = {board.id: board.title for board in before.boards}
        titles.update({board.id: board.title for board in after.boards})
        for board_id, title in titles.items():
            top_before, top_after = before.top(board_id), after.top(board_id)
            boards.append(
                BoardChange(
                    board_id=board_id,
                    title=title,
                    in_published=board_id in before.scores,
                    in_draft=board_id in after.scores,
                    before=top_before,
                    after=top_after,
                    changed=top_before != top_after,
                )
            )

        return PreviewResult(
            events=self.events,
            first_event_at=self.first_event_at,
            last_event_at=self.last_event_at,
            events_affected=self.affected,
            affected_examples=self.affected_examples,
            users=len(user_ids),
            users_affected=len(affected_users),
            reputation_changed=len(changed_moves),
            gainers=sorted((m for m in changed_moves if m.delta > 0), key=lambda m: (-m.delta, m.user_id))[:TOP_MOVERS],
            losers=sorted((m for m in changed_moves if m.delta < 0), key=lambda m: (m.delta, m.user_id))[:TOP_MOVERS],
            badges=badges,
            perks=perks,
            boards=boards,
            failed_published=before.failed,
            failed_draft=after.failed,
            draft_failure_examples=after.failures,
        )


def _holder(user_id: str, post: str) -> str:
    return f"{user_id} ({post})" if post else user_id


def preview(events: Iterable[EventInput], published: Ruleset, draft: Ruleset, now: datetime) -> PreviewResult:
    """The whole comparison over events already in memory (tests, small logs)."""
    comparison = Comparison(published, draft)
    comparison.feed(events)
    return comparison.finish(now)
