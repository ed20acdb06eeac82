"""Leaderboard use cases: keep the boards with each applied batch, serve pages and "my spot", heal Redis, rebuild
from the ledger, and close periods (once) with their winners.

The database is the source of truth: each batch's deltas are written in the batch's own transaction (both
modes). On SQLite they are added to `leaderboard_scores` there and then; on PostgreSQL they are appended to
`leaderboard_deltas`, and a fold moves them into the scores on its own connection while the applier computes
the next batch (`rewards.apply.applier.Applier.fold_soon`), since upserting ~5 rows per event was a quarter
of the apply time. Scores plus deltas are the boards as of the sync watermark; a drain folds before it
returns, and whatever reads the scores as a whole under the apply cursor (heal, period closing, replay) folds
first. A page read from the database (no Redis, or Redis stale) may miss the batches of a drain still
running.

In production mode Redis mirrors the boards for fast reads: the applier writes a batch's deltas to Redis inside
the batch's transaction, just before it commits, while it still holds the apply cursor (so Redis sees batches
one at a time, in order). That is safe although Redis is not transactional with the database: every Redis
write is checked against the database's watermark (`leaderboard_sync.applied_through` = Redis `meta.seq`), so
a batch whose commit then fails leaves Redis one batch ahead, the next batch sees the mismatch and marks the
boards stale; readers then use the database, and the heal job reloads Redis from it. A Redis error never
fails the batch.
"""

import hashlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Hashable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from rewards.badges import service as badges_service
from rewards.badges.schemas import GrantBadgeIn
from rewards.db import unit_of_work
from rewards.engine.boards import (
    AT_FORMATS,
    BoardDelta,
    BoardSpec,
    CounterScore,
    Period,
    Ranked,
    RulesScore,
    board_deltas,
    boards_digest,
    competition_ranks,
    parse_at,
    period_end,
    period_key,
    period_of_key,
    previous_key,
    redis_expiry,
)
from rewards.engine.ranks import renewed_ranks, standing
from rewards.engine.renewal import Counts
from rewards.engine.ruleset import Ruleset
from rewards.engine.state import BadgeSource, WorkingState
from rewards.errors import Conflict, InvalidInput, NotFound
from rewards.events import repository as events_repository
from rewards.leaderboards import redis_store, repository
from rewards.leaderboards.schemas import (
    BoardOut,
    BoardPageOut,
    ClosedPeriodOut,
    EntryOut,
    PeriodAwardOut,
    WinnerOut,
)
from rewards.perks import service as perks_service
from rewards.renewals import repository as renewals
from rewards.runtime import Runtime, holder_name
from rewards.users import profiles
from rewards.users import repository as users_repository
from rewards.users.cache import Encoded, caches_of
from rewards.users.repository import UserView

log = logging.getLogger(__name__)

PENDING = "rewards.leaderboards.pending"
# A period closes this long after its end, so that events sent at 23:59:59 are applied first.
CLOSE_GRACE = timedelta(minutes=10)


@dataclass
class PendingMirror:
    """What a batch did to the boards, waiting for the applier to mirror it to Redis."""

    expected_seq: int
    new_seq: int
    deltas: list[BoardDelta] = field(default_factory=list)
    flags: list[tuple[str, bool]] = field(default_factory=list)
    rebuilt: bool = False


# -- the apply step ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BoardChanges:
    """What a batch adds to the boards (one delta per board, period and user), and the suspension flag of each
    user it changed (a suspended user is hidden from the boards)."""

    deltas: list[BoardDelta]
    flags: list[tuple[str, bool]]


def board_changes(ruleset: Ruleset, state: WorkingState) -> BoardChanges:
    """Taken from the state right after the batch is computed (the state then moves on to the next batch)."""
    return BoardChanges(
        deltas=board_deltas(ruleset.spec.leaderboards, state.entries, state.counter_changes),
        flags=[(user_id, state.users[user_id].suspended) for user_id in sorted(state.changed_users)],
    )


