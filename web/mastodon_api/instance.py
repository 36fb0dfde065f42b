"""Mastodon client API: `/api/v1/instance`, `/api/v2/instance` and the instance sub-resources.

Public: clients read these before anyone signs in (docs: methods/instance, entities/Instance).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from fediverse import federation_rules, instance
from fediverse.audience_report import Scope
from fediverse.instance import InstanceProfile, InstanceUsage, PolicyText
from fediverse.storage.accounts import Account
from fediverse.storage.instance import InstanceRule
from fediverse.urls import LocalUrls
from web.mastodon_api.admin import may_see_public_lists, render_public_allows, render_public_blocks
from web.mastodon_api.entities import iso, render_account
from web.mastodon_api.push import vapid_public_key_of
from web.responses import JSONResponse
from web.state import database_of, settings_of, urls_of

# What our media pipeline accepts; clients grey out other files before uploading.
SUPPORTED_MIME_TYPES = ["image/jpeg", "image/png", "image/gif", "image/webp"]
MAX_MEDIA_ATTACHMENTS = 4
CHARACTERS_RESERVED_PER_URL = 23
MAX_FEATURED_TAGS = 10
MAX_PINNED_STATUSES = 5
MEDIA_DESCRIPTION_LIMIT = 1500
POLLS = {
    "max_options": 4,
    "max_characters_per_option": 50,
    "min_expiration": 300,
    "max_expiration": 2_629_746,
}


def render_rule(rule: InstanceRule) -> dict[str, Any]:
    return {"id": str(rule.id), "text": rule.text, "hint": rule.hint}


def render_contact_account(account: Account | None, urls: LocalUrls) -> dict[str, Any] | None:
    # Mastodon sends `null` when no contact account is set.
    return None if account is None else render_account(account, urls)


def _media_configuration(profile: InstanceProfile) -> dict[str, Any]:
    return {
        "supported_mime_types": SUPPORTED_MIME_TYPES,
        "description_limit": MEDIA_DESCRIPTION_LIMIT,
        "image_size_limit": profile.max_upload_bytes,
        "image_matrix_limit": profile.max_image_pixels,
        "video_size_limit": profile.max_upload_bytes,
        "video_frame_rate_limit": 60,
        "video_matrix_limit": 8_294_400,
    }


def _statuses_configuration(profile: InstanceProfile) -> dict[str, Any]:
    return {
        "max_characters": profile.character_limit,
        "max_media_attachments": MAX_MEDIA_ATTACHMENTS,
        "characters_reserved_per_url": CHARACTERS_RESERVED_PER_URL,
        # How apps detect the internal scope: statuses take and show `local_only` (Hometown,
        # GoToSocial), `visibility=local` is accepted on input (Akkoma); the visibilities
        # sent stay Mastodon's four. `audience_scopes` names the five scopes of
        # GET /api/v1/statuses/:id/audience.
        "local_only": True,
        "audience_scopes": [scope.value for scope in Scope],
    }


def render_instance_v2(
    profile: InstanceProfile,
    usage: InstanceUsage,
    rules: list[InstanceRule],
    contact: Account | None,
    urls: LocalUrls,
) -> dict[str, Any]:
    return {
        "domain": profile.domain,
        "title": profile.title,
        "version": instance.version_string(),
        "source_url": profile.source_url,
        "description": profile.description,
        "usage": {"users": {"active_month": usage.active_month}},
        "thumbnail": {"url": profile.thumbnail_url},
        "icon": [],
        "languages": profile.languages,
        "configuration": {
            "urls": {"streaming": profile.streaming_url, "status": None},
            "vapid": {"public_key": profile.vapid_public_key},
            "accounts": {
                "max_featured_tags": MAX_FEATURED_TAGS,
                "max_pinned_statuses": MAX_PINNED_STATUSES,
            },
            "statuses": _statuses_configuration(profile),
            "media_attachments": _media_configuration(profile),
            "polls": POLLS,
            "translation": {"enabled": False},
            "limited_federation": False,
        },
        "registrations": {
            "enabled": profile.registrations_open,
            "approval_required": profile.approval_required,
            "message": profile.registrations_message,
            "url": None,
        },
        "api_versions": {"mastodon": instance.MASTODON_API_VERSION},
        "contact": {
            "email": profile.contact_email,
            "account": render_contact_account(contact, urls),
        },
        "rules": [render_rule(rule) for rule in rules],
    }


def render_instance_v1(
    profile: InstanceProfile,
    usage: InstanceUsage,
    rules: list[InstanceRule],
    contact: Account | None,
    urls: LocalUrls,
) -> dict[str, Any]:
    return {
        "uri": profile.domain,
        "title": profile.title,
        "short_description": profile.short_description,
        "description": profile.description,
        "email": profile.contact_email,
        "version": instance.version_string(),
        "urls": {"streaming_api": profile.streaming_url},
        "stats": {
            "user_count": usage.users_total,
            "status_count": usage.local_posts,
            "domain_count": usage.domain_count,
        },
        "thumbnail": profile.thumbnail_url,
        "languages": profile.languages,
        "registrations": profile.registrations_open,
        "approval_required": profile.approval_required,
        "invites_enabled": False,
        "configuration": {
            "accounts": {"max_featured_tags": MAX_FEATURED_TAGS},
            "statuses": _statuses_configuration(profile),
            "media_attachments": _media_configuration(profile),
            "polls": POLLS,
        },
        "contact_account": render_contact_account(contact, urls),
        "rules": [render_rule(rule) for rule in rules],
    }


async def _instance_parts(
    request: Request,
) -> tuple[InstanceProfile, InstanceUsage, list[InstanceRule], Account | None]:
    vapid_public_key = await vapid_public_key_of(request)
    async with database_of(request).transaction() as conn:
        profile = await instance.load_profile(conn, settings_of(request))
        usage = await instance.load_usage(conn, now=datetime.now(UTC))
        rules = await instance.list_rules(conn)
        contact = await instance.contact_account(conn, profile)
    # The VAPID key is the server's own, never an admin setting.
    return replace(profile, vapid_public_key=vapid_public_key), usage, rules, contact


async def instance_v1(request: Request) -> Response:
    return JSONResponse(render_instance_v1(*await _instance_parts(request), urls_of(request)))


async def instance_v2(request: Request) -> Response:
    body = render_instance_v2(*await _instance_parts(request), urls_of(request))
    show_rules = await may_see_public_lists(request)
    # Allowlist mode is Mastodon's "limited federation mode" (fediverse/federation_rules.py).
    async with database_of(request).connection() as conn:
        mode = await federation_rules.read_mode(conn)
        federation: dict[str, Any] = {"mode": mode.value}
        if show_rules:
            # The public parts of the rules, under the same visibility as
            # /api/v1/instance/domain_blocks (an extension; apps ignore unknown keys).
            federation["domain_allows"] = await render_public_allows(conn)
            federation["domain_blocks"] = await render_public_blocks(conn, datetime.now(UTC))
    body["configuration"]["limited_federation"] = mode == federation_rules.Mode.ALLOWLIST
    body["configuration"]["federation"] = federation
    return JSONResponse(body)


async def peers(request: Request) -> Response:
    async with database_of(request).transaction() as conn:
        domains = await instance.list_peers(conn)
    return JSONResponse(domains)


async def activity(request: Request) -> Response:
    async with database_of(request).transaction() as conn:
        weeks = await instance.weekly_activity(conn, now=datetime.now(UTC))
    # Mastodon sends every number in this entity as a string.
    return JSONResponse(
        [
            {
                "week": str(int(week.week_start.timestamp())),
                "statuses": str(week.statuses),
                "logins": str(week.logins),
                "registrations": str(week.registrations),
            }
            for week in weeks
        ]
    )


async def rules(request: Request) -> Response:
    async with database_of(request).transaction() as conn:
        found = await instance.list_rules(conn)
    return JSONResponse([render_rule(rule) for rule in found])


async def _profile(request: Request) -> InstanceProfile:
    async with database_of(request).transaction() as conn:
        return await instance.load_profile(conn, settings_of(request))


def render_policy_text(page: PolicyText) -> dict[str, Any]:
    # Mastodon always sends a timestamp; before an admin writes the page, it is "now".
    return {"updated_at": iso(page.updated_at or datetime.now(UTC)), "content": page.content}


async def extended_description(request: Request) -> Response:
    return JSONResponse(render_policy_text((await _profile(request)).extended_description))


async def privacy_policy(request: Request) -> Response:
    return JSONResponse(render_policy_text((await _profile(request)).privacy_policy))


async def translation_languages(request: Request) -> Response:
    # No translation service: Mastodon sends an empty map then.
    return JSONResponse({})


routes: list[BaseRoute] = [
    Route("/api/v1/instance", instance_v1, methods=["GET"]),
    Route("/api/v2/instance", instance_v2, methods=["GET"]),
    Route("/api/v1/instance/peers", peers, methods=["GET"]),
    Route("/api/v1/instance/activity", activity, methods=["GET"]),
    Route("/api/v1/instance/rules", rules, methods=["GET"]),
    Route("/api/v1/instance/extended_description", extended_description, methods=["GET"]),
    Route("/api/v1/instance/privacy_policy", privacy_policy, methods=["GET"]),
    Route("/api/v1/instance/translation_languages", translation_languages, methods=["GET"]),
]
