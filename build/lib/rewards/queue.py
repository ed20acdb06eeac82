"""The arq connection: jobs travel as JSON, never as pickles."""

from typing import Any

import orjson
from arq import ArqRedis, create_pool
from arq.connections import RedisSettings

from rewards.redis_keys import ARQ_QUEUE


def serialize_job(job: dict[str, Any]) -> bytes:
    return orjson.dumps(job)


def deserialize_job(payload: bytes) -> dict[str, Any]:
    job: dict[str, Any] = orjson.loads(payload)
    return job


def redis_settings(url: str) -> RedisSettings:
    return RedisSettings.from_dsn(url)


async def connect(url: str) -> ArqRedis:
    return await create_pool(
        redis_settings(url),
        default_queue_name=ARQ_QUEUE,
        job_serializer=serialize_job,
        job_deserializer=deserialize_job,
    )
