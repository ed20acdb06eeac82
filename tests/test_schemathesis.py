"""The service answers as its OpenAPI document says: schemathesis generates requests for every operation from the
document (valid and invalid ones) and checks each answer: no server error, a status code the operation declares,
the declared content type and headers, a body that matches the declared schema, a refusal without a key where
one is needed. Bounded (`MAX_EXAMPLES` per operation) to a few minutes; in-process, through the ASGI app."""

import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from schemathesis.config import SchemathesisConfig
from schemathesis.python import asgi
from starlette.types import Receive, Scope, Send

from rewards.app import create_app
from rewards.config import Settings
from tests.conftest import make_settings, open_api

pytestmark = pytest.mark.slow

# Examples per operation in the fuzzing phase (the examples and coverage phases add their own, bounded ones): the
# whole run takes two to three minutes on two shared cores.
MAX_EXAMPLES = 60
SAMPLES = Path(__file__).resolve().parents[1] / "events" / "samples"


CONFIG = SchemathesisConfig.from_dict(
    {
        "generation": {
            "max-examples": MAX_EXAMPLES,
            # No text may hold NUL (rewards.inputs): the document's description says so once, for every field.
            "allow-x00": False,
            # The test sends the key; no made-up values for the security schemes' headers.
            "with-security-parameters": False,
        },
        "checks": {
            # A request that fits the schema may still break a rule no schema states (a rules draft with errors, a
            # webhook url on a private network, an adjustment of 0 points): a 422 that names it.
            "positive_data_acceptance": {"expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "422"]},
        },
    }
)


class Deferred:
    """The ASGI app schemathesis sends its requests to: the one the `served` fixture makes, once it is made."""

    def __init__(self) -> None:
        self.app: FastAPI | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None, "the `served` fixture makes the app"
        await self.app(scope, receive, send)


# The document does not depend on the settings: loaded at collection, from an app that is never started.
APP = Deferred()
schema = schemathesis.openapi.from_dict(create_app(Settings(environment="test")).openapi(), config=CONFIG)
schema.app = APP


@pytest.fixture(scope="module")
async def served(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> AsyncIterator[dict[str, str]]:
    """The app on a fresh SQLite database holding the sample events; the headers with an admin key. Schemathesis
    starts the app's lifespan in its own event loop on its first request; it is ended here."""
    path = tmp_path_factory.mktemp("schemathesis") / "rewards.db"
    shutil.copyfile(sqlite_template, path)
    settings = make_settings(f"sqlite+aiosqlite:///{path}", discourse_webhook_secret="discourse-secret")
    async with open_api(settings) as api:
        await api.post_events(*json.loads((SAMPLES / "batch.json").read_text()))
        headers = {"Authorization": api.client.headers["Authorization"]}
    APP.app = create_app(settings)
    yield headers
    asgi.shutdown_lifespans()
    APP.app = None


@schema.parametrize()
def test_every_operation_answers_as_documented(case: schemathesis.Case[Any], served: dict[str, str]) -> None:
    case.call_and_validate(headers=served)
