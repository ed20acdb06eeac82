"""The `rewards` command: serve, worker, migrate, apikey, rules, replay."""

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from rewards.auth.service import Scope
from rewards.config import get_settings

if TYPE_CHECKING:
    from rewards.apply.applier import Applier
    from rewards.imports.service import ImportSummary
    from rewards.runtime import Runtime

T = TypeVar("T")

app = typer.Typer(help="The rewards engine for expert communities.", no_args_is_help=True, add_completion=False)
apikey_app = typer.Typer(help="API keys for the forum and other machines.", no_args_is_help=True)
rules_app = typer.Typer(help="Rules files.", no_args_is_help=True)
app.add_typer(apikey_app, name="apikey")
app.add_typer(rules_app, name="rules")
import_app = typer.Typer(help="Import a community's history.", no_args_is_help=True)
app.add_typer(import_app, name="import")
leaderboards_app = typer.Typer(help="Leaderboards.", no_args_is_help=True)
app.add_typer(leaderboards_app, name="leaderboards")
perks_app = typer.Typer(help="Perks.", no_args_is_help=True)
app.add_typer(perks_app, name="perks")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="API processes (production mode).")] = 1,
    access_log: Annotated[
        bool,
        typer.Option(help="Log every request. Behind a proxy that logs them already, off saves CPU on every call."),
    ] = True,
) -> None:
    """Run the HTTP API (embedded mode applies events itself; production mode needs `rewards worker`)."""
    import uvicorn

    settings = get_settings()
    mode = "embedded (SQLite, events applied in-process)" if settings.embedded else "production (queue + workers)"
    typer.echo(f"rewards: {mode}; database {settings.database_url}; rules {settings.rules_path}")
    uvicorn.run(
        "rewards.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        access_log=access_log,
        # uvicorn's httptools protocol with deadlines for headers and bodies and a header size limit
        # (REWARDS_REQUEST_*_TIMEOUT_SECONDS, REWARDS_MAX_REQUEST_HEADER_BYTES): uvicorn has none of its own.
        http="rewards.request_deadlines:HttpProtocolWithDeadlines",
    )


@app.command()
def worker() -> None:
    """Apply queued events (production mode: needs REWARDS_REDIS_URL)."""
    import logging.config

    from arq.logs import default_log_config

    from rewards.worker import build_worker

    logging.config.dictConfig(default_log_config(verbose=False))
    logging.getLogger("rewards").setLevel(logging.INFO)
    build_worker(get_settings()).run()


@app.command()
def migrate() -> None:
    """Bring the database schema up to date (every command also does this by itself)."""
    from rewards.db import create_engine
    from rewards.db import migrate as run_migrations

    async def run() -> None:
        engine = create_engine(get_settings())
        try:
            await run_migrations(engine)
        finally:
            await engine.dispose()

    asyncio.run(run())
    typer.echo("database is up to date")


def with_runtime(work: Callable[["Runtime"], Awaitable[T]]) -> T:
    """Run one admin command against the configured database: start (and migrate), work, stop."""

    async def on_runtime(applier: "Applier") -> T:
        return await work(applier.runtime)

    return with_applier(on_runtime)


def with_applier(work: Callable[["Applier"], Awaitable[T]]) -> T:
    """Run one admin command that applies events or publishes rules. An expected failure (a broken dump, a bad
    file) ends the command with its message and exit code 1."""
    from rewards.apply.applier import Applier
    from rewards.errors import RewardsError
    from rewards.runtime import APPLYING_GC_THRESHOLD

    async def run() -> T:
        # Admin commands serve no requests; imports and replays apply the whole log.
        applier = await Applier.start(get_settings(), connect_queue=False, gc_threshold=APPLYING_GC_THRESHOLD)
        try:
            return await work(applier)
        finally:
            await applier.stop()

    try:
        return asyncio.run(run())
    except RewardsError as error:
        typer.echo(f"{error.message}", err=True)
        raise typer.Exit(1) from None


@apikey_app.command("create")
def apikey_create(
    scope: Annotated[list[Scope], typer.Option("--scope", help="Repeat for several scopes.")],
    name: Annotated[str, typer.Option(help="Who uses it, e.g. 'forum production'.")] = "forum",
) -> None:
    """Create an API key; it is printed once, as the last line."""
    from rewards.auth.service import create_key
    from rewards.db import unit_of_work
    from rewards.runtime import utcnow

    async def work(runtime: "Runtime") -> str:
        async with unit_of_work(runtime.sessionmaker) as uow:
            return await create_key(uow.session, name, scope, utcnow())

    key = with_runtime(work)
    typer.echo(f"API key {name!r} with scopes {', '.join(s.value for s in scope)} (shown only now, store it safely):")
    typer.echo(key)


