"""Portable badges over HTTP: the public documents a verifier reads (issuer, keys, achievements, status lists, a
credential), the public verification page, and a signed-in member's downloads and LinkedIn link."""

import json
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from starlette.responses import Response

from rewards.credentials import service
from rewards.credentials.keys import KeyUnavailable
from rewards.credentials.schemas import CredentialOut, JwksOut
from rewards.credentials.service import Addresses, SignedCredential
from rewards.deps import RuntimeDep, SessionDep, UowDep
from rewards.errors import NotFound
from rewards.runtime import utcnow
from rewards.web.endpoints import ViewerDep, csrf_protected
from rewards.web.i18n import N_
from rewards.web.render import PageError, render

router = APIRouter(tags=["credentials"])
pages = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protected)])

JSON_LD = "application/ld+json"
VC_JWT = "application/vc+jwt"
PUBLIC_CACHE = "public, max-age=300"
# A status list must say "revoked" as soon as a badge is: a verifier asks again every time.
STATUS_CACHE = "no-cache"
DOCUMENT: dict[int | str, dict[str, Any]] = {200: {"content": {"application/json": {"schema": {"type": "object"}}}}}

BadgeId = Annotated[str, Path(min_length=1, max_length=64)]
Tier = Annotated[str, Path(min_length=1, max_length=16)]
CredentialId = Annotated[str, Path(min_length=1, max_length=36)]
Post = Annotated[str, Query(max_length=300, description="For a post badge: the post.")]


def addresses(request: Request, runtime: RuntimeDep) -> Addresses:
    """Where the credentials' ids, issuer and keys live: `REWARDS_PUBLIC_URL`. Outside production, the address the
    request came to (a laptop, a test); in production never, since the `Host` header is the caller's to write: an
    engine-signed credential would name any host as its issuer."""
    settings = runtime.settings
    if settings.public_url is None and settings.environment == "production":
        raise KeyUnavailable(
            "set REWARDS_PUBLIC_URL to the address the engine is reached at (https://rewards.example.com): a "
            "credential's ids, issuer and keys are addresses under it"
        )
    return Addresses((settings.public_url or str(request.base_url)).rstrip("/"))


AddressesDep = Annotated[Addresses, Depends(addresses)]


def _document(content: dict[str, Any], cache: str = PUBLIC_CACHE) -> JSONResponse:
    return JSONResponse(content, headers={"Cache-Control": cache, "Access-Control-Allow-Origin": "*"})


@router.get(
    "/v1/credentials/issuer", response_model=dict[str, Any], responses=DOCUMENT, summary="The issuer's OB 3.0 Profile"
)
async def get_issuer(runtime: RuntimeDep, where: AddressesDep) -> Response:
    """Public: the `Profile` every credential names as its issuer."""
    return _document(service.issuer_profile(runtime.settings, where))


@router.get("/v1/credentials/jwks.json", response_model=JwksOut, summary="The keys that sign credentials (JWKS)")
async def get_jwks(runtime: RuntimeDep, where: AddressesDep) -> Response:
    """Public: verify a credential's VC-JWT with the key its `kid` names."""
    return _document(service.jwks(runtime.settings, where))


@router.get(
    "/v1/credentials/keys/{thumbprint}",
    response_model=dict[str, Any],
    responses=DOCUMENT,
    summary="One signing key (JWK), as a credential's `kid` names it",
)
async def get_key(
    thumbprint: Annotated[str, Path(max_length=100)], runtime: RuntimeDep, where: AddressesDep
) -> Response:
    return _document(service.public_key(runtime.settings, where, thumbprint))


@router.get(
    "/v1/credentials/achievements/{badge_id}/{tier}",
    response_model=dict[str, Any],
    responses=DOCUMENT,
    summary="A badge tier as an OB 3.0 Achievement",
)
async def get_achievement(badge_id: BadgeId, tier: Tier, runtime: RuntimeDep, where: AddressesDep) -> Response:
    """Public: name, description, criteria and image of the badge tier, from the rules in force."""
    return _document(service.achievement(runtime.ruleset, runtime.settings, where, badge_id, tier))


@router.get(
    "/v1/credentials/achievements/{badge_id}/{tier}/image.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}},
    summary="A badge tier's image",
)
async def get_achievement_image(badge_id: BadgeId, tier: Tier, runtime: RuntimeDep) -> Response:
    svg = service.badge_image(runtime.ruleset, badge_id, tier)
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": PUBLIC_CACHE})


@router.get(
    "/v1/credentials/status/{number}",
    response_model=dict[str, Any],
    responses={200: {"content": {"application/json": {"schema": {"type": "object"}}, VC_JWT: {}}}},
    summary="A revocation status list (W3C Bitstring Status List)",
)
async def get_status_list(
    request: Request,
    number: Annotated[int, Path(ge=0, le=2**31)],
    session: SessionDep,
    runtime: RuntimeDep,
    where: AddressesDep,
) -> Response:
    """Public: the `BitstringStatusListCredential` a credential's `credentialStatus` names; a set bit is a revoked
    credential. JSON, or signed as a VC-JWT when `Accept` asks for `application/vc+jwt`."""
    document, signed = await service.status_list(session, runtime.settings, where, number, utcnow())
    if VC_JWT in request.headers.get("accept", ""):
        return Response(signed, media_type=VC_JWT, headers={"Cache-Control": STATUS_CACHE})
    return _document(document, cache=STATUS_CACHE)


