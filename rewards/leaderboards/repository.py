"""All SQL for leaderboards: the scores table (kept with each batch, recomputed from the ledger), the deltas
waiting to be folded into it (PostgreSQL), the sync watermark, board pages in rank order, and closed periods
with their winners."""

import json
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Date, and_, cast, delete, func, literal, or_, select, text, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from rewards.engine.boards import BoardDelta, BoardSpec, CounterScore, RulesScore, day_keys
from rewards.leaderboards.models import (
    LeaderboardPeriodClosure,
    LeaderboardScoreRow,
    LeaderboardSync,
    LeaderboardWinner,
)
from rewards.leaderboards.redis_store import stamp
from rewards.ledger.models import AwardRow, LedgerEntryRow
from rewards.models_base import UTCDateTime
from rewards.sql import asyncpg_connection, chunks, dialect_name, table_of, upsert
from rewards.users.models import UserRow

Score = LeaderboardScoreRow
ScoreRow = tuple[str, int, datetime]  # user, score, reached_at


# -- the sync watermark ------------------------------------------------------------------------------------


async def get_sync(session: AsyncSession) -> tuple[int, str]:
    row = (
        await session.execute(select(LeaderboardSync.applied_through, LeaderboardSync.boards_digest).limit(1))
    ).first()
    return (int(row[0]), str(row[1])) if row is not None else (0, "")


async def set_sync(session: AsyncSession, applied_through: int, digest: str) -> None:
    statement = upsert(session, LeaderboardSync).values(id=1, applied_through=applied_through, boards_digest=digest)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["id"],
            set_={"applied_through": applied_through, "boards_digest": digest},
        )
    )


# -- keeping scores ---------------------------------------------------------------------------------------


async def add_deltas(session: AsyncSession, deltas: Sequence[BoardDelta]) -> None:
    """Add a batch's deltas to the boards. PostgreSQL: append them to `leaderboard_deltas` (one COPY), for a
    fold to move into the scores; SQLite: add them to the scores at once, one compiled statement."""
    if not deltas:
        return
    if dialect_name(session) == "postgresql":
        connection = await asyncpg_connection(session)
        await connection.copy_records_to_table(
            "leaderboard_deltas",
            records=deltas,  # BoardDelta's fields are the columns, in order (_DELTA_FIELDS)
            columns=_DELTA_FIELDS,
        )
        return
    # One compiled statement run for every row (a multi-row VALUES would be compiled anew for every batch).
    statement = upsert(session, table_of(Score))
    statement = statement.on_conflict_do_update(
        index_elements=["board", "period", "user_id"],
        set_={
            "score": Score.score + statement.excluded.score,
            # SQLite stores UTC times as fixed-width text, so the larger text is the later time.
            "reached_at": func.max(Score.reached_at, statement.excluded.reached_at),
        },
    )
    await session.execute(
        statement,
        [
            {"board": d.board, "period": d.period, "user_id": d.user_id, "score": d.points, "reached_at": d.reached_at}
            for d in deltas
        ],
    )


# COPY's columns, in BoardDelta's field order by construction (its `points` go to the `score` column).
_DELTA_FIELDS = ["score" if name == "points" else name for name in BoardDelta._fields]

# Held by whoever folds the deltas or rewrites the scores, for the rest of its transaction: the background fold,
# and rebuilds, heals and period closings (which also hold the apply cursor; the fold never takes it).
FOLD_LOCK_KEY = 7_426_003


async def fold_deltas(session: AsyncSession) -> int:
    """Move the deltas committed so far into the scores, in one statement; how many scores it changed.

    Deltas committed after this statement began stay for the next fold. Summing a user's deltas first and
    adding the sum is the same as adding them one by one (scores add up, `reached_at` keeps the latest)."""
    if dialect_name(session) != "postgresql":
        return 0
    connection = await asyncpg_connection(session)
    await connection.execute("SELECT pg_advisory_xact_lock($1)", FOLD_LOCK_KEY)
    status = await connection.execute(
        """
        WITH moved AS (DELETE FROM leaderboard_deltas RETURNING board, period, user_id, score, reached_at)
        INSERT INTO leaderboard_scores (board, period, user_id, score, reached_at)
        SELECT board, period, user_id, sum(score), max(reached_at) FROM moved GROUP BY board, period, user_id
        ON CONFLICT (board, period, user_id) DO UPDATE SET
            score = leaderboard_scores.score + excluded.score,
            reached_at = greatest(leaderboard_scores.reached_at, excluded.reached_at)
        """
    )
    return int(status.split()[-1])


