"""Leaderboards in Redis (production mode): a sorted set per board and period, kept by one Lua script per batch.

Layout, under `rewards:lb:`:
- `{board}:{period}:s`: hash user -> "score:reached" (every user with a score, hidden or not, even <= 0);
- `{board}:{period}:z`: sorted set of the visible users with a positive score, member "reached|user", score
  -score. Ascending order is then: highest score first, then earliest `reached` (16-digit microseconds since
  1970, fixed width), then user id bytewise, which is the board's tie rule, so a rank is one ZRANK/ZCOUNT;
- `meta`: hash `seq` (the last event seq the boards include; matches `leaderboard_sync` in the database),
  `build` (the id of the rebuild that loaded them) and `stale` ("1" when something was missed);
- `hidden`: suspended users; `keys`: every board/period base written, for suspensions;
- `lazy`: the closed periods a rebuild left in the database (board/period bases): readers go to the database for
  them and batches leave them alone until the heal job loads them, a few at a time, and takes them out of it.
  A rebuild thus loads only the open periods (a million members: the all-time, this year's and this quarter's
  scores) before the boards are served from Redis again.

A batch is applied only if `meta.seq` is the seq the database had before the batch; anything else (a flush, a
batch written to Redis whose transaction then rolled back, Redis down for a while) marks the boards stale and
the readers go to the database until the heal job reloads Redis from it. One Redis instance, not a cluster:
the scripts touch keys they compute.
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from rewards.engine.boards import BoardDelta, Ranked

PREFIX = "rewards:lb:"
META = PREFIX + "meta"
HIDDEN = PREFIX + "hidden"
KEYS = PREFIX + "keys"
LAZY = PREFIX + "lazy"

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def base_key(board: str, period: str) -> str:
    return f"{PREFIX}{board}:{period}"


def stamp(when: datetime) -> str:
    return f"{(when - EPOCH) // timedelta(microseconds=1):016d}"


def from_stamp(text: str) -> datetime:
    return EPOCH + timedelta(microseconds=int(text))


_APPLY = """
local meta, hidden, registry, lazy = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local seq = redis.call('HGET', meta, 'seq')
if redis.call('HGET', meta, 'stale') == '1' or seq ~= ARGV[1] then
  redis.call('HSET', meta, 'stale', '1')
  return 0
end
local function visible(base, user, add)
  local current = redis.call('HGET', base .. ':s', user)
  if current then
    local sep = string.find(current, ':', 1, true)
    local score = tonumber(string.sub(current, 1, sep - 1))
    if score > 0 then
      local member = string.sub(current, sep + 1) .. '|' .. user
      if add then redis.call('ZADD', base .. ':z', -score, member) else redis.call('ZREM', base .. ':z', member) end
    end
  end
end
local i = 4
local nflags = tonumber(ARGV[3])
for _ = 1, nflags do
  local user, hide = ARGV[i], ARGV[i + 1] == '1'
  i = i + 2
  local was = redis.call('SISMEMBER', hidden, user) == 1
  if hide ~= was then
    if hide then redis.call('SADD', hidden, user) else redis.call('SREM', hidden, user) end
    for _, base in ipairs(redis.call('SMEMBERS', registry)) do visible(base, user, not hide) end
  end
end
local nitems = tonumber(ARGV[i])
i = i + 1
for _ = 1, nitems do
  local base, user, delta, reached, expire_at = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3], ARGV[i + 4]
  i = i + 5
  if redis.call('SISMEMBER', lazy, base) == 0 then
    local h, z = base .. ':s', base .. ':z'
    local score, t = 0, ''
    local current = redis.call('HGET', h, user)
    if current then
      local sep = string.find(current, ':', 1, true)
      score = tonumber(string.sub(current, 1, sep - 1))
      t = string.sub(current, sep + 1)
      if score > 0 then redis.call('ZREM', z, t .. '|' .. user) end
    end
    score = score + delta
    if reached > t then t = reached end
    redis.call('HSET', h, user, string.format('%d', score) .. ':' .. t)
    if score > 0 and redis.call('SISMEMBER', hidden, user) == 0 then redis.call('ZADD', z, -score, t .. '|' .. user) end
    if expire_at ~= '0' then
      redis.call('EXPIREAT', h, expire_at)
      redis.call('EXPIREAT', z, expire_at)
    end
    redis.call('SADD', registry, base)
  end
