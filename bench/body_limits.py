"""Large bodies without a key against a real `rewards serve`: how fast they are refused, and what it costs the
API process in memory (the hole issue 17 found: eight 30 MiB bodies took 3.5-5.9 s each and 1.1 GiB).

    python -m bench.body_limits [--bodies 8] [--mib 30]
"""

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import psutil

from bench.bench_end_to_end import free_port


async def _one(client: httpx.AsyncClient, url: str, size: int, chunked: bool) -> tuple[int, float]:
    started = time.perf_counter()
    if chunked:

        async def chunks() -> AsyncIterator[bytes]:
            block = b"x" * (1024 * 1024)
            for _ in range(size // len(block)):
                yield block

        content: bytes | AsyncIterator[bytes] = chunks()
    else:
        content = b"x" * size
    try:
        response = await client.post(url, content=content, headers={"content-type": "application/json"})
        status = response.status_code
    except httpx.TransportError:  # the server answered and closed while the client still sent
        status = -1
    return status, time.perf_counter() - started


async def _run(port: int, process: psutil.Process, bodies: int, size: int, chunked: bool) -> dict[str, object]:
    peak = process.memory_info().rss
    done = False

    async def watch() -> None:
        nonlocal peak
        while not done:
            peak = max(peak, process.memory_info().rss)
            await asyncio.sleep(0.01)

    watcher = asyncio.create_task(watch())
    url = f"http://127.0.0.1:{port}/v1/admin/perks/beta-5g-router/codes"
    async with httpx.AsyncClient(timeout=60) as client:
        results = await asyncio.gather(*(_one(client, url, size, chunked) for _ in range(bodies)))
    done = True
    await watcher
    return {
        "mode": "chunked" if chunked else "content-length",
        "statuses": sorted({status for status, _ in results}),
        "median_s": round(statistics.median(seconds for _, seconds in results), 3),
        "max_s": round(max(seconds for _, seconds in results), 3),
        "api_rss_peak_mib": round(peak / 2**20, 1),
        "api_rss_after_mib": round(process.memory_info().rss / 2**20, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bodies", type=int, default=8)
    parser.add_argument("--mib", type=int, default=30)
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "REWARDS_DATABASE_URL": f"sqlite+aiosqlite:///{Path(folder) / 'limits.db'}"}
        env.pop("REWARDS_REDIS_URL", None)
        server = subprocess.Popen(
            [sys.executable, "-m", "rewards.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(300):
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            process = psutil.Process(server.pid)
            before = round(process.memory_info().rss / 2**20, 1)
            figures = [
                asyncio.run(_run(port, process, args.bodies, args.mib * 2**20, chunked)) for chunked in (False, True)
            ]
            print(json.dumps({"bodies": args.bodies, "mib": args.mib, "api_rss_idle_mib": before, "runs": figures}))
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
