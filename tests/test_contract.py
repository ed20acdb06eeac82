"""The published event contract: the JSON Schemas in events/ are current, and the sample events follow them."""

import json
from pathlib import Path

import jsonschema
import pytest

from rewards import PROJECT_ROOT
from rewards.events.contract import all_event_schemas
from tests.conftest import Api

EVENTS = PROJECT_ROOT / "events"
SAMPLES = sorted((EVENTS / "samples").glob("*.json"))


def test_the_schema_files_match_the_code() -> None:
    published = {path.name: json.loads(path.read_text()) for path in EVENTS.glob("*.schema.json")}
    assert published == all_event_schemas(), "run `rewards schemas --out events` and commit the result"


@pytest.mark.parametrize("sample", [path for path in SAMPLES if path.name != "batch.json"], ids=lambda p: p.stem)
def test_each_sample_follows_its_schema(sample: Path) -> None:
    event = json.loads(sample.read_text())
    schema_file = EVENTS / f"{event['type']}.schema.json"
    schema = json.loads((schema_file if schema_file.exists() else EVENTS / "custom.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(event)


def test_a_schema_refuses_what_the_api_refuses() -> None:
    schema = json.loads((EVENTS / "post.upvoted.schema.json").read_text())
    event = json.loads((EVENTS / "samples" / "post.upvoted.json").read_text())
    del event["data"]["post"]["author"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate(event)


async def test_every_sample_is_accepted_by_the_api(api: Api) -> None:
    events = [json.loads(path.read_text()) for path in SAMPLES if path.name != "batch.json"]
    result = await api.post_events(*events)
    assert result["accepted"] == len(events)
    batch = json.loads((EVENTS / "samples" / "batch.json").read_text())
    assert (await api.post_events(*batch))["duplicates"] == len(batch)
    assert await api.reputation("piotr.expert") > 0
