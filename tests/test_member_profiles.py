"""Members by name: profiles (display name, avatar, profile link, time zone, locale) from each source the forum
already sends (the API, SSO claims, Discourse deliveries, the Stack Exchange dump, Khoros), shown beside the id by
the API and the pages, the id when none is known; the encoded-once answers change with them; ledger lines and
badges link out to the post; a member no event has named gets a "new member" flair."""

import json
import re
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from rewards.apply.applier import Applier
from rewards.auth.service import Scope
from rewards.config import Settings
from rewards.connectors import khoros as connector
from rewards.db import create_engine
from rewards.imports import khoros, service
from rewards.imports.stackexchange import dump_profiles
from rewards.links import Links, SourceLinks, check_template, learned
from rewards.runtime import utcnow
from rewards.sql import table_of
from rewards.users import profiles
from rewards.users.models import MemberProfileRow
from rewards.users.repository import ProfileView
from tests.conftest import Api, make_settings, open_api
from tests.factories import accept, answer, event, upvote
from tests.test_discourse import SECRET as DISCOURSE_SECRET
from tests.test_discourse import _delivery
from tests.test_rules_console import DOUBLED, edit, manager, three_upvotes
from tests.test_stackexchange_import import answer as se_answer
from tests.test_stackexchange_import import question as se_question
from tests.test_stackexchange_import import vote as se_vote
from tests.test_stackexchange_import import write_dump
from tests.test_web import community, open_web, web_settings

EXPERT = answer("a1", "expert", "q1")
FEDORA = "https://discussion.fedoraproject.org"


async def _named(api: Api) -> None:
    await api.post_events(upvote("fan", EXPERT), upvote("fan2", EXPERT, minutes=1), accept("asker", EXPERT, minutes=2))


async def _put(api: Api, user_id: str, expect: int = 200, **body: Any) -> dict[str, Any]:
    response = await api.client.put(f"/v1/users/{user_id}/profile", json=body)
    assert response.status_code == expect, response.text
    found: dict[str, Any] = response.json()
    return found


async def _stored(api: Api, user_id: str) -> dict[str, Any]:
    response = await api.client.get(f"/v1/users/{user_id}/profile")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


# -- the API ---------------------------------------------------------------------------------------------------


async def test_a_member_without_a_profile_is_shown_by_their_id(api: Api) -> None:
    await _named(api)
    user = (await api.client.get("/v1/users/expert")).json()
    assert (user["display_name"], user["avatar_url"], user["profile_url"]) == ("expert", None, None)
    [entry, *_] = (await api.client.get("/v1/leaderboards/reputation")).json()["entries"]
    assert (entry["user_id"], entry["display_name"], entry["avatar_url"]) == ("expert", "expert", None)
    page = (await api.client.get("/v1/users", params={"ids": "expert,nobody"})).json()
    assert page["users"][0]["display_name"] == "expert" and page["missing"] == ["nobody"]
    missing = await api.client.get("/v1/users/expert/profile")
    assert missing.status_code == 404 and "shown by its id" in missing.json()["error"]


