"""The working state the evaluator reads and `settle` changes: plain in-memory data, loaded and saved elsewhere."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

ENTRY_IDS_PER_EVENT = 1_000_000


class AwardStatus(StrEnum):
    LIVE = "live"
    SUSPENDED = "suspended"
    UNDONE = "undone"


class EntryKind(StrEnum):
    AWARD = "award"
    REVERSAL = "reversal"
    SUSPENSION = "suspension"
    REINSTATEMENT = "reinstatement"


@dataclass(frozen=True, slots=True)
class EventInput:
    """An accepted event as the engine sees it: `seq` is its place in the order of acceptance."""

    seq: int
    source: str
    id: str
    type: str
    time: datetime
    data: dict[str, Any]
    # What rule expressions see: the event's data fields, plus `event` (type, source, id, time).
    names: dict[str, Any] = field(init=False, repr=False, compare=False)
    # Users the event names (actor first), computed once.
    named_users: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = dict(self.data)
        names["event"] = {"type": self.type, "source": self.source, "id": self.id, "time": self.time.isoformat()}
        object.__setattr__(self, "names", names)
        # The engine's own events (`rewards:admin`, `rewards:schedule`) name a manager or the schedule as actor,
        # not a member of the community.
        own = self.source.startswith("rewards:")
        object.__setattr__(self, "named_users", tuple(_users_named(names, skip_actor=own)))

    def namespace(self) -> dict[str, Any]:
        return self.names


@dataclass(slots=True)
class Award:
    """Points a rule gave a user for one event; `status` says whether they currently count."""

    id: int
    user_id: str
    rule_id: str
    event_seq: int
    subject: str | None
    slot: str | None
    points: int
    cap_id: str | None
    cap_max: int | None
    cap_day: date | None
    label: str
    status: AwardStatus
    occurred_at: datetime
    # Counters this award adds to while live: (counter id, scope value or None, weight).
    counts: tuple[tuple[str, str | None, int], ...] = ()


@dataclass(slots=True)
class CapBucket:
    """Gains under one cap for one user and UTC day: `raw` in force, `credited` after the cap."""

    raw: int = 0
    credited: int = 0


@dataclass(slots=True)
class UserState:
    user_id: str
    reputation: int = 0
    suspended: bool = False
    suspended_until: datetime | None = None
    first_seen_at: datetime | None = None
    last_active_at: datetime | None = None
    updated_seq: int = 0


@dataclass(slots=True)
class LedgerEntry:
    id: int
    user_id: str
    points: int
    kind: EntryKind
    award_id: int
    reverses_id: int | None
    event_seq: int
    rule_id: str
    ruleset_version: int
    reason: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class CounterChange:
    """A user's counter (accepted answers, answers...) moved by `delta`, because an award counting towards it
    started or stopped counting. `occurred_at` is the counted award's time, so that periods (this week's
    accepted answers) stay put when the award is undone later; `scope` is the award's scope value (the post's
    category), if the counter has one."""

    user_id: str
    counter_id: str
    scope: str | None
    delta: int
    occurred_at: datetime


@dataclass(slots=True)
class Streak:
    """Consecutive UTC days on which a user's counter went up: the current run and the best one."""

    last_day: date
    length: int
    best: int


class BadgeSource(StrEnum):
    RULE = "rule"  # earned under the rules; replay rebuilds it
    MANUAL = "manual"  # granted by a manager; survives replay
    BOARD = "board"  # a leaderboard's period-end award


@dataclass(slots=True)
class BadgeHolding:
    """A badge (tier) a user holds or held: one per user, badge, tier and post ('' for badges not about a post)."""

    user_id: str
    badge_id: str
    tier: str
    post: str
    granted_at: datetime
    event_seq: int
    source: BadgeSource
    reason: str
    revoked_at: datetime | None = None
    revoked_reason: str | None = None
    # Who revoked it: "rules" when its criterion stopped holding, else the manager. A manager's revocation
    # sticks: the rules do not grant that badge again.
    revoked_by: str | None = None

    @property
    def held(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class Notice:
    """Something to tell the outside world (a badge awarded, a rank changed), written to the outbox."""

    topic: str
    user_id: str
    data: dict[str, Any]
    occurred_at: datetime
    key: str


CounterKey = tuple[str, str, str]  # (owner: a user or a post, counter id, scope value or "" for the total)
BadgeKey = tuple[str, str, str, str]  # (user, badge, tier, post or "")
BucketKey = tuple[str, str, date]

# Fields of an event's data that name users; they are "seen" (and get a profile) when an event names them.
USER_FIELDS: tuple[tuple[str, ...], ...] = (("actor",), ("user",), ("flagger",), ("post", "author"))


def _users_named(names: dict[str, Any], *, skip_actor: bool = False) -> list[str]:
    found: list[str] = []
    for path in USER_FIELDS:
        if skip_actor and path == ("actor",):
            continue
        value: Any = names
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, str) and value and value not in found:
            found.append(value)
    return found