async def record_batch(
    session: AsyncSession, ruleset: Ruleset, first_seq: int, last_seq: int, changes: BoardChanges
) -> None:
    """Add a batch's board changes (events `first_seq`..`last_seq`) to the stored boards, in its transaction.

    If the boards changed (another ruleset) or the log is being applied again from an earlier point (a
    replay), the scores are recomputed from the ledger instead, which then already holds this batch."""
    boards = ruleset.spec.leaderboards
    applied_through, digest = await repository.get_sync(session)
    wanted = boards_digest(boards)
    if digest != wanted or first_seq <= applied_through:
        await repository.rebuild_scores(session, boards)
        session.info[PENDING] = PendingMirror(applied_through, last_seq, rebuilt=True)
    else:
        await repository.add_deltas(session, changes.deltas)
        session.info[PENDING] = PendingMirror(applied_through, last_seq, changes.deltas, changes.flags)
    await repository.set_sync(session, last_seq, wanted)


async def rebuild_after_replay(session: AsyncSession, ruleset: Ruleset, applied_through: int) -> None:
    """A replay's last step: every board recomputed from the rebuilt ledger in one pass (a replay records no
    per-batch deltas), as of `applied_through`. The copy in Redis is then stale until the heal job reloads it
    (`mirror_batch` marks it so)."""
    boards = ruleset.spec.leaderboards
    synced, _ = await repository.get_sync(session)
    await repository.rebuild_scores(session, boards)
    await repository.set_sync(session, applied_through, boards_digest(boards))
    session.info[PENDING] = PendingMirror(synced, applied_through, rebuilt=True)


async def fold(session: AsyncSession) -> int:
    """Fold the deltas committed so far into the scores (PostgreSQL; nothing to do on SQLite)."""
    return await repository.fold_deltas(session)


@asynccontextmanager
async def redis_client(runtime: Runtime) -> AsyncIterator[Redis]:
    """The process's Redis connection when it has one (the API), else a short-lived one (worker, CLI)."""
    if runtime.queue is not None:
        yield runtime.queue
        return
    if runtime.settings.redis_url is None:
        raise RuntimeError("leaderboards in Redis need REWARDS_REDIS_URL")
    client = Redis.from_url(runtime.settings.redis_url, socket_timeout=5, socket_connect_timeout=2)
    try:
        yield client
    finally:
        await client.aclose()


async def mirror_batch(runtime: Runtime, session: AsyncSession, now: datetime) -> None:
    """Production mode: write the batch `record_batch` kept to Redis. Called by the applier inside the batch's
    transaction, under the apply cursor. Never raises: a Redis failure leaves the boards stale, not the batch
    failed."""
    pending: PendingMirror | None = session.info.pop(PENDING, None)
    if pending is None or runtime.settings.redis_url is None:
        return
    try:
        async with redis_client(runtime) as client:
            if pending.rebuilt:
                await redis_store.mark_stale(client)
                return
            boards = {board.id: board for board in runtime.ruleset.spec.leaderboards}
            expiries = _expiries(boards, pending.deltas)
            applied = await redis_store.apply_batch(
                client, pending.expected_seq, pending.new_seq, pending.deltas, expiries, pending.flags, now
            )
            if not applied:
                log.info("leaderboards in Redis are behind the database; they are served from it until healed")
    except Exception as error:  # Redis down or slow: the database has the batch, the heal job catches up
        log.warning("could not update the leaderboards in Redis (%s); they will be rebuilt", error)


def _expiries(boards: dict[str, BoardSpec], deltas: Sequence[BoardDelta]) -> list[datetime | None]:
    cache: dict[tuple[str, str], datetime | None] = {}
    found: list[datetime | None] = []
    for delta in deltas:
        key = (delta.board, delta.period)
        if key not in cache:
            cache[key] = redis_expiry(boards[delta.board], period_of_key(delta.period), delta.period)
        found.append(cache[key])
    return found


# -- reading ----------------------------------------------------------------------------------------------


def _board(ruleset: Ruleset, board_id: str) -> BoardSpec:
    for board in ruleset.spec.leaderboards:
        if board.id == board_id:
            return board
    known = ", ".join(board.id for board in ruleset.spec.leaderboards) or "none are declared"
    raise NotFound(f"no leaderboard {board_id!r}; the boards are: {known}", detail={"boards": _ids(ruleset)})


def _ids(ruleset: Ruleset) -> list[str]:
    return [board.id for board in ruleset.spec.leaderboards]