async def clear_scores(session: AsyncSession) -> None:
    """Empty the boards (SQLite: PostgreSQL builds fresh ones and swaps them in, `_rebuild_postgres`)."""
    await session.execute(delete(Score))


def _day(session: AsyncSession, column: Any) -> ColumnElement[Any]:
    if dialect_name(session) == "postgresql":
        return cast(func.timezone("UTC", column), Date)
    return func.substr(column, 1, 10)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


async def _daily_totals(session: AsyncSession, board: BoardSpec) -> AsyncIterator[tuple[str, date, int, datetime]]:
    """(user, UTC day, points, latest time of a non-zero item) for the board's score source, from the database."""
    score = board.score
    if isinstance(score, CounterScore):
        async for row in _counter_daily_totals(session, score):
            yield row
        return
    day = _day(session, LedgerEntryRow.occurred_at)
    statement = (
        select(
            LedgerEntryRow.user_id,
            day,
            func.sum(LedgerEntryRow.points),
            type_coerce(func.max(LedgerEntryRow.occurred_at), UTCDateTime),
        )
        .where(LedgerEntryRow.points != 0)
        .group_by(LedgerEntryRow.user_id, day)
    )
    if isinstance(score, RulesScore):
        statement = statement.where(LedgerEntryRow.rule_id.in_(score.rules))
    result = await session.stream(statement.execution_options(yield_per=20_000))
    async for user_id, day_value, points, latest in result:
        yield user_id, _as_date(day_value), int(points), latest


async def _counter_daily_totals(
    session: AsyncSession, score: CounterScore
) -> AsyncIterator[tuple[str, date, int, datetime]]:
    """A counter's history is its awards: a live award counts at its own time; an undone or suspended one
    counted once and was taken back at that same time (0, but it still moved "reached at")."""
    statement = select(AwardRow.user_id, AwardRow.occurred_at, AwardRow.status, text("counts")).where(
        text("counts IS NOT NULL")
    )
    result = await session.stream(statement.execution_options(yield_per=20_000))
    totals: dict[tuple[str, date], list[Any]] = {}
    async for user_id, occurred_at, status, counts in result:
        weight = 0
        matched = False
        for counter_id, scope, counter_weight in json.loads(counts):
            if counter_id == score.counter and (score.scope is None or scope == score.scope):
                weight += int(counter_weight)
                matched = True
        if not matched or weight == 0:
            continue
        key = (user_id, occurred_at.astimezone(UTC).date())
        found = totals.setdefault(key, [0, occurred_at])
        found[0] += weight if status == "live" else 0
        found[1] = max(found[1], occurred_at)
    for (user_id, day), (points, latest) in totals.items():
        yield user_id, day, points, latest


# PostgreSQL computes the period keys itself (the same keys as `day_keys`), from each UTC day, so a rebuild never
# leaves it.
_PG_DAY_KEYS: dict[str, str] = {
    "all-time": "'all'",
    "yearly": "to_char(day, 'YYYY')",
    "quarterly": "to_char(day, 'YYYY-\"Q\"Q')",
    "monthly": "to_char(day, 'YYYY-MM')",
    "weekly": "to_char(day, 'IYYY-\"W\"IW')",
    "daily": "to_char(day, 'YYYY-MM-DD')",
}


async def _insert_periods_postgres(
    connection: Any, table: str, board: BoardSpec, daily_sql: str, *arguments: Any
) -> int:
    """One statement per board: the daily totals (user, UTC day, points, latest) computed once, then rolled up
    into every period the board keeps (a period's score is the sum of its days, its time the latest)."""
    rollups = " UNION ALL ".join(
        # a day's rows are already the daily period's: no grouping
        f"SELECT $1, {_PG_DAY_KEYS[period]}, user_id, points, latest FROM daily"  # noqa: S608
        if period == "daily"
        else f"SELECT $1, {_PG_DAY_KEYS[period]}, user_id, sum(points), max(latest) FROM daily GROUP BY 2, 3"  # noqa: S608
        for period in board.periods  # the keys are constants of this module, never input
    )
    sql = (
        f"WITH daily AS MATERIALIZED ({daily_sql}) "
        f"INSERT INTO {table} (board, period, user_id, score, reached_at) {rollups}"
    )
    status = await connection.execute(sql, board.id, *arguments)
    return int(status.split()[-1])


