"""Portable badges: a held badge as an Open Badges 3.0 credential (VC-JWT), checked the way an outside verifier
would, with a different library than the one that signs (PyJWT here, joserfc in the engine), against 1EdTech's
published schema and the specifications' examples (tests/fixtures/openbadges/SOURCES.md)."""

import base64
import gzip
import json
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema
import jwt
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from rewards import PROJECT_ROOT
from rewards.credentials.service import STATUS_LIST_SIZE, encode_bitstring
from rewards.web import i18n
from tests.test_web import BASE, Web, community, open_web, web_settings

FIXTURES = Path(__file__).parent / "fixtures" / "openbadges"
SCHEMA = json.loads((FIXTURES / "ob_v3p0_achievementcredential_schema.json").read_text())
VALIDATOR = jsonschema.Draft201909Validator(SCHEMA, format_checker=jsonschema.Draft201909Validator.FORMAT_CHECKER)


def rsa_key_file(folder: Path) -> Path:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = folder / "issuer-key.pem"
    path.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return path


@pytest.fixture
async def web(database_url: str, tmp_path: Path) -> AsyncIterator[Web]:
    """On SQLite the key is made beside the database on first use; PostgreSQL needs a key file."""
    key = {} if database_url.startswith("sqlite") else {"credentials_key_file": rsa_key_file(tmp_path)}
    async with open_web(web_settings(database_url, **key)) as opened:
        yield opened


def local(url: str) -> str:
    assert url.startswith(BASE), url
    return url[len(BASE) :]


async def held_badges(web: Web, user_id: str) -> list[dict[str, Any]]:
    answer = await web.forum.get(f"/v1/users/{user_id}/badges")
    assert answer.status_code == 200, answer.text
    earned: list[dict[str, Any]] = answer.json()["earned"]
    return earned


async def download(web: Web, badge: dict[str, Any]) -> dict[str, Any]:
    params = {"post": badge["post"]} if badge["post"] else {}
    answer = await web.browser.get(f"/me/credentials/{badge['badge_id']}/{badge['tier']}", params=params)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-disposition"].startswith("attachment;")
    body: dict[str, Any] = answer.json()
    return body


async def verify_independently(web: Web, token: str) -> dict[str, Any]:
    """What a verifier does (OB 3.0 section 8.2.4): dereference the header's `kid` to a JWK, check the RS256
    signature, check `iss`, `sub`, `jti` and `nbf` against the credential, then the credential's status list."""
    header = jwt.get_unverified_header(token)
    assert set(header) == {"alg", "kid", "typ"} and header["alg"] == "RS256" and header["typ"] == "JWT"
    key = await web.browser.get(local(header["kid"]))
    assert key.status_code == 200 and "d" not in key.json()
    jwks = (await web.browser.get("/v1/credentials/jwks.json")).json()
    assert [found["kid"] for found in jwks["keys"]] == [header["kid"]]
    public = jwt.PyJWKSet.from_dict(jwks)[header["kid"]].key
    claims: dict[str, Any] = jwt.decode(
        token, public, algorithms=["RS256"], options={"require": ["iss", "sub", "jti", "nbf"]}
    )
    assert claims["iss"] == claims["issuer"]["id"]
    assert claims["sub"] == claims["credentialSubject"]["id"]
    assert claims["jti"] == claims["id"]
    assert datetime.fromtimestamp(claims["nbf"], UTC).strftime("%Y-%m-%dT%H:%M:%SZ") == claims["validFrom"]
    return claims


