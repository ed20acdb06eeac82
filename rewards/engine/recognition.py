"""Counters, streaks and badges, kept current as awards start and stop counting. Pure, like `settle`.

An award counts towards the counters its rule names (`counts:`) while it is live: undo, suspension and
restore move the counters with the points. Badges are checked whenever one of their counters (or the
user's reputation) moves within an event.
"""

from datetime import datetime, timedelta

from rewards.engine.renewal import AS_OF_COUNTER, AS_OF_SCOPE, bucket_counter, month_index, month_label
from rewards.engine.ruleset import Badge, Ruleset
from rewards.engine.state import (
    Award,
    BadgeHolding,
    BadgeKey,
    BadgeSource,
    CounterChange,
    CounterKey,
    EventInput,
    Notice,
    Streak,
    WorkingState,
)

RULES = "rules"  # who revokes a badge whose criterion stopped holding


class Recognizer:
    """What one event did to counters, streaks and badges; `finish` grants and revokes the badges."""

    def __init__(self, ruleset: Ruleset, event: EventInput, state: WorkingState) -> None:
        self.ruleset = ruleset
        self.event = event
        self.state = state
        self.user_counters: set[tuple[str, str]] = set()  # (user, counter)
        # (post, counter, the award's recipient, the award's scope value)
        self.post_counters: set[tuple[str, str, str, str]] = set()
        self.streaks: set[tuple[str, str]] = set()
        self.reputation_moved: set[str] = set()

    def _bump(self, key: CounterKey, delta: int) -> None:
        self.state.counters[key] = self.state.counters.get(key, 0) + delta
        self.state.changed_counters.add(key)

    def count(self, award: Award, sign: int, *, new: bool) -> None:
        """The award started (sign 1) or stopped (-1) counting; `new` when it was created by this event."""
        for counter_id, scope, weight in award.counts:
            counter = self.ruleset.counters.get(counter_id)
            if counter is None:  # a counter the current rules no longer declare
                continue
            delta = sign * weight
            if counter.per == "post":
                if award.subject is not None:
                    self._bump((award.subject, counter_id, ""), delta)
                    if scope is not None:
                        self._bump((award.subject, counter_id, scope), delta)
                    self.post_counters.add((award.subject, counter_id, award.user_id, scope or ""))
                continue
            self._bump((award.user_id, counter_id, ""), delta)
            if scope is not None:
                self._bump((award.user_id, counter_id, scope), delta)
            self.user_counters.add((award.user_id, counter_id))
            if counter_id in self.ruleset.windowed_counters:  # per month too, for a rank's renewal window
                month = month_label(month_index(award.occurred_at))
                self._bump((award.user_id, bucket_counter(counter_id), month), delta)
            self.state.counter_changes.append(CounterChange(award.user_id, counter_id, scope, delta, award.occurred_at))
            if new and delta > 0 and counter_id in self.ruleset.badges_by_streak:
                self._extend_streak(award.user_id, counter_id, award.occurred_at)

    def _extend_streak(self, user_id: str, counter_id: str, when: datetime) -> None:
        day = when.date()
        key = (user_id, counter_id)
        streak = self.state.streaks.get(key)
        if streak is None:
            streak = self.state.streaks[key] = Streak(last_day=day, length=1, best=1)
        elif day == streak.last_day + timedelta(days=1):
            streak.length += 1
            streak.last_day = day
        elif day > streak.last_day + timedelta(days=1):
            streak.length = 1
            streak.last_day = day
        else:  # the same day, or an event from before the streak's last day: the run is unchanged
            return
        streak.best = max(streak.best, streak.length)
        self.state.changed_streaks.add(key)
        self.streaks.add(key)

    def reputation_changed(self, user_id: str) -> None:
        self.reputation_moved.add(user_id)

    def finish(self) -> None:
        if self.ruleset.windowed_counters:
            self._advance_windows()
        counters = self.state.counters
        floors = self.ruleset.badge_floors
        checked: set[tuple[str, str, str]] = set()
        for user_id, counter_id in sorted(self.user_counters):
            for badge in self.ruleset.badges_by_counter.get(counter_id, ()):
                assert badge.counter is not None
                value = counters.get((user_id, badge.counter, badge.scope or ""), 0)
                if (value < floors[badge.id] and not badge.revocable) or (user_id, badge.id, "") in checked:
                    continue  # below every tier, and nothing to take back
                checked.add((user_id, badge.id, ""))
                self._check(user_id, badge, value, "", self._requirements_met(user_id, badge))
        for post, counter_id, recipient, scope in sorted(self.post_counters):
            for badge in self.ruleset.badges_by_post_counter.get(counter_id, ()):
                if badge.scope is not None and scope and badge.scope != scope:
                    continue  # a question's score does not make a Nice Answer
                assert badge.post is not None
                value = counters.get((post, badge.post, badge.scope or ""), 0)
                if (value < floors[badge.id] and not badge.revocable) or (recipient, badge.id, post) in checked:
                    continue
                checked.add((recipient, badge.id, post))
                self._check(recipient, badge, value, post, self._requirements_met(post, badge))
        for user_id, counter_id in sorted(self.streaks):
            for badge in self.ruleset.badges_by_streak.get(counter_id, ()):
                streak = self.state.streaks[(user_id, counter_id)].length
                self._check(user_id, badge, streak, "", self._requirements_met(user_id, badge), revocable=False)
        for user_id in sorted(self.reputation_moved):
            for badge in self.ruleset.reputation_badges:
                value = self.state.reputation(user_id)
                if value < floors[badge.id] and not badge.revocable:
                    continue
                self._check(user_id, badge, value, "", self._requirements_met(user_id, badge))

    def _advance_windows(self) -> None:
        """The renewal windows of the members this event changed are read at its month from now on (never
        back: an event with an older time leaves them where they are)."""
        month = month_index(self.event.time)
        for user_id in self.state.touched:
            key: CounterKey = (user_id, AS_OF_COUNTER, AS_OF_SCOPE)
            if self.state.counters.get(key, 0) < month:
                self.state.counters[key] = month
                self.state.changed_counters.add(key)

    def _requirements_met(self, owner: str, badge: Badge) -> bool:
        return all(self.state.counters.get((owner, c, ""), 0) >= at for c, at in badge.requires.items())

    def _check(
        self, user_id: str, badge: Badge, value: int, post: str, requirements_met: bool, *, revocable: bool = True
    ) -> None:
        if badge.post is not None and not badge.repeat:
            self._check_once(user_id, badge, value, post, requirements_met)
            return
        for tier, threshold in badge.levels():
            key: BadgeKey = (user_id, badge.id, tier, post)
            holding = self.state.badges.get(key)
            if value >= threshold and requirements_met:
                if holding is None or (not holding.held and holding.revoked_by == RULES):
                    self._grant(key, badge, tier, threshold)
            elif (
                revocable
                and badge.revocable
                and holding is not None
                and holding.held
                and holding.source == BadgeSource.RULE
            ):
                self._revoke(holding, badge, f"{_criterion(self.ruleset, badge)} fell below {threshold}")

    def _check_once(self, user_id: str, badge: Badge, value: int, post: str, requirements_met: bool) -> None:
        """A post badge granted once per user, for the first post that qualifies (Teacher)."""
        holdings = [holding for holding in self.state.badges_of(user_id) if holding.badge_id == badge.id]
        for tier, threshold in badge.levels():
            of_tier = [holding for holding in holdings if holding.tier == tier]
            held = [holding for holding in of_tier if holding.held]
            if held:
                for holding in held:
                    if (
                        badge.revocable
                        and holding.post == post
                        and holding.source == BadgeSource.RULE
                        and (value < threshold or not requirements_met)
                    ):
                        self._revoke(holding, badge, f"{_criterion(self.ruleset, badge)} fell below {threshold}")
                continue
            if any(holding.revoked_by not in (None, RULES) for holding in of_tier):
                continue  # a manager's revocation sticks
            if value >= threshold and requirements_met:
                self._grant((user_id, badge.id, tier, post), badge, tier, threshold)

    def _grant(self, key: BadgeKey, badge: Badge, tier: str, threshold: int) -> None:
        user_id, _, _, post = key
        reason = f"{_criterion(self.ruleset, badge)} reached {threshold}" + (f" on post {post}" if post else "")
        self.state.put_badge(
            BadgeHolding(
                user_id=user_id,
                badge_id=badge.id,
                tier=tier,
                post=post,
                granted_at=self.event.time,
                event_seq=self.event.seq,
                source=BadgeSource.RULE,
                reason=reason,
            )
        )
        self.state.notices.append(
            Notice(
                topic="badge.awarded",
                user_id=user_id,
                data=badge_notice_data(badge, tier, post, reason),
                occurred_at=self.event.time,
                key=f"badge.awarded:{user_id}:{badge.id}:{tier}:{post}:{self.event.seq}",
            )
        )

    def _revoke(self, holding: BadgeHolding, badge: Badge, reason: str) -> None:
        holding.revoked_at = self.event.time
        holding.revoked_reason = reason
        holding.revoked_by = RULES
        self.state.changed_badges.add((holding.user_id, holding.badge_id, holding.tier, holding.post))
        self.state.notices.append(
            Notice(
                topic="badge.revoked",
                user_id=holding.user_id,
                data=badge_notice_data(badge, holding.tier, holding.post, reason),
                occurred_at=self.event.time,
                key=f"badge.revoked:{holding.user_id}:{badge.id}:{holding.tier}:{holding.post}:{self.event.seq}",
            )
        )


def badge_notice_data(badge: Badge, tier: str, post: str, reason: str) -> dict[str, object]:
    return {
        "badge": badge.id,
        "name": badge.name,
        "tier": tier,
        "post": post or None,
        "reason": reason,
    }


def _criterion(ruleset: Ruleset, badge: Badge) -> str:
    if badge.reputation:
        return "reputation"
    counter_id = badge.counter or badge.post or badge.streak or ""
    name = ruleset.spec.counters[counter_id].name if counter_id in ruleset.spec.counters else counter_id
    if badge.streak is not None:
        return f"{name}: consecutive days"
    if badge.scope is not None:
        return f"{name} in {badge.scope}"
    return name