async def _rebuild_ledger_board_postgres(connection: Any, table: str, board: BoardSpec) -> int:
    rules = board.score.rules if isinstance(board.score, RulesScore) else None
    daily = (
        "SELECT user_id, (occurred_at AT TIME ZONE 'UTC')::date AS day, sum(points) AS points, "
        "max(occurred_at) AS latest FROM ledger_entries "
        "WHERE points <> 0 AND ($2::text[] IS NULL OR rule_id = ANY($2::text[])) GROUP BY 1, 2"
    )
    return await _insert_periods_postgres(connection, table, board, daily, rules)


async def _rebuild_counter_board_postgres(connection: Any, table: str, board: BoardSpec, score: CounterScore) -> int:
    """`_counter_daily_totals` in SQL: each award's weight for the counter (the sum of its matching `counts`
    items); a live award counts at its own time, an undone or suspended one moved "reached at" only."""
    daily = (
        "SELECT user_id, (occurred_at AT TIME ZONE 'UTC')::date AS day, "
        "sum(CASE WHEN status = 'live' THEN weight ELSE 0 END) AS points, max(occurred_at) AS latest "
        "FROM (SELECT awards.user_id, awards.occurred_at, awards.status, sum((item.value->>2)::int) AS weight "
        "      FROM awards CROSS JOIN LATERAL jsonb_array_elements(awards.counts::jsonb) AS item(value) "
        "      WHERE awards.counts IS NOT NULL AND item.value->>0 = $2 "
        "        AND ($3::text IS NULL OR item.value->>1 = $3) "
        "      GROUP BY awards.id) AS counted "
        "WHERE weight <> 0 GROUP BY 1, 2"
    )
    return await _insert_periods_postgres(connection, table, board, daily, score.counter, score.scope)


# The fresh table a PostgreSQL rebuild fills, then swaps in for `leaderboard_scores` (names: the model's, so the
# schema after a swap is the one the migrations made: `pk_leaderboard_scores`, `ix_leaderboard_scores_order`).
_NEXT = "leaderboard_scores_next"


async def _rebuild_postgres(session: AsyncSession, boards: Sequence[BoardSpec]) -> int:
    """Every board computed into a fresh table with no index (rows appended, nothing to check or keep in
    order), its indexes built once at the end (one sort each), then swapped in for the scores in this
    transaction. Readers keep reading the old scores meanwhile; only the swap (a rename) makes them wait, until
    the commit. The pending deltas are dropped with the old scores: the ledger already holds them."""
    connection = await asyncpg_connection(session)
    await connection.execute("SELECT pg_advisory_xact_lock($1)", FOLD_LOCK_KEY)
    # Memory for the roll-ups' hash tables and the index sorts (a rare, bulk job), for this transaction only.
    await connection.execute("SET LOCAL work_mem = '256MB'")
    await connection.execute("SET LOCAL maintenance_work_mem = '256MB'")
    await connection.execute(f"DROP TABLE IF EXISTS {_NEXT}")
    await connection.execute(f"CREATE TABLE {_NEXT} (LIKE leaderboard_scores INCLUDING DEFAULTS)")
    written = 0
    for board in boards:
        if isinstance(board.score, CounterScore):
            written += await _rebuild_counter_board_postgres(connection, _NEXT, board, board.score)
        else:
            written += await _rebuild_ledger_board_postgres(connection, _NEXT, board)
    await connection.execute(f"ALTER TABLE {_NEXT} ADD CONSTRAINT pk_{_NEXT} PRIMARY KEY (board, period, user_id)")
    await connection.execute(f"CREATE INDEX ix_{_NEXT}_order ON {_NEXT} (board, period, score, reached_at, user_id)")
    await connection.execute("DROP TABLE leaderboard_scores")
    await connection.execute(f"ALTER TABLE {_NEXT} RENAME TO leaderboard_scores")
    await connection.execute(f"ALTER INDEX pk_{_NEXT} RENAME TO pk_leaderboard_scores")
    await connection.execute(f"ALTER INDEX ix_{_NEXT}_order RENAME TO ix_leaderboard_scores_order")
    await connection.execute("TRUNCATE leaderboard_deltas")
    await connection.execute("ANALYZE leaderboard_scores")  # a fresh table has no statistics: plans need them
    return written