@dataclass(frozen=True)
class Mark:
    """What the decisions that depend on order rest on for one user: the rank title, suspended or not, and the
    perks they qualify for (see `rewards.engine.marks`)."""

    rank: str | None
    suspended: bool
    perks: frozenset[str]


@dataclass
class WorkingState:
    """The slice of engine state a batch of events touches, with what changed."""

    users: dict[str, UserState] = field(default_factory=dict)
    awards: dict[int, Award] = field(default_factory=dict)
    awards_by_slot: dict[str, list[int]] = field(default_factory=dict)
    awards_by_subject: dict[str, list[int]] = field(default_factory=dict)
    buckets: dict[BucketKey, CapBucket] = field(default_factory=dict)
    suspensions: set[tuple[str, str]] = field(default_factory=set)

    changed_users: set[str] = field(default_factory=set)
    new_awards: list[int] = field(default_factory=list)
    changed_awards: set[int] = field(default_factory=set)
    changed_buckets: set[BucketKey] = field(default_factory=set)
    added_suspensions: set[tuple[str, str]] = field(default_factory=set)
    removed_suspensions: set[tuple[str, str]] = field(default_factory=set)
    entries: list[LedgerEntry] = field(default_factory=list)
    counter_changes: list[CounterChange] = field(default_factory=list)
    counters: dict[CounterKey, int] = field(default_factory=dict)
    streaks: dict[tuple[str, str], Streak] = field(default_factory=dict)
    badges: dict[BadgeKey, BadgeHolding] = field(default_factory=dict)
    badge_keys_by_user: dict[str, list[BadgeKey]] = field(default_factory=dict)
    changed_counters: set[CounterKey] = field(default_factory=set)
    changed_streaks: set[tuple[str, str]] = field(default_factory=set)
    changed_badges: set[BadgeKey] = field(default_factory=set)
    notices: list[Notice] = field(default_factory=list)
    # Users changed by the event last settled (`settle` empties it first), and each user's mark as the last
    # event left it (`rewards.engine.marks`): kept with the state, like the users they describe.
    touched: set[str] = field(default_factory=set)
    marks: dict[str, Mark] = field(default_factory=dict)

    # What has been loaded completely, so that a state kept between batches knows what it need not load again.
    loaded_slots: set[str] = field(default_factory=set)
    loaded_subjects: set[str] = field(default_factory=set)
    loaded_bucket_scopes: set[tuple[str, date]] = field(default_factory=set)
    loaded_suspension_subjects: set[str] = field(default_factory=set)
    loaded_counter_owners: set[str] = field(default_factory=set)
    loaded_recognition_users: set[str] = field(default_factory=set)  # their badges and streaks

    def size(self) -> int:
        return (
            len(self.users)
            + len(self.awards)
            + len(self.buckets)
            + len(self.loaded_slots)
            + len(self.loaded_bucket_scopes)
            + len(self.counters)
            + len(self.badges)
        )

    def committed(self) -> None:
        """The changes are saved: forget them, keep the state, and drop awards that can no longer change."""
        self.drop_awards(self.forget_changes())

    def forget_changes(self) -> list[int]:
        """The changes are taken for saving (`committed` once saved): start collecting the next batch's.

        Returns the awards this batch undid. They can no longer change, but they stay in the state until the batch
        is committed (`drop_awards`): until then the database still shows them open, and a load of their slot or
        subject would otherwise bring them back as open."""
        undone = [
            award_id
            for award_id in self.changed_awards
            if (award := self.awards.get(award_id)) is not None and award.status == AwardStatus.UNDONE
        ]
        self.changed_users.clear()
        self.new_awards.clear()
        self.changed_awards.clear()
        self.changed_buckets.clear()
        self.added_suspensions.clear()
        self.removed_suspensions.clear()
        self.entries.clear()
        self.counter_changes.clear()
        self.changed_counters.clear()
        self.changed_streaks.clear()
        self.changed_badges.clear()
        self.notices.clear()
        self.touched.clear()
        return undone

    def drop_awards(self, award_ids: Iterable[int]) -> None:
        """Forget undone awards whose undoing is committed: nothing reads them again."""
        for award_id in award_ids:
            award = self.awards.get(award_id)
            if award is None or award.status != AwardStatus.UNDONE:
                continue
            del self.awards[award_id]
            if award.slot is not None and award_id in self.awards_by_slot.get(award.slot, ()):
                self.awards_by_slot[award.slot].remove(award_id)
            if award.subject is not None and award_id in self.awards_by_subject.get(award.subject, ()):
                self.awards_by_subject[award.subject].remove(award_id)

    # -- reading -------------------------------------------------------------------------------------
    def user(self, user_id: str) -> UserState | None:
        return self.users.get(user_id)

    def reputation(self, user_id: str) -> int:
        user = self.users.get(user_id)
        return user.reputation if user is not None else 0

    def is_suspended(self, user_id: str) -> bool:
        user = self.users.get(user_id)
        return user.suspended if user is not None else False

    def awards_in_slot(self, slot: str) -> list[Award]:
        return sorted(
            (self.awards[i] for i in self.awards_by_slot.get(slot, ()) if self.awards[i].status != AwardStatus.UNDONE),
            key=lambda award: award.id,
        )

    def awards_on_subject(self, subject: str) -> list[Award]:
        return sorted(
            (
                self.awards[i]
                for i in self.awards_by_subject.get(subject, ())
                if self.awards[i].status != AwardStatus.UNDONE
            ),
            key=lambda award: award.id,
        )

    def subject_suspended(self, subject: str | None, by_types: frozenset[str]) -> str | None:
        if subject is None:
            return None
        for event_type in sorted(by_types):
            if (subject, event_type) in self.suspensions:
                return event_type
        return None

    # -- loading (used by the repository and by tests) -----------------------------------------------
    def add_loaded_award(self, award: Award) -> None:
        if award.id in self.awards:
            return
        self.awards[award.id] = award
        if award.slot is not None:
            self.awards_by_slot.setdefault(award.slot, []).append(award.id)
        if award.subject is not None:
            self.awards_by_subject.setdefault(award.subject, []).append(award.id)

    # -- changing (used by settle) -------------------------------------------------------------------
    def touch_user(self, user_id: str, when: datetime, seq: int, *, active: bool) -> UserState:
        user = self.users.get(user_id)
        if user is None:
            user = UserState(user_id=user_id, first_seen_at=when)
            self.users[user_id] = user
        if user.first_seen_at is None or when < user.first_seen_at:
            user.first_seen_at = when
        if active and (user.last_active_at is None or when > user.last_active_at):
            user.last_active_at = when
        user.updated_seq = max(user.updated_seq, seq)
        self.touched.add(user_id)
        self.changed_users.add(user_id)
        return user

    def put_badge(self, holding: BadgeHolding, *, loaded: bool = False) -> None:
        key = (holding.user_id, holding.badge_id, holding.tier, holding.post)
        if loaded and key in self.badges:
            return
        if key not in self.badges:
            self.badge_keys_by_user.setdefault(holding.user_id, []).append(key)
        self.badges[key] = holding
        if not loaded:
            self.changed_badges.add(key)

    def badges_of(self, user_id: str) -> list[BadgeHolding]:
        return [self.badges[key] for key in self.badge_keys_by_user.get(user_id, ())]

    def create_award(self, award: Award) -> None:
        self.add_loaded_award(award)
        self.new_awards.append(award.id)

    def set_award_status(self, award: Award, status: AwardStatus) -> None:
        award.status = status
        self.changed_awards.add(award.id)

    def bucket(self, key: BucketKey) -> CapBucket:
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = CapBucket()
        self.changed_buckets.add(key)
        return bucket

    def suspend_subject(self, subject: str, event_type: str) -> None:
        key = (subject, event_type)
        self.suspensions.add(key)
        self.added_suspensions.add(key)
        self.removed_suspensions.discard(key)

    def lift_suspension(self, subject: str, event_type: str) -> None:
        key = (subject, event_type)
        if key in self.suspensions:
            self.suspensions.discard(key)
            self.removed_suspensions.add(key)
            self.added_suspensions.discard(key)
