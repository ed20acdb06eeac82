"""The Khoros Firehose receiver: the token endpoint Khoros calls with the client id and secret set up under Dev
Tools > Firehose, and the endpoint it posts batches to with that token. Deliveries are stored and acknowledged at
once (applied after commit, as `POST /v1/events`); a retried batch is a duplicate."""

import base64
import hmac
import logging
from typing import Any
from urllib.parse import parse_qs

import orjson
from fastapi import APIRouter, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from rewards.apply.ingest import ingest
from rewards.config import Settings
from rewards.connectors.firehose import to_events, unknown_event
from rewards.connectors.khoros import valid_events
from rewards.db import unit_of_work
from rewards.deps import ApplierDep
from rewards.errors import RewardsError, Unauthorized
from rewards.events.endpoints import read_body
from rewards.imports.khoros import UNKNOWN_MESSAGE, community_source, complete_pending, flatten
from rewards.imports.service import known_khoros_posts
from rewards.inputs import MAX_BODY_BYTES_CEILING
from rewards.runtime import utcnow

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/connectors/khoros", tags=["connectors"])

TOKEN_SALT = "rewards.khoros.firehose"  # noqa: S105 (a namespace for the signature, not a secret)
OFF = "the Khoros Firehose receiver is off: set REWARDS_KHOROS_FIREHOSE_CLIENT_ID and _CLIENT_SECRET"

_TOKEN_REQUEST: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            media_type: {
                "schema": {
                    "type": "object",
                    "properties": {"client_id": {"type": "string"}, "client_secret": {"type": "string"}},
                    "description": "The Firehose's client id and secret (or HTTP Basic credentials instead).",
                }
            }
            for media_type in ("application/x-www-form-urlencoded", "application/json")
        },
    }
}
_DELIVERY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"description": "A Firehose batch: an array, or an object."}}},
    }
}


def _serializer(settings: Settings) -> URLSafeTimedSerializer | None:
    secret = settings.khoros_firehose_client_secret
    if secret is None or not settings.khoros_firehose_client_id:
        return None
    return URLSafeTimedSerializer(secret.get_secret_value(), salt=TOKEN_SALT)


def _credentials(request: Request, body: bytes) -> tuple[str, str]:
    """The client id and secret from HTTP Basic, a form or a JSON body (Khoros's setup lets the owner choose)."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            client_id, _, secret = base64.b64decode(header[6:].strip()).decode().partition(":")
        except ValueError:
            return "", ""
        return client_id, secret
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fields: dict[str, Any] = {}
    if media_type == "application/json":
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            parsed = None
        fields = parsed if isinstance(parsed, dict) else {}
    else:
        fields = {name: values[0] for name, values in parse_qs(body.decode(errors="replace")).items()}
    client_id = fields.get("client_id") or fields.get("clientId") or ""
    secret = fields.get("client_secret") or fields.get("clientSecret") or ""
    return str(client_id), str(secret)


@router.post(
    "/firehose/token",
    summary="Give Khoros's Firehose an access token",
    openapi_extra=_TOKEN_REQUEST,
    responses={
        401: {"description": "Unknown client id or wrong secret."},
        404: {"description": "The Firehose receiver is off (no REWARDS_KHOROS_FIREHOSE_CLIENT_SECRET)."},
    },
)
async def firehose_token(request: Request, applier: ApplierDep) -> dict[str, Any]:
    """OAuth 2.0 client credentials: the Firehose's client id and secret in, a bearer token out (`access_token`,
    the path to give Khoros as "Access token path"), valid for REWARDS_KHOROS_FIREHOSE_TOKEN_SECONDS."""
    settings = applier.runtime.settings
    serializer = _serializer(settings)
    if serializer is None:
        raise RewardsError(OFF, status_code=404)
    body = await read_body(request, 16 * 1024)
    client_id, secret = _credentials(request, body)
    expected = settings.khoros_firehose_client_secret
    assert expected is not None and settings.khoros_firehose_client_id is not None
    same_id = hmac.compare_digest(client_id.encode(), settings.khoros_firehose_client_id.encode())
    same_secret = hmac.compare_digest(secret.encode(), expected.get_secret_value().encode())
    if not (same_id and same_secret):
        raise Unauthorized("invalid_client: unknown client id or wrong secret")
    return {
        "access_token": serializer.dumps({"client": client_id}),
        "token_type": "Bearer",
        "expires_in": settings.khoros_firehose_token_seconds,
    }


@router.post(
    "/firehose",
    summary="Receive a Khoros Firehose batch",
    max_body_size=MAX_BODY_BYTES_CEILING,
    openapi_extra=_DELIVERY,
    responses={
        400: {"description": "The body is not JSON."},
        401: {"description": "No bearer token, or one the token endpoint did not give (or that has expired)."},
        404: {"description": "The Firehose receiver is off (no REWARDS_KHOROS_FIREHOSE_CLIENT_SECRET)."},
        413: {"description": "The body is larger than REWARDS_MAX_BODY_BYTES."},
    },
)
async def firehose_delivery(request: Request, applier: ApplierDep) -> dict[str, Any]:
    """Stores the batch's items: those that read as Bulk Data records as canonical events, the others as
    `khoros.firehose.unknown` with the reason (listed in the answer, and logged). A redelivery is a duplicate."""
    runtime = applier.runtime
    settings = runtime.settings
    serializer = _serializer(settings)
    if serializer is None or not settings.khoros_community_url:
        raise RewardsError(OFF, status_code=404)
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else ""
    try:
        serializer.loads(token, max_age=settings.khoros_firehose_token_seconds)
    except BadSignature:
        raise Unauthorized("a Firehose delivery needs a bearer token from the token endpoint") from None
    body = await read_body(request, settings.max_body_bytes)
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise RewardsError(f"the body is not valid JSON: {error}", status_code=400) from None
    source = community_source(settings.khoros_community_url)
    received_at = utcnow()
    delivery = to_events(payload, source, received_at, {})
    if delivery.pending:
        posts = await known_khoros_posts(runtime, source, {item.message_id for item in delivery.pending})
        delivery.events.extend(complete_pending(delivery.pending, posts, delivery.stats, final=False))
        for item in delivery.pending:
            if not item.settled:
                record = item.record if item.record is not None else {}
                reason = f"{item.label}: {UNKNOWN_MESSAGE}"
                delivery.unknown.append(reason)
                delivery.events.append(unknown_event(source, record, flatten(record), reason, received_at))
    valid = valid_events(delivery.events, delivery.stats)
    async with unit_of_work(runtime.sessionmaker) as uow:
        intake = await ingest(applier, uow, valid, utcnow())
    if delivery.unknown:
        log.warning(
            "Khoros Firehose: %d of %d items stored as %s: %s",
            len(delivery.unknown),
            len(valid),
            "khoros.firehose.unknown",
            "; ".join(sorted(set(delivery.unknown))[:5]),
        )
    return {
        "accepted": len(intake.accepted),
        "duplicates": len(intake.duplicates),
        "unknown": len(delivery.unknown),
        "unknown_reasons": sorted(set(delivery.unknown))[:20],
        "skipped": delivery.stats.skipped,
    }
