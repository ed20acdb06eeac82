"""The `rewards` command, run as an operator would."""

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from rewards import PROJECT_ROOT
from tests.conftest import make_settings, open_api
from tests.factories import accept, answer, upvote
from tests.state_snapshot import snapshot


def rewards(
    *args: str, database_url: str, cwd: Path = PROJECT_ROOT, redis_url: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REWARDS_DATABASE_URL": database_url, "REWARDS_ENVIRONMENT": "test"}
    env.pop("REWARDS_REDIS_URL", None)
    if redis_url is not None:
        env["REWARDS_REDIS_URL"] = redis_url
    return subprocess.run(
        [sys.executable, "-m", "rewards.cli", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_apikey_create_prints_the_key_last_and_it_works(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"  # an empty file: the command migrates it itself
    result = rewards("apikey", "create", "--scope", "events:write", "--scope", "read", database_url=url)
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("rk_") and len(key) > 40
    refused = rewards("apikey", "create", "--scope", "superuser", database_url=url)
    assert refused.returncode != 0 and "superuser" in refused.stderr


def test_rules_validate_reports_file_line_rule_and_reason(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}"
    good = rewards("rules", "validate", str(PROJECT_ROOT / "rules" / "default.yaml"), database_url=url)
    assert good.returncode == 0 and "is valid" in good.stdout
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "ruleset: broken\n"
        "points:\n"
        "  - id: upvote\n"
        "    on: post.upvoted\n"
        "    when: actor = post.author\n"
        "    award:\n"
        "      - to: post.author\n"
        "        points: 10\n"
        "        cap: per-day\n"
    )
    result = rewards("rules", "validate", str(broken), database_url=url)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert any(line.startswith(f"{broken}:5: rule 'upvote': points.0.when:") for line in lines), lines
    assert not (tmp_path / "unused.db").exists()
    yaml_error = tmp_path / "tabs.yaml"
    yaml_error.write_text("ruleset: x\npoints:\n  - id: [unclosed\n")
    result = rewards("rules", "validate", str(yaml_error), database_url=url)
    assert result.returncode == 1 and f"{yaml_error}:" in result.stderr and "not valid YAML" in result.stderr


async def test_replay_rebuilds_exactly_the_live_state(database_url: str) -> None:
    settings = make_settings(database_url)
    async with open_api(settings) as api:
        a = answer("a1", "expert", "q1")
        await api.post_events(*(upvote(f"v{i}", answer(f"a{i}", "expert", "q1")) for i in range(25)), accept("q", a))
        async with api.runtime.sessionmaker() as session:
            live = await snapshot(session)
            started = await session.scalar(text("SELECT now()")) if api.runtime.engine.name == "postgresql" else None
        result = rewards("replay", database_url=database_url)
        assert result.returncode == 0, result.stderr
        assert '"applied": 26' in result.stdout
        async with api.runtime.sessionmaker() as session:
            assert await snapshot(session) == live
            if started is not None:  # the planner's statistics were gathered by the replay itself
                analyzed = await session.scalar(
                    text("SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'ledger_entries'")
                )
                assert analyzed is not None and analyzed >= started
        assert await api.reputation("expert") == 215


def test_migrate_brings_an_empty_database_up_to_date(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    first = rewards("migrate", database_url=url)
    again = rewards("migrate", database_url=url)
    assert first.returncode == again.returncode == 0 and "up to date" in again.stdout


def test_a_revoked_key_is_listed_as_revoked(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}"
    key = rewards("apikey", "create", "--scope", "read", "--name", "frontend", database_url=url).stdout.split()[-1]
    prefix = key.split("_")[1]
    assert rewards("apikey", "revoke", key[:15], database_url=url).returncode == 0
    listed = rewards("apikey", "list", database_url=url).stdout
    assert prefix in listed and "frontend" in listed and "active" not in listed
    assert rewards("apikey", "revoke", prefix, database_url=url).returncode == 1


def test_import_events_from_json_lines_is_idempotent(tmp_path: Path) -> None:
    import json

    url = f"sqlite+aiosqlite:///{tmp_path / 'lines.db'}"
    lines = tmp_path / "events.jsonl"
    a = answer("a1", "expert", "q1")
    lines.write_text("\n".join(json.dumps(e) for e in (upvote("v1", a), upvote("v2", a), accept("asker", a))) + "\n\n")
    first = rewards("import", "events", str(lines), database_url=url)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["accepted"] == 3
    again = json.loads(rewards("import", "events", str(lines), database_url=url).stdout)
    assert again["accepted"] == 0 and again["duplicates"] == 3
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"specversion": "1.0"}\n{not json\n')
    result = rewards("import", "events", str(broken), database_url=url)
    assert result.returncode == 1 and "line 2" in result.stderr


def test_perks_add_codes_fills_a_pool_once_and_names_the_perks_on_a_typo(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    codes = tmp_path / "codes.txt"
    codes.write_text("BETA-1\nBETA-2\n\nBETA-2\n")
    first = rewards("perks", "add-codes", "beta-5g-router", str(codes), database_url=url)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {
        "perk_id": "beta-5g-router",
        "added": 2,
        "codes_left": 2,
        "codes_issued_to_waiting": 0,
    }
    again = rewards("perks", "add-codes", "beta-5g-router", str(codes), database_url=url)
    assert json.loads(again.stdout)["added"] == 0
    typo = rewards("perks", "add-codes", "beta", str(codes), database_url=url)
    assert typo.returncode == 1 and "beta-5g-router" in typo.stderr