async def revoked_in_status_list(web: Web, credential: dict[str, Any]) -> bool:
    """Fetch the status list the credential names (signed, as a VC-JWT), verify it, read the credential's bit."""
    status = credential["credentialStatus"]
    assert status["type"] == "BitstringStatusListEntry" and status["statusPurpose"] == "revocation"
    answer = await web.browser.get(local(status["statusListCredential"]), headers={"Accept": "application/vc+jwt"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/vc+jwt")
    jwks = (await web.browser.get("/v1/credentials/jwks.json")).json()
    kid = jwt.get_unverified_header(answer.text)["kid"]
    listed = jwt.decode(answer.text, jwt.PyJWKSet.from_dict(jwks)[kid].key, algorithms=["RS256"])
    assert listed["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    assert listed["id"] == status["statusListCredential"] and listed["issuer"] == credential["issuer"]["id"]
    subject = listed["credentialSubject"]
    assert subject["type"] == "BitstringStatusList" and subject["statusPurpose"] == "revocation"
    bits = decode_bitstring(subject["encodedList"])
    assert len(bits) * 8 >= STATUS_LIST_SIZE  # the spec's minimum, for group privacy
    index = int(status["statusListIndex"])
    return bool(bits[index // 8] & (0x80 >> (index % 8)))


def decode_bitstring(encoded: str) -> bytes:
    """Bitstring Status List v1.0: multibase `u` + base64url (no padding) of the GZIP-compressed bits."""
    assert encoded.startswith("u")
    body = encoded[1:]
    return gzip.decompress(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


async def test_a_held_badge_is_a_credential_that_verifies_independently_until_the_badge_is_revoked(web: Web) -> None:
    await community(web)
    await web.sign_in("piotr")
    me = await web.browser.get("/me")
    held = await held_badges(web, "piotr")
    badge = next(found for found in held if not found["post"])
    assert f'href="/me/credentials/{badge["badge_id"]}/{badge["tier"]}"' in me.text
    assert "Download credential" in me.text and "Add to LinkedIn profile" in me.text

    downloaded = await download(web, badge)
    assert downloaded["status"] == "valid"
    claims = await verify_independently(web, downloaded["jwt"])
    credential = downloaded["credential"]
    assert {key: value for key, value in claims.items() if key not in {"iss", "sub", "jti", "nbf"}} == credential
    assert sorted(error.message for error in VALIDATOR.iter_errors(credential)) == []
    assert credential["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert credential["credentialSubject"]["id"] == f"{BASE}/u/piotr"
    achievement = credential["credentialSubject"]["achievement"]
    assert achievement["name"].startswith(badge["name"])
    assert achievement["description"] and achievement["criteria"]["narrative"] and achievement["image"]["id"]
    assert not await revoked_in_status_list(web, credential)
    # Downloading again gives the same credential (same id, same place in the status list, same signature).
    assert (await download(web, badge))["jwt"] == downloaded["jwt"]

    page = await web.browser.get(local(downloaded["verification_url"]))
    assert page.status_code == 200 and 'data-status="valid"' in page.text and "piotr" in page.text

    revoked = await web.forum.post(
        "/v1/admin/badges/revoke",
        json={"user_id": "piotr", "badge_id": badge["badge_id"], "tier": badge["tier"], "reason": "a sock puppet"},
    )
    assert revoked.status_code == 200, revoked.text
    assert await revoked_in_status_list(web, credential)  # the signature still verifies; the status says no
    await verify_independently(web, downloaded["jwt"])
    public = await web.browser.get(f"/v1/credentials/{downloaded['credential_id']}")
    assert public.status_code == 200 and public.json()["status"] == "revoked"
    page = await web.browser.get(local(downloaded["verification_url"]))
    assert 'data-status="revoked"' in page.text and "Revoked" in page.text
    # A badge no longer held cannot be downloaded again.
    again = await web.browser.get(f"/me/credentials/{badge['badge_id']}/{badge['tier']}")
    assert again.status_code == 404 and "You do not hold this badge" in again.text


async def test_a_post_badge_the_linkedin_link_and_the_public_documents(web: Web) -> None:
    await community(web)
    await web.sign_in("piotr")
    badge = next(found for found in await held_badges(web, "piotr") if found["post"])
    downloaded = await download(web, badge)
    credential = downloaded["credential"]
    assert not list(VALIDATOR.iter_errors(credential))
    assert badge["post"] in credential["credentialSubject"]["narrative"]

    params = {"post": badge["post"]}
    linkedin = await web.browser.get(f"/me/credentials/{badge['badge_id']}/{badge['tier']}/linkedin", params=params)
    assert linkedin.status_code == 303
    target = urlsplit(linkedin.headers["location"])
    assert (target.scheme, target.netloc, target.path) == ("https", "www.linkedin.com", "/profile/add")
    query = {name: values[0] for name, values in parse_qs(target.query).items()}
    granted = credential["validFrom"]
    assert query == {
        "startTask": "CERTIFICATION_NAME",
        "name": credential["name"],
        "organizationName": "Community rewards",
        "issueYear": str(int(granted[:4])),
        "issueMonth": str(int(granted[5:7])),
        "certUrl": downloaded["verification_url"],
        "certId": downloaded["credential_id"],
    }
    verify = await web.browser.get(f"/me/credentials/{badge['badge_id']}/{badge['tier']}/verify", params=params)
    assert verify.status_code == 303 and verify.headers["location"] == f"/credentials/{downloaded['credential_id']}"
    raw = await web.browser.get(f"/me/credentials/{badge['badge_id']}/{badge['tier']}/jwt", params=params)
    assert raw.headers["content-type"].startswith("application/vc+jwt") and raw.text == downloaded["jwt"]

    # The documents the credential names are public (no session, no key) and say the same.
    anonymous = web.browser
    anonymous.cookies.clear()
    issuer = (await anonymous.get(local(credential["issuer"]["id"]))).json()
    assert {key: value for key, value in issuer.items() if key != "@context"} == credential["issuer"]
    assert issuer["type"] == ["Profile"]
    achievement = credential["credentialSubject"]["achievement"]
    served = (await anonymous.get(local(achievement["id"]))).json()
    assert {key: value for key, value in served.items() if key != "@context"} == achievement
    image = await anonymous.get(local(achievement["image"]["id"]))
    assert image.status_code == 200 and image.headers["content-type"] == "image/svg+xml"
    status = await anonymous.get(local(credential["credentialStatus"]["statusListCredential"]))
    assert status.json()["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    assert (await anonymous.get(f"/v1/credentials/{downloaded['credential_id']}")).json()["status"] == "valid"


async def test_unknown_credentials_badges_and_lists_are_refused_with_a_reason(web: Web) -> None:
    await community(web)
    page = await web.browser.get("/credentials/00000000-0000-4000-8000-000000000000")
    assert page.status_code == 404 and 'data-status="unknown"' in page.text
    unknown = await web.browser.get("/v1/credentials/00000000-0000-4000-8000-000000000000")
    assert unknown.status_code == 404 and "no credential" in unknown.json()["error"]
    achievement = await web.browser.get("/v1/credentials/achievements/no-such-badge/gold")
    assert achievement.status_code == 404 and "GET /v1/badges" in achievement.json()["error"]
    assert (await web.browser.get("/v1/credentials/status/5")).status_code == 404
    assert (await web.browser.get("/v1/credentials/keys/not-a-thumbprint")).status_code == 404
    await web.sign_in("anna")
    not_held = await web.browser.get("/me/credentials/great-answer/gold")
    assert not_held.status_code == 404 and "You do not hold this badge" in not_held.text
    anonymous = web.browser
    anonymous.cookies.clear()
    assert (await anonymous.get("/me/credentials/teacher/bronze")).status_code == 303  # sign in first


async def test_the_generated_key_is_kept_so_credentials_verify_after_a_restart(
    sqlite_template: Path, tmp_path: Path
) -> None:
    database = tmp_path / "rewards.db"
    shutil.copyfile(sqlite_template, database)
    settings = web_settings(f"sqlite+aiosqlite:///{database}", public_url="https://badges.example.org/rewards/")
    async with open_web(settings) as first:
        await community(first)
        await first.sign_in("piotr")
        badge = (await held_badges(first, "piotr"))[0]
        downloaded = await download(first, badge)
    key_file = tmp_path / "rewards-credentials-key.pem"
    assert key_file.exists() and key_file.stat().st_mode & 0o077 == 0  # the owner's only
    credential = downloaded["credential"]
    assert credential["issuer"]["id"] == "https://badges.example.org/rewards/v1/credentials/issuer"
    assert credential["credentialStatus"]["statusListCredential"].startswith("https://badges.example.org/rewards/")
    async with open_web(settings) as second:
        jwks = (await second.browser.get("/v1/credentials/jwks.json")).json()
        header = jwt.get_unverified_header(downloaded["jwt"])
        claims = jwt.decode(downloaded["jwt"], jwt.PyJWKSet.from_dict(jwks)[header["kid"]].key, algorithms=["RS256"])
        assert claims["id"] == credential["id"]


async def test_without_a_key_credentials_are_refused_with_what_to_set(
    postgres_database_url: str, tmp_path: Path
) -> None:
    async with open_web(web_settings(postgres_database_url)) as web:
        answer = await web.browser.get("/v1/credentials/jwks.json")
        assert answer.status_code == 503 and "REWARDS_CREDENTIALS_KEY_FILE" in answer.json()["error"]
        await community(web)
        await web.sign_in("piotr")
        badge = (await held_badges(web, "piotr"))[0]
        page = await web.browser.get(
            f"/me/credentials/{badge['badge_id']}/{badge['tier']}", params={"post": badge["post"]}
        )
        assert page.status_code == 503 and "REWARDS_CREDENTIALS_KEY_FILE" in page.text
    missing = tmp_path / "missing.pem"
    async with open_web(web_settings(postgres_database_url, credentials_key_file=missing)) as web:
        answer = await web.browser.get("/v1/credentials/jwks.json")
        assert answer.status_code == 503 and "does not exist" in answer.json()["error"]
        assert not missing.exists()  # never made where an operator named a file


def test_the_specifications_examples_pass_the_schema_and_our_credentials_have_their_shape() -> None:
    """The schema is the one the examples were written against; and the W3C example list decodes as ours."""
    for name in ("spec_example_basic.json", "spec_example_complete.json"):
        example = json.loads((FIXTURES / name).read_text())
        assert not list(VALIDATOR.iter_errors(example)), name
    broken = json.loads((FIXTURES / "spec_example_basic.json").read_text())
    del broken["credentialSubject"]["achievement"]["criteria"]
    assert list(VALIDATOR.iter_errors(broken))  # the schema does refuse an Achievement without criteria
    w3c = json.loads((FIXTURES / "bitstring_status_list_example.json").read_text())
    assert decode_bitstring(w3c["credentialSubject"]["encodedList"]) == decode_bitstring(encode_bitstring([]))
    set_bits = decode_bitstring(encode_bitstring([0, 9, STATUS_LIST_SIZE - 1]))
    assert set_bits[0] == 0x80 and set_bits[1] == 0x40 and set_bits[-1] == 0x01


CREDENTIAL_SOURCES = (
    "rewards/credentials/**.py",
    "templates/web/credential.html",
    "templates/web/credential_links.html",
)


def test_the_credential_pages_messages_are_translated_to_polish() -> None:
    with (i18n.LOCALES_DIR / "pl" / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po, locale="pl")
    translated = {message.id for message in catalog if message.id and message.string and not message.fuzzy}
    extracted = {
        message
        for _, _, message, _, _ in extract_from_dir(
            PROJECT_ROOT,
            [(pattern, "python" if pattern.endswith(".py") else "jinja2") for pattern in CREDENTIAL_SOURCES],
            options_map={pattern: {"extensions": "jinja2.ext.i18n"} for pattern in CREDENTIAL_SOURCES[1:]},
            keywords={"_": None, "gettext": None, "N_": None},
        )
        if isinstance(message, str)
    }
    assert len(extracted) > 20
    assert sorted(extracted - translated) == []


async def test_in_production_credentials_name_only_the_configured_address(postgres_database_url: str) -> None:
    """The `Host` header is the caller's to write: in production, without REWARDS_PUBLIC_URL, no credential
    document is signed or served (503, saying what to set), whatever host a request names."""
    settings = web_settings(postgres_database_url).model_copy(update={"environment": "production"})
    async with open_web(settings) as web:
        answer = await web.browser.get("/v1/credentials/issuer", headers={"Host": "evil.example"})
        assert answer.status_code == 503 and "REWARDS_PUBLIC_URL" in answer.json()["error"]
    configured = settings.model_copy(update={"public_url": "https://badges.example.org"})
    async with open_web(configured) as web:
        issuer = (await web.browser.get("/v1/credentials/issuer", headers={"Host": "evil.example"})).json()
        assert issuer["id"].startswith("https://badges.example.org/") and "evil" not in str(issuer)