async def test_a_profile_is_shown_beside_the_id_and_every_cached_answer_follows_it(api: Api) -> None:
    await _named(api)
    # Warm every encoded-once answer that shows the member, and keep their validators.
    assert (await api.client.get("/v1/users/expert")).json()["display_name"] == "expert"
    board = await api.client.get("/v1/leaderboards/reputation")
    around = await api.client.get("/v1/leaderboards/reputation/around/expert")
    page = await api.client.get("/v1/users", params={"ids": "expert,fan"})
    flair = await api.client.get("/v1/users/expert/flair.svg")
    assert ">expert<" in flair.text

    stored = await _put(
        api,
        "expert",
        display_name="Ewa Ekspert",
        username="ewa",
        avatar_url="https://forum.example.com/avatars/ewa.png",
        profile_url="https://forum.example.com/u/ewa",
        time_zone="Europe/Warsaw",
        locale="pl",
    )
    assert stored["version"] == 1 and stored["source"] == "api" and stored["time_zone"] == "Europe/Warsaw"

    user = (await api.client.get("/v1/users/expert")).json()
    assert (user["display_name"], user["avatar_url"], user["profile_url"]) == (
        "Ewa Ekspert",
        "https://forum.example.com/avatars/ewa.png",
        "https://forum.example.com/u/ewa",
    )
    for before, path in ((board, "/v1/leaderboards/reputation"), (around, "/v1/leaderboards/reputation/around/expert")):
        after = await api.client.get(path, headers={"If-None-Match": before.headers["etag"]})
        assert after.status_code == 200 and after.headers["etag"] != before.headers["etag"], path
        entry = next(entry for entry in after.json()["entries"] if entry["user_id"] == "expert")
        assert entry["display_name"] == "Ewa Ekspert" and entry["profile_url"] == "https://forum.example.com/u/ewa"
    again = await api.client.get(
        "/v1/users", params={"ids": "expert,fan"}, headers={"If-None-Match": page.headers["etag"]}
    )
    assert again.status_code == 200 and again.json()["users"][0]["display_name"] == "Ewa Ekspert"
    redrawn = await api.client.get("/v1/users/expert/flair.svg", headers={"If-None-Match": flair.headers["etag"]})
    assert redrawn.status_code == 200 and ">Ewa Ekspert<" in redrawn.text

    # The same profile again writes nothing: no new version, the cached answers stay valid (304).
    current = await api.client.get("/v1/leaderboards/reputation")
    assert (
        await _put(
            api,
            "expert",
            **{k: stored[k] for k in ("display_name", "username", "avatar_url", "profile_url", "time_zone", "locale")},
        )
    )["version"] == 1
    same = await api.client.get("/v1/leaderboards/reputation", headers={"If-None-Match": current.headers["etag"]})
    assert same.status_code == 304

    # A PUT is the whole profile: what it leaves out is cleared.
    renamed = await _put(api, "expert", display_name="Ewa K.")
    assert (renamed["version"], renamed["avatar_url"], renamed["username"]) == (2, None, None)
    assert (await api.client.get("/v1/users/expert")).json()["display_name"] == "Ewa K."

    # Forgotten: shown by the id again, everywhere.
    assert (await api.client.delete("/v1/users/expert/profile")).status_code == 204
    assert (await api.client.delete("/v1/users/expert/profile")).status_code == 404
    assert (await api.client.get("/v1/users/expert")).json()["display_name"] == "expert"
    entry = (await api.client.get("/v1/leaderboards/reputation")).json()["entries"][0]
    assert entry["display_name"] == "expert" and entry["avatar_url"] is None


async def test_a_profile_takes_only_what_a_page_can_show_safely(api: Api) -> None:
    await _named(api)
    for field, value in (
        ("avatar_url", "javascript:alert(document.domain)"),
        ("avatar_url", "data:image/svg+xml,<svg onload=alert(1)>"),
        ("profile_url", "//evil.example/u/ewa"),
        ("profile_url", "/u/ewa"),
        ("time_zone", "Mars/Olympus_Mons"),
        ("time_zone", "../../etc/passwd"),
        ("locale", "polish please"),
    ):
        refused = await api.client.put("/v1/users/expert/profile", json={field: value})
        assert refused.status_code == 422, (field, value, refused.text)
        assert refused.json()["detail"][0]["field"].endswith(field)
    # A name is one line of visible characters.
    shown = await _put(api, "expert", display_name="  Ewa\u202e\n  Ekspert\x07  ")
    assert shown["display_name"] == "Ewa Ekspert"
    # A key that may only read cannot write profiles.
    reader = await api.key(Scope.READ)
    response = await api.client.put(
        "/v1/users/expert/profile", json={"display_name": "x"}, headers={"Authorization": f"Bearer {reader}"}
    )
    assert response.status_code == 403


async def test_ids_with_slashes_have_profiles_and_a_member_named_profile_keeps_their_page(api: Api) -> None:
    await api.post_events(upvote("fan", answer("a7", "team/ann", "q7")))
    await _put(api, "team/ann", display_name="Ann of the team")
    assert (await api.client.get("/v1/users/team/ann")).json()["display_name"] == "Ann of the team"
    assert (await _stored(api, "team/ann"))["user_id"] == "team/ann"
    assert (await api.client.get("/v1/users/team%2Fann/profile")).json()["display_name"] == "Ann of the team"


