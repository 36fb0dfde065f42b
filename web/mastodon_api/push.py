"""Mastodon client API: the Web Push subscription of the calling token (docs: methods/push).

Also the server's VAPID public key, which the instance and app entities show.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from federation.webpush import load_vapid_keys
from fediverse import push
from fediverse.storage.push import PushSubscription
from web.auth import require_account
from web.forms import read_params
from web.responses import JSONResponse
from web.state import database_of, state_of

VAPID_PUBLIC_KEY_SERVICE = "vapid_public_key"


async def vapid_public_key_of(request: Request) -> str:
    """The VAPID public key, made once per server and cached per process."""
    services = state_of(request).services
    cached = services.get(VAPID_PUBLIC_KEY_SERVICE)
    if isinstance(cached, str) and cached:
        return cached
    async with database_of(request).transaction() as conn:
        keys = await load_vapid_keys(conn)
    services[VAPID_PUBLIC_KEY_SERVICE] = keys.public_key
    return keys.public_key


def render_subscription(subscription: PushSubscription, server_key: str) -> dict[str, Any]:
    """Mastodon's WebPushSubscription entity."""
    return {
        "id": str(subscription.id),
        "endpoint": subscription.endpoint,
        "standard": subscription.standard,
        "alerts": dict(subscription.alerts),
        "policy": subscription.policy,
        "server_key": server_key,
    }


async def create(request: Request) -> Response:
    """POST: subscribe this token, replacing its earlier subscription."""
    viewer, account = await require_account(request, "push")
    params = await read_params(request)
    subscription = params.dict("subscription")
    raw_keys = subscription.get("keys")
    keys: dict[str, Any] = raw_keys if isinstance(raw_keys, dict) else {}
    data = params.dict("data")
    standard = str(subscription.get("standard", "")).strip().lower() in {"1", "true", "on"}
    async with database_of(request).transaction() as conn:
        created = await push.subscribe(
            conn,
            access_token_id=viewer.token.id,
            account_id=account.id,
            endpoint=_text(subscription.get("endpoint")),
            p256dh=_text(keys.get("p256dh")),
            auth=_text(keys.get("auth")),
            standard=standard,
            alerts=push.parse_alerts(data.get("alerts")),
            policy=push.parse_policy(data.get("policy")),
        )
    return JSONResponse(render_subscription(created, await vapid_public_key_of(request)))


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


async def show(request: Request) -> Response:
    viewer, _ = await require_account(request, "push")
    async with database_of(request).connection() as conn:
        found = await push.subscription_for(conn, access_token_id=viewer.token.id)
    return JSONResponse(render_subscription(found, await vapid_public_key_of(request)))


async def update(request: Request) -> Response:
    """PUT: change alerts and policy; the endpoint and keys stay (a new endpoint is a POST)."""
    viewer, _ = await require_account(request, "push")
    data = (await read_params(request)).dict("data")
    async with database_of(request).transaction() as conn:
        updated = await push.update(
            conn,
            access_token_id=viewer.token.id,
            alerts_input=data.get("alerts"),
            policy_input=data.get("policy"),
        )
    return JSONResponse(render_subscription(updated, await vapid_public_key_of(request)))


async def delete(request: Request) -> Response:
    viewer, _ = await require_account(request, "push")
    async with database_of(request).transaction() as conn:
        await push.unsubscribe(conn, access_token_id=viewer.token.id)
    return JSONResponse({})


routes: list[BaseRoute] = [
    Route("/api/v1/push/subscription", create, methods=["POST"]),
    Route("/api/v1/push/subscription", show, methods=["GET"]),
    Route("/api/v1/push/subscription", update, methods=["PUT"]),
    Route("/api/v1/push/subscription", delete, methods=["DELETE"]),
]
