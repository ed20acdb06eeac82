"""HTTP API for webhook endpoints and their delivery log (scope `admin`)."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from rewards.auth.service import Principal, Scope
from rewards.deps import RuntimeDep, SessionDep, UowDep, scope
from rewards.inputs import MAX_BIGINT
from rewards.outbox import service
from rewards.outbox.models import DeliveryStatus
from rewards.outbox.schemas import DeliveriesOut, DeliveryOut, WebhookCreatedOut, WebhookIn, WebhooksOut
from rewards.runtime import utcnow

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

Admin = Annotated[Principal, scope(Scope.ADMIN)]
WebhookId = Annotated[int, Path(ge=1, le=MAX_BIGINT, description="The webhook's id, from GET /v1/webhooks.")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such webhook (or it was deleted)."}}


@router.post("", status_code=201, response_model=WebhookCreatedOut, summary="Add a webhook endpoint")
async def create_webhook(spec: WebhookIn, uow: UowDep, runtime: RuntimeDep, _: Admin) -> WebhookCreatedOut:
    """Deliveries to `url` start with the next notification. The answer holds the signing `secret`, once.

    A url whose address is loopback, private, link-local, multicast, reserved or a cloud metadata service is
    refused (422) unless REWARDS_WEBHOOK_ALLOWED_NETWORKS allows its network; a host name is checked each time a
    delivery resolves it."""
    return await service.create_endpoint(uow.session, spec, utcnow(), policy=service.address_policy(runtime.settings))


@router.get("", response_model=WebhooksOut, summary="Webhook endpoints")
async def list_webhooks(session: SessionDep, runtime: RuntimeDep, _: Admin) -> WebhooksOut:
    """`refused_because` says why deliveries to an endpoint are refused under the address policy now in force."""
    return WebhooksOut(webhooks=await service.list_endpoints(session, service.address_policy(runtime.settings)))


@router.delete("/{webhook_id}", status_code=204, responses=NOT_FOUND, summary="Delete a webhook endpoint")
async def delete_webhook(webhook_id: WebhookId, uow: UowDep, _: Admin) -> Response:
    """Stops its deliveries, including retries still pending; its delivery log is kept."""
    await service.delete_endpoint(uow.session, webhook_id, utcnow())
    return Response(status_code=204)


@router.get("/{webhook_id}/deliveries", response_model=DeliveriesOut, responses=NOT_FOUND, summary="The delivery log")
async def list_deliveries(
    webhook_id: WebhookId,
    session: SessionDep,
    _: Admin,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[int | None, Query(ge=1, le=MAX_BIGINT, description="`next_before` of the previous page.")] = None,
    status: Annotated[DeliveryStatus | None, Query(description="Only deliveries in this state.")] = None,
) -> DeliveriesOut:
    """Deliveries to this endpoint, newest first, each with every attempt: status code, error, duration and
    the next attempt it scheduled."""
    return await service.deliveries(session, webhook_id, before=before, limit=limit, status=status)


@router.post(
    "/{webhook_id}/test", response_model=DeliveryOut, responses=NOT_FOUND, summary="Send a ping to the endpoint"
)
async def test_webhook(webhook_id: WebhookId, runtime: RuntimeDep, _: Admin) -> DeliveryOut:
    """Sends a signed `ping` now, once (no retries), and answers with how it went: `status` is `delivered` or
    `failed`, with the receiver's status code or the connection error."""
    return await service.send_test(runtime, webhook_id, utcnow())