async def rebuild_scores(session: AsyncSession, boards: Sequence[BoardSpec]) -> int:
    """Recompute every board's scores from the ledger (and the counted awards); the number of rows written."""
    if dialect_name(session) == "postgresql":
        return await _rebuild_postgres(session, boards)
    await clear_scores(session)
    written = 0
    for board in boards:
        totals: dict[tuple[str, str], list[Any]] = {}
        async for user_id, day, points, latest in _daily_totals(session, board):
            keys = day_keys(day)
            for period in board.periods:
                found = totals.get((keys[period], user_id))
                if found is None:
                    totals[(keys[period], user_id)] = [points, latest]
                else:
                    found[0] += points
                    if latest > found[1]:
                        found[1] = latest
        rows = [(board.id, key, user, points, latest) for (key, user), (points, latest) in totals.items()]
        await _insert_scores(session, rows)
        written += len(rows)
    return written


async def _insert_scores(session: AsyncSession, rows: list[tuple[str, str, str, int, datetime]]) -> None:
    if not rows:
        return
    if dialect_name(session) == "postgresql":
        connection = await asyncpg_connection(session)
        await connection.copy_records_to_table(
            "leaderboard_scores", records=rows, columns=["board", "period", "user_id", "score", "reached_at"]
        )
        return
    for batch in chunks(rows, 5000):
        await session.execute(
            table_of(Score).insert(),
            [{"board": b, "period": p, "user_id": u, "score": s, "reached_at": r} for b, p, u, s, r in batch],
        )


# -- reading boards ---------------------------------------------------------------------------------------


def _user_order(session: AsyncSession) -> ColumnElement[Any]:
    # Byte order of user ids on every database (and in Redis, which orders tied members bytewise).
    return Score.user_id.collate("C") if dialect_name(session) == "postgresql" else Score.user_id.collate("BINARY")


def _visible(board: str, period: str) -> ColumnElement[bool]:
    hidden = select(UserRow.user_id).where(UserRow.user_id == Score.user_id, UserRow.suspended.is_(True)).exists()
    return and_(Score.board == board, Score.period == period, Score.score > 0, ~hidden)


async def page(session: AsyncSession, board: str, period: str, offset: int, limit: int) -> list[ScoreRow]:
    rows = await session.execute(
        select(Score.user_id, Score.score, Score.reached_at)
        .where(_visible(board, period))
        .order_by(Score.score.desc(), Score.reached_at, _user_order(session))
        .offset(offset)
        .limit(limit)
    )
    return [(user, int(score), reached) for user, score, reached in rows]


async def count_above(session: AsyncSession, board: str, period: str, score: int) -> int:
    found = await session.scalar(
        select(func.count()).select_from(Score).where(_visible(board, period), Score.score > score)
    )
    return int(found or 0)


async def position(session: AsyncSession, board: str, period: str, user_id: str) -> int | None:
    """The 0-based place of a user on a board, or None when they are not on it (no score, or hidden)."""
    mine = (
        await session.execute(
            select(Score.score, Score.reached_at).where(_visible(board, period), Score.user_id == user_id)
        )
    ).first()
    if mine is None:
        return None
    score, reached = mine
    before = or_(
        Score.score > score,
        and_(Score.score == score, Score.reached_at < reached),
        and_(Score.score == score, Score.reached_at == reached, _user_order(session) < literal(user_id)),
    )
    found = await session.scalar(select(func.count()).select_from(Score).where(_visible(board, period), before))
    return int(found or 0)


# The distinct (board, period) pairs by a skip scan of the primary key: one index probe per pair instead of a
# scan of every score (a million members: 13 million rows, half a minute, for a few hundred pairs).
_STORED_PERIODS_SQL = """
WITH RECURSIVE pairs(board, period) AS (
    (SELECT board, period FROM leaderboard_scores ORDER BY board, period LIMIT 1)
    UNION ALL
    SELECT next.board, next.period FROM pairs, LATERAL (
        SELECT s.board, s.period FROM leaderboard_scores s
        WHERE (s.board, s.period) > (pairs.board, pairs.period) ORDER BY s.board, s.period LIMIT 1
    ) AS next
)
SELECT board, period FROM pairs
"""


