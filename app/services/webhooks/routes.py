import uuid
from typing import Any

from fastapi import APIRouter

from app.core.database import SessionDep
from app.core.dependencies import PageDep, SettingsDep
from app.core.schemas import Page
from app.services.webhooks import service as webhooks_service
from app.services.webhooks.dependencies import WebhookManager, WebhookUser
from app.services.webhooks.schemas import DeliveryRead, WebhookCreate, WebhookCreated, WebhookRead, WebhookUpdate

router = APIRouter(tags=["webhooks"])

_GATE: dict[int | str, dict[str, Any]] = {
    403: {"description": "`forbidden`: not an owner or manager"},
    404: {"description": "`not_found`: no such organization"},
}
_HOOK: dict[int | str, dict[str, Any]] = {
    404: {"description": "`not_found`: no such webhook, or not one you manage"},
    422: {"description": "`url_not_allowed`, `validation_error`"},
}


@router.post(
    "/organizations/{organization_id}/webhooks",
    status_code=201,
    responses={**_GATE, 422: {"description": "`url_not_allowed`: a private, link-local or reserved address"}},
)
async def create_webhook(
    data: WebhookCreate, access: WebhookManager, session: SessionDep, settings: SettingsDep
) -> WebhookCreated:
    """Owners and managers: call `url` on the given events. The answer holds the `secret`, shown
    only here. Each delivery is `POST url` with `{"id", "type", "created_at", "organization_id",
    "data"}` and `X-Queueless-Signature: t=<unix s>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`;
    a 2xx within 10 s succeeds, else retries after 10 s, 1 min, 5 min, 30 min, 2 h and 6 h, then
    `failed`. At least once: dedupe by `id`, reject a `t` older than 5 minutes."""
    webhook = await webhooks_service.create(session, organization=access.organization, data=data, settings=settings)
    return WebhookCreated.model_validate(webhook)


@router.get(
    "/organizations/{organization_id}/webhooks", responses={**_GATE, 422: {"description": "`validation_error`"}}
)
async def list_webhooks(access: WebhookManager, session: SessionDep, page: PageDep) -> Page[WebhookRead]:
    """Owners and managers: the organization's webhooks (without secrets)."""
    rows, total = await webhooks_service.get_all(
        session, organization=access.organization, offset=page.offset, limit=page.size
    )
    return Page.build([WebhookRead.model_validate(row) for row in rows], total=total, page=page.page, size=page.size)


@router.get("/webhooks/{webhook_id}", responses={404: _HOOK[404], 422: {"description": "`validation_error`"}})
async def get_webhook(webhook_id: uuid.UUID, user: WebhookUser, session: SessionDep) -> WebhookRead:
    """Owners and managers of its organization."""
    return WebhookRead.model_validate(await webhooks_service.get_managed(session, user=user, webhook_id=webhook_id))


@router.patch("/webhooks/{webhook_id}", responses=_HOOK)
async def update_webhook(
    webhook_id: uuid.UUID, data: WebhookUpdate, user: WebhookUser, session: SessionDep, settings: SettingsDep
) -> WebhookRead:
    """Owners and managers: change the URL or events, or pause it (`active: false`)."""
    webhook = await webhooks_service.get_managed(session, user=user, webhook_id=webhook_id)
    webhook = await webhooks_service.update(session, webhook=webhook, data=data, settings=settings)
    return WebhookRead.model_validate(webhook)


@router.delete(
    "/webhooks/{webhook_id}", status_code=204, responses={404: _HOOK[404], 422: {"description": "`validation_error`"}}
)
async def delete_webhook(webhook_id: uuid.UUID, user: WebhookUser, session: SessionDep) -> None:
    """Owners and managers: delete the webhook and its deliveries."""
    webhook = await webhooks_service.get_managed(session, user=user, webhook_id=webhook_id)
    await webhooks_service.delete(session, webhook=webhook)


@router.get(
    "/webhooks/{webhook_id}/deliveries", responses={404: _HOOK[404], 422: {"description": "`validation_error`"}}
)
async def list_webhook_deliveries(
    webhook_id: uuid.UUID, user: WebhookUser, session: SessionDep, page: PageDep
) -> Page[DeliveryRead]:
    """Owners and managers: the deliveries, newest first, each with every attempt."""
    webhook = await webhooks_service.get_managed(session, user=user, webhook_id=webhook_id)
    items, total = await webhooks_service.get_deliveries(session, webhook=webhook, offset=page.offset, limit=page.size)
    return Page.build(items, total=total, page=page.page, size=page.size)


@router.post(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
    status_code=201,
    responses={
        404: {"description": "`not_found`: no such webhook or delivery"},
        422: {"description": "`validation_error`"},
    },
)
async def redeliver_webhook_delivery(
    webhook_id: uuid.UUID, delivery_id: uuid.UUID, user: WebhookUser, session: SessionDep
) -> DeliveryRead:
    """Owners and managers: send the delivery's event again, as a new delivery due now."""
    webhook = await webhooks_service.get_managed(session, user=user, webhook_id=webhook_id)
    return await webhooks_service.redeliver(session, webhook=webhook, delivery_id=delivery_id)
