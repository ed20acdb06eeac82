"""Use cases of portable badges: a held badge as an Open Badges 3.0 credential (a W3C Verifiable Credential of type
`OpenBadgeCredential`, signed as a VC-JWT), the issuer profile, achievements, keys, and the revocation status list
(W3C Bitstring Status List v1.0) that says which credentials no longer hold."""

import base64
import gzip
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import quote, urlencode
from xml.sax.saxutils import escape

from joserfc import jwt
from sqlalchemy.ext.asyncio import AsyncSession

from rewards.config import Settings
from rewards.credentials import repository
from rewards.credentials.keys import ALGORITHM, signing_key
from rewards.credentials.models import BadgeCredentialRow
from rewards.engine.perks import counter_name
from rewards.engine.ruleset import Badge, Ruleset, web_url
from rewards.errors import NotFound

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
OB_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
OB_SCHEMA = "https://purl.imsglobal.org/spec/ob/v3p0/schema/json/ob_v3p0_achievementcredential_schema.json"
# The spec's minimum list length (16 KiB): a verifier fetching the list does not tell us which credential it checks.
STATUS_LIST_SIZE = 131_072
LINKEDIN_ADD_TO_PROFILE = "https://www.linkedin.com/profile/add"
TIER_COLOURS = {"gold": "#c9a227", "silver": "#9ea3a8", "bronze": "#b06d35"}


class CredentialStatus(StrEnum):
    VALID = "valid"
    REVOKED = "revoked"


@dataclass(frozen=True)
class Addresses:
    """Every address a credential names, under the engine's public URL."""

    base: str

    @property
    def issuer(self) -> str:
        return f"{self.base}/v1/credentials/issuer"

    @property
    def jwks(self) -> str:
        return f"{self.base}/v1/credentials/jwks.json"

    def key(self, thumbprint: str) -> str:
        return f"{self.base}/v1/credentials/keys/{thumbprint}"

    def achievement(self, badge_id: str, tier: str) -> str:
        return f"{self.base}/v1/credentials/achievements/{quote(badge_id, safe='')}/{quote(tier, safe='')}"

    def image(self, badge_id: str, tier: str) -> str:
        return f"{self.achievement(badge_id, tier)}/image.svg"

    def status_list(self, number: int) -> str:
        return f"{self.base}/v1/credentials/status/{number}"

    def credential_json(self, credential_id: str) -> str:
        return f"{self.base}/v1/credentials/{credential_id}"

    def verification_page(self, credential_id: str) -> str:
        return f"{self.base}/credentials/{credential_id}"

    def member(self, user_id: str) -> str:
        return f"{self.base}/u/{quote(user_id, safe='')}"


@dataclass(frozen=True)
class SignedCredential:
    row: BadgeCredentialRow
    status: CredentialStatus
    credential: dict[str, Any]
    jwt: str
    badge_name: str


# -- the documents -----------------------------------------------------------------------------------------------


def issuer_profile(settings: Settings, addresses: Addresses, *, with_context: bool = True) -> dict[str, Any]:
    """The OB 3.0 `Profile` of the engine as an issuer."""
    profile: dict[str, Any] = {
        "id": addresses.issuer,
        "type": ["Profile"],
        "name": settings.credentials_issuer_name,
        "url": settings.credentials_issuer_url or addresses.base,
    }
    return {"@context": [VC_CONTEXT, OB_CONTEXT], **profile} if with_context else profile


def _criteria(ruleset: Ruleset, badge: Badge, at: int) -> str:
    """What it takes, in words, from the rules: `Accepted answers in routers: 25 or more.`"""
    if badge.reputation:
        return f"Reputation of {at} or more in the community."
    counter_id = badge.counter or badge.post or badge.streak or ""
    name = counter_name(ruleset, counter_id)
    if badge.streak is not None:
        return f"{at} consecutive UTC days with {name.lower()}."
    if badge.post is not None:
        extra = "".join(
            f", and {ruleset.spec.counters[other].name.lower()} {minimum} or more"
            for other, minimum in badge.requires.items()
            if other in ruleset.spec.counters
        )
        return f"{name} of one {badge.scope or 'post'}: {at} or more{extra}."
    where = f" in {badge.scope}" if badge.scope else ""
    return f"{name}{where}: {at} or more."


def _badge_tier(ruleset: Ruleset, badge_id: str, tier: str) -> tuple[Badge, int] | None:
    badge = ruleset.badges.get(badge_id)
    if badge is None:
        return None
    levels = dict(badge.levels())
    return (badge, levels[tier]) if tier in levels else None


def achievement_name(ruleset: Ruleset, badge_id: str, tier: str) -> str:
    found = _badge_tier(ruleset, badge_id, tier)
    if found is None:
        return f"{badge_id} ({tier})"
    badge, _ = found
    return f"{badge.name} ({tier})" if badge.tiers else badge.name