def _period(board: BoardSpec, period: str, at: str | None, now: datetime) -> tuple[Period, str]:
    if period not in board.periods:
        raise InvalidInput(
            f"board {board.id!r} has no {period!r} period; its periods are: {', '.join(board.periods)}",
            detail={"periods": list(board.periods)},
        )
    chosen: Period = period
    try:
        return chosen, parse_at(chosen, at, now)
    except ValueError as error:
        raise InvalidInput(
            f"`at` {at!r} is not a {chosen} period: {error}",
            detail={"expected": AT_FORMATS[chosen] if chosen == "all-time" else f"{AT_FORMATS[chosen]} or a date"},
        ) from None


def _use_redis(runtime: Runtime, board: BoardSpec, period: Period, key: str, now: datetime) -> bool:
    if runtime.settings.redis_url is None:
        return False
    expiry = redis_expiry(board, period, key)
    return expiry is None or expiry > now


def score_text(board: BoardSpec) -> str:
    score = board.score
    if isinstance(score, CounterScore):
        return f"counter {score.counter}" + (f" ({score.scope})" if score.scope else "")
    if isinstance(score, RulesScore):
        return "points from rules " + ", ".join(score.rules)
    return "reputation"


def list_boards(ruleset: Ruleset, now: datetime) -> list[BoardOut]:
    return [
        BoardOut(
            id=board.id,
            title=board.title,
            description=board.description,
            score=score_text(board),
            periods=list(board.periods),
            current={period: period_key(period, now) for period in board.periods},
            awards=[
                PeriodAwardOut(period=award.period, top=award.top, badge=award.badge, perk=award.perk)
                for award in board.awards
            ],
        )
        for board in ruleset.spec.leaderboards
    ]


def _entries(
    ruleset: Ruleset,
    ranked: list[Ranked],
    users: dict[str, UserView],
    held: list[tuple[str, str, str, datetime]],
    windows: Counts,
) -> list[EntryOut]:
    """`windows`: the members' renewal windows (`rewards.renewals.repository.windows`), for titles that may lapse."""
    summaries = badges_service.summaries(ruleset, held, [row.user_id for row in ranked])
    badges_held: dict[str, list[tuple[str, str]]] = {}
    for user_id, badge_id, tier, _ in held:
        badges_held.setdefault(user_id, []).append((badge_id, tier))
    entries = []
    for row in ranked:
        user = users.get(row.user_id)
        reputation = 0 if user is None else user.reputation
        renewed = renewed_ranks(ruleset.spec.ranks, windows, row.user_id, reputation)
        title = standing(ruleset.spec.ranks, reputation, badges_held.get(row.user_id, []), renewed).rank
        entries.append(
            EntryOut(
                rank=row.rank,
                user_id=row.user_id,
                **profiles.member_fields(row.user_id, None if user is None else user.profile),
                score=row.score,
                reached_at=row.reached_at,
                reputation=reputation,
                rank_title=title.title if title is not None else None,
                badges=summaries[row.user_id],
            )
        )
    return entries


async def _members(
    session: AsyncSession, ranked: list[Ranked]
) -> tuple[dict[str, UserView], list[tuple[str, str, str, datetime]]]:
    """The reputations and held badges of a page's members, in one round trip."""
    if not ranked:
        return {}, []
    return await users_repository.views_with_badges(session, [row.user_id for row in ranked])


async def _windows(session: AsyncSession, ruleset: Ruleset, users: dict[str, UserView]) -> Counts:
    """The renewal windows of a page's members whose title may lapse. Not part of a page's validator: they move
    only with an event about the member, which sets their `updated_seq`."""
    return await renewals.windows(session, ruleset.spec.ranks, ((u.user_id, u.reputation) for u in users.values()))


@dataclass(frozen=True)
class _Found:
    """A page's rows, before the members' details are added."""

    board: str
    period: Period
    at: str
    served_from: str
    ranked: list[Ranked]


async def _page_out(session: AsyncSession, ruleset: Ruleset, found: _Found) -> BoardPageOut:
    users, held = await _members(session, found.ranked)
    return BoardPageOut(
        board=found.board,
        period=found.period,
        at=found.at,
        served_from=found.served_from,
        entries=_entries(ruleset, found.ranked, users, held, await _windows(session, ruleset, users)),
    )


