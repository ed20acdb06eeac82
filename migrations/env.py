"""Alembic environment: runs on the connection `rewards.db.migrate` hands over, or on REWARDS_DATABASE_URL."""

import asyncio

from alembic import context
from sqlalchemy import Connection

from rewards.models import Base

target_metadata = Base.metadata


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_from_settings() -> None:
    from rewards.config import get_settings
    from rewards.db import create_engine

    engine = create_engine(get_settings())
    async with engine.begin() as connection:
        await connection.run_sync(run_on)
    await engine.dispose()


connection = context.config.attributes.get("connection")
if connection is not None:
    run_on(connection)
else:
    asyncio.run(run_from_settings())