@apikey_app.command("list")
def apikey_list() -> None:
    """The keys: prefix, name, scopes, created, revoked (never the secret)."""
    from rewards.auth.service import list_keys

    async def work(runtime: "Runtime") -> list[dict[str, str]]:
        async with runtime.sessionmaker() as session:
            return await list_keys(session)

    for key in with_runtime(work):
        typer.echo("\t".join(key.values()))


@apikey_app.command("revoke")
def apikey_revoke(prefix: Annotated[str, typer.Argument(help="The key's prefix: rk_<prefix>_...")]) -> None:
    """Revoke a key: every API process refuses it from its next request."""
    from redis.asyncio import Redis

    from rewards.auth.service import revoke_key, revoked
    from rewards.db import unit_of_work
    from rewards.runtime import utcnow

    async def work(runtime: "Runtime") -> bool:
        async with unit_of_work(runtime.sessionmaker) as uow:
            done = await revoke_key(uow.session, prefix, utcnow())
        if done and runtime.settings.redis_url is not None:
            # Committed: API processes that verified the key under the old marker check it again (production).
            client = Redis.from_url(runtime.settings.redis_url, socket_timeout=5, socket_connect_timeout=2)
            try:
                await revoked(client)
            except Exception as error:
                typer.echo(
                    f"revoked, but Redis was not told ({error}): API processes may accept the key for up to 30 s more",
                    err=True,
                )
            finally:
                await client.aclose()
        return done

    if not with_runtime(work):
        typer.echo(f"no active key with prefix {prefix!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked rk_{prefix}_...")


@rules_app.command("validate")
def rules_validate(path: Annotated[Path, typer.Argument(help="A rules YAML file.")]) -> None:
    """Check a rules file; prints every problem with file, line and rule id."""
    from rewards.engine.loader import check_ruleset_text
    from rewards.rulesets.service import event_data

    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        typer.echo(f"{path}: cannot read: {error}", err=True)
        raise typer.Exit(2) from None
    # The same checks as the console and the API: types of what rules compute, against the event contract.
    problems, spec = check_ruleset_text(source, str(path), event_data())
    for problem in problems:
        typer.echo(str(problem), err=True)
    if spec is None:
        raise typer.Exit(1)
    typer.echo(f"{path}: ruleset {spec.ruleset!r} is valid ({len(spec.points)} points rules, {len(spec.caps)} caps)")


@rules_app.command("publish")
def rules_publish(
    path: Annotated[Path, typer.Argument(help="A rules YAML file.")],
    comment: Annotated[str, typer.Option(help="Why: shown in the history and the audit log.")],
    retroactive: Annotated[
        bool, typer.Option("--retroactive", help="Replay the whole log under it (default: from now on).")
    ] = False,
) -> None:
    """Publish a rules file: every process applies it from its next batch (see README, Changing the rules)."""
    from rewards.apply.publish import publish_now
    from rewards.db import unit_of_work
    from rewards.rulesets import service
    from rewards.rulesets.schemas import PublishOut

    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        typer.echo(f"{path}: cannot read: {error}", err=True)
        raise typer.Exit(2) from None

    async def work(applier: "Applier") -> PublishOut:
        async with unit_of_work(applier.runtime.sessionmaker) as uow:
            published = await publish_now(
                applier,
                uow,
                source=source,
                version=None,
                mode=service.RETROACTIVE if retroactive else service.FROM_NOW_ON,
                comment=comment,
                actor=f"cli:{_os_user()}",
                via="cli",
            )
            return published

    typer.echo(with_applier(work).model_dump_json())


def _os_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in the environment or the password database (containers)
        return "unknown"