async def _page_json(session: AsyncSession, ruleset: Ruleset, what: Hashable, found: _Found) -> Encoded:
    """The page as JSON with its ETag, encoded once per change: of its rows (from Redis or the database, read on
    every request), of a member on it (`updated_seq`: reputation, suspension), of their held badges (a manager's
    grant changes no seq) or of the ruleset. The rows and the members are one round trip each."""
    users, held = await _members(session, found.ranked)
    validator = (
        ruleset.version,
        found.served_from,
        found.at,
        tuple(found.ranked),
        tuple(sorted(users.items())),  # the whole rows: a replay rewrites reputations under the same seqs
        tuple(sorted(held)),
    )
    cache = caches_of(session).boards
    encoded = cache.get(what, validator)
    if encoded is None:
        page = BoardPageOut(
            board=found.board,
            period=found.period,
            at=found.at,
            served_from=found.served_from,
            entries=_entries(ruleset, found.ranked, users, held, await _windows(session, ruleset, users)),
        )
        body = page.model_dump_json().encode()
        etag = f'W/"lb-{hashlib.sha256(body).hexdigest()[:20]}"'
        encoded = cache.put(what, Encoded(validator, body, etag))
    return encoded


async def _sql_page(session: AsyncSession, board: str, key: str, offset: int, limit: int) -> list[Ranked]:
    rows = await repository.page(session, board, key, offset, limit)
    if not rows:
        return []
    first_rank = await repository.count_above(session, board, key, rows[0][1]) + 1
    return competition_ranks(rows, first_rank, offset)


async def _board_rows(
    runtime: Runtime,
    session: AsyncSession,
    board_id: str,
    period: str,
    at: str | None,
    limit: int,
    offset: int,
    now: datetime,
) -> _Found:
    board = _board(runtime.ruleset, board_id)
    chosen, key = _period(board, period, at, now)
    ranked: list[Ranked] | None = None
    if _use_redis(runtime, board, chosen, key, now):
        try:
            async with redis_client(runtime) as client:
                ranked = await redis_store.page(client, board.id, key, offset, limit)
        except Exception as error:
            log.warning("leaderboard read from Redis failed (%s); reading the database", error)
    served_from = "redis" if ranked is not None else "database"
    if ranked is None:
        ranked = await _sql_page(session, board.id, key, offset, limit)
    return _Found(board.id, chosen, key, served_from, ranked)


async def board_page(
    runtime: Runtime,
    session: AsyncSession,
    board_id: str,
    period: str,
    at: str | None,
    limit: int,
    offset: int,
    now: datetime,
) -> BoardPageOut:
    found = await _board_rows(runtime, session, board_id, period, at, limit, offset, now)
    return await _page_out(session, runtime.ruleset, found)


async def board_page_json(
    runtime: Runtime,
    session: AsyncSession,
    board_id: str,
    period: str,
    at: str | None,
    limit: int,
    offset: int,
    now: datetime,
) -> Encoded:
    """`board_page` as JSON bytes with an ETag (the API's read; the console takes the models)."""
    found = await _board_rows(runtime, session, board_id, period, at, limit, offset, now)
    return await _page_json(session, runtime.ruleset, ("page", found.board, found.at, offset, limit), found)


async def _around_rows(
    runtime: Runtime,
    session: AsyncSession,
    board_id: str,
    user_id: str,
    period: str,
    at: str | None,
    radius: int,
    now: datetime,
) -> _Found:
    board = _board(runtime.ruleset, board_id)
    chosen, key = _period(board, period, at, now)
    found: list[Ranked] | bool | None = None
    if _use_redis(runtime, board, chosen, key, now):
        try:
            async with redis_client(runtime) as client:
                found = await redis_store.around(client, board.id, key, user_id, radius)
        except Exception as error:
            log.warning("leaderboard read from Redis failed (%s); reading the database", error)
    served_from = "redis" if found is not None else "database"
    if found is None:
        position = await repository.position(session, board.id, key, user_id)
        if position is None:
            found = False
        else:
            start = max(0, position - radius)
            found = await _sql_page(session, board.id, key, start, position - start + radius + 1)
    if found is False or found is True:
        raise NotFound(
            f"{user_id!r} is not on board {board.id!r} for {key}: no positive score in that period (or suspended)"
        )
    return _Found(board.id, chosen, key, served_from, found)