end
redis.call('HSET', meta, 'seq', ARGV[2])
return 1
"""

# A page: KEYS[1] meta, KEYS[2] the sorted set, KEYS[3] the lazy set; ARGV offset, limit, the period's base.
# Returns false when the boards are not to be trusted (or the period is not loaded yet), else {rank of the first
# row, member, score, ...}.
_PAGE = """
local state = redis.call('HMGET', KEYS[1], 'build', 'stale')
if not state[1] or state[2] == '1' then return false end
if redis.call('SISMEMBER', KEYS[3], ARGV[3]) == 1 then return false end
local rows = redis.call('ZRANGE', KEYS[2], ARGV[1], ARGV[1] + ARGV[2] - 1, 'WITHSCORES')
local first = 0
if #rows > 0 then first = redis.call('ZCOUNT', KEYS[2], '-inf', '(' .. rows[2]) + 1 end
table.insert(rows, 1, first)
return rows
"""

# Around a user: KEYS[1] meta, KEYS[2] the sorted set, KEYS[3] the scores hash, KEYS[4] the lazy set; ARGV
# user, radius, the period's base. Returns false (not to be trusted, or not loaded yet), {-1} (not on the board)
# or {position, rank of the first row, rows...}.
_AROUND = """
local state = redis.call('HMGET', KEYS[1], 'build', 'stale')
if not state[1] or state[2] == '1' then return false end
if redis.call('SISMEMBER', KEYS[4], ARGV[3]) == 1 then return false end
local current = redis.call('HGET', KEYS[3], ARGV[1])
if not current then return {-1} end
local sep = string.find(current, ':', 1, true)
local position = redis.call('ZRANK', KEYS[2], string.sub(current, sep + 1) .. '|' .. ARGV[1])
if not position then return {-1} end
local start = position - tonumber(ARGV[2])
if start < 0 then start = 0 end
local rows = redis.call('ZRANGE', KEYS[2], start, position + tonumber(ARGV[2]), 'WITHSCORES')
local first = redis.call('ZCOUNT', KEYS[2], '-inf', '(' .. rows[2]) + 1
table.insert(rows, 1, first)
table.insert(rows, 1, start)
return rows
"""


class Scripts:
    """Runs the Lua scripts by their SHA, loading them once per Redis server (after a restart too)."""

    def __init__(self) -> None:
        self._sha: dict[str, str] = {}

    async def run(self, client: Redis, source: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        sha = self._sha.get(source)
        if sha is not None:
            try:
                return await client.evalsha(sha, len(keys), *keys, *args)  # type: ignore[misc]
            except NoScriptError:
                pass
        self._sha[source] = await client.script_load(source)
        return await client.evalsha(self._sha[source], len(keys), *keys, *args)  # type: ignore[misc]


SCRIPTS = Scripts()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def apply_batch(
    client: Redis,
    expected_seq: int,
    new_seq: int,
    deltas: Sequence[BoardDelta],
    expiries: Sequence[datetime | None],
    flags: Sequence[tuple[str, bool]],
    now: datetime,
) -> bool:
    """Apply a batch's deltas; False (and the boards marked stale) if Redis was not at `expected_seq`."""
    args: list[Any] = [str(expected_seq), str(new_seq), len(flags)]
    for user, hide in flags:
        args += [user, "1" if hide else "0"]
    items: list[Any] = []
    count = 0
    for delta, expiry in zip(deltas, expiries, strict=True):
        if expiry is not None and expiry <= now:
            continue  # a closed period past its retention: the database keeps it, Redis need not
        items += [
            base_key(delta.board, delta.period),
            delta.user_id,
            delta.points,
            stamp(delta.reached_at),
            "0" if expiry is None else int(expiry.timestamp()),
        ]
        count += 1
    args += [count, *items]
    return bool(await SCRIPTS.run(client, _APPLY, [META, HIDDEN, KEYS, LAZY], args))


async def mark_stale(client: Redis) -> None:
    await client.hset(META, "stale", "1")  # type: ignore[misc]


async def status(client: Redis) -> dict[str, str]:
    raw = await client.hgetall(META)  # type: ignore[misc]
    return {_text(key): _text(value) for key, value in raw.items()}


