"""`evaluate(ruleset, event, state) -> decisions` and `settle(...)`, which turns decisions into ledger entries.

Both are pure: plain data in, plain data out. `settle` changes only the in-memory working state it is given.
"""

from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime

from rewards.engine.expressions import EvaluationError, Expression, Namespace, read_path
from rewards.engine.recognition import Recognizer
from rewards.engine.renewal import RENEWAL_CHECK
from rewards.engine.ruleset import MAX_POINTS, CompiledAward, CompiledRule, Ruleset
from rewards.engine.state import (
    ENTRY_IDS_PER_EVENT,
    Award,
    AwardStatus,
    BucketKey,
    EntryKind,
    EventInput,
    LedgerEntry,
    UserState,
    WorkingState,
)


@dataclass(slots=True)
class NewAward:
    rule: CompiledRule
    spec: CompiledAward
    user_id: str
    subject: str | None
    slot: str | None
    label: str
    counts: tuple[tuple[str, str | None, int], ...] = ()
    points: int = 0


@dataclass(slots=True)
class Reversal:
    award_id: int
    cause: str


@dataclass
class Decisions:
    """What one event does, before it is settled into ledger entries."""

    reversals: list[Reversal] = field(default_factory=list)
    suspensions: list[tuple[CompiledRule, str]] = field(default_factory=list)
    reinstatements: list[tuple[CompiledRule, str]] = field(default_factory=list)
    creations: list[NewAward] = field(default_factory=list)
    # (user, suspended, until, only if the suspension still ends at this time)
    user_flags: list[tuple[str, bool, datetime | None, datetime | None]] = field(default_factory=list)
    adjustments: list[tuple[str, int, str]] = field(default_factory=list)  # (user, points, label)
    notes: list[str] = field(default_factory=list)
    rules_fired: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Needs:
    """State an event may read, so that a batch can load it in a few queries."""

    users: set[str]
    slots: set[str]
    subjects: set[str]  # subjects whose open awards may be undone, suspended or restored
    suspension_subjects: set[str]  # subjects whose suspension marks matter for new awards
    counted_subjects: set[str] = field(default_factory=set)  # posts whose counters new awards move


def _words(event_type: str) -> str:
    return event_type.replace(".", " ").replace("_", " ")


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def needs(ruleset: Ruleset, event: EventInput) -> Needs:
    """The users, slots and subjects an event may read, so that a batch can load them in a few queries."""
    names = event.namespace()
    result = Needs(users=set(event.named_users), slots=set(), subjects=set(), suspension_subjects=set())

    def subject_of(rule: CompiledRule) -> str | None:
        return _text(rule.subject.evaluate(names))

    for path in ruleset.asked_paths(event.type):
        user = _text(read_path(names, path))
        if user is not None:
            result.users.add(user)
    # Best effort, rule by rule: a rule that cannot be worked out here fails the event later, in `evaluate`.
    for rule in ruleset.by_type.get(event.type, ()):
        with suppress(EvaluationError):
            if rule.slot is not None:
                result.slots.add(rule.slot.render(names))
            for award in rule.awards:
                user = _text(award.to.evaluate(names))
                if user is not None:
                    result.users.add(user)
            subject = subject_of(rule)
            if subject is not None and rule.suspended_by:
                result.suspension_subjects.add(subject)
            if subject is not None and rule.id in ruleset.post_counting_rules:
                result.counted_subjects.add(subject)
    for rule, _undo in ruleset.undo_by_type.get(event.type, ()):
        with suppress(EvaluationError):
            if rule.slot is not None:
                result.slots.add(rule.slot.render(names))
            else:
                subject = subject_of(rule)
                if subject is not None:
                    result.subjects.add(subject)
    for rule in (*ruleset.suspend_by_type.get(event.type, ()), *ruleset.restore_by_type.get(event.type, ())):
        with suppress(EvaluationError):
            subject = subject_of(rule)
            if subject is not None:
                result.subjects.add(subject)
                result.suspension_subjects.add(subject)
    return result