async def around_user(
    runtime: Runtime,
    session: AsyncSession,
    board_id: str,
    user_id: str,
    period: str,
    at: str | None,
    radius: int,
    now: datetime,
) -> BoardPageOut:
    found = await _around_rows(runtime, session, board_id, user_id, period, at, radius, now)
    return await _page_out(session, runtime.ruleset, found)


async def around_user_json(
    runtime: Runtime,
    session: AsyncSession,
    board_id: str,
    user_id: str,
    period: str,
    at: str | None,
    radius: int,
    now: datetime,
) -> Encoded:
    """`around_user` as JSON bytes with an ETag."""
    found = await _around_rows(runtime, session, board_id, user_id, period, at, radius, now)
    return await _page_json(session, runtime.ruleset, ("around", found.board, found.at, user_id, radius), found)


async def closed_periods(runtime: Runtime, session: AsyncSession, board_id: str, limit: int) -> list[ClosedPeriodOut]:
    board = _board(runtime.ruleset, board_id)
    closures = await repository.closures(session, board.id, limit)
    winners = await repository.winners(session, board.id, [closure.period for closure in closures])
    by_period: dict[str, list[WinnerOut]] = {}
    for winner in winners:
        by_period.setdefault(winner.period, []).append(
            WinnerOut(
                rank=winner.rank, user_id=winner.user_id, score=winner.score, prize=winner.prize, granted=winner.granted
            )
        )
    return [
        ClosedPeriodOut(
            period=period_of_key(closure.period),
            at=closure.period,
            closed_at=closure.closed_at,
            winners=by_period.get(closure.period, []),
        )
        for closure in closures
    ]


# -- rebuilding and healing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RebuildReport:
    rows: int
    redis_periods: int
    applied_through: int
    database_seconds: float = 0.0  # the scores recomputed from the ledger, indexes included
    redis_seconds: float = 0.0  # Redis reloaded from them


# How long a heal turn may hold the apply cursor to load closed periods a rebuild left in the database (at least
# one period a turn): batches wait meanwhile.
LAZY_LOAD_SECONDS = 1.0


async def _load_redis(session: AsyncSession, client: Redis, boards: Sequence[BoardSpec], now: datetime) -> int:
    """Reload Redis from the scores table (the caller holds the apply cursor, so nothing moves meanwhile), with
    the deltas not folded yet added first. Only the open periods are loaded; the closed ones Redis keeps are
    left to the heal job (`_load_lazy`), served from the database meanwhile. Returns the periods loaded."""
    await fold(session)
    seq, _ = await repository.get_sync(session)
    await redis_store.mark_stale(client)
    await redis_store.clear(client)
    hidden = set(await repository.suspended_users(session))
    by_id = {board.id: board for board in boards}
    loaded = 0
    lazy: list[str] = []
    for board_id, key in await repository.stored_periods(session):
        board = by_id.get(board_id)
        if board is None:
            continue
        period = period_of_key(key)
        expiry = redis_expiry(board, period, key)
        if expiry is not None and expiry <= now:
            continue
        end = period_end(period, key)
        if end is not None and end <= now:
            lazy.append(redis_store.base_key(board_id, key))
            continue
        await _load_period(session, client, board_id, key, hidden, expiry)
        loaded += 1
    await redis_store.finish_load(client, hidden, seq, uuid.uuid4().hex, lazy)
    return loaded


async def _load_period(
    session: AsyncSession, client: Redis, board: str, key: str, hidden: set[str], expiry: datetime | None
) -> None:
    async for chunk in repository.all_scores(session, board, key):
        await redis_store.load_period(client, board, key, chunk, hidden, expiry)


