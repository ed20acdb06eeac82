"""HTTP API for leaderboards: the boards, a page of a board, a user's spot with neighbours, closed periods."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from rewards.deps import CanRead, RuntimeDep, SessionDep
from rewards.leaderboards import service
from rewards.leaderboards.schemas import BoardPageOut, BoardsOut, ClosedPeriodsOut
from rewards.runtime import utcnow
from rewards.users.cache import Encoded
from rewards.users.endpoints import UserId  # and the `member` path convertor: ids may hold slashes

router = APIRouter(prefix="/v1/leaderboards", tags=["leaderboards"])

BoardPath = Annotated[str, Path(min_length=1, max_length=64, description="A board id from GET /v1/leaderboards.")]
PeriodQuery = Annotated[
    str, Query(description="all-time, yearly, quarterly, monthly, weekly (ISO weeks) or daily; UTC.")
]
AtQuery = Annotated[
    str | None,
    Query(
        max_length=16,
        description="Which period: 2026, 2026-Q4, 2026-11, 2026-W47, 2026-11-23, or a date inside it; "
        "default: the current one.",
    ),
]


@router.get("", response_model=BoardsOut, summary="The leaderboards and their periods")
async def list_boards(runtime: RuntimeDep, _: CanRead) -> BoardsOut:
    return BoardsOut(boards=service.list_boards(runtime.ruleset, utcnow()))


@router.get(
    "/{board}",
    response_model=BoardPageOut,
    responses={304: {"description": "Nothing changed since the ETag sent in If-None-Match."}},
    summary="A page of a leaderboard, in rank order",
)
async def get_board(
    request: Request,
    board: BoardPath,
    runtime: RuntimeDep,
    session: SessionDep,
    _: CanRead,
    period: PeriodQuery = "all-time",
    at: AtQuery = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    """Ranks are standard competition ranks (1, 2, 2, 4); among equal scores the user who reached the score
    first comes first, then the user id. Suspended users are not shown. With an `ETag`: send it back as
    `If-None-Match` for a `304`."""
    page = await service.board_page_json(runtime, session, board, period, at, limit, offset, utcnow())
    return _json(request, page)


@router.get(
    "/{board}/around/{user_id:member}", response_model=BoardPageOut, summary="A user's spot on a board, with neighbours"
)
async def get_around(
    request: Request,
    board: BoardPath,
    user_id: UserId,
    runtime: RuntimeDep,
    session: SessionDep,
    _: CanRead,
    period: PeriodQuery = "all-time",
    at: AtQuery = None,
    radius: Annotated[int, Query(ge=0, le=50)] = 5,
) -> Response:
    """Up to `radius` users above and below; 404 when the user has no positive score in that period."""
    page = await service.around_user_json(runtime, session, board, user_id, period, at, radius, utcnow())
    return _json(request, page)


def _json(request: Request, page: Encoded) -> Response:
    # The page's bytes, encoded once per change of what it shows, sent without FastAPI validating them again
    # against `response_model` (which stays for the API reference). The forum reads these pages most.
    headers = {"ETag": page.etag}
    if page.etag in _etags(request.headers.get("if-none-match")):
        return Response(status_code=304, headers=headers)
    return Response(page.body, media_type="application/json", headers=headers)


def _etags(header: str | None) -> set[str]:
    return {tag.strip() for tag in header.split(",")} if header else set()


@router.get("/{board}/closed", response_model=ClosedPeriodsOut, summary="Closed periods and their winners")
async def get_closed(
    board: BoardPath,
    runtime: RuntimeDep,
    session: SessionDep,
    _: CanRead,
    limit: Annotated[int, Query(ge=1, le=100)] = 12,
) -> ClosedPeriodsOut:
    """The periods whose end-of-period awards were given, newest first, with the winners and their prizes."""
    return ClosedPeriodsOut(board=board, closed=await service.closed_periods(runtime, session, board, limit))
