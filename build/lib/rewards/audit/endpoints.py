"""HTTP API for the audit log (scope `admin`)."""

from typing import Annotated

from fastapi import APIRouter, Query

from rewards.audit import service
from rewards.audit.schemas import AuditPageOut
from rewards.deps import IsAdmin, SessionDep
from rewards.inputs import MAX_BIGINT, UtcTime

router = APIRouter(prefix="/v1/audit", tags=["admin"])


@router.get("", response_model=AuditPageOut, summary="Every manager action, newest first, filterable")
async def get_audit(
    session: SessionDep,
    _: IsAdmin,
    user_id: Annotated[str | None, Query(max_length=200, description="Actions affecting this user.")] = None,
    action: Annotated[str | None, Query(max_length=64, description="`badge.grant`, or a prefix: `perk.`")] = None,
    actor: Annotated[str | None, Query(max_length=200, description="`key:<name>` or `user:<id>`.")] = None,
    since: Annotated[UtcTime | None, Query(description="RFC 3339; inclusive.")] = None,
    until: Annotated[UtcTime | None, Query(description="RFC 3339; exclusive.")] = None,
    before: Annotated[int | None, Query(ge=0, le=MAX_BIGINT, description="`next_before` of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> AuditPageOut:
    return await service.search(
        session, user_id=user_id, action=action, actor=actor, since=since, until=until, before=before, limit=limit
    )