async def test_a_member_no_event_has_named_gets_a_new_member_flair_not_a_404(api: Api) -> None:
    anonymous = {"Authorization": ""}  # an <img> sends no key
    first = await api.client.get("/v1/users/newcomer/flair.svg", headers=anonymous)
    assert first.status_code == 200 and first.headers["content-type"] == "image/svg+xml"
    assert first.headers["cache-control"] == "public, max-age=300" and first.headers["etag"].startswith('W/"flair-')
    assert ">newcomer<" in first.text and ">new member<" in first.text and "newcomer: new member" in first.text
    assert "<script" not in first.text
    cached = await api.client.get(
        "/v1/users/newcomer/flair.svg", headers={**anonymous, "If-None-Match": first.headers["etag"]}
    )
    assert cached.status_code == 304
    # Signed in once (a profile, still no event): the flair says the name.
    await _put(api, "newcomer", display_name="Nina Nowak")
    named = await api.client.get(
        "/v1/users/newcomer/flair.svg", headers={**anonymous, "If-None-Match": first.headers["etag"]}
    )
    assert named.status_code == 200 and ">Nina Nowak<" in named.text and ">new member<" in named.text
    # Their first event: the flair shows their reputation from then on.
    await api.post_events(upvote("fan", answer("a8", "newcomer", "q8")))
    counted = await api.client.get("/v1/users/newcomer/flair.svg", headers=anonymous)
    assert re.search(r">10( · [^<]+)?<", counted.text) and "new member" not in counted.text
    assert ">Nina Nowak<" in counted.text


async def test_history_lines_link_to_their_post_through_the_source_s_url_template(database_url: str) -> None:
    settings = make_settings(
        database_url,
        post_url_template="https://forum.example.com/t/{post_id}",
        source_links={"partner": {"post": "https://partner.example.org/posts/{post_number}"}},
    )
    async with open_api(settings) as api:
        await api.post_events(
            upvote("fan", EXPERT),
            upvote("fan", answer("p77", "expert", "t7"), minutes=1, source=f"discourse:{FEDORA}"),
            upvote("fan", answer("x-41", "expert", "q9"), minutes=2, source="partner"),
            event("workshop.attended", {"actor": "expert"}, minutes=3),
        )
        history = (await api.client.get("/v1/users/expert/history")).json()["entries"]
        links = {entry["post_id"]: entry["post_url"] for entry in history}
        assert links == {
            "x-41": "https://partner.example.org/posts/41",
            "p77": f"{FEDORA}/p/77",  # learned from the Discourse source: no setting needed
            "a1": "https://forum.example.com/t/a1",
        }
        assert all(entry["reason"].startswith("+10 upvote on answer") for entry in history)


# -- where profiles come from ----------------------------------------------------------------------------------


async def test_a_sign_in_stores_the_sso_token_s_standard_claims(database_url: str) -> None:
    async with open_web(web_settings(database_url)) as web:
        await community(web)
        await web.sign_in(
            "piotr",
            name="Piotr Nowak",
            preferred_username="pnowak",
            picture="https://forum.example.com/avatars/pnowak.png",
            profile="https://forum.example.com/u/pnowak",
            zoneinfo="Europe/Warsaw",
            locale="pl-PL",
        )
        stored = (await web.forum.get("/v1/users/piotr/profile")).json()
        assert {
            key: stored[key]
            for key in ("display_name", "username", "avatar_url", "profile_url", "time_zone", "locale", "source")
        } == {
            "display_name": "Piotr Nowak",
            "username": "pnowak",
            "avatar_url": "https://forum.example.com/avatars/pnowak.png",
            "profile_url": "https://forum.example.com/u/pnowak",
            "time_zone": "Europe/Warsaw",
            "locale": "pl-PL",
            "source": "sso",
        }
        me = await web.browser.get("/me")
        assert "<h1>Piotr Nowak</h1>" in me.text
        assert 'src="https://forum.example.com/avatars/pnowak.png"' in me.text
        assert 'href="https://forum.example.com/u/pnowak"' in me.text
        # A later token without those claims keeps them; a hostile picture is not taken, nor an unknown zone.
        await web.sign_in("piotr", name="Piotr N.", picture="javascript:alert(1)", zoneinfo="Nowhere/Else")
        stored = (await web.forum.get("/v1/users/piotr/profile")).json()
        assert (stored["display_name"], stored["avatar_url"], stored["time_zone"], stored["version"]) == (
            "Piotr N.",
            "https://forum.example.com/avatars/pnowak.png",
            "Europe/Warsaw",
            2,
        )
        # A token whose name is only the id says nothing about the profile.
        await web.sign_in("anna", name="anna")
        assert (await web.forum.get("/v1/users/anna/profile")).status_code == 404


