"""Ranks: the title a reputation earns, and how far the next one is. Pure."""

from dataclasses import dataclass
from datetime import datetime

from rewards.engine.ruleset import Rank
from rewards.engine.state import Notice, WorkingState


@dataclass(frozen=True)
class Standing:
    rank: Rank | None
    next_rank: Rank | None
    reputation_needed: int | None  # to reach the next rank
    progress: float | None  # 0..1 of the way from this rank's threshold to the next one's


def standing(ranks: list[Rank], reputation: int) -> Standing:
    current: Rank | None = None
    following: Rank | None = None
    for rank in ranks:
        if reputation >= rank.reputation:
            current = rank
        else:
            following = rank
            break
    if following is None:
        return Standing(current, None, None, None if current is None else 1.0)
    floor = current.reputation if current is not None else 0
    span = following.reputation - floor
    progress = max(0.0, min(1.0, (reputation - floor) / span)) if span > 0 else 0.0
    return Standing(current, following, following.reputation - reputation, round(progress, 4))


def rank_changes(ranks: list[Rank], state: WorkingState, when: datetime, seq: int) -> list[Notice]:
    """A notice for every user whose rank title differs from the one they had before the batch."""
    notices: list[Notice] = []
    for user_id, before in sorted(state.reputation_before.items()):
        after = state.reputation(user_id)
        old, new = standing(ranks, before).rank, standing(ranks, after).rank
        if old == new or new is None:
            continue
        notices.append(
            Notice(
                topic="rank.changed",
                user_id=user_id,
                data={
                    "from": None if old is None else {"id": old.id, "title": old.title},
                    "to": {"id": new.id, "title": new.title},
                    "reputation": after,
                    "direction": "up" if old is None or new.reputation > old.reputation else "down",
                },
                occurred_at=when,
                key=f"rank.changed:{user_id}:{new.id}:{seq}",
            )
        )
    return notices
