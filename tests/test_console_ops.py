"""The console's operations pages over HTTP, on SQLite and PostgreSQL: perks, actions on a member, the programme
dashboard, the audit log; the public leaderboards and "My spot" on /me."""

import html
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from rewards import PROJECT_ROOT
from rewards.runtime import utcnow
from rewards.web import dashboard_repository
from tests.factories import BASE_TIME, accept, answer, event, question, upvote
from tests.test_input_the_database_cannot_store import NUL_MESSAGE
from tests.test_web import TEST_PERK, Web, community, open_web, web_settings

WORKSHOP_PERK = """  - id: mini-workshop
    name: Mini workshop
    description: An afternoon with the network engineers.
    kind: workshop
    eligibility:
      reputation: 30
    seats: 1
    approval: true
    claim_within_days: 7
    details:
      place: Warsaw
"""
B1 = answer("b1", "anna", "q2")


def rules_for_console(folder: Path) -> Path:
    """The default rules plus two perks a small community reaches: a beta (30 reputation, 5 seats) and a
    workshop that a manager approves (30 reputation, 1 seat)."""
    default = (PROJECT_ROOT / "rules" / "default.yaml").read_text()
    assert default.count("\nperks:\n") == 1
    path = folder / "rules.yaml"
    path.write_text(default.replace("\nperks:\n", "\nperks:\n" + TEST_PERK + WORKSHOP_PERK, 1))
    return path


@pytest.fixture
async def ops(database_url: str, tmp_path: Path) -> AsyncIterator[Web]:
    settings = web_settings(database_url, rules_path=rules_for_console(tmp_path), staff_users="sam.staff, ")
    async with open_web(settings) as opened:
        yield opened


async def perk_community(web: Web) -> None:
    """piotr reaches 35 first (the workshop's one seat: a request awaiting approval), anna 40 later (waitlisted);
    both are offered the beta."""
    await community(web)
    await web.post_events(*(upvote(voter, B1, minutes=10 + n) for n, voter in enumerate(["v3", "v4", "v5"])))


async def as_manager(web: Web) -> str:
    await web.sign_in("mia", roles=["manager"])
    return await web.csrf_token("/admin/perks")


