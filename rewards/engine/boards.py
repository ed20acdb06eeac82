"""Leaderboards declared in the rules file: what they score, their scope and periods (pure, no I/O)."""

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

BoardId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]


class BoardSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: BoardId
    title: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    description: str | None = Field(default=None, max_length=500)


def check_boards(spec: Any) -> list[tuple[tuple[str | int, ...], str]]:
    """Problems that span boards and the rest of the rules file (a board naming an unknown counter...)."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    seen: set[str] = set()
    for index, board in enumerate(spec.leaderboards):
        if board.id in seen:
            problems.append((("leaderboards", index, "id"), f"board id {board.id!r} is used twice"))
        seen.add(board.id)
    return problems