async def _load_lazy(session: AsyncSession, client: Redis, boards: Sequence[BoardSpec], now: datetime) -> int:
    """Load closed periods a rebuild left in the database, newest first, for about `LAZY_LOAD_SECONDS` (the
    caller holds the apply cursor: no batch moves them meanwhile). Returns how many it loaded."""
    by_id = {board.id: board for board in boards}
    waiting = []
    for board_id, key in await redis_store.lazy_periods(client):
        board = by_id.get(board_id)
        end = period_end(period_of_key(key), key) if board is not None else None
        waiting.append((end or now, board_id, key))
    if not waiting:
        return 0
    await fold(session)
    hidden = set(await repository.suspended_users(session))
    started = time.perf_counter()
    loaded = 0
    for _, board_id, key in sorted(waiting, reverse=True):
        board = by_id.get(board_id)
        expiry = redis_expiry(board, period_of_key(key), key) if board is not None else now
        if expiry is None or expiry > now:
            await redis_store.forget_period(client, board_id, key)  # what a load that failed halfway left
            await _load_period(session, client, board_id, key, hidden, expiry)
        await redis_store.loaded(client, board_id, key)  # loaded, or no longer kept in Redis at all
        loaded += 1
        if time.perf_counter() - started >= LAZY_LOAD_SECONDS:
            break
    return loaded


async def rebuild(runtime: Runtime, now: datetime) -> RebuildReport:
    """`rewards leaderboards rebuild`: recompute every board from the ledger, then reload Redis from it.

    Two transactions, each under the apply cursor (no batch is applied halfway through either): the new scores
    are swapped in and committed first, with Redis marked stale, so readers go to the database and wait only for
    that commit; Redis is then loaded from the committed scores (`_load_redis` folds what batches added between
    the two)."""
    boards = runtime.ruleset.spec.leaderboards
    started = time.perf_counter()
    async with unit_of_work(runtime.sessionmaker) as uow:
        applied_through, _ = await events_repository.take_cursor(uow.session, holder_name("leaderboards"), now)
        rows = await repository.rebuild_scores(uow.session, boards)
        await repository.set_sync(uow.session, applied_through, boards_digest(boards))
        if runtime.settings.redis_url is not None:
            async with redis_client(runtime) as client:
                await redis_store.mark_stale(client)
    database_seconds = time.perf_counter() - started
    loaded = 0
    if runtime.settings.redis_url is not None:
        async with unit_of_work(runtime.sessionmaker) as uow:
            await events_repository.take_cursor(uow.session, holder_name("leaderboards"), now)
            async with redis_client(runtime) as client:
                loaded = await _load_redis(uow.session, client, boards, now)
    return RebuildReport(
        rows=rows,
        redis_periods=loaded,
        applied_through=applied_through,
        database_seconds=round(database_seconds, 1),
        redis_seconds=round(time.perf_counter() - started - database_seconds, 1),
    )


def _healthy(meta: dict[str, str]) -> bool:
    return bool(meta.get("build")) and meta.get("stale") != "1"


async def heal(runtime: Runtime, now: datetime) -> int:
    """Scheduled: if Redis lost the boards (flushed, restarted empty) or missed a batch, reload it from the
    database. Returns 1 when it reloaded; 0 too when a replay holds the apply cursor (it tries again next turn)."""
    if runtime.settings.redis_url is None:
        return 0
    async with redis_client(runtime) as client:
        healthy = _healthy(await redis_store.status(client))
        if healthy and not await redis_store.lazy_periods(client):
            return 0
        boards = runtime.ruleset.spec.leaderboards
        try:
            async with unit_of_work(runtime.sessionmaker) as uow:
                await _take_cursor_for_a_turn(uow.session, holder_name("leaderboards-heal"), now)
                if healthy or _healthy(await redis_store.status(client)):
                    # Healthy (or healed by another process while this one waited): closed periods still to load.
                    loaded = await _load_lazy(uow.session, client, boards, now)
                    if loaded:
                        log.info("loaded %d closed board periods into Redis", loaded)
                    return 0
                seq, digest = await repository.get_sync(uow.session)
                rebuilt = digest != boards_digest(boards)
                if rebuilt:  # the boards changed: new scores first, committed before Redis is loaded from them
                    await repository.rebuild_scores(uow.session, boards)
                    await repository.set_sync(uow.session, seq, boards_digest(boards))
                else:
                    periods = await _load_redis(uow.session, client, boards, now)
                    periods += await _load_lazy(uow.session, client, boards, now)
            if rebuilt:  # readers of the database waited for the swap's commit only, not for the load
                async with unit_of_work(runtime.sessionmaker) as uow:
                    await _take_cursor_for_a_turn(uow.session, holder_name("leaderboards-heal"), now)
                    periods = await _load_redis(uow.session, client, boards, now)
                    periods += await _load_lazy(uow.session, client, boards, now)
        except events_repository.CursorBusy:
            return 0
        log.info("leaderboards reloaded into Redis from the database (%d board periods)", periods)
        return 1