async def stored_periods(session: AsyncSession) -> list[tuple[str, str]]:
    if dialect_name(session) == "postgresql":
        rows = await session.execute(text(_STORED_PERIODS_SQL))
    else:
        rows = await session.execute(select(Score.board, Score.period).distinct())
    return [(board, period) for board, period in rows]


# A stored score as Redis keeps it: (user, score, reached_at as `redis_store.stamp` writes it: microseconds
# since 1970, 16 digits, so that the text orders like the time).
StampedRow = tuple[str, int, str]

_STAMPED_SQL = (
    "SELECT user_id, score, lpad(((extract(epoch FROM reached_at) * 1000000)::bigint)::text, 16, '0') "
    "FROM leaderboard_scores WHERE board = $1 AND period = $2"
)


async def all_scores(
    session: AsyncSession, board: str, period: str, chunk: int = 50_000
) -> AsyncIterator[list[StampedRow]]:
    """Every stored score of a board's period (including zero and hidden ones), in chunks, stamped for Redis.
    PostgreSQL stamps the times itself (a million rows: a second of Python less) and sends them by cursor."""
    if dialect_name(session) == "postgresql":
        connection = await asyncpg_connection(session)
        cursor = await connection.cursor(_STAMPED_SQL, board, period)
        while records := await cursor.fetch(chunk):
            yield [(user, score, reached) for user, score, reached in records]
        return
    result = await session.stream(
        select(Score.user_id, Score.score, Score.reached_at)
        .where(Score.board == board, Score.period == period)
        .execution_options(yield_per=chunk)
    )
    async for partition in result.partitions():
        yield [(user, int(score), stamp(reached)) for user, score, reached in partition]


async def suspended_users(session: AsyncSession) -> list[str]:
    return list(await session.scalars(select(UserRow.user_id).where(UserRow.suspended.is_(True))))


async def all_rows(session: AsyncSession) -> list[tuple[str, str, str, int, datetime]]:
    """The whole scores table, sorted (for checks and tests)."""
    rows = await session.execute(
        select(Score.board, Score.period, Score.user_id, Score.score, Score.reached_at).order_by(
            Score.board, Score.period, Score.user_id
        )
    )
    return [(b, p, u, int(s), r) for b, p, u, s, r in rows]


# -- closing periods --------------------------------------------------------------------------------------


async def claim_closure(session: AsyncSession, board: str, period: str, now: datetime, holder: str) -> bool:
    """Claim the close of a period; True for exactly one claimant, ever (unique key, ON CONFLICT DO NOTHING)."""
    statement = (
        upsert(session, LeaderboardPeriodClosure)
        .values(board=board, period=period, closed_at=now, closed_by=holder)
        .on_conflict_do_nothing(index_elements=["board", "period"])
        .returning(LeaderboardPeriodClosure.board)
    )
    return (await session.execute(statement)).first() is not None


async def add_winners(session: AsyncSession, winners: list[dict[str, Any]]) -> None:
    if winners:
        await session.execute(table_of(LeaderboardWinner).insert(), winners)


async def at_least(session: AsyncSession, board: str, period: str, score: int) -> list[ScoreRow]:
    """Every visible row with at least this score, in rank order (the top N with the ties at its border)."""
    rows = await session.execute(
        select(Score.user_id, Score.score, Score.reached_at)
        .where(_visible(board, period), Score.score >= score)
        .order_by(Score.score.desc(), Score.reached_at, _user_order(session))
    )
    return [(user, int(value), reached) for user, value, reached in rows]


async def closures(session: AsyncSession, board: str, limit: int) -> list[LeaderboardPeriodClosure]:
    return list(
        await session.scalars(
            select(LeaderboardPeriodClosure)
            .where(LeaderboardPeriodClosure.board == board)
            .order_by(LeaderboardPeriodClosure.closed_at.desc(), LeaderboardPeriodClosure.period.desc())
            .limit(limit)
        )
    )


async def winners(session: AsyncSession, board: str, periods: list[str]) -> list[LeaderboardWinner]:
    if not periods:
        return []
    return list(
        await session.scalars(
            select(LeaderboardWinner)
            .where(LeaderboardWinner.board == board, LeaderboardWinner.period.in_(periods))
            .order_by(
                LeaderboardWinner.period.desc(),
                LeaderboardWinner.prize,
                LeaderboardWinner.rank,
                LeaderboardWinner.user_id,
            )
        )
    )
