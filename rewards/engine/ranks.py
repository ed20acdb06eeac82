"""Ranks: the title a reputation earns, and how far the next one is. Pure."""

from dataclasses import dataclass

from rewards.engine.ruleset import Rank


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