def evaluate(ruleset: Ruleset, event: EventInput, state: WorkingState) -> Decisions:
    """Decide what `event` does under `ruleset`, given `state`. Raises EvaluationError if a rule cannot run."""
    names = event.namespace()
    decisions = Decisions()
    ruleset.state.reputation = state.reputation
    ruleset.state.is_suspended = state.is_suspended
    reversed_ids: set[int] = set()

    def reverse(award: Award, cause: str) -> None:
        if award.id not in reversed_ids:
            reversed_ids.add(award.id)
            decisions.reversals.append(Reversal(award.id, cause))

    _builtin_user_events(event, names, decisions)

    for rule, undo in ruleset.undo_by_type.get(event.type, ()):
        if undo.when is not None and not undo.when.test(names):
            decisions.notes.append(f"{rule.id}: not undone, `{undo.when.source}` is false")
            continue
        subject = _text(rule.subject.evaluate(names))
        candidates = (
            state.awards_in_slot(rule.slot.render(names)) if rule.slot else state.awards_on_subject(subject or "")
        )
        undone = [award for award in candidates if award.rule_id == rule.id and award.subject == subject]
        for award in undone:
            reverse(award, _words(event.type))
        decisions.notes.append(f"{rule.id}: {len(undone)} award(s) undone" if undone else f"{rule.id}: nothing to undo")
        if undone:
            decisions.rules_fired.append(rule.id)

    for rule in ruleset.suspend_by_type.get(event.type, ()):
        subject = _text(rule.subject.evaluate(names))
        if subject is not None:
            decisions.suspensions.append((rule, subject))

    for rule in ruleset.restore_by_type.get(event.type, ()):
        subject = _text(rule.subject.evaluate(names))
        if subject is not None:
            decisions.reinstatements.append((rule, subject))

    for rule in ruleset.by_type.get(event.type, ()):
        subject = _text(rule.subject.evaluate(names))
        slot = rule.slot.render(names) if rule.slot is not None else None
        if slot is not None:
            # The slot is claimed before the condition is tested: accepting one's own answer earns nothing,
            # but it still replaces the earlier accepted answer.
            holders = [award for award in state.awards_in_slot(slot) if award.id not in reversed_ids]
            if any(award.rule_id == rule.id and award.subject == subject for award in holders):
                decisions.notes.append(f"{rule.id}: repeat of the current choice in slot {slot}, no change")
                continue
            for award in holders:
                reverse(award, f"replaced by {_words(event.type)}")
        if rule.when is not None and not rule.when.test(names):
            decisions.notes.append(f"{rule.id}: skipped, `{rule.when.source}` is false")
            continue
        label = rule.label.render(names, missing="?")
        created = 0
        for spec in rule.awards:
            if spec.when is not None and not spec.when.test(names):
                continue
            user = _text(spec.to.evaluate(names))
            if user is None:
                raise EvaluationError(f"rule {rule.id!r}: the recipient `{spec.to.source}` is missing from the event")
            _check_length(rule, "recipient", user, MAX_USER_ID)
            _check_length(rule, "subject", subject, MAX_SUBJECT)
            _check_length(rule, "slot", slot, MAX_SLOT)
            award_label = spec.label.render(names, missing="?") if spec.label is not None else label
            award_label = award_label if len(award_label) <= MAX_LABEL else award_label[: MAX_LABEL - 1] + "…"
            counts = tuple(
                (counter_id, _scope_of(ruleset, counter_id, names), weight) for counter_id, weight in spec.counts
            )
            points = spec.points if spec.points_from is None else _points_from(rule, spec.points_from, names)
            decisions.creations.append(NewAward(rule, spec, user, subject, slot, award_label, counts, points))
            created += 1
        if created:
            decisions.rules_fired.append(rule.id)

    if not ruleset.listens_to(event.type) and event.type not in BUILTIN_TYPES:
        decisions.notes.append(f"no rule of ruleset {ruleset.name!r} listens to {event.type!r}")
    return decisions


