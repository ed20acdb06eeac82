"""End-to-end throughput with real processes: `rewards serve` and one `rewards worker` on PostgreSQL and Redis.

Senders post the community over HTTP while a reader times GET /v1/users/{id} at a fixed rate; the clock stops
when GET /v1/health reports no pending event. The reader then goes on for a few seconds on the idle system.

The reader runs in a process of its own, as a forum's page renderer would: in the senders' event loop, its timings
included the senders' own CPU. By default it reads from an API process of its own, while the senders post to
another, and both the worker and the posting API process run at a lower CPU priority (`nice`): the deployment the
README recommends, where the forum's reads come before background writes. `--read-api shared --background-nice 0`
measures one API process for everything, at one priority.

The reader is open-loop: it sends one request every 1/rate seconds whatever the answers' speed, and times each
from when it was due. A closed-loop reader (the next request when the last one is answered) takes whatever CPU
the machine has left, so the write figure would depend on how fast reads are, and a slow machine would hide its
slow answers by asking less often."""

import asyncio
import logging
import math
import multiprocessing
import multiprocessing.connection
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import aiohttp
import httpx
import orjson
from arq.constants import health_check_key_suffix
from sqlalchemy.ext.asyncio import create_async_engine

from bench.bench_services import (
    POSTGRES_URL,
    REDIS_URL,
    DatabaseFigures,
    database_figures,
    flush_redis,
    postgres_cpu_seconds,
    process_cpu_seconds,
    recreate_postgres_database,
    redis_key_exists,
)
from rewards import PROJECT_ROOT
from rewards.redis_keys import ARQ_QUEUE

log = logging.getLogger(__name__)

REWARDS_COMMAND = Path(sys.executable).parent / "rewards"
WORKER_HEALTH_KEY = ARQ_QUEUE + health_check_key_suffix  # arq sets it once the worker's start-up is done
START_TIMEOUT_SECONDS = 90.0
STOP_TIMEOUT_SECONDS = 20.0
IDLE_READ_SECONDS = 5.0
HEALTH_POLL_SECONDS = 0.5
JSON_HEADERS = {"Content-Type": "application/json"}
# As behind a proxy that logs the requests itself: uvicorn's access log costs about 0.5 ms of CPU a request.
API_OPTIONS = ("--no-access-log",)


@dataclass(frozen=True)
class LatencyFigures:
    """Client-side latency of a GET, as a forum page would see it; percentiles over the 200 answers."""

    count: int
    not_found: int
    errors: int
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    max_ms: float | None


@dataclass(frozen=True)
class EndToEndFigures:
    events: int
    http_batch_size: int
    senders: int
    reads_per_second: float
    read_api: str  # "own": the reader's GETs go to an API process of their own; "shared": to the senders' one
    background_nice: int  # niceness of the worker and of the posting API process
    accepted: int
    duplicates: int
    post_retries: int
    seconds: float | None
    events_per_second: float | None
    intake_seconds: float
    intake_events_per_second: float
    peak_pending_events: int
    finished: bool
    failed: int
    get_user: LatencyFigures
    get_user_idle: LatencyFigures
    get_health: LatencyFigures
    worker_peak_memory_mib: float
    api_peak_memory_mib: float
    # CPU seconds over the whole run (posting, applying, then the idle reads) of each part sharing the machine:
    # the worker, the posting API process, the reading one (with --read-api own), the PostgreSQL server, this
    # process (the senders) and the reader's process.
    cpu_seconds: dict[str, float | None]
    result: DatabaseFigures
    logs: str


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def check_alive(self) -> None:
        code = self.process.poll()
        if code is not None:
            raise RuntimeError(f"`rewards {self.name}` exited with code {code}; see {self.log_path}")


@dataclass
class ReaderSamples:
    latencies: list[float] = field(default_factory=list)
    not_found: int = 0
    errors: int = 0
    cpu_seconds: float = 0.0  # of the reader's process, when it has one


@dataclass
class Backlog:
    finished_at: float | None = None  # when GET /v1/health first said 0 after the last post; None on time-out
    peak_pending: int = 0
    health: ReaderSamples = field(default_factory=ReaderSamples)


@dataclass
class SendTotals:
    accepted: int = 0
    duplicates: int = 0
    retries: int = 0