@pytest.fixture
async def discourse_forum(database_url: str) -> AsyncIterator[Api]:
    async with open_api(make_settings(database_url, discourse_webhook_secret=DISCOURSE_SECRET)) as api:
        yield api


async def test_discourse_deliveries_name_their_members(discourse_forum: Api, shared_data: Path) -> None:
    for name in ("fedora_post_liked.json", "fedora_post_destroyed.json", "fedora_topic_created.json"):
        headers, body = _delivery(shared_data / "discourse" / name)
        response = await discourse_forum.client.post("/v1/adapters/discourse", content=body, headers=headers)
        assert response.status_code == 200, response.text
    author = await _stored(discourse_forum, "5")  # the liked post's author
    assert (author["display_name"], author["username"], author["source"]) == (
        "Matthew Miller",
        "mattdm",
        f"discourse:{FEDORA}",
    )
    assert author["avatar_url"] == f"{FEDORA}/user_avatar/discussion.fedoraproject.org/mattdm/96/2450_2.png"
    assert author["profile_url"] == f"{FEDORA}/u/mattdm"
    liker = await _stored(discourse_forum, "1605")
    assert (liker["display_name"], liker["profile_url"]) == ("Akashdeep Dhar", f"{FEDORA}/u/t0xic0der")
    # An empty name: shown by the username; an absolute avatar address is kept as it is.
    nameless = await _stored(discourse_forum, "11781")
    assert (nameless["display_name"], nameless["username"]) == ("pnietzsche", "pnietzsche")
    assert nameless["avatar_url"] == "https://avatars.discourse-cdn.com/v4/letter/p/f0a364/96.png"
    creator = await _stored(discourse_forum, "10766")  # topic_created: another Fedora instance
    assert creator["profile_url"] == "https://ask.fedoraproject.org/u/awarda"
    # The post itself links back: the like's ledger line on the author's history.
    history = (await discourse_forum.client.get("/v1/users/5/history")).json()["entries"]
    assert history and all(entry["post_url"].startswith(f"{FEDORA}/") for entry in history)
    # The same delivery again changes nothing.
    headers, body = _delivery(shared_data / "discourse" / "fedora_post_liked.json")
    await discourse_forum.client.post("/v1/adapters/discourse", content=body, headers=headers)
    assert (await _stored(discourse_forum, "5"))["version"] == 1


def test_the_stack_exchange_dump_s_display_names(shared_data: Path) -> None:
    found = {
        made.user_id: made for made in dump_profiles(shared_data / "stackexchange" / "cardano", "stackexchange:cardano")
    }
    assert len(found) == 3988
    assert found["1"].display_name == "Adam Lear" and found["-1"].display_name == "Community"
    with_pictures = [made for made in found.values() if made.avatar_url is not None]
    assert len(with_pictures) > 3000 and all((made.avatar_url or "").startswith("https://") for made in with_pictures)