# A manager's correction, posted into the log like any event, so that a replay keeps it.
ADJUSTMENT_TYPE = "points.adjusted"
ADJUSTMENT_RULE = "manual-adjustment"
BUILTIN_TYPES = frozenset({"user.suspended", "user.reinstated", ADJUSTMENT_TYPE})

# The widths of the columns these values are stored in.
MAX_USER_ID, MAX_SUBJECT, MAX_SLOT, MAX_LABEL = 200, 300, 600, 500


def _points_from(rule: CompiledRule, expression: Expression, names: Namespace) -> int:
    value = expression.evaluate(names)
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise EvaluationError(
            f"rule {rule.id!r}: points `{expression.source}` must be a whole number; the event gives {value!r}"
        )
    if not -MAX_POINTS <= int(value) <= MAX_POINTS:
        raise EvaluationError(f"rule {rule.id!r}: points `{expression.source}` = {value} is beyond ±{MAX_POINTS:,}")
    return int(value)


def _scope_of(ruleset: Ruleset, counter_id: str, names: Namespace) -> str | None:
    counter = ruleset.counters.get(counter_id)
    if counter is None or counter.scope is None:
        return None
    value = counter.scope.evaluate(names)
    return str(value)[:100] if value is not None and value != "" else None


def _check_length(rule: CompiledRule, what: str, value: str | None, limit: int) -> None:
    if value is not None and len(value) > limit:
        raise EvaluationError(f"rule {rule.id!r}: the {what} is {len(value)} characters long; at most {limit}")


def _builtin_user_events(event: EventInput, names: Namespace, decisions: Decisions) -> None:
    if event.type not in BUILTIN_TYPES:
        return
    if event.type == ADJUSTMENT_TYPE:
        if not event.source.startswith("rewards:"):
            raise EvaluationError(f"{ADJUSTMENT_TYPE} is only taken from the engine's own admin API")
        _adjustment(names, decisions)
        return
    user = _text(names.get("user"))
    if user is None:
        raise EvaluationError(f"{event.type} needs `data.user`, the suspended user's id")
    until: datetime | None = None
    if event.type == "user.suspended" and isinstance(names.get("until"), str):
        try:
            until = datetime.fromisoformat(names["until"])
        except ValueError:
            raise EvaluationError(f"`until` is not an RFC 3339 time: {names['until']!r}") from None
    only_if_until: datetime | None = None
    if event.type == "user.reinstated" and isinstance(names.get("if_suspended_until"), str):
        try:
            only_if_until = datetime.fromisoformat(names["if_suspended_until"])
        except ValueError:
            raise EvaluationError(
                f"`if_suspended_until` is not an RFC 3339 time: {names['if_suspended_until']!r}"
            ) from None
    decisions.user_flags.append((user, event.type == "user.suspended", until, only_if_until))
    decisions.notes.append(f"user {user} {'suspended' if event.type == 'user.suspended' else 'reinstated'}")


def _adjustment(names: Namespace, decisions: Decisions) -> None:
    user, points, reason = _text(names.get("user")), names.get("points"), _text(names.get("reason"))
    if user is None:
        raise EvaluationError(f"{ADJUSTMENT_TYPE} needs `data.user`, whose points change")
    if isinstance(points, bool) or not isinstance(points, int) or points == 0 or abs(points) > MAX_POINTS:
        raise EvaluationError(
            f"{ADJUSTMENT_TYPE} needs `data.points`, a whole number other than 0 within ±{MAX_POINTS:,}"
        )
    if reason is None:
        raise EvaluationError(f"{ADJUSTMENT_TYPE} needs `data.reason`, shown in the user's history")
    actor = _text(names.get("actor")) or "a manager"
    label = f"adjusted by {actor}: {reason}"
    decisions.adjustments.append((user, points, label[:MAX_LABEL]))
    decisions.rules_fired.append(ADJUSTMENT_RULE)