def measure_end_to_end(
    events: Sequence[dict[str, Any]],
    *,
    users: int,
    seed: int,
    http_batch_size: int,
    senders: int,
    reads_per_second: float,
    drain_timeout: float,
    read_api: Literal["own", "shared"] = "own",
    background_nice: int = 10,
) -> EndToEndFigures:
    bodies = [orjson.dumps(events[i : i + http_batch_size]) for i in range(0, len(events), http_batch_size)]
    asyncio.run(_fresh_services())
    log_dir = Path(tempfile.mkdtemp(prefix="rewards-bench-e2e-"))
    print(f"bench: end-to-end process logs in {log_dir}", file=sys.stderr, flush=True)

    env = {
        **os.environ,
        "REWARDS_DATABASE_URL": POSTGRES_URL,
        "REWARDS_REDIS_URL": REDIS_URL,
        "REWARDS_ENVIRONMENT": "test",
    }
    api_key = _create_api_key(env, log_dir)
    with _running(env, log_dir, read_api=read_api, background_nice=background_nice) as services:
        postgres_cpu_started, client_cpu_started = postgres_cpu_seconds(), time.process_time()
        run = asyncio.run(
            _drive(
                services,
                api_key,
                bodies,
                users=users,
                seed=seed,
                senders=senders,
                reads_per_second=reads_per_second,
                drain_timeout=drain_timeout,
            )
        )
        worker_memory = _peak_memory_mib(_python_pid(services.worker.process.pid))
        api_memory = _peak_memory_mib(_python_pid(services.api.process.pid))
        postgres_cpu = postgres_cpu_seconds()
        cpu_seconds = {
            "worker": process_cpu_seconds(_python_pid(services.worker.process.pid)),
            "api": process_cpu_seconds(_python_pid(services.api.process.pid)),
            "read_api": None
            if services.read_api is None
            else process_cpu_seconds(_python_pid(services.read_api.process.pid)),
            "postgres": None
            if postgres_cpu is None or postgres_cpu_started is None
            else round(postgres_cpu - postgres_cpu_started, 1),
            "client": round(time.process_time() - client_cpu_started, 1),
            "reader": round(run.samples.cpu_seconds + run.idle_samples.cpu_seconds, 1),
        }
    figures = asyncio.run(_database_figures())

    intake_rate = len(events) / run.intake_seconds
    return EndToEndFigures(
        events=len(events),
        http_batch_size=http_batch_size,
        senders=senders,
        reads_per_second=reads_per_second,
        read_api=read_api,
        background_nice=background_nice,
        accepted=run.totals.accepted,
        duplicates=run.totals.duplicates,
        post_retries=run.totals.retries,
        seconds=None if run.seconds is None else round(run.seconds, 3),
        events_per_second=None if run.seconds is None else round(len(events) / run.seconds, 1),
        intake_seconds=round(run.intake_seconds, 3),
        intake_events_per_second=round(intake_rate, 1),
        peak_pending_events=run.backlog.peak_pending,
        finished=run.seconds is not None,
        failed=figures.outcomes.get("failed", 0),
        get_user=_latency_figures(run.samples),
        get_user_idle=_latency_figures(run.idle_samples),
        get_health=_latency_figures(run.backlog.health),
        worker_peak_memory_mib=worker_memory,
        api_peak_memory_mib=api_memory,
        cpu_seconds=cpu_seconds,
        result=figures,
        logs=str(log_dir),
    )


async def _fresh_services() -> None:
    await recreate_postgres_database()
    await flush_redis()


async def _database_figures() -> DatabaseFigures:
    engine = create_async_engine(POSTGRES_URL)
    try:
        return await database_figures(engine)
    finally:
        await engine.dispose()