def _rows(flat: Sequence[Any]) -> list[tuple[str, int, datetime]]:
    rows = []
    for index in range(0, len(flat), 2):
        reached, user = _text(flat[index]).split("|", 1)
        rows.append((user, -int(float(_text(flat[index + 1]))), from_stamp(reached)))
    return rows


def _ranked(rows: list[tuple[str, int, datetime]], first_rank: int, first_position: int) -> list[Ranked]:
    from rewards.engine.boards import competition_ranks

    return competition_ranks(rows, first_rank, first_position)


async def page(client: Redis, board: str, period: str, offset: int, limit: int) -> list[Ranked] | None:
    """A page of the board in rank order, or None when Redis is not to be trusted right now."""
    base = base_key(board, period)
    result = await SCRIPTS.run(client, _PAGE, [META, base + ":z", LAZY], [offset, limit, base])
    if result is None:
        return None
    return _ranked(_rows(result[1:]), int(result[0]), offset)


async def around(client: Redis, board: str, period: str, user_id: str, radius: int) -> list[Ranked] | bool | None:
    """The user's neighbourhood; None when Redis is not to be trusted, False when the user is not on it."""
    base = base_key(board, period)
    result = await SCRIPTS.run(client, _AROUND, [META, base + ":z", base + ":s", LAZY], [user_id, radius, base])
    if result is None:
        return None
    if int(result[0]) == -1:
        return False
    return _ranked(_rows(result[2:]), int(result[1]), int(result[0]))


async def clear(client: Redis) -> None:
    """Delete every leaderboard key (meta last: readers keep going to the database until it is back)."""
    batch: list[Any] = []
    async for key in client.scan_iter(match=PREFIX + "*", count=1000):
        if _text(key) != META:
            batch.append(key)
        if len(batch) >= 1000:
            await client.unlink(*batch)
            batch = []
    if batch:
        await client.unlink(*batch)


async def load_period(
    client: Redis,
    board: str,
    period: str,
    rows: Sequence[tuple[str, int, str]],
    hidden: set[str],
    expiry: datetime | None,
) -> None:
    """Write a chunk of a period's stored scores (a rebuild): (user, score, `stamp` of its time) rows."""
    base = base_key(board, period)
    pipe = client.pipeline(transaction=False)
    scores = {user: f"{score}:{reached}" for user, score, reached in rows}
    if hidden:
        members = {f"{reached}|{user}": -score for user, score, reached in rows if score > 0 and user not in hidden}
    else:
        members = {f"{reached}|{user}": -score for user, score, reached in rows if score > 0}
    if scores:
        pipe.hset(base + ":s", mapping=scores)
    if members:
        pipe.zadd(base + ":z", members)
    if expiry is not None:
        pipe.expireat(base + ":s", int(expiry.timestamp()))
        pipe.expireat(base + ":z", int(expiry.timestamp()))
    pipe.sadd(KEYS, base)
    await pipe.execute()


async def finish_load(client: Redis, hidden: set[str], seq: int, build: str, lazy: Sequence[str] = ()) -> None:
    """The boards loaded: served from Redis from now on, except the `lazy` bases (left in the database)."""
    pipe = client.pipeline(transaction=True)
    if hidden:
        pipe.sadd(HIDDEN, *hidden)
    pipe.delete(LAZY)
    if lazy:
        pipe.sadd(LAZY, *lazy)
    pipe.delete(META)
    pipe.hset(META, mapping={"seq": str(seq), "build": build, "stale": "0"})
    await pipe.execute()


async def lazy_periods(client: Redis) -> list[tuple[str, str]]:
    """The (board, period key) pairs a rebuild left in the database."""
    bases = [_text(base)[len(PREFIX) :] for base in await client.smembers(LAZY)]  # type: ignore[misc]
    return [(board, period) for board, period in (base.rsplit(":", 1) for base in bases)]


async def forget_period(client: Redis, board: str, period: str) -> None:
    """Delete a period's keys (a lazy one, before it is loaded: batches leave it alone, so anything there is
    what an earlier load left halfway)."""
    base = base_key(board, period)
    await client.unlink(base + ":s", base + ":z")


async def loaded(client: Redis, board: str, period: str) -> None:
    """A lazy period is now in Redis: readers and batches use it from now on."""
    await client.srem(LAZY, base_key(board, period))  # type: ignore[misc]