async def test_a_stack_exchange_import_stores_names_pictures_and_profile_links(
    tmp_path: Path, sqlite_template: Path
) -> None:
    folder = write_dump(
        tmp_path / "cardano",
        [se_question(1, 7, "2021-05-01T10:00:00.000"), se_answer(2, 1, 8, "2021-05-01T11:00:00.000")],
        [se_vote(10, 2, 2, "2021-05-02")],
    )
    (folder / "Users.xml").write_text(
        '\ufeff<?xml version="1.0" encoding="utf-8"?>\n<users>\n'
        '  <row Id="7" Reputation="1" DisplayName="Asker" />\n'
        '  <row Id="8" DisplayName="Zofia &amp; Co" ProfileImageUrl="https://i.sstatic.net/abc.png" />\n'
        '  <row Id="9" Reputation="1" DisplayName="Evil" ProfileImageUrl="javascript:alert(1)" />\n'
        "</users>\n"
    )
    path = tmp_path / "se.db"
    shutil.copyfile(sqlite_template, path)
    applier = await Applier.start(make_settings(f"sqlite+aiosqlite:///{path}"))
    try:
        await service.import_dump(applier, folder)
        async with applier.runtime.sessionmaker() as session:
            found = await profiles.stored(session, "8")
            evil = await profiles.stored(session, "9")
    finally:
        await applier.stop()
    assert found is not None and evil is not None
    assert (found.display_name, found.avatar_url, found.source) == (
        "Zofia & Co",
        "https://i.sstatic.net/abc.png",
        "stackexchange:cardano",
    )
    assert found.profile_url == "https://cardano.stackexchange.com/users/8"
    assert evil.avatar_url is None


def test_khoros_logins_are_the_names_khoros_shows(shared_data: Path) -> None:
    read = khoros.read_input([shared_data / "khoros"], khoros.KhorosStats())
    found = {made.user_id: made for made in khoros.input_profiles(read, "khoros:community.neo4j.com")}
    # The users answer: login, profile page (relative there: made absolute), picture.
    assert found["112"].username == "member112"
    assert found["112"].profile_url == "https://community.neo4j.com/t5/user/viewprofilepage/user-id/112"
    assert found["112"].avatar_url == "https://example.invalid/avatar.png"
    # A message's author and a kudo's giver, with their absolute profile pages as Khoros gave them.
    assert found["2735"].username == "member2735"
    assert found["2735"].profile_url == "https://community.neo4j.com/t5/user/viewprofilepage/user-id/2735"
    assert found["15016"].profile_url == "https://khoros.neo4j.com/t5/user/viewprofilepage/user-id/15016"
    assert khoros.FORMER_USER not in found
    # Bulk Data records name their members' logins too.
    bulk = khoros.KhorosInput(
        bulk=[
            {
                "action.key": "kudos.give",
                "user.uid": "502",
                "user.login": "bob",
                "target.user.uid": "501",
                "target.user.login": "alice",
            },
            {"action.key": "view", "user.uid": "-1", "user.login": "ehemaliger Nutzer"},
        ]
    )
    named = {made.user_id: made.username for made in khoros.input_profiles(bulk, "khoros:c.example.com")}
    assert named == {"502": "bob", "501": "alice"}