def _create_api_key(env: dict[str, str], log_dir: Path) -> str:
    """`rewards apikey create` also brings the fresh database's schema up to date."""
    completed = subprocess.run(
        [str(REWARDS_COMMAND), "apikey", "create", "--scope", "admin", "--name", "bench"],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    (log_dir / "apikey.log").write_text(completed.stderr, encoding="utf-8")
    lines = completed.stdout.strip().splitlines()
    if completed.returncode != 0 or not lines:
        raise RuntimeError(f"`rewards apikey create` failed ({completed.returncode}): {completed.stderr[-2000:]}")
    return lines[-1].strip()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@dataclass(frozen=True)
class Services:
    api: Service
    api_url: str
    worker: Service
    read_api: Service | None
    read_url: str

    @property
    def all(self) -> tuple[Service, ...]:
        return (self.api, self.worker) if self.read_api is None else (self.api, self.worker, self.read_api)


@contextmanager
def _running(
    env: dict[str, str], log_dir: Path, *, read_api: Literal["own", "shared"], background_nice: int
) -> Iterator[Services]:
    """The API process(es) and one worker, stopped (SIGTERM, then SIGKILL) whatever happens."""
    with ExitStack() as stack:
        port = free_port()
        api = _start("serve", ["serve", "--port", str(port), *API_OPTIONS], env, log_dir, nice=background_nice)
        stack.callback(_stop, api)
        reader_api = reader_port = None
        if read_api == "own":
            reader_port = free_port()
            reader_api = _start(
                "serve-reads", ["serve", "--port", str(reader_port), *API_OPTIONS], env, log_dir, nice=0
            )
            stack.callback(_stop, reader_api)
        worker = _start("worker", ["worker"], env, log_dir, nice=background_nice)
        stack.callback(_stop, worker)
        yield Services(
            api=api,
            api_url=f"http://127.0.0.1:{port}",
            worker=worker,
            read_api=reader_api,
            read_url=f"http://127.0.0.1:{reader_port or port}",
        )


def _start(name: str, arguments: list[str], env: dict[str, str], log_dir: Path, *, nice: int) -> Service:
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [*(["nice", "-n", str(nice)] if nice else []), str(REWARDS_COMMAND), *arguments],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            # Our own process group, so a Ctrl-C reaches only the benchmark, which then stops them in order.
            start_new_session=True,
        )
    if nice:
        _lower_autogroup_priority(process.pid, nice)
    log.info("started `rewards %s` (pid %d, nice %d)", " ".join(arguments), process.pid, nice)
    return Service(name=name, process=process, log_path=log_path)


def _lower_autogroup_priority(pid: int, nice: int) -> None:
    """With Linux's autogroup scheduling, each session is weighed as one whole against the others, and a process's
    own niceness only counts within its session. The service runs in a session of its own (start_new_session), so
    the session's niceness is what lowers its share of the CPU against the readers and PostgreSQL. A deployment
    does the same with its service manager's CPU weight (systemd `CPUWeight=`, a container's CPU shares)."""
    autogroup = Path(f"/proc/{pid}/autogroup")
    if autogroup.exists():
        try:
            autogroup.write_text(f"{nice}\n")
        except OSError as error:
            log.warning("could not lower the autogroup priority of pid %d: %s", pid, error)


def _stop(service: Service) -> None:
    if service.process.poll() is None:
        service.process.send_signal(signal.SIGTERM)
        try:
            service.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            log.warning("`rewards %s` ignored SIGTERM for %.0f s; killing it", service.name, STOP_TIMEOUT_SECONDS)
            service.process.kill()
            service.process.wait()
    # uvicorn re-raises SIGTERM once it has shut down cleanly, hence -15 rather than 0.
    log.info("`rewards %s` stopped with code %s", service.name, service.process.returncode)


def _python_pid(pid: int) -> int:
    """The Python interpreter doing the work: `pid` itself, or its first Python descendant if `pid` is a wrapper."""
    queue = [pid]
    while queue:
        candidate = queue.pop(0)
        if "python" in Path(f"/proc/{candidate}/exe").resolve().name:
            return candidate
        queue.extend(_children(candidate))
    raise RuntimeError(f"no Python process found under pid {pid}")