@app.command()
def replay() -> None:
    """Rebuild every derived table from the event log under the current ruleset, in one transaction."""
    from rewards.apply.publish import replay as replay_log
    from rewards.apply.steps import BatchResult
    from rewards.db import refresh_planner_statistics, unit_of_work
    from rewards.leaderboards import service as leaderboards
    from rewards.runtime import holder_name, utcnow

    async def work(runtime: "Runtime") -> BatchResult:
        async with unit_of_work(runtime.sessionmaker) as uow:
            result = await replay_log(
                uow.session, runtime.ruleset, runtime.settings.apply_batch_size, holder_name("replay"), utcnow()
            )
            # The boards were recomputed: Redis's copy is stale until the heal job reloads it.
            await leaderboards.mirror_batch(runtime, uow.session, utcnow())
        await refresh_planner_statistics(runtime.sessionmaker)
        return result

    result = with_runtime(work)
    typer.echo(json.dumps({"applied": result.applied, "failed": result.failed, "last_seq": result.last_seq}))


@import_app.command("stackexchange")
def import_stackexchange(
    folder: Annotated[Path, typer.Argument(help="A Stack Exchange data dump folder (Posts.xml, Votes.xml, ...).")],
    check: Annotated[bool, typer.Option("--check", help="Compare the reputation with the dump's Users.xml.")] = False,
    rules: Annotated[
        Path | None,
        typer.Option(
            help="Ruleset --check reconstructs the dump with [default: rules/stackexchange.yaml]. The import itself "
            "is applied with the service's rules (REWARDS_RULES_PATH), which this does not change."
        ),
    ] = None,
    question_upvote: Annotated[
        int | None,
        typer.Option(
            help="What a question upvote is worth, 5 or 10 [default: by the dump's date, 5 before 2019-11-13]."
        ),
    ] = None,
) -> None:
    """Import posts, votes, accepted answers, bounties and approved suggested edits of a dump, apply them, and
    optionally check the reputation and badges against the dump."""
    from dataclasses import asdict

    from rewards.imports import service

    if question_upvote not in (None, 5, 10):
        raise typer.BadParameter("a question upvote is worth 5 or 10", param_hint="--question-upvote")

    async def work(applier: "Applier") -> dict[str, object]:
        runtime = applier.runtime
        with typer.progressbar(length=0, label="importing", file=sys.stderr) as bar:
            summary = await service.import_dump(applier, folder, progress=bar.update, question_upvote=question_upvote)
        report: dict[str, object] = {**_summary(summary), "dump": asdict(summary.stats)}
        if check:
            checked = await service.check(runtime, folder, rules or service.STACKEXCHANGE_RULES, question_upvote)
            typer.echo(service.format_check(checked), err=True)
            report["check"] = asdict(checked)
        return report

    typer.echo(json.dumps(with_applier(work), indent=2))


@import_app.command("khoros")
def import_khoros(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="LiQL answers (.json) and Bulk Data exports (.json, .csv), or folders of them."),
    ] = None,
    community: Annotated[
        str | None,
        typer.Option(
            help="The community's host, e.g. community.example.com: events are stored under khoros:<host> "
            "(default: the host of REWARDS_KHOROS_COMMUNITY_URL)."
        ),
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Compare kudos received and solutions authored with Khoros's counts.")
    ] = False,
    rules: Annotated[
        Path | None,
        typer.Option(
            help="Ruleset --check rebuilds the input with (default: rules/khoros.yaml). The import itself is applied "
            "with the service's rules (REWARDS_RULES_PATH)."
        ),
    ] = None,
    live: Annotated[
        bool,
        typer.Option(
            "--live",
            help="Read the community's APIs instead of files (REWARDS_KHOROS_*: Bulk Data and/or LiQL), from the "
            "connector's watermark, window by window until caught up.",
        ),
    ] = False,
    since: Annotated[
        str | None,
        typer.Option(help="With --live: where a stream that has never run starts (ISO date or time, UTC)."),
    ] = None,
) -> None:
    """Import Khoros topics, replies, kudos (with their weight), accepted solutions and moderation from files or
    from the live APIs, apply them, and optionally check them against Khoros's own counts."""
    from dataclasses import asdict

    from rewards.imports import service

    settings = get_settings()
    if live:
        if paths:
            raise typer.BadParameter("give files, or --live, not both", param_hint="--live")
        typer.echo(json.dumps(_khoros_live(since), indent=2, default=str))
        return
    if not paths:
        raise typer.BadParameter("name LiQL answers or Bulk Data exports (files or folders), or use --live")
    name = community or settings.khoros_community_url
    if not name:
        raise typer.BadParameter("say which community: --community community.example.com", param_hint="--community")

    async def work(applier: "Applier") -> dict[str, object]:
        with typer.progressbar(length=0, label="importing", file=sys.stderr) as bar:
            summary = await service.import_khoros(applier, paths, name, progress=bar.update)
        report: dict[str, object] = {**_summary(summary), "khoros": asdict(summary.khoros)}
        if check:
            checked = await service.check_khoros(applier.runtime, paths, name, rules or service.KHOROS_RULES)
            typer.echo(service.format_khoros_check(checked), err=True)
            report["check"] = asdict(checked)
        return report

    typer.echo(json.dumps(with_applier(work), indent=2))