async def test_a_khoros_import_and_a_connector_window_store_their_members(
    tmp_path: Path, sqlite_template: Path
) -> None:
    path = tmp_path / "khoros.db"
    shutil.copyfile(sqlite_template, path)
    settings = make_settings(
        f"sqlite+aiosqlite:///{path}",
        rules_path=service.KHOROS_RULES,
        khoros_community_url="https://community.example.com",
        khoros_bulk_url="https://api.example.com/lsi-data/v2/data/export/community/example.prod",
        khoros_bulk_token="token",
        khoros_bulk_client_id="client",
    )
    applier = await Applier.start(settings)
    start = datetime(2023, 11, 1, tzinfo=UTC)
    window: list[dict[str, Any]] = [
        {
            "document.id": "p-1",
            "action.key": "messages.publish",
            "event.time.ms": int((start + timedelta(hours=1)).timestamp() * 1000),
            "user.uid": "100",
            "user.login": "asker.ola",
            "message.uid": "1000",
            "conversation.uid": "1000",
            "message.is_topic": "true",
        },
        {
            "document.id": "p-2",
            "action.key": "messages.publish",
            "event.time.ms": int((start + timedelta(hours=2)).timestamp() * 1000),
            "user.uid": "200",
            "user.login": "helper.jan",
            "message.uid": "1001",
            "conversation.uid": "1000",
            "message.is_topic": "false",
        },
    ]

    class Bulk(connector.KhorosClient):
        async def bulk(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
            return [
                record
                for record in window
                if start.timestamp() * 1000 <= record["event.time.ms"] < end.timestamp() * 1000
            ]

    try:
        config = connector.KhorosConfig.from_settings(settings)
        assert config is not None
        async with httpx.AsyncClient() as http:
            run = await connector.sync_stream(
                applier, config, Bulk(config, http), "bulk", start + timedelta(days=1), since=start, windows=1
            )
        assert run.error is None and run.accepted == 2
        await service.import_khoros(
            applier, [Path(__file__).parent / "fixtures" / "khoros" / "bulk-window-1.json"], "community.example.com"
        )
        async with applier.runtime.sessionmaker() as session:
            helper = await profiles.stored(session, "200")
            known = await profiles.cards(session, ["100", "nobody"])
    finally:
        await applier.stop()
    assert helper is not None and helper.username == "helper.jan" and helper.source == "khoros:community.example.com"
    assert helper.profile_url == "https://community.example.com/t5/user/viewprofilepage/user-id/200"
    assert known["100"].display_name == "asker.ola" and known["nobody"].display_name == "nobody"


# -- the console -----------------------------------------------------------------------------------------------


async def test_the_console_finds_members_by_name_or_username_in_any_case(database_url: str) -> None:
    async with open_web(web_settings(database_url)) as web:
        await community(web)
        await web.forum.put("/v1/users/piotr/profile", json={"display_name": "Łukasz Żółw", "username": "lzolw"})
        await web.sign_in("mia", roles=["manager"])
        for query in ("żÓŁ", "LZO", "pio"):
            found = await web.browser.get("/admin/people", params={"q": query})
            assert re.findall(r'<a href="/admin/people/([^"]+)">([^<]+)</a>', found.text) == [
                ("piotr", "Łukasz Żółw")
            ], query
            assert '<span class="member-id">piotr</span>' in found.text
        nothing = await web.browser.get("/admin/people", params={"q": "100%_"})
        assert "No member's name, username or id matches 100%_." in nothing.text
        person = await web.browser.get("/admin/people/piotr")
        assert "<h1>Łukasz Żółw</h1>" in person.text and 'data-testid="member-id">piotr<' in person.text


async def test_the_rules_preview_names_the_members_it_moves(database_url: str) -> None:
    async with open_web(web_settings(database_url)) as web:
        await three_upvotes(web)  # piotr's answer a1
        await web.forum.put(
            "/v1/users/piotr/profile",
            json={"display_name": "Piotr Nowak", "avatar_url": "https://forum.example.com/avatars/piotr.png"},
        )
        page = await edit(web, await manager(web), "preview", DOUBLED, days="")
        assert page.status_code == 200, page.text
        movers = page.text[page.text.index('data-testid="movers"') :]
        assert re.search(
            r'<td><span class="member" data-member="piotr"><img class="avatar" '
            r'src="https://forum.example.com/avatars/piotr.png"[^>]*>'
            r'<span class="member-name"><a href="/admin/people/piotr">Piotr Nowak</a></span></span></td>',
            movers,
        )
        board = page.text[page.text.index('data-testid="board-reputation"') :]
        assert '<a href="/admin/people/piotr">Piotr Nowak</a></span></span> (30)' in board


async def test_pages_never_link_a_javascript_address_even_from_stored_data(database_url: str) -> None:
    async with open_web(web_settings(database_url)) as web:
        await community(web)
        # As if written before any check (an older version, a hand-edited row): the pages check again.
        engine = create_engine(web.settings)
        async with engine.begin() as connection:
            await connection.execute(
                table_of(MemberProfileRow)
                .insert()
                .values(
                    user_id="piotr",
                    display_name="<b>Piotr</b>",
                    avatar_url="javascript:alert(1)",
                    profile_url="javascript:alert(2)",
                    source="api",
                    version=1,
                    updated_at=utcnow(),
                    search_key="",
                )
            )
        await engine.dispose()
        for path in ("/u/piotr", "/leaderboards"):
            page = (await web.browser.get(path)).text
            assert "javascript:" not in page and "&lt;b&gt;Piotr&lt;/b&gt;" in page, path


# -- the links -------------------------------------------------------------------------------------------------


def test_url_templates_are_checked_at_start_up() -> None:
    for template in (
        "javascript:alert(1)//{post_id}",
        "{post_id}",
        "https://{post_id}.example.com/",
        "/t/{post_id}",
        "https://forum.example.com/t/{id}",
        "https://forum.example.com/t/{post_id",
    ):
        with pytest.raises(ValueError):
            check_template(template, frozenset({"post_id", "post_number"}))
    with pytest.raises(ValueError, match="must be an absolute"):
        Settings(environment="test", post_url_template="ftp://forum.example.com/{post_id}")
    with pytest.raises(ValueError):
        Settings(environment="test", source_links={"forum": {"profile": "https://x.example.com/{post_id}"}})
    assert Settings(environment="test", profile_url_template=" https://f.example.com/u/{username} ").links.profile == (
        "https://f.example.com/u/{username}"
    )


def test_values_put_into_a_template_never_change_where_it_leads() -> None:
    links = Links(post="https://forum.example.com/t/{post_id}", profile="https://forum.example.com/u/{username}")
    assert links.post_url("forum", "javascript:alert(1)") == "https://forum.example.com/t/javascript%3Aalert%281%29"
    assert links.post_url("forum", "../../admin?x=1#y") == "https://forum.example.com/t/..%2F..%2Fadmin%3Fx%3D1%23y"
    assert links.profile_url("api", "u1", "@evil.example.com") == "https://forum.example.com/u/%40evil.example.com"
    assert links.profile_url("api", "u1", None) is None  # the template needs a username nobody gave
    assert Links().post_url("forum", "a1") is None


def test_what_a_source_s_name_gives_away() -> None:
    assert learned("discourse:https://forum.example.org").profile == "https://forum.example.org/u/{username}"
    assert learned("discourse:https://forum.example.org/sub?x").profile is None
    assert learned("discourse:javascript:alert(1)").profile is None
    se = Links()
    assert se.post_url("stackexchange:bicycles.meta", "5", "question") == "https://bicycles.meta.stackexchange.com/q/5"
    assert se.post_url("stackexchange:stackoverflow.com", "9", "answer") == "https://stackoverflow.com/a/9"
    assert se.profile_url("stackexchange:mathoverflow.net", "3", None) == "https://mathoverflow.net/users/3"
    assert se.post_url("discourse:https://forum.example.org", "t12") == "https://forum.example.org/t/12"
    assert se.post_url("discourse:https://forum.example.org", "weird") is None
    assert se.post_url("khoros:community.example.com", "77") is None  # a Khoros address needs the board's slug
    configured = Links(
        sources={"khoros:community.example.com": SourceLinks(post="https://community.example.com/m/{post_id}")}
    )
    assert configured.post_url("khoros:community.example.com", "77") == "https://community.example.com/m/77"


def test_display_falls_back_from_name_to_username_to_id() -> None:
    now = utcnow()
    view = ProfileView("u1", "ann", None, None, None, None, None, "api", 1, now)
    assert profiles.display_name("u1", view) == "ann"
    assert profiles.display_name("u1", None) == "u1"
    assert profiles.member_fields("u1", None) == {"display_name": "u1", "avatar_url": None, "profile_url": None}
    assert profiles.clean_name("\u200b\u202e \t") is None
    assert profiles.clean_locale("pt_BR") == "pt-BR" and profiles.clean_time_zone("Europe/Warsaw") == "Europe/Warsaw"


def test_the_openapi_document_describes_the_profile_fields_and_operations() -> None:
    from rewards.app import create_app

    document = create_app(Settings(environment="test")).openapi()
    schemas = document["components"]["schemas"]
    for name in ("UserOut", "EntryOut", "ProfileOut"):
        assert {"display_name", "avatar_url", "profile_url"} <= set(schemas[name]["properties"]), name
    assert {"post_id", "post_url"} <= set(schemas["HistoryEntryOut"]["properties"])
    operations = document["paths"]["/v1/users/{user_id}/profile"]
    assert set(operations) == {"get", "put", "delete"}
    flair = document["paths"]["/v1/users/{user_id}/flair.svg"]["get"]["responses"]
    assert "Never named" not in json.dumps(flair) and "image/svg+xml" in flair["200"]["content"]