class _Settler:
    def __init__(self, ruleset: Ruleset, event: EventInput, state: WorkingState) -> None:
        self.ruleset = ruleset
        self.event = event
        self.state = state
        self.ordinal = 0
        self.entries: list[LedgerEntry] = []
        self.recognizer = Recognizer(ruleset, event, state)

    def next_id(self) -> int:
        self.ordinal += 1
        if self.ordinal >= ENTRY_IDS_PER_EVENT:
            raise EvaluationError(f"one event cannot write more than {ENTRY_IDS_PER_EVENT - 1} ledger entries")
        return self.event.seq * ENTRY_IDS_PER_EVENT + self.ordinal

    def user(self, user_id: str, *, active: bool = False) -> UserState:
        return self.state.touch_user(user_id, self.event.time, self.event.seq, active=active)

    def credit_change(self, award: Award, activate: bool) -> int:
        """Points this award adds (activate) or removes, after its cap is re-derived for its day."""
        sign = 1 if activate else -1
        if award.cap_id is None or award.cap_max is None or award.cap_day is None or award.points <= 0:
            return sign * award.points
        key: BucketKey = (award.user_id, award.cap_id, award.cap_day)
        bucket = self.state.bucket(key)
        bucket.raw += sign * award.points
        target = min(award.cap_max, max(bucket.raw, 0))
        delta = target - bucket.credited
        bucket.credited = target
        return delta

    def write(self, award: Award, points: int, kind: EntryKind, reason: str, reverses: int | None = None) -> None:
        nominal = award.points if kind in (EntryKind.AWARD, EntryKind.REINSTATEMENT) else -award.points
        if points == 0 and nominal == 0:  # an award that only counts (answers posted): nothing for the history
            return
        if points != nominal:
            reason = f"{reason} (daily cap: {points:+d} instead of {nominal:+d})"
        entry = LedgerEntry(
            id=award.id if kind == EntryKind.AWARD else self.next_id(),
            user_id=award.user_id,
            points=points,
            kind=kind,
            award_id=award.id,
            reverses_id=reverses,
            event_seq=self.event.seq,
            rule_id=award.rule_id,
            ruleset_version=self.ruleset.version,
            reason=reason,
            occurred_at=self.event.time,
        )
        self.entries.append(entry)
        user = self.user(award.user_id)
        user.reputation += points
        if points:
            self.recognizer.reputation_changed(award.user_id)

    def reverse(self, reversal: Reversal) -> None:
        award = self.state.awards[reversal.award_id]
        if award.status == AwardStatus.LIVE:
            delta = self.credit_change(award, activate=False)
            self.write(award, delta, EntryKind.REVERSAL, f"{award.label} undone: {reversal.cause}", award.id)
            self.recognizer.count(award, -1, new=False)
        self.state.set_award_status(award, AwardStatus.UNDONE)

    def suspend(self, rule: CompiledRule, subject: str) -> int:
        count = 0
        for award in self.state.awards_on_subject(subject):
            if award.rule_id == rule.id and award.status == AwardStatus.LIVE:
                delta = self.credit_change(award, activate=False)
                reason = f"{award.label} suspended: {_words(self.event.type)}"
                self.write(award, delta, EntryKind.SUSPENSION, reason, award.id)
                self.state.set_award_status(award, AwardStatus.SUSPENDED)
                self.recognizer.count(award, -1, new=False)
                count += 1
        self.state.suspend_subject(subject, self.event.type)
        return count

    def reinstate(self, rule: CompiledRule, subject: str) -> int:
        count = 0
        if self.state.subject_suspended(subject, rule.suspended_by) is None:
            return 0
        for award in self.state.awards_on_subject(subject):
            if award.rule_id == rule.id and award.status == AwardStatus.SUSPENDED:
                delta = self.credit_change(award, activate=True)
                self.write(
                    award,
                    delta,
                    EntryKind.REINSTATEMENT,
                    f"{award.label} restored: {_words(self.event.type)}",
                )
                self.state.set_award_status(award, AwardStatus.LIVE)
                self.recognizer.count(award, 1, new=False)
                count += 1
        return count

    def adjust(self, user_id: str, points: int, label: str) -> None:
        award = Award(
            id=self.next_id(),
            user_id=user_id,
            rule_id=ADJUSTMENT_RULE,
            event_seq=self.event.seq,
            subject=None,
            slot=None,
            points=points,
            cap_id=None,
            cap_max=None,
            cap_day=None,
            label=label,
            status=AwardStatus.LIVE,
            occurred_at=self.event.time,
        )
        self.state.create_award(award)
        self.write(award, points, EntryKind.AWARD, label)

    def create(self, new: NewAward) -> None:
        spec = new.spec
        suspended_by = self.state.subject_suspended(new.subject, new.rule.suspended_by)
        award = Award(
            id=self.next_id(),
            user_id=new.user_id,
            rule_id=new.rule.id,
            event_seq=self.event.seq,
            subject=new.subject,
            slot=new.slot,
            points=new.points,
            cap_id=spec.cap_id,
            cap_max=spec.cap.max if spec.cap is not None else None,
            cap_day=self.event.time.date() if spec.cap is not None else None,
            label=new.label,
            status=AwardStatus.SUSPENDED if suspended_by else AwardStatus.LIVE,
            occurred_at=self.event.time,
            counts=new.counts,
        )
        self.state.create_award(award)
        if suspended_by:
            self.write(award, 0, EntryKind.AWARD, f"{award.label} (held: the post is {_words(suspended_by)})")
            # A held award is credited on restore; record the zero entry so the history explains it.
        else:
            self.write(award, self.credit_change(award, activate=True), EntryKind.AWARD, award.label)
            self.recognizer.count(award, 1, new=True)