def text_of(response: httpx.Response) -> str:
    """The page's text without tags, entities decoded and spaces collapsed."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", response.text)))


def section(response: httpx.Response, perk_id: str) -> str:
    found = re.search(rf'<section class="card" id="perk-{perk_id}".*?</section>', response.text, re.S)
    assert found is not None, response.text
    return found.group(0)


async def audit_actions(web: Web, **filters: str) -> list[str]:
    page = await web.browser.get("/admin/audit", params=filters)
    assert page.status_code == 200, page.text
    table = re.search(r'<table data-testid="audit">.*?</table>', page.text, re.S)
    if table is None:  # an empty log says so; any other page without the table is a failure, not "no actions"
        assert "No manager action matches." in page.text, page.text
        return []
    return re.findall(r"<td><code>([^<]+)</code>", table.group(0))


# --- permissions and CSRF --------------------------------------------------------------------------------------------


async def test_only_managers_reach_the_operations_pages(ops: Web) -> None:
    await perk_community(ops)
    console = ["/admin/perks", "/admin/dashboard", "/admin/audit", "/admin/perks/router-beta/attendees.csv"]
    for path in console:
        assert (await ops.browser.get(path)).headers["location"].startswith("/signin?next=")
    await ops.sign_in("piotr")
    for path in console:
        response = await ops.browser.get(path)
        assert response.status_code == 403 and "Managers only" in response.text, path
    token = await ops.csrf_token()
    forms = {
        "/admin/perks/mini-workshop/decide": {"action": "approve", "user_id": "piotr", "reason": "I approve myself"},
        "/admin/perks/router-beta/codes": {"codes": "MINE"},
        "/admin/perks/router-beta/seats": {"seats": "99"},
        "/admin/people/piotr/adjust": {"points": "1000", "reason": "I deserve it"},
        "/admin/people/piotr/badges/grant": {"badge_id": "solver", "tier": "gold", "reason": "I deserve it"},
        "/admin/people/piotr/perks/grant": {"perk_id": "mini-workshop", "reason": "I deserve it"},
    }
    for path, data in forms.items():
        assert (await ops.browser.post(path, data={**data, "csrf_token": token})).status_code == 403, path
    await as_manager(ops)
    assert await audit_actions(ops, actor="user:piotr") == []
    page = await ops.browser.get("/admin/perks")
    assert "piotr" in section(page, "mini-workshop") and "Requests awaiting approval" in page.text


async def test_posts_without_the_form_token_are_refused_and_change_nothing(ops: Web) -> None:
    await perk_community(ops)
    await as_manager(ops)
    refused = [
        ("/admin/perks/mini-workshop/decide", {"action": "approve", "user_id": "piotr", "reason": "Good answers"}),
        ("/admin/perks/router-beta/codes", {"codes": "C1"}),
        ("/admin/perks/router-beta/seats", {"seats": "9"}),
        ("/admin/people/piotr/adjust", {"points": "5", "reason": "A talk"}),
        ("/admin/people/piotr/perks/revoke", {"perk_id": "router-beta", "reason": "Testing"}),
    ]
    for path, data in refused:
        response = await ops.browser.post(path, data=data)
        assert response.status_code == 403 and "This form has expired" in response.text, path
        other = await ops.browser.post(path, data={**data, "csrf_token": "forged-token-of-the-right-length-000"})
        assert other.status_code == 403, path
    assert await audit_actions(ops, actor="user:mia") == []
    catalogue = (await ops.forum.get("/v1/perks")).json()["perks"]
    beta = next(perk for perk in catalogue if perk["id"] == "router-beta")
    assert beta["codes_left"] == 0 and beta["seats"] == 5
    assert await reputation(ops, "piotr") == 35


async def reputation(web: Web, user_id: str) -> int:
    response = await web.forum.get(f"/v1/users/{user_id}")
    value: int = response.json()["reputation"]
    return value


# --- perks -----------------------------------------------------------------------------------------------------------


async def test_a_nul_character_in_a_form_or_an_uploaded_file_is_refused_and_nothing_changes(ops: Web) -> None:
    await perk_community(ops)
    token = await as_manager(ops)
    before = await reputation(ops, "anna")
    adjusted = await ops.browser.post(
        "/admin/people/anna/adjust", data={"csrf_token": token, "points": "5", "reason": "Thanks\x00"}
    )
    assert adjusted.status_code == 422, adjusted.text
    assert adjusted.json()["detail"] == [{"field": "body.reason", "message": NUL_MESSAGE}]
    assert await reputation(ops, "anna") == before

    uploaded = await ops.browser.post(
        "/admin/perks/router-beta/codes",
        data={"csrf_token": token},
        files={"file": ("codes.txt", b"C1\nC\x002\n", "text/plain")},
    )
    assert uploaded.status_code == 422
    assert "code 2 (of the non-empty ones) contains the NUL character" in text_of(uploaded)
    assert 'data-testid="codes-router-beta">0<' in section(await ops.browser.get("/admin/perks"), "router-beta")


async def test_a_csv_of_codes_that_cannot_be_parsed_is_refused_on_the_page(ops: Web) -> None:
    await perk_community(ops)
    token = await as_manager(ops)
    huge_field = b'"' + b"x" * 200_000 + b'"\n'
    uploaded = await ops.browser.post(
        "/admin/perks/router-beta/codes",
        data={"csrf_token": token},
        files={"file": ("codes.csv", huge_field, "text/csv")},
    )
    assert uploaded.status_code == 422 and "The CSV file cannot be read" in text_of(uploaded)


async def test_the_perks_page_shows_seats_waitlist_offers_and_requests(ops: Web) -> None:
    await perk_community(ops)
    await as_manager(ops)
    page = await ops.browser.get("/admin/perks")
    assert page.status_code == 200
    workshop = section(page, "mini-workshop")
    assert 'data-testid="seats-mini-workshop">1 of 1<' in workshop
    assert re.search(r'Requests awaiting approval.*?href="/admin/people/piotr"', workshop, re.S)
    assert re.search(
        r'data-testid="waitlist-mini-workshop">\s*<li value="1">position 1: <a href="/admin/people/anna"', workshop
    )
    beta = section(page, "router-beta")
    assert 'data-testid="seats-router-beta">2 of 5<' in beta and 'data-testid="codes-router-beta">0<' in beta
    offers = beta.split("Outstanding offers", 1)[1].split("Waitlist", 1)[0]
    assert "piotr" in offers and "anna" in offers and offers.count("claim by") == 2
    assert 'enctype="multipart/form-data"' in beta and "codes-mini-workshop" not in workshop
    assert 'href="/admin/perks/router-beta/attendees.csv"' in beta


async def test_a_manager_approves_denies_sets_seats_uploads_codes_grants_and_revokes(ops: Web) -> None:
    await perk_community(ops)
    token = await as_manager(ops)

    short = await ops.browser.post(
        "/admin/perks/mini-workshop/decide",
        data={"csrf_token": token, "action": "approve", "user_id": "piotr", "reason": "ok"},
    )
    assert short.status_code == 422 and "Give a reason of 3 to 400 characters." in text_of(short)
    assert 'value="ok"' in section(short, "mini-workshop")  # the form is kept

    approved = await ops.browser.post(
        "/admin/perks/mini-workshop/decide",
        data={"csrf_token": token, "action": "approve", "user_id": "piotr", "reason": "Great answers"},
    )
    assert approved.status_code == 303
    assert approved.headers["location"].startswith("/admin/perks?done=approve&perk=mini-workshop&user=piotr")
    page = await ops.browser.get(approved.headers["location"])
    assert "Approved mini-workshop for piotr." in text_of(page)
    workshop = section(page, "mini-workshop")
    assert "claim by" in workshop.split("Outstanding offers", 1)[1].split("Waitlist", 1)[0]

    again = await ops.browser.post(
        "/admin/perks/mini-workshop/decide",
        data={"csrf_token": token, "action": "approve", "user_id": "piotr", "reason": "Great answers"},
    )
    assert again.status_code == 409
    assert "Not done: piotr has no request for Mini workshop awaiting approval" in text_of(again)

    wrong = await ops.browser.post("/admin/perks/mini-workshop/seats", data={"csrf_token": token, "seats": "-3"})
    assert wrong.status_code == 422 and "Seats are a whole number" in text_of(wrong)
    seats = await ops.browser.post("/admin/perks/mini-workshop/seats", data={"csrf_token": token, "seats": "2"})
    assert seats.status_code == 303
    page = await ops.browser.get("/admin/perks")
    workshop = section(page, "mini-workshop")
    assert 'data-testid="seats-mini-workshop">2 of 2<' in workshop and "Nobody is waiting." in workshop
    assert re.search(r'Requests awaiting approval.*?href="/admin/people/anna"', workshop, re.S)

    denied = await ops.browser.post(
        "/admin/perks/mini-workshop/decide",
        data={"csrf_token": token, "action": "deny", "user_id": "anna", "reason": "Next time"},
    )
    assert denied.status_code == 303
    workshop = section(await ops.browser.get("/admin/perks"), "mini-workshop")
    assert 'data-testid="seats-mini-workshop">1 of 2<' in workshop and "/admin/people/anna" not in workshop

    uploaded = await ops.browser.post(
        "/admin/perks/router-beta/codes",
        data={"csrf_token": token, "codes": "C1\r\nC2\r\n\r\nC2"},
        files={"file": ("codes.csv", b"\xef\xbb\xbfcode\nC3,extra\nC4\n", "text/csv")},
    )
    assert uploaded.status_code == 303 and "count=4" in uploaded.headers["location"]
    page = await ops.browser.get(uploaded.headers["location"])
    assert "Added 4 new codes to router-beta." in text_of(page)
    assert 'data-testid="codes-router-beta">4<' in section(page, "router-beta")
    empty = await ops.browser.post(
        "/admin/perks/router-beta/codes",
        data={"csrf_token": token, "codes": "  "},
        files={"file": ("", b"", "application/octet-stream")},
    )
    assert empty.status_code == 422 and "Paste codes, one a line, or choose a file." in text_of(empty)
    not_beta = await ops.browser.post("/admin/perks/mini-workshop/codes", data={"csrf_token": token, "codes": "X"})
    assert not_beta.status_code == 422 and "code pools are for beta_access perks" in text_of(not_beta)
    binary = await ops.browser.post(
        "/admin/perks/router-beta/codes", data={"csrf_token": token}, files={"file": ("codes.txt", b"\xff\xfe\x00")}
    )
    assert binary.status_code == 422 and "The file is not UTF-8 text" in text_of(binary)

    granted = await ops.browser.post(
        "/admin/perks/router-beta/decide",
        data={"csrf_token": token, "action": "grant", "user_id": "anna", "reason": "Beta tester of the year"},
    )
    assert granted.status_code == 303
    csv_page = await ops.browser.get("/admin/perks/router-beta/attendees.csv")
    assert csv_page.status_code == 200 and csv_page.headers["content-type"].startswith("text/csv")
    api_csv = await ops.forum.get("/v1/admin/perks/router-beta/attendees.csv")
    assert csv_page.text == api_csv.text and ",C1" in csv_page.text and csv_page.text.startswith("user_id,status")
    assert csv_page.text.count("\n") == 2 and "anna,active" in csv_page.text

    revoked = await ops.browser.post(
        "/admin/perks/router-beta/decide",
        data={"csrf_token": token, "action": "revoke", "user_id": "anna", "reason": "Left the company"},
    )
    assert revoked.status_code == 303
    assert (await ops.browser.get("/admin/perks/router-beta/attendees.csv")).text.count("\n") == 1
    nobody = await ops.browser.post(
        "/admin/perks/router-beta/decide",
        data={"csrf_token": token, "action": "revoke", "user_id": "nobody", "reason": "Left the company"},
    )
    assert nobody.status_code == 404 and "nobody has no open grant of Router beta programme" in text_of(nobody)
    assert 'value="nobody"' in section(nobody, "router-beta")
    unknown = await ops.browser.post(
        "/admin/perks/no-such-perk/decide",
        data={"csrf_token": token, "action": "grant", "user_id": "anna", "reason": "Testing"},
    )
    assert unknown.status_code == 404 and "no perk 'no-such-perk'" in text_of(unknown)
    assert (await ops.browser.get("/admin/perks/no-such-perk/attendees.csv")).status_code == 404

    actions = await audit_actions(ops, actor="user:mia")
    assert actions == [
        "perk.revoke", "perk.grant", "perk.codes_upload", "perk.deny", "perk.set_seats", "perk.approve"
    ]  # fmt: skip
    assert await audit_actions(ops, action="perk.gr") == ["perk.grant"]
    assert await audit_actions(ops, user="anna") == ["perk.revoke", "perk.grant", "perk.deny"]
    assert await audit_actions(ops, actor="user:someone-else") == []


# --- people ----------------------------------------------------------------------------------------------------------


async def test_a_manager_adjusts_points_and_grants_and_revokes_badges_and_perks_on_a_member_s_page(ops: Web) -> None:
    await perk_community(ops)
    token = await as_manager(ops)
    page = await ops.browser.get("/admin/people/piotr")
    assert 'action="/admin/people/piotr/adjust"' in page.text and '<option value="solver">' in page.text
    assert '<option value="mini-workshop">Mini workshop</option>' in page.text

    bad = await ops.browser.post(
        "/admin/people/piotr/adjust", data={"csrf_token": token, "points": "lots", "reason": "Workshop talk"}
    )
    assert bad.status_code == 422 and "Points are a whole number, like 25 or -10." in text_of(bad)
    assert 'value="Workshop talk"' in bad.text and 'value="lots"' in bad.text  # the form is kept, and open
    assert "<details open>\n    <summary>Adjust points</summary>" in bad.text
    adjusted = await ops.browser.post(
        "/admin/people/piotr/adjust", data={"csrf_token": token, "points": "+25", "reason": "Workshop talk"}
    )
    assert adjusted.status_code == 303 and adjusted.headers["location"] == "/admin/people/piotr?done=adjust#actions"
    page = await ops.browser.get(adjusted.headers["location"])
    assert "Points adjusted." in page.text and 'data-testid="reputation">60<' in page.text
    assert "Workshop talk" in page.text
    assert await reputation(ops, "piotr") == 60
    missing = await ops.browser.post(
        "/admin/people/ghost/adjust", data={"csrf_token": token, "points": "5", "reason": "Workshop talk"}
    )
    assert missing.status_code == 404

    granted = await ops.browser.post(
        "/admin/people/piotr/badges/grant",
        data={"csrf_token": token, "badge_id": "solver", "tier": "gold", "post": "", "reason": "Hall of fame"},
    )
    assert granted.status_code == 303
    page = await ops.browser.get(granted.headers["location"])
    assert "Badge granted." in page.text and re.search(r'tier-gold"[^>]*>.*?Solver', page.text, re.S)
    twice = await ops.browser.post(
        "/admin/people/piotr/badges/grant",
        data={"csrf_token": token, "badge_id": "solver", "tier": "gold", "reason": "Hall of fame"},
    )
    assert twice.status_code == 409 and "Not done: piotr already holds Solver gold" in text_of(twice)
    assert '<option value="solver" selected>' in twice.text and '<option value="gold" selected>' in twice.text
    per_post = await ops.browser.post(
        "/admin/people/piotr/badges/grant",
        data={"csrf_token": token, "badge_id": "nice-answer", "reason": "A fine answer"},
    )
    assert per_post.status_code == 422 and "is earned per post" in text_of(per_post)
    revoked = await ops.browser.post(
        "/admin/people/piotr/badges/revoke",
        data={"csrf_token": token, "badge_id": "solver", "tier": "gold", "reason": "Granted by mistake"},
    )
    assert revoked.status_code == 303
    assert "Badge revoked." in (await ops.browser.get(revoked.headers["location"])).text

    perk = await ops.browser.post(
        "/admin/people/anna/perks/grant", data={"csrf_token": token, "perk_id": "router-beta", "reason": "Tester"}
    )
    assert perk.status_code == 303 and perk.headers["location"] == "/admin/people/anna?done=perk-grant#actions"
    gone = await ops.browser.post(
        "/admin/people/anna/perks/revoke", data={"csrf_token": token, "perk_id": "router-beta", "reason": "Ended"}
    )
    assert gone.status_code == 303
    not_held = await ops.browser.post(
        "/admin/people/anna/perks/revoke", data={"csrf_token": token, "perk_id": "router-beta", "reason": "Ended"}
    )
    assert not_held.status_code == 404 and "anna has no open grant of Router beta programme" in text_of(not_held)
    no_reason = await ops.browser.post(
        "/admin/people/anna/perks/grant", data={"csrf_token": token, "perk_id": "router-beta", "reason": " "}
    )
    assert no_reason.status_code == 422 and "Give a reason" in text_of(no_reason)
    assert (await ops.browser.post("/admin/people/anna/badges/steal", data={"csrf_token": token})).status_code == 404

    everything = await audit_actions(ops, actor="user:mia")
    assert everything == ["perk.revoke", "perk.grant", "badge.revoke", "badge.grant", "points.adjust"]
    audit = await ops.browser.get("/admin/audit", params={"user": "piotr"})
    assert "Hall of fame" in audit.text and "Workshop talk" in audit.text and "solver/gold" in audit.text


# --- the audit log ---------------------------------------------------------------------------------------------------


async def test_the_audit_log_filters_by_dates_and_pages(ops: Web) -> None:
    await perk_community(ops)
    token = await as_manager(ops)
    for n in range(53):
        await ops.browser.post(
            "/admin/people/piotr/adjust", data={"csrf_token": token, "points": "1", "reason": f"Thanks no. {n}"}
        )
    first = await ops.browser.get("/admin/audit", params={"action": "points."})
    assert first.text.count("<td><code>points.adjust</code>") == 50 and "Thanks no. 52" in first.text
    older = re.search(r'<a href="/admin/audit\?([^"]+)">Older actions</a>', first.text)
    assert older is not None and "action=points." in html.unescape(older.group(1))
    second = await ops.browser.get("/admin/audit?" + html.unescape(older.group(1)))
    assert second.text.count("<td><code>points.adjust</code>") == 3 and "Thanks no. 0<" in second.text
    assert "Older actions" not in second.text
    today = utcnow().date()
    within = await audit_actions(ops, since=today.isoformat(), until=today.isoformat())
    assert len(within) == 50
    before = await ops.browser.get("/admin/audit", params={"until": (today - timedelta(days=1)).isoformat()})
    assert "No manager action matches." in before.text
    bad = await ops.browser.get("/admin/audit", params={"since": "yesterday"})
    assert bad.status_code == 400 and "Dates are written as YYYY-MM-DD" in bad.text


# --- the programme dashboard -----------------------------------------------------------------------------------------


def at(minutes: float) -> datetime:
    return BASE_TIME + timedelta(minutes=minutes)


async def known_community(web: Web) -> None:
    """Three questions on 2 March 2026: q1 answered first by piotr after 30 minutes (accepted), q2 by anna after
    90, q3 by sam.staff (staff) after 10 (accepted); q4, a day later, only by its own asker. One question in
    February (outside the range)."""
    q = {name: question(name, asker) for name, asker in [("q1", "jan"), ("q2", "ewa"), ("q3", "ola"), ("q4", "tom")]}
    a1, a1b = answer("a1", "piotr", "q1"), answer("a1b", "sam.staff", "q1")
    a2, a3, a4 = answer("a2", "anna", "q2"), answer("a3", "sam.staff", "q3"), answer("a4", "tom", "q4")
    old = question("q0", "jan")
    await web.post_events(
        event("question.posted", {"actor": "jan", "post": old}, at=datetime(2026, 2, 10, 12, tzinfo=UTC)),
        event("question.posted", {"actor": "jan", "post": q["q1"]}, at=at(0)),
        event("question.posted", {"actor": "ewa", "post": q["q2"]}, at=at(1)),
        event("question.posted", {"actor": "ola", "post": q["q3"]}, at=at(2)),
        event("answer.posted", {"actor": "sam.staff", "post": a3}, at=at(12)),
        event("answer.posted", {"actor": "piotr", "post": a1}, at=at(30)),
        event("answer.posted", {"actor": "sam.staff", "post": a1b}, at=at(40)),
        event("answer.posted", {"actor": "anna", "post": a2}, at=at(91)),
        accept("jan", a1, at=at(100)),
        accept("ola", a3, at=at(101)),
        event("question.posted", {"actor": "tom", "post": q["q4"]}, at=at(24 * 60)),
        event("answer.posted", {"actor": "tom", "post": a4}, at=at(24 * 60 + 5)),
    )


async def test_the_dashboard_figures_on_a_small_known_community_are_exact(
    ops: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dashboard_repository, "STREAM_ROWS", 2)  # the log is read page by page: same figures
    await known_community(ops)
    await as_manager(ops)
    page = await ops.browser.get("/admin/dashboard", params={"from": "2026-03-01", "to": "2026-03-07"})
    assert page.status_code == 200

    def figure(name: str) -> str:
        found = re.search(rf'data-testid="{name}">([^<]*)<', page.text)
        assert found is not None, name
        return found.group(1)

    assert figure("questions") == "4"
    assert (figure("answered-community"), figure("answered-staff"), figure("unanswered")) == ("2", "1", "1")
    assert figure("community-share") == "67%"  # 2 of 3 answered questions
    assert (figure("solved-community"), figure("solved-staff"), figure("solved-share")) == ("1", "1", "50%")
    assert figure("median-wait") == "30 min"  # first answers after 10, 30 and 90 minutes
    assert (figure("active-community"), figure("active-staff")) == ("3", "1")  # piotr, anna, tom; sam.staff
    assert figure("holders-solver-bronze") == "2"  # piotr and sam.staff
    days = dict(re.findall(r'<tr><td>(\d{4}-\d\d-\d\d)</td><td class="num">(\d+)</td></tr>', page.text))
    assert len(days) == 7 and days["2026-03-02"] == "9" and days["2026-03-03"] == "2" and days["2026-03-01"] == "0"
    assert "<svg" in page.text and page.text.count("<rect ") == 7 + 2 and "11 events from 2026-03-01" in page.text
    assert 'value="2026-03-01"' in page.text and 'value="2026-03-07"' in page.text

    # Without staff configured, every answer is the community's, and the page says so.
    march_second = await ops.browser.get("/admin/dashboard", params={"from": "2026-03-02", "to": "2026-03-02"})
    assert re.search(r'data-testid="questions">3<', march_second.text)


async def test_the_dashboard_counts_perks_offered_and_claimed_and_refuses_bad_ranges(ops: Web) -> None:
    await perk_community(ops)
    await ops.forum.post("/v1/admin/perks/router-beta/codes", json={"codes": ["BETA-1"]})
    await ops.sign_in("piotr")
    claimed = await ops.browser.post("/me/perks/router-beta/claim", data={"csrf_token": await ops.csrf_token()})
    assert claimed.status_code == 303
    await as_manager(ops)
    # Perks are offered when events apply (today), while the page opens on the events' own last 30 days.
    today = utcnow().date()
    page = await ops.browser.get("/admin/dashboard", params={"from": str(today - timedelta(days=29)), "to": str(today)})
    row = re.search(
        r'data-testid="perk-activity-router-beta"><td>([^<]+)</td>((?:<td class="num">\d+</td>)+)', page.text
    )
    assert row is not None and row.group(1) == "Router beta programme"
    assert re.findall(r">(\d+)<", row.group(2)) == ["2", "1", "0"]  # offered to piotr and anna, piotr claimed
    workshop = re.search(r'data-testid="perk-activity-mini-workshop">.*?</tr>', page.text)
    assert workshop is not None and re.findall(r'"num">(\d+)<', workshop.group(0)) == ["0", "0", "0"]
    old = await ops.browser.get("/admin/dashboard", params={"from": "2020-01-01", "to": "2020-01-31"})
    assert "No perk was offered or claimed in this range." in old.text and 'data-testid="questions">0<' in old.text
    for query, message in [
        ({"from": "2026-03-08", "to": "2026-03-01"}, "swap the dates"),
        ({"from": "March"}, "YYYY-MM-DD"),
        ({"from": "2020-01-01", "to": "2026-01-01"}, "731 days at most"),
        ({"to": "9999-12-31"}, "Choose dates from 1970-01-01 to 2200-12-31."),
        ({"to": "0001-01-05"}, "YYYY-MM-DD"),  # the default start would be before year 1
        ({"from": "0001-01-01", "to": "0001-01-10"}, "Choose dates from 1970-01-01 to 2200-12-31."),
    ]:
        refused = await ops.browser.get("/admin/dashboard", params=query)
        assert refused.status_code == 400 and message in refused.text and "<svg" not in refused.text


# --- leaderboards and my spot ----------------------------------------------------------------------------------------


async def test_the_leaderboards_page_is_public_with_ranks_periods_and_previous_periods(ops: Web) -> None:
    await perk_community(ops)  # anna 40, piotr 35, both in March 2026
    page = await ops.browser.get("/leaderboards")
    assert page.status_code == 200
    assert '<a href="/leaderboards" aria-current="page">Leaderboards</a>' in page.text  # in the site's menu
    rows = re.findall(r'<td class="num">(\d+)</td>\s*<td><span class="member"[^>]*>.*?<a href="/u/([^"]+)">', page.text)
    assert rows == [("1", "anna"), ("2", "piotr"), ("3", "asker")]  # the asker: +2 for accepting
    assert page.text.count(">Newcomer<") == 3  # rank titles
    assert 'href="/leaderboards?board=reputation&amp;period=monthly"' in page.text
    assert 'href="/leaderboards?board=accepted-routers&amp;period=all-time"' in page.text
    month = await ops.browser.get("/leaderboards", params={"board": "reputation", "period": "monthly", "at": "2026-03"})
    assert re.findall(r'<td><span class="member"[^>]*>.*?<a href="/u/([^"]+)">', month.text) == [
        "anna",
        "piotr",
        "asker",
    ]
    assert 'rel="prev">Previous: 2026-02<' in month.text and 'rel="next">Next: 2026-04<' in month.text
    earlier = await ops.browser.get(
        "/leaderboards", params={"board": "reputation", "period": "monthly", "at": "2026-02"}
    )
    assert "Nobody has scored in this period yet." in earlier.text
    by_date = await ops.browser.get(
        "/leaderboards", params={"board": "reputation", "period": "weekly", "at": "2026-03-02"}
    )
    assert "2026-W10" in by_date.text and "/u/anna" in by_date.text
    routers = await ops.browser.get("/leaderboards", params={"board": "accepted-routers", "period": "all-time"})
    member = r'<td class="num">(\d+)</td>\s*<td><span class="member"[^>]*>.*?<a href="/u/([^"]+)">'
    assert re.findall(member, routers.text) == [("1", "piotr")]
    for period, at in [("monthly", "March"), ("daily", "9999-12-31"), ("yearly", "0001"), ("weekly", "9999-W52")]:
        bad = await ops.browser.get("/leaderboards", params={"board": "reputation", "period": period, "at": at})
        assert bad.status_code == 400 and "This period cannot be shown" in bad.text, at
    current = await ops.browser.get("/leaderboards", params={"board": "reputation", "period": "daily"})
    assert 'rel="next"' not in current.text  # no link into the future
    polish = await ops.browser.get("/leaderboards", headers={"Accept-Language": "pl"})
    assert "Cały czas" in polish.text and "Miejsce" in polish.text and "Wynik" in polish.text


async def test_my_spot_shows_my_rank_with_neighbours_on_every_board(ops: Web) -> None:
    await perk_community(ops)
    await ops.post_events(*(upvote(f"w{n}", answer(f"c{n}", f"user{n}", "q9"), minutes=30 + n) for n in range(5)))
    await ops.sign_in("user2")  # five users with 10: user0..user4, after anna (40) and piotr (35)
    page = await ops.browser.get("/me")
    spot = re.search(r'<ol class="perks" data-testid="spot-reputation-all-time">(.*?)</ol>', page.text, re.S)
    assert spot is not None
    assert re.findall(r"#(\d+)", spot.group(1)) == ["3", "3", "3", "3", "3"]  # equal scores share a rank
    assert "#3 you" in spot.group(1) and 'aria-current="true"' in spot.group(1)
    assert re.findall(r'href="/u/([^"]+)"', spot.group(1)) == ["user0", "user1", "user3", "user4"]
    assert "This month (" in page.text and "Not on this board yet." in page.text  # no accepted answers
    await ops.sign_in("piotr", locale="pl")
    polish = await ops.browser.get("/me")
    assert "Moje miejsce" in polish.text and "#2 ty" in polish.text


async def test_the_console_in_polish(ops: Web) -> None:
    await known_community(ops)
    await ops.sign_in("mia", roles=["manager"], locale="pl")
    pages = {
        "/admin": "Pulpit programu",
        "/admin/perks": "Zgłoszenia czekające na zatwierdzenie",
        "/admin/dashboard?from=2026-03-01&to=2026-03-07": "Czy społeczność dźwiga wsparcie?",
        "/admin/audit": "Dziennik audytu",
        "/admin/people/piotr": "Skoryguj punkty",
    }
    for path, polish in pages.items():
        response = await ops.browser.get(path)
        assert response.status_code == 200 and polish in response.text, path
    dashboard = await ops.browser.get("/admin/dashboard?from=2026-03-01&to=2026-03-07")
    assert "30 min" in dashboard.text and "67%" in dashboard.text