def _children(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command name, in parentheses, may itself contain spaces: the parent pid follows the last ")".
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def _peak_memory_mib(pid: int) -> float:
    """VmHWM: the peak resident set size of the process so far."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"/proc/{pid}/status has no VmHWM line")


@dataclass(frozen=True)
class _Run:
    totals: SendTotals
    samples: ReaderSamples
    idle_samples: ReaderSamples
    intake_seconds: float
    seconds: float | None
    backlog: Backlog


async def _drive(
    services: Services,
    api_key: str,
    bodies: list[bytes],
    *,
    users: int,
    seed: int,
    senders: int,
    reads_per_second: float,
    drain_timeout: float,
) -> _Run:
    auth = {"Authorization": f"Bearer {api_key}"}
    timeout = httpx.Timeout(120.0)
    async with (
        httpx.AsyncClient(base_url=services.api_url, headers=auth, timeout=timeout) as sender_client,
        httpx.AsyncClient(base_url=services.api_url, timeout=timeout) as health_client,
    ):
        await _wait_until_ready(health_client, services)

        totals = SendTotals()
        posting_done = asyncio.Event()
        log.info("posting %d batches with %d senders, reading %g users/s", len(bodies), senders, reads_per_second)
        reader = _Reader(services.read_url, api_key, users, seed, reads_per_second)
        try:
            await reader.started()
            started = time.perf_counter()
            watcher = asyncio.create_task(
                _watch_backlog(health_client, posting_done, services.all, started + drain_timeout)
            )
            try:
                next_body = iter(bodies)
                await asyncio.gather(*(_send(sender_client, next_body, totals) for _ in range(senders)))
                intake_seconds = time.perf_counter() - started
                posting_done.set()
                log.info("posted in %.1f s; waiting for the worker to apply the backlog", intake_seconds)
                backlog = await watcher
            finally:
                watcher.cancel()
            samples = await reader.stop()
        finally:
            reader.kill()
        seconds = None if backlog.finished_at is None else backlog.finished_at - started
        if seconds is not None:
            log.info("all applied %.1f s after the first post", seconds)

    # The same reads on an idle system, to tell the cost of a read from the cost of sharing the machine.
    idle_reader = _Reader(services.read_url, api_key, users, seed - 1, reads_per_second)
    try:
        await idle_reader.started()
        await asyncio.sleep(IDLE_READ_SECONDS)
        idle_samples = await idle_reader.stop()
    finally:
        idle_reader.kill()
    return _Run(totals, samples, idle_samples, intake_seconds, seconds, backlog)


class _Reader:
    """GET /v1/users/{id} at a fixed rate from a process of its own, from `started()` until `stop()`.

    Spawned, not forked: this process runs an event loop and threads that a fork would copy mid-flight."""

    def __init__(self, base_url: str, api_key: str, users: int, seed: int, rate: float) -> None:
        context = multiprocessing.get_context("spawn")
        self._started = context.Event()
        self._stop = context.Event()
        self._answers, sender = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_reader_main,
            args=(base_url, api_key, users, seed, rate, self._started, self._stop, sender),
            name="bench-reader",
            daemon=True,
        )
        self._process.start()
        sender.close()

    async def started(self) -> None:
        deadline = time.perf_counter() + START_TIMEOUT_SECONDS
        while not self._started.is_set():
            if not self._process.is_alive() or time.perf_counter() > deadline:
                raise RuntimeError(f"the reader process did not start (exit code {self._process.exitcode})")
            await asyncio.sleep(0.05)

    async def stop(self) -> ReaderSamples:
        self._stop.set()
        if not await asyncio.to_thread(self._answers.poll, STOP_TIMEOUT_SECONDS):
            raise RuntimeError(f"the reader process sent no samples (exit code {self._process.exitcode})")
        samples: ReaderSamples = self._answers.recv()
        await asyncio.to_thread(self._process.join, STOP_TIMEOUT_SECONDS)
        return samples

    def kill(self) -> None:
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._answers.close()


def _reader_main(
    base_url: str,
    api_key: str,
    users: int,
    seed: int,
    rate: float,
    started: Any,
    stop: Any,
    answers: multiprocessing.connection.Connection,
) -> None:
    cpu_at_start = time.process_time()  # after the imports: the reading itself
    samples = asyncio.run(_read_until_stopped(base_url, api_key, users, seed, rate, started, stop))
    samples.cpu_seconds = time.process_time() - cpu_at_start
    answers.send(samples)
    answers.close()


async def _read_until_stopped(
    base_url: str, api_key: str, users: int, seed: int, rate: float, started: Any, stop: Any
) -> ReaderSamples:
    samples = ReaderSamples()
    stopping = asyncio.Event()

    async def watch_stop() -> None:
        # Polled, not waited for in a thread: if reading fails, the loop must not wait on that thread to close.
        while not stop.is_set():  # noqa: ASYNC110 (a multiprocessing event, which asyncio cannot await)
            await asyncio.sleep(0.05)
        stopping.set()

    auth = {"Authorization": f"Bearer {api_key}"}
    # aiohttp for the reader: httpx took about 3 ms of CPU per GET, on the machine under test.
    async with aiohttp.ClientSession(base_url, headers=auth, timeout=aiohttp.ClientTimeout(total=120)) as client:
        watcher = asyncio.create_task(watch_stop())
        started.set()
        try:
            await _read_users(client, random.Random(seed), users, rate, stopping, samples)
        finally:
            watcher.cancel()
    return samples


async def _wait_until_ready(client: httpx.AsyncClient, services: Services) -> None:
    deadline = time.perf_counter() + START_TIMEOUT_SECONDS
    api_ready = worker_ready = False
    urls = {services.api_url, services.read_url}
    while not (api_ready and worker_ready):
        for service in services.all:
            service.check_alive()
        if time.perf_counter() > deadline:
            raise RuntimeError(f"the API or the worker did not start within {START_TIMEOUT_SECONDS:.0f} s")
        if not api_ready:
            with suppress(httpx.TransportError):
                answers = [await client.get(f"{url}/v1/health") for url in urls]
                api_ready = all(answer.status_code == 200 for answer in answers)
        worker_ready = worker_ready or await redis_key_exists(WORKER_HEALTH_KEY)
        await asyncio.sleep(0.2)
    log.info("API and worker are ready")


async def _send(client: httpx.AsyncClient, bodies: Iterator[bytes], totals: SendTotals) -> None:
    """Post batches until none is left. A retry after a lost answer is safe: the redelivery is a duplicate."""
    for body in bodies:
        problem = ""
        for attempt in range(4):
            if attempt:
                totals.retries += 1
                await asyncio.sleep(0.5 * 2**attempt)
            try:
                response = await client.post("/v1/events", content=body, headers=JSON_HEADERS)
            except httpx.TransportError as error:
                problem = f"{type(error).__name__}: {error}"
                continue
            if response.status_code == 202:
                intake = response.json()
                totals.accepted += intake["accepted"]
                totals.duplicates += intake["duplicates"]
                break
            problem = f"{response.status_code}: {response.text[:1000]}"
            if response.status_code < 500:
                raise RuntimeError(f"POST /v1/events answered {problem}")
        else:
            raise RuntimeError(f"POST /v1/events failed 4 times, last with {problem}")


async def _read_users(
    client: aiohttp.ClientSession,
    rng: random.Random,
    users: int,
    rate: float,
    stop: asyncio.Event,
    samples: ReaderSamples,
) -> None:
    """One GET every 1/rate seconds until `stop`, each timed from when it was due (open loop)."""
    in_flight: set[asyncio.Task[None]] = set()
    due = time.perf_counter()
    while not stop.is_set():
        due += 1.0 / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(_read_one(client, f"/v1/users/u{rng.randint(1, users)}", due, samples))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    await asyncio.gather(*in_flight)


async def _read_one(client: aiohttp.ClientSession, path: str, due: float, samples: ReaderSamples) -> None:
    try:
        async with client.get(path) as response:
            await response.read()
            status = response.status
    except (aiohttp.ClientError, TimeoutError):
        samples.errors += 1
        return
    if status == 200:
        samples.latencies.append(time.perf_counter() - due)
    elif status == 404:
        samples.not_found += 1
    else:
        samples.errors += 1


async def _watch_backlog(
    client: httpx.AsyncClient,
    posting_done: asyncio.Event,
    services: tuple[Service, ...],
    deadline: float,
) -> Backlog:
    """Poll GET /v1/health until it reports no pending event after the last post.

    Not too often: the health query itself costs the database time that the worker would otherwise use.
    """
    backlog = Backlog()
    last_report = time.perf_counter()
    while True:
        # Read before asking: an answer computed before the last post committed must not end the run.
        all_posted = posting_done.is_set()
        asked = time.perf_counter()
        response = await client.get("/v1/health")
        response.raise_for_status()
        pending = int(response.json()["pending_events"])
        now = time.perf_counter()
        backlog.health.latencies.append(now - asked)
        backlog.peak_pending = max(backlog.peak_pending, pending)
        if all_posted and pending == 0:
            backlog.finished_at = now
            return backlog
        for service in services:
            service.check_alive()
        if now > deadline:
            log.error("gave up waiting: %d events still pending", pending)
            return backlog
        if now - last_report > 10.0:
            log.info("  %d events pending%s", pending, "" if all_posted else " (still posting)")
            last_report = now
        await asyncio.sleep(HEALTH_POLL_SECONDS if all_posted else 1.0)


def _latency_figures(samples: ReaderSamples) -> LatencyFigures:
    ordered = sorted(samples.latencies)

    def percentile(share: float) -> float | None:
        if not ordered:
            return None
        # Nearest rank: the smallest sample with at least `share` of the samples at or below it.
        rank = max(1, math.ceil(len(ordered) * share))
        return round(ordered[rank - 1] * 1000, 2)

    return LatencyFigures(
        count=len(ordered),
        not_found=samples.not_found,
        errors=samples.errors,
        p50_ms=percentile(0.50),
        p90_ms=percentile(0.90),
        p99_ms=percentile(0.99),
        max_ms=percentile(1.0),
    )