def achievement(
    ruleset: Ruleset, settings: Settings, addresses: Addresses, badge_id: str, tier: str, *, with_context: bool = True
) -> dict[str, Any]:
    """The OB 3.0 `Achievement` of one badge tier: name, description, criteria and image."""
    found = _badge_tier(ruleset, badge_id, tier)
    if found is None:
        raise NotFound(f"the rules have no badge {badge_id!r} with a tier {tier!r}: see GET /v1/badges")
    badge, at = found
    image = web_url(badge.icon)
    document: dict[str, Any] = {
        "id": addresses.achievement(badge_id, tier),
        "type": ["Achievement"],
        "achievementType": "Badge",
        "name": achievement_name(ruleset, badge_id, tier),
        "description": badge.description,
        "criteria": {"narrative": _criteria(ruleset, badge, at)},
        "image": {"id": image or addresses.image(badge_id, tier), "type": "Image", "caption": badge.name},
        "creator": issuer_profile(settings, addresses, with_context=False),
    }
    return {"@context": [VC_CONTEXT, OB_CONTEXT], **document} if with_context else document


def _retired_achievement(addresses: Addresses, row: BadgeCredentialRow) -> dict[str, Any]:
    """A credential for a badge the rules no longer have still says what it was."""
    text = f"The badge {row.badge_id!r} ({row.tier}), no longer part of the programme's rules."
    return {
        "id": addresses.achievement(row.badge_id, row.tier),
        "type": ["Achievement"],
        "achievementType": "Badge",
        "name": f"{row.badge_id} ({row.tier})",
        "description": text,
        "criteria": {"narrative": text},
        "image": {"id": addresses.image(row.badge_id, row.tier), "type": "Image"},
    }


def _timestamp(moment: datetime) -> str:
    return moment.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def credential_document(
    ruleset: Ruleset, settings: Settings, addresses: Addresses, row: BadgeCredentialRow
) -> dict[str, Any]:
    """The unsigned `OpenBadgeCredential` of a credential row."""
    try:
        earned = achievement(ruleset, settings, addresses, row.badge_id, row.tier, with_context=False)
    except NotFound:
        earned = _retired_achievement(addresses, row)
    list_number, position = divmod(row.status_index, STATUS_LIST_SIZE)
    status_list = addresses.status_list(list_number)
    subject: dict[str, Any] = {
        "id": addresses.member(row.user_id),
        "type": ["AchievementSubject"],
        "achievement": earned,
    }
    if row.post:
        subject["narrative"] = f"Earned for the post {row.post}."
    return {
        "@context": [VC_CONTEXT, OB_CONTEXT],
        "id": f"urn:uuid:{row.credential_id}",
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": earned["name"],
        "description": earned["description"],
        "issuer": issuer_profile(settings, addresses, with_context=False),
        "validFrom": _timestamp(row.granted_at),
        "awardedDate": _timestamp(row.granted_at),
        "credentialSubject": subject,
        "credentialStatus": {
            "id": f"{status_list}#{position}",
            "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation",
            "statusListIndex": str(position),
            "statusListCredential": status_list,
        },
        "credentialSchema": [{"id": OB_SCHEMA, "type": "1EdTechJsonSchemaValidator2019"}],
    }


def sign(settings: Settings, addresses: Addresses, document: dict[str, Any], valid_from: datetime) -> str:
    """The credential as a VC-JWT (OB 3.0 section 8.2): the credential is the payload, with `iss`, `jti`, `sub`
    and `nbf` repeating its issuer, id, subject and `validFrom`; the header names the key by a URL."""
    key = signing_key(settings)
    claims = {
        **document,
        "iss": addresses.issuer,
        "jti": document["id"],
        "sub": document["credentialSubject"]["id"],
        "nbf": int(valid_from.replace(microsecond=0).timestamp()),
    }
    header = {"alg": ALGORITHM, "kid": addresses.key(key.thumbprint), "typ": "JWT"}
    return jwt.encode(header, claims, key.key, algorithms=[ALGORITHM])


def jwks(settings: Settings, addresses: Addresses) -> dict[str, Any]:
    key = signing_key(settings)
    return {"keys": [key.public_jwk(addresses.key(key.thumbprint))]}


def public_key(settings: Settings, addresses: Addresses, thumbprint: str) -> dict[str, Any]:
    """The JWK a credential's `kid` names (only the current key: a retired key's credentials need it kept)."""
    key = signing_key(settings)
    if thumbprint != key.thumbprint:
        raise NotFound(f"no signing key has the thumbprint {thumbprint!r}: the current keys are at {addresses.jwks}")
    return key.public_jwk(addresses.key(key.thumbprint))


