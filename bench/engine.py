"""The pure engine's own speed, the yardstick of the apply pipeline: the same events run through `evaluate` and
`settle` in memory, from an empty state, with no database. Once without and once with the marks (ranks and perk
eligibility noted after each event, what the apply step adds to decide them event by event). Medians of three rounds."""

import gc
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rewards.engine.evaluate import evaluate, settle
from rewards.engine.expressions import EvaluationError
from rewards.engine.loader import load_ruleset_file
from rewards.engine.marks import Marker
from rewards.engine.state import EventInput, WorkingState
from rewards.resources import RULES_DIR

ROUNDS = 3


@dataclass(frozen=True)
class EngineFigures:
    events: int
    failed: int
    seconds: float
    events_per_second: float
    microseconds_per_event: float
    # With the marks: what the apply step runs per event before any database work.
    with_marks_seconds: float
    with_marks_events_per_second: float


def engine_inputs(events: Sequence[dict[str, Any]]) -> list[EventInput]:
    """The events as the apply step reads them back from the log: in order, with their seq."""
    return [
        EventInput(
            seq=seq,
            source=event["source"],
            id=event["id"],
            type=event["type"],
            time=datetime.fromisoformat(event["time"]),
            data=event["data"],
        )
        for seq, event in enumerate(events, start=1)
    ]


def measure_engine(
    events: Sequence[dict[str, Any]], rules: str = "default.yaml", rounds: int = ROUNDS
) -> EngineFigures:
    ruleset = load_ruleset_file(RULES_DIR / rules)
    inputs = engine_inputs(events)
    # Three rounds, the two kinds alternating, medians: the first round also warms the caches the others find.
    runs = [(_run(ruleset, inputs, marks=False), _run(ruleset, inputs, marks=True)) for _ in range(rounds)]
    failed = runs[0][0][0]
    seconds = statistics.median(plain[1] for plain, _ in runs)
    with_marks = statistics.median(marked[1] for _, marked in runs)
    return EngineFigures(
        events=len(inputs),
        failed=failed,
        seconds=round(seconds, 3),
        events_per_second=round(len(inputs) / seconds, 1),
        microseconds_per_event=round(seconds / len(inputs) * 1e6, 1),
        with_marks_seconds=round(with_marks, 3),
        with_marks_events_per_second=round(len(inputs) / with_marks, 1),
    )


def _run(ruleset: Any, inputs: Sequence[EventInput], *, marks: bool) -> tuple[int, float]:
    state = WorkingState()
    marker = Marker(ruleset, perks=True) if marks else None
    failed = 0
    gc.collect()
    started = time.perf_counter()
    for event in inputs:
        try:
            decisions = evaluate(ruleset, event, state)
        except EvaluationError:
            failed += 1
            continue
        settle(ruleset, event, state, decisions)
        if marker is not None:
            marker.after_event(state, event)
    return failed, time.perf_counter() - started
