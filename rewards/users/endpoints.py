"""HTTP API for users: profile and reputation history."""

from typing import Annotated

from fastapi import APIRouter, Path, Query

from rewards.deps import CanRead, SessionDep
from rewards.users import service
from rewards.users.schemas import HistoryOut, UserOut

router = APIRouter(prefix="/v1/users", tags=["users"])

UserId = Annotated[str, Path(min_length=1, max_length=200, description="The forum's user id.")]


@router.get("/{user_id}", response_model=UserOut, responses={404: {"description": "Never named in any event."}})
async def get_user(user_id: UserId, session: SessionDep, _: CanRead) -> UserOut:
    """Reputation and standing of one user."""
    return await service.profile(session, user_id)


@router.get("/{user_id}/history", response_model=HistoryOut, responses={404: {"description": "Never named."}})
async def get_history(
    user_id: UserId,
    session: SessionDep,
    _: CanRead,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[int | None, Query(ge=0, description="`next_before` of the previous page.")] = None,
) -> HistoryOut:
    """The user's ledger, newest first, each change with its reason in words: `+10 upvote on answer a9`."""
    return await service.history(session, user_id, before=before, limit=limit)
