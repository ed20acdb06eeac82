"""Values PostgreSQL cannot store are refused at the edge with a 422 that names where they are, on both
databases, and nothing is stored (on PostgreSQL these requests used to end in a 500): the NUL character in
text, integers beyond bigint, times beyond year 9999 once in UTC; and rules files whose numbers would."""

from pathlib import Path

import pytest

from rewards.engine.loader import load_ruleset_text
from rewards.errors import RulesetError
from tests.conftest import Api
from tests.factories import answer, upvote

ANSWER = answer("a1", "anna", "q1")

NUL_MESSAGE = "text cannot contain the NUL character (\\u0000)"


def fields(response: object) -> list[str]:
    return [item["field"] for item in response.json()["detail"]]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/users/anna%00", "path.user_id"),
        ("/v1/users/anna%00/badges", "path.user_id"),
        ("/v1/users/anna%00/perks", "path.user_id"),
        ("/v1/users/anna%00/history", "path.user_id"),
        ("/v1/leaderboards/reputation/around/anna%00", "path.user_id"),
        ("/v1/events/forum/e%00", "path.event_id"),
        ("/v1/users?ids=anna,b%00b", "query.ids"),
        ("/v1/audit?actor=key%00", "query.actor"),
        ("/v1/events?source=forum&id=e%00", "query.id"),
        ("/u/anna%00", "path.user_id"),
    ],
)
async def test_a_nul_in_the_address_is_a_422_naming_the_parameter(api: Api, path: str, field: str) -> None:
    await api.post_events(upvote("olga", ANSWER))
    response = await api.client.get(path)
    assert response.status_code == 422, response.text
    assert fields(response) == [field]
    assert response.json()["error"] == f"the request is invalid: {field}: {NUL_MESSAGE}"


async def test_a_nul_in_a_json_body_is_a_422_naming_the_field_and_nothing_is_stored(api: Api) -> None:
    await api.post_events(upvote("olga", ANSWER))

    webhook = await api.client.post("/v1/webhooks", json={"url": "https://forum.example/hook\u0000"})
    assert webhook.status_code == 422 and fields(webhook) == ["body.url"], webhook.text
    assert (await api.client.get("/v1/webhooks")).json()["webhooks"] == []

    grant = {"user_id": "anna", "badge_id": "teacher", "reason": "for the\u0000 router guide"}
    granted = await api.client.post("/v1/admin/badges/grant", json=grant)
    assert granted.status_code == 422 and fields(granted) == ["body.reason"], granted.text

    adjust = await api.client.post("/v1/users/anna/adjust", json={"points": 5, "reason": "thanks\u0000"})
    assert adjust.status_code == 422 and fields(adjust) == ["body.reason"], adjust.text
    assert await api.reputation("anna") == 10

    codes = await api.client.post("/v1/admin/perks/beta-5g-router/codes", json={"codes": ["OK-1", "BAD\u0000"]})
    assert codes.status_code == 422, codes.text
    assert codes.json()["error"] == f"the request is invalid: body.codes: {NUL_MESSAGE} (item 1)"
    perks = (await api.client.get("/v1/perks")).json()["perks"]
    assert next(p for p in perks if p["id"] == "beta-5g-router")["codes_left"] == 0

    audit = (await api.client.get("/v1/audit")).json()["entries"]
    assert [entry["action"] for entry in audit] == ["ruleset.published"]  # the start-up's, and no other


BEYOND_BIGINT = str(2**63)


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("GET", f"/v1/users/anna/history?before={BEYOND_BIGINT}", None, "query.before"),
        ("GET", f"/v1/audit?before={BEYOND_BIGINT}", None, "query.before"),
        ("GET", f"/v1/rulesets/{BEYOND_BIGINT}", None, "path.version"),
        ("GET", f"/v1/webhooks/{BEYOND_BIGINT}/deliveries", None, "path.webhook_id"),
        ("DELETE", f"/v1/webhooks/{BEYOND_BIGINT}", None, "path.webhook_id"),
        ("POST", "/v1/rulesets/publish", {"version": 2**63, "mode": "from_now_on", "comment": "back"}, "body.version"),
        ("PUT", "/v1/admin/perks/beta-5g-router/seats", {"seats": 2**31}, "body.seats"),
        ("GET", "/v1/audit?since=9999-12-31T23:59:59-05:00", None, "query.since"),
        ("GET", "/v1/audit?until=0001-01-01T00:00:00%2B05:00", None, "query.until"),
        ("GET", "/v1/audit?since=2026-01-01T00:00:00", None, "query.since"),
    ],
)
async def test_numbers_and_times_beyond_what_the_database_stores_are_a_422(
    api: Api, method: str, path: str, body: object, field: str
) -> None:
    response = await api.client.request(method, path, json=body)
    assert response.status_code == 422, response.text
    assert fields(response) == [field]


async def test_the_audit_log_takes_times_with_any_offset_within_range(api: Api) -> None:
    response = await api.client.get("/v1/audit", params={"since": "0001-01-01T05:00:00+05:00"})
    assert response.status_code == 200, response.text
    assert [entry["action"] for entry in response.json()["entries"]] == ["ruleset.published"]
    later = await api.client.get("/v1/audit", params={"since": "9999-12-31T18:00:00-05:00"})
    assert later.status_code == 200 and later.json()["entries"] == []


@pytest.mark.parametrize(
    ("setting", "line"),
    [("expires_after_days: 365", "expires_after_days: 36501"), ("    seats: 20", "    seats: 1000001")],
)
def test_a_rules_file_whose_perk_numbers_cannot_be_dates_or_seats_is_refused_with_its_line(
    setting: str, line: str
) -> None:
    source = (Path(__file__).parent.parent / "rules" / "default.yaml").read_text()
    assert setting in source
    with pytest.raises(RulesetError) as error:
        load_ruleset_text(source.replace(setting, line, 1), "default.yaml")
    problem = error.value.detail[0]
    assert problem["line"] == next(number for number, text in enumerate(source.splitlines(), 1) if setting in text)
    assert "less than or equal to" in problem["message"]


@pytest.mark.parametrize(("period", "at"), [("daily", "9999-12-31"), ("yearly", "0001"), ("quarterly", "9999-Q4")])
async def test_a_leaderboard_period_outside_the_years_of_events_is_a_422(api: Api, period: str, at: str) -> None:
    response = await api.client.get("/v1/leaderboards/reputation", params={"period": period, "at": at})
    assert response.status_code == 422, response.text
    assert "boards cover the years 1970 to 2200" in response.json()["error"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            (
                "    approval: true\n",
                "    approval: true\n    opens: 2026-12-01T09:00:00\n    closes: 2027-01-01T00:00:00Z\n",
            ),
            "`opens` needs a time zone",
        ),
        (
            (
                "    periods: [all-time, yearly, monthly, weekly]\n",
                "    periods: [all-time, weekly]\n    retention: {weekly: 3000000}\n",
            ),
            "retention of weekly must be 0 to 1000",
        ),
    ],
)
def test_a_rules_file_with_a_naive_window_or_an_endless_retention_is_refused(
    change: tuple[str, str], message: str
) -> None:
    source = (Path(__file__).parent.parent / "rules" / "default.yaml").read_text()
    assert change[0] in source
    with pytest.raises(RulesetError) as error:
        load_ruleset_text(source.replace(*change, 1), "default.yaml")
    assert any(message in problem["message"] for problem in error.value.detail), error.value.detail