def _signed(
    ruleset: Ruleset, settings: Settings, addresses: Addresses, row: BadgeCredentialRow, held: bool
) -> SignedCredential:
    document = credential_document(ruleset, settings, addresses, row)
    return SignedCredential(
        row=row,
        status=CredentialStatus.VALID if held else CredentialStatus.REVOKED,
        credential=document,
        jwt=sign(settings, addresses, document, row.granted_at),
        badge_name=document["name"],
    )


# -- use cases ---------------------------------------------------------------------------------------------------


async def issue(
    session: AsyncSession,
    ruleset: Ruleset,
    settings: Settings,
    addresses: Addresses,
    user_id: str,
    badge_id: str,
    tier: str,
    post: str,
    now: datetime,
) -> SignedCredential | None:
    """The member's credential for a badge they hold (made on first use, the same one after); None if they do
    not hold it."""
    signing_key(settings)  # refuse before writing anything when no key can be had
    award = await repository.held_award(session, user_id, badge_id, tier, post)
    if award is None:
        return None
    row = await repository.issue(session, award, now)
    return _signed(ruleset, settings, addresses, row, held=True)


async def verify(
    session: AsyncSession, ruleset: Ruleset, settings: Settings, addresses: Addresses, credential_id: str
) -> SignedCredential | None:
    """A credential by its id, with its status now; None if this engine never issued it."""
    state = await repository.credential_state(session, credential_id[:36])
    if state is None:
        return None
    return _signed(ruleset, settings, addresses, state.credential, state.held)


def encode_bitstring(revoked: list[int], size: int = STATUS_LIST_SIZE) -> str:
    """Bitstring Status List `encodedList`: the bits (index 0 the first byte's highest bit), GZIP-compressed,
    base64url without padding, with the multibase prefix `u`."""
    bits = bytearray(size // 8)
    for position in revoked:
        bits[position // 8] |= 0x80 >> (position % 8)
    compressed = gzip.compress(bytes(bits), mtime=0)
    return "u" + base64.urlsafe_b64encode(compressed).rstrip(b"=").decode("ascii")


async def status_list(
    session: AsyncSession, settings: Settings, addresses: Addresses, number: int, now: datetime
) -> tuple[dict[str, Any], str]:
    """The `BitstringStatusListCredential` of list `number`, as JSON and signed as a VC-JWT."""
    first = number * STATUS_LIST_SIZE
    if number < 0 or first > await repository.last_index(session):
        raise NotFound(f"there is no status list {number}: credentials name theirs in credentialStatus")
    revoked = await repository.revoked_indexes(session, first, first + STATUS_LIST_SIZE - 1)
    url = addresses.status_list(number)
    document = {
        "@context": [VC_CONTEXT],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": addresses.issuer,
        "validFrom": _timestamp(now),
        "credentialSubject": {
            "id": f"{url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": "revocation",
            "encodedList": encode_bitstring([index - first for index in revoked]),
        },
    }
    key = signing_key(settings)
    claims = {**document, "iss": addresses.issuer, "jti": url, "sub": f"{url}#list", "nbf": int(now.timestamp())}
    header = {"alg": ALGORITHM, "kid": addresses.key(key.thumbprint), "typ": "JWT"}
    return document, jwt.encode(header, claims, key.key, algorithms=[ALGORITHM])


def linkedin_url(settings: Settings, addresses: Addresses, signed: SignedCredential) -> str:
    """LinkedIn's documented "Add to profile" link for a certification, pointing at the verification page."""
    granted = signed.row.granted_at
    return f"{LINKEDIN_ADD_TO_PROFILE}?" + urlencode(
        {
            "startTask": "CERTIFICATION_NAME",
            "name": signed.badge_name,
            "organizationName": settings.credentials_issuer_name,
            "issueYear": granted.year,
            "issueMonth": granted.month,
            "certUrl": addresses.verification_page(signed.row.credential_id),
            "certId": signed.row.credential_id,
        }
    )


def badge_image(ruleset: Ruleset, badge_id: str, tier: str) -> str:
    """An SVG image of a badge tier for badges whose icon is a symbol, not an image address."""
    found = _badge_tier(ruleset, badge_id, tier)
    if found is None:
        raise NotFound(f"the rules have no badge {badge_id!r} with a tier {tier!r}: see GET /v1/badges")
    badge, _ = found
    symbol = badge.icon if badge.icon and web_url(badge.icon) is None else badge.name[:1]
    colour = TIER_COLOURS.get(tier, "#5b6b7b")
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" viewBox="0 0 256 256" role="img" '
        f'aria-label="{escape(badge.name, {chr(34): "&quot;"})}">'
        f'<circle cx="128" cy="128" r="120" fill="{colour}"/><circle cx="128" cy="128" r="100" fill="#ffffff"/>'
        '<text x="128" y="128" font-size="96" text-anchor="middle" dominant-baseline="central" '
        f'font-family="sans-serif">{escape(symbol[:8])}</text></svg>'
    )