def settle(ruleset: Ruleset, event: EventInput, state: WorkingState, decisions: Decisions) -> list[LedgerEntry]:
    """Apply decisions to the working state; returns the ledger entries written, in order. `state.touched` is
    left holding the users this event changed."""
    state.touched.clear()
    settler = _Settler(ruleset, event, state)
    # A renewal check names the member it checks: not something they did.
    acting = event.type != RENEWAL_CHECK
    for position, user_id in enumerate(event.named_users):
        settler.user(user_id, active=acting and position == 0)
    for user_id, suspended, until, only_if_until in decisions.user_flags:
        current = state.users.get(user_id)
        if only_if_until is not None and (current is None or current.suspended_until != only_if_until):
            # The schedule lifts a suspension that ended; not one extended or replaced since it looked.
            decisions.notes.append(f"user {user_id}: the suspension changed since it was due to end; kept")
            continue
        user = settler.user(user_id)
        user.suspended = suspended
        user.suspended_until = until if suspended else None
    for reversal in decisions.reversals:
        settler.reverse(reversal)
    for rule, subject in decisions.suspensions:
        count = settler.suspend(rule, subject)
        decisions.notes.append(f"{rule.id}: {count} award(s) suspended on {subject}")
        if count:
            decisions.rules_fired.append(rule.id)
    restored_subjects: set[tuple[str, str]] = set()
    for rule, subject in decisions.reinstatements:
        count = settler.reinstate(rule, subject)
        decisions.notes.append(f"{rule.id}: {count} award(s) restored on {subject}")
        if count:
            decisions.rules_fired.append(rule.id)
        restored_subjects.update((subject, event_type) for event_type in rule.suspended_by)
    for subject, event_type in sorted(restored_subjects):
        state.lift_suspension(subject, event_type)
    for new in decisions.creations:
        settler.create(new)
    for user_id, points, label in decisions.adjustments:
        settler.adjust(user_id, points, label)
    settler.recognizer.finish()
    state.entries.extend(settler.entries)
    return settler.entries


def apply_event(ruleset: Ruleset, event: EventInput, state: WorkingState) -> tuple[Decisions, list[LedgerEntry]]:
    decisions = evaluate(ruleset, event, state)
    return decisions, settle(ruleset, event, state, decisions)