async def _take_cursor_for_a_turn(session: AsyncSession, holder: str, now: datetime) -> None:
    """The apply cursor, for a scheduled job: waited for while a batch holds it, not while a replay does (it
    holds it until it commits, minutes; the job would hold up the embedded scheduler, or a worker's slot, all
    that time): CursorBusy then, and the job tries again on its next turn."""
    try:
        await events_repository.take_cursor(session, holder, now, wait_ms=events_repository.BATCH_WAIT_MS)
    except events_repository.CursorBusy:
        log.info("%s: the apply cursor is held (a replay); trying again next turn", holder)
        raise


# -- closing periods --------------------------------------------------------------------------------------


async def close_periods(runtime: Runtime, now: datetime) -> int:
    """Scheduled: close the last ended period of every board period that has awards, exactly once across all
    processes (the closure row's unique key), and record its winners: the top N by rank, ties at the border
    included. Returns how many periods this call closed."""
    closed = 0
    holder = holder_name("leaderboards-close")
    try:
        for board in runtime.ruleset.spec.leaderboards:
            periods: dict[Period, list[Any]] = {}
            for award in board.awards:
                periods.setdefault(award.period, []).append(award)
            for period, awards in periods.items():
                key = previous_key(period, period_key(period, now - CLOSE_GRACE))
                async with unit_of_work(runtime.sessionmaker) as uow:
                    # The apply cursor first, as applying does: prizes then take perk locks and badge grants, and
                    # the same order everywhere means no deadlock with a batch being applied.
                    await _take_cursor_for_a_turn(uow.session, holder, now)
                    if not await repository.claim_closure(uow.session, board.id, key, now, holder):
                        continue
                    await fold(uow.session)
                    rows: list[dict[str, Any]] = []
                    for award in awards:
                        prize = f"badge:{award.badge}" if award.badge is not None else f"perk:{award.perk}"
                        for row in await top_with_ties(uow.session, board.id, key, award.top):
                            if award.badge is not None:
                                granted = await _grant_badge(uow.session, runtime, board, key, award.badge, row, now)
                            else:
                                assert award.perk is not None
                                granted = await perks_service.offer_prize(
                                    uow.session,
                                    runtime.ruleset,
                                    award.perk,
                                    row.user_id,
                                    f"leaderboard:{board.id}",
                                    f"{board.title}: #{row.rank} of {key}",
                                    now,
                                )
                            rows.append(
                                {
                                    "board": board.id,
                                    "period": key,
                                    "user_id": row.user_id,
                                    "prize": prize,
                                    "rank": row.rank,
                                    "score": row.score,
                                    "granted": granted,
                                }
                            )
                    await repository.add_winners(uow.session, rows)
                closed += 1
                log.info("closed %s %s of board %s: %d prize(s)", period, key, board.id, len(rows))
    except events_repository.CursorBusy:
        pass  # a replay holds the apply cursor: the rest close on a later turn
    return closed


async def top_with_ties(session: AsyncSession, board: str, key: str, top: int) -> list[Ranked]:
    """Everyone ranked `top` or better (standard competition ranks: a tie at the border is included)."""
    rows = await repository.page(session, board, key, 0, top)
    if len(rows) == top:
        rows = await repository.at_least(session, board, key, rows[-1][1])
    return [row for row in competition_ranks(rows, 1, 0) if row.rank <= top]


async def _grant_badge(
    session: AsyncSession, runtime: Runtime, board: BoardSpec, key: str, badge: str, row: Ranked, now: datetime
) -> bool:
    """Hand a period's badge to a winner (audit-logged and notified by the badge service); False when the user
    already holds it (a one-per-user badge won again), which the winners table keeps as not granted."""
    try:
        await badges_service.grant(
            session,
            runtime.ruleset,
            GrantBadgeIn(user_id=row.user_id, badge_id=badge, reason=f"{board.title}: #{row.rank} of {key}"),
            f"leaderboard:{board.id}",
            now,
            source=BadgeSource.BOARD,
        )
    except Conflict as error:  # already held
        log.info("%s %s: %s", board.id, key, error.message)
        return False
    return True
