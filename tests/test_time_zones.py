"""Times on the pages are in the reader's zone and their language's format: the member's zone (the forum's SSO
`zoneinfo`), else the browser's (the `rewards_tz` cookie), else REWARDS_DEFAULT_TIME_ZONE, else UTC; a day without
a time is a date, never midnight; the API keeps its ISO 8601 UTC times."""

import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from rewards.engine.texts import RuleTexts
from rewards.web import i18n
from tests.factories import answer, upvote
from tests.test_web import Web, open_web, web_settings

# Each upvoted at 09:01 UTC on 2 March 2026 (tests.factories.BASE_TIME + 1 minute).
A9 = answer("a9", "piotr", "q1")
B1 = answer("b1", "ewa", "q2")


# English times have a narrow no-break space before AM/PM (CLDR 42 and later).


def _shown(value: object, locale: str = "en", zone: str = "UTC", zone_name: str = "short") -> str:
    with i18n.reading(zone, RuleTexts()):
        return str(i18n.environment(locale).filters["datetime"](value, zone_name))


def test_times_are_shown_in_the_readers_zone_and_language() -> None:
    moment = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    assert _shown(moment) == "Mar 2, 2026, 8:00\u202fAM UTC"
    assert _shown(moment, "pl", "Europe/Warsaw") == "2 mar 2026, 09:00 CET"
    assert _shown(moment + timedelta(days=150), "pl", "Europe/Warsaw") == "30 lip 2026, 10:00 CEST"
    assert _shown(moment, "en", "America/New_York") == "Mar 2, 2026, 3:00\u202fAM EST"
    # A workshop declared at 09:00+01:00 is at 09:00 for a reader in Warsaw, with the zone's name.
    workshop = datetime(2027, 3, 12, 9, 0, tzinfo=timezone(timedelta(hours=1)))
    assert _shown(workshop, "pl", "Europe/Warsaw", "long") == "12 mar 2027, 09:00 czas środkowoeuropejski standardowy"
    assert _shown(workshop, "en", "Asia/Tokyo", "long") == "Mar 12, 2027, 5:00\u202fPM Japan Standard Time"


def test_a_day_without_a_time_is_a_date_never_midnight() -> None:
    assert _shown(date(2027, 3, 12), "pl", "America/New_York") == "12 mar 2027"
    # A rules file's `date: 2027-03-12` reaches the pages as a naive midnight: still the 12th, whatever the zone.
    assert _shown(datetime(2027, 3, 12), "en", "Pacific/Honolulu") == "Mar 12, 2027"
    with i18n.reading("Europe/Warsaw", RuleTexts()):
        assert i18n.environment("pl").filters["date"](datetime(2026, 3, 1, 23, 30, tzinfo=UTC)) == "2 mar 2026"


@pytest.fixture
async def warsaw_web(database_url: str) -> AsyncIterator[Web]:
    async with open_web(web_settings(database_url, default_time_zone="Europe/Warsaw")) as opened:
        await opened.post_events(upvote("ewa", A9, minutes=1), upvote("piotr", B1, minutes=1))
        yield opened


def _upvote_time(page: str) -> str:
    found = re.search(r'<time datetime="2026-03-02T09:01:00(?:\+00:00)?">([^<]+)</time>', page)
    assert found is not None, page
    return found.group(1)


async def test_the_members_own_zone_wins_then_the_browsers_then_the_setting(warsaw_web: Web) -> None:
    web = warsaw_web
    # The forum says where piotr lives (SSO `zoneinfo`): his zone, whatever his browser says.
    web.browser.cookies.set("rewards_tz", "America/New_York")
    await web.sign_in("piotr", zoneinfo="Asia/Tokyo", locale="pl")
    assert _upvote_time((await web.browser.get("/me")).text) == "2 mar 2026, 18:01 +0900"
    # The forum says nothing about ewa's zone: her browser's; a zone nobody knows is ignored (the setting's).
    web.browser.cookies.clear()
    await web.sign_in("ewa", locale="en")
    web.browser.cookies.set("rewards_tz", "America/New_York")
    assert _upvote_time((await web.browser.get("/me")).text) == "Mar 2, 2026, 4:01\u202fAM EST"
    web.browser.cookies.set("rewards_tz", "Mars/Olympus_Mons")
    assert _upvote_time((await web.browser.get("/me")).text) == "Mar 2, 2026, 10:01\u202fAM +0100"
    # The API's times stay ISO 8601 UTC, and its reasons in the rules file's language.
    history = (await web.forum.get("/v1/users/ewa/history")).json()
    assert history["entries"][0]["occurred_at"] in {"2026-03-02T09:01:00Z", "2026-03-02T09:01:00+00:00"}
