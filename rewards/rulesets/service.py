"""Load the configured ruleset and give it a version number, so every ledger entry can name its ruleset."""

from datetime import datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from rewards.engine.loader import load_ruleset_file
from rewards.engine.ruleset import Ruleset
from rewards.rulesets import repository


async def register(session: AsyncSession, ruleset: Ruleset, origin: str, now: datetime) -> int:
    """The version of this exact ruleset text: an existing one, or the next number."""
    version = await repository.version_of(session, ruleset.digest)
    if version is None:
        await repository.add_version(
            session, name=ruleset.name, digest=ruleset.digest, source=ruleset.source, origin=origin, now=now
        )
        version = await repository.version_of(session, ruleset.digest)
    assert version is not None
    ruleset.version = version
    return version


def load(path: Path) -> Ruleset:
    return load_ruleset_file(path)