def _khoros_live(since: str | None) -> list[dict[str, object]]:
    from datetime import UTC, datetime

    from rewards.connectors import khoros as connector
    from rewards.errors import RewardsError

    start = None
    if since is not None:
        try:
            start = datetime.fromisoformat(since)
        except ValueError:
            raise typer.BadParameter("an ISO date or time, e.g. 2026-01-01", param_hint="--since") from None
        start = start if start.tzinfo is not None else start.replace(tzinfo=UTC)

    async def work(applier: "Applier") -> list[dict[str, object]]:
        config = connector.KhorosConfig.from_settings(applier.runtime.settings)
        if config is None or not config.streams:
            raise RewardsError(
                "the Khoros connector is not configured: set REWARDS_KHOROS_COMMUNITY_URL, and REWARDS_KHOROS_BULK_* "
                "or REWARDS_KHOROS_LIQL=true (README: Connecting a Khoros community)"
            )
        return [run.report() for run in await connector.catch_up(applier, config, since=start)]

    return with_applier(work)


@import_app.command("events")
def import_events(file: Annotated[Path, typer.Argument(help="CloudEvents, one JSON object per line.")]) -> None:
    """Import canonical events from a JSON-lines file (a redelivered event is a duplicate) and apply them."""
    from rewards.imports import service

    async def work(applier: "Applier") -> service.ImportSummary:
        summary = service.ImportSummary(source=str(file))
        return await service.import_events(applier, service.read_event_lines(file), summary)

    typer.echo(json.dumps(_summary(with_applier(work))))


def _summary(summary: "ImportSummary") -> dict[str, object]:
    return {
        "source": summary.source,
        "accepted": summary.accepted,
        "duplicates": summary.duplicates,
        "failed": summary.failed,
        "seconds": round(summary.seconds, 2),
        "events_per_second": summary.events_per_second,
    }


@leaderboards_app.command("rebuild")
def leaderboards_rebuild() -> None:
    """Recompute every leaderboard from the ledger (and reload Redis in production mode)."""
    from rewards.leaderboards import service
    from rewards.runtime import utcnow

    async def work(runtime: "Runtime") -> service.RebuildReport:
        return await service.rebuild(runtime, utcnow())

    report = with_runtime(work)
    typer.echo(
        json.dumps(
            {
                "rows": report.rows,
                "redis_periods": report.redis_periods,
                "last_seq": report.applied_through,
                "database_seconds": report.database_seconds,
                "redis_seconds": report.redis_seconds,
            }
        )
    )


@perks_app.command("add-codes")
def perks_add_codes(
    perk_id: Annotated[str, typer.Argument(help="A beta_access perk's id.")],
    file: Annotated[Path, typer.Argument(help="A text file, one code per line.")],
) -> None:
    """Add beta codes to a perk's pool (codes already there are skipped; experts waiting for one get one)."""
    from rewards.db import unit_of_work
    from rewards.perks import service
    from rewards.perks.schemas import CodesOut
    from rewards.runtime import utcnow

    codes = [line.strip() for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]

    async def work(runtime: "Runtime") -> CodesOut:
        async with unit_of_work(runtime.sessionmaker) as uow:
            return await service.upload_codes(
                uow.session, runtime.ruleset, perk_id, codes, f"cli:{_os_user()}", utcnow()
            )

    typer.echo(with_runtime(work).model_dump_json())


@app.command()
def schemas(out: Annotated[Path, typer.Option(help="Folder to write the JSON Schemas to.")] = Path("events")) -> None:
    """Write the JSON Schemas of the event types (the published contract) to a folder."""
    from rewards.events.contract import all_event_schemas

    out.mkdir(parents=True, exist_ok=True)
    for name, schema in all_event_schemas().items():
        (out / name).write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    typer.echo(f"wrote {len(all_event_schemas())} schemas to {out}", file=sys.stderr)


if __name__ == "__main__":
    app()