@router.get(
    "/v1/credentials/{credential_id}",
    response_model=CredentialOut,
    summary="One credential: its status now, the VC-JWT and the decoded credential",
)
async def get_credential(
    credential_id: CredentialId, session: SessionDep, runtime: RuntimeDep, where: AddressesDep
) -> CredentialOut:
    """Public, like the verification page: anyone holding the credential's address may check it."""
    signed = await service.verify(session, runtime.ruleset, runtime.settings, where, credential_id)
    if signed is None:
        raise NotFound(f"no credential {credential_id!r} was issued here")
    return CredentialOut.of(signed, where.verification_page(signed.row.credential_id))


# -- pages -------------------------------------------------------------------------------------------------------


@pages.get("/credentials/{credential_id}", response_class=HTMLResponse)
async def verification_page(
    request: Request, credential_id: str, session: SessionDep, runtime: RuntimeDep, where: AddressesDep
) -> Response:
    """Public, no sign-in: valid, revoked, or unknown, with the badge, the holder, the issuer and the date."""
    try:
        signed = await service.verify(session, runtime.ruleset, runtime.settings, where, credential_id[:36])
    except KeyUnavailable as error:
        raise PageError(
            503,
            N_("Credentials are not set up"),
            N_("This engine has no key to sign credentials with. Ask its operator: %(reason)s"),
            reason=error.message,
        ) from error
    return render(
        request,
        "web/credential.html",
        status_code=200 if signed is not None else 404,
        signed=signed,
        issuer=runtime.settings.credentials_issuer_name,
        json_url=where.credential_json(signed.row.credential_id) if signed is not None else None,
    )


async def _members_credential(
    viewer: ViewerDep, uow: UowDep, runtime: RuntimeDep, where: AddressesDep, badge_id: str, tier: str, post: str
) -> SignedCredential:
    try:
        signed = await service.issue(
            uow.session, runtime.ruleset, runtime.settings, where, viewer.user_id, badge_id, tier, post, utcnow()
        )
    except KeyUnavailable as error:
        raise PageError(
            503,
            N_("Credentials are not set up"),
            N_("This engine has no key to sign credentials with. Ask its operator: %(reason)s"),
            reason=error.message,
        ) from error
    if signed is None:
        raise PageError(
            404,
            N_("You do not hold this badge"),
            N_("Only a badge you hold now can be downloaded as a credential: %(badge)s (%(tier)s) is not one."),
            badge=badge_id,
            tier=tier,
        )
    return signed


def _file_name(signed: SignedCredential, extension: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", f"{signed.row.badge_id}-{signed.row.tier}").strip("-") or "badge"
    return f"{stem}.{extension}"


@pages.get("/me/credentials/{badge_id}/{tier}")
async def download_credential(
    badge_id: BadgeId,
    tier: Tier,
    viewer: ViewerDep,
    uow: UowDep,
    runtime: RuntimeDep,
    where: AddressesDep,
    post: Post = "",
) -> Response:
    """The member's credential as a JSON file: the VC-JWT and the credential it carries."""
    signed = await _members_credential(viewer, uow, runtime, where, badge_id, tier, post)
    body = CredentialOut.of(signed, where.verification_page(signed.row.credential_id)).model_dump(mode="json")
    return Response(
        json.dumps(body, indent=2, ensure_ascii=False),
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="{_file_name(signed, "json")}"',
            "Cache-Control": "no-store",
        },
    )


@pages.get("/me/credentials/{badge_id}/{tier}/jwt")
async def download_jwt(
    badge_id: BadgeId,
    tier: Tier,
    viewer: ViewerDep,
    uow: UowDep,
    runtime: RuntimeDep,
    where: AddressesDep,
    post: Post = "",
) -> Response:
    """The VC-JWT alone, for wallets and verifiers that take `application/vc+jwt`."""
    signed = await _members_credential(viewer, uow, runtime, where, badge_id, tier, post)
    return Response(
        signed.jwt,
        media_type=VC_JWT,
        headers={
            "Content-Disposition": f'attachment; filename="{_file_name(signed, "jwt")}"',
            "Cache-Control": "no-store",
        },
    )


@pages.get("/me/credentials/{badge_id}/{tier}/linkedin")
async def add_to_linkedin(
    badge_id: BadgeId,
    tier: Tier,
    viewer: ViewerDep,
    uow: UowDep,
    runtime: RuntimeDep,
    where: AddressesDep,
    post: Post = "",
) -> Response:
    """On to LinkedIn's "Add to profile" form, filled in, with the verification page as the credential URL."""
    signed = await _members_credential(viewer, uow, runtime, where, badge_id, tier, post)
    return RedirectResponse(service.linkedin_url(runtime.settings, where, signed), status_code=303)


@pages.get("/me/credentials/{badge_id}/{tier}/verify")
async def my_verification_page(
    badge_id: BadgeId,
    tier: Tier,
    viewer: ViewerDep,
    uow: UowDep,
    runtime: RuntimeDep,
    where: AddressesDep,
    post: Post = "",
) -> Response:
    """On to the public verification page of the member's credential (made on first use)."""
    signed = await _members_credential(viewer, uow, runtime, where, badge_id, tier, post)
    return RedirectResponse(f"/credentials/{signed.row.credential_id}", status_code=303)
