"""Use cases of connectors that the rest of the service reads: how far behind each stream is."""

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from rewards.connectors import repository


async def connector_states(session: AsyncSession, now: datetime) -> list[dict[str, Any]]:
    """Each stream's watermark and lag (for `GET /v1/health`). The last error's text stays out: health is public;
    `rewards import khoros --live` and the logs show it."""
    return [
        {
            "connector": row.connector,
            "stream": row.stream,
            "watermark": row.watermark.isoformat() if row.watermark else None,
            "lag_seconds": round((now - row.watermark).total_seconds(), 1) if row.watermark else None,
            "last_success_at": row.last_success_at.isoformat() if row.last_success_at else None,
            "failures": row.failures,
        }
        for row in await repository.all_states(session)
    ]
