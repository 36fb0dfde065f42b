"""Every recorded payload in tests/fixtures (copied from ../shared/fixtures) goes through the
inbox as a peer would send it, signed, and is either applied or refused for a stated reason.

Actor documents are parsed and stored as accounts; bare objects (Note, Article, ...) are
wrapped in a Create from their author; collections, keys and WebFinger documents are no
activities and are refused at the door. The HTTP Signature vectors in httpsig/ are checked by
tests/test_signatures.py and are not activities.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from federation.activitystreams import ACTOR_TYPES, AS_CONTEXT, host_of, id_of
from federation.actors import ActorRejected, parse_actor, store_remote_actor
from federation.handlers import HANDLERS
from federation.ingest import attributed_to
from fediverse.config import Settings
from fediverse.content import sanitize_html
from fediverse.storage.database import Database
from tests.factories import make_staff
from tests.inbox_peers import FakePeers, make_worker, signed_headers

FIXTURES = Path(__file__).parent / "fixtures"
PAYLOADS = sorted(
    str(path.relative_to(FIXTURES))
    for path in FIXTURES.glob("*/*.json")
    if path.parent.name != "httpsig"
)

# What happens to each payload: "applied", "stored account", or the start of the refusal
# (the reason, before the URLs it names).
EXPECTED: dict[str, str] = {
    "bookwyrm/article.json": "applied",
    "discourse/group-actor.json": "stored account",
    "fedibird/note-quote.json": "applied",
    "fedify/key-cryptographickey.json": "400: activity has no http(s) actor",
    "friendica/delete.json": "ignored: Delete of unknown object",
    "friendica/featured-collection.json": "400: activity has no http(s) actor",
    "friendica/note.json": "applied",
    "friendica/person-actor.json": "stored account",
    "funkwhale/audio-object.json": "ignored: object type 'Audio' is not stored as a status",
    "gnusocial/group-actor.json": "actor rejected: publicKey owner",
    "gnusocial/person-actor.json": "stored account",
    "gotosocial/delete-status.json": "ignored: Delete of unknown object",
    "gotosocial/featured-orderedcollection.json": "400: activity has no http(s) actor",
    "gotosocial/flag-report.json": "ignored: Flag names no local account or status",
    "gotosocial/like-approval-object.json": "ignored: object type 'LikeApproval' is not",
    "gotosocial/outbox-orderedcollectionpage.json": "400: activity has no http(s) actor",
    "gotosocial/person-actor-profile-fields.json": "stored account",
    "gotosocial/stub-actor-public-key.json": "actor rejected: actor has no inbox on its own host",
    "lemmy/accept-follow.json": "ignored: follower",
    "lemmy/add-mod.json": "ignored: activity type 'Add' is not handled",
    "lemmy/comment-note.json": "applied",
    "lemmy/create-comment.json": "applied",
    "lemmy/delete-user.json": "ignored: Delete of an actor we never knew",
    "lemmy/dislike-page.json": "ignored: activity type 'Dislike' is not handled",
    "lemmy/follow-community.json": "ignored: Follow target",
    "lemmy/group-followers-collection.json": "400: activity has no http(s) actor",
    "lemmy/group-outbox-orderedcollection.json": "400: activity has no http(s) actor",
    "lemmy/instance-application-actor.json": "stored account",
    "lemmy/like-note.json": "ignored: Like of unknown status",
    "lemmy/page-image-and-link.json": "applied",
    "lemmy/page-object.json": "applied",
    "lemmy/person-actor.json": "stored account",
    "lemmy/private-message-chatmessage.json": "applied",
    "lemmy/remove-note-by-mod.json": "rejected: deleted object",
    "lemmy/tombstone.json": "400: activity has no http(s) actor",
    "lemmy/update-community.json": "rejected: Update of another actor",
    "mastodon/accept-follow.json": "ignored: follower",
    "mastodon/application-actor.json": "actor rejected: actor id is not an http(s) URL",
    "mastodon/block.json": "ignored: Block target",
    "mastodon/create-direct-message.json": "applied",
    "mastodon/create-note-hashtag.json": "applied",
    "mastodon/create-note-sensitive-cw.json": "applied",
    "mastodon/create-note-with-attachment.json": "applied",
    "mastodon/create-note-with-emoji-and-mention.json": "applied",
    "mastodon/create-note.json": "applied",
    "mastodon/create-poll-vote.json": "applied",
    "mastodon/create-question-poll.json": "applied",
    "mastodon/delete-actor-ld-signature.json": "ignored: Delete of an actor we never knew",
    "mastodon/delete-note.json": "ignored: Delete of unknown object",
    "mastodon/docs-actor-publickey.json": "actor rejected: actor has no preferredUsername",
    "mastodon/docs-block.json": "ignored: Block target",
    "mastodon/docs-move.json": "rejected: cannot fetch actor",
    "mastodon/docs-webfinger-jrd-gargron.json": "400: activity has no type",
    "mastodon/featured-orderedcollection.json": "400: activity has no http(s) actor",
    "mastodon/flag-report.json": "ignored: Flag names no local account or status",
    "mastodon/follow.json": "ignored: Follow target",
    "mastodon/followers-collection-hidden.json": "400: activity has no http(s) actor",
    "mastodon/like.json": "ignored: Like of unknown status",
    "mastodon/note-public.json": "applied",
    "mastodon/note-reply-with-mention.json": "applied",
    "mastodon/note-with-language.json": "applied",
    "mastodon/person-actor-activitypub-academy.json": "stored account",
    "mastodon/person-actor.json": "stored account",
    "mastodon/reject-follow.json": "ignored: follower",
    "mastodon/undo-announce-embedded.json": "rejected: Undo of an activity by another actor",
    "mastodon/undo-announce.json": "ignored: no boost",
    "mastodon/undo-follow.json": "ignored: unfollowed account",
    "mastodon/update-actor.json": "applied",
    "mastodon/update-note.json": "ignored: Update of unknown status",
    "mastodon/webfinger-jrd-with-magic-key.json": "400: activity has no type",
    "mastodon/webfinger-jrd.json": "400: activity has no type",
    "mbin/accept-follow.json": "ignored: follower",
    "misskey/note-mfm-source-field.json": "applied",
    "misskey/note-mfm-underscore-content.json": "applied",
    "misskey/note.json": "applied",
    "misskey/person-actor.json": "stored account",
    "mitra/create-note.json": "applied",
    "mitra/follow-with-integrity-proof.json": "ignored: Follow target",
    "mobilizon/event-object.json": "ignored: object type 'Event' is not stored as a status",
    "mobilizon/group-actor.json": "stored account",
    "nodebb/group-actor.json": "stored account",
    "nodebb/page.json": "applied",
    "oeee-cafe/person-actor.json": "stored account",
    "owncast/note-with-attachment.json": "applied",
    "peertube/announce-video.json": "rejected: cannot fetch",
    "peertube/channel-group-actor.json": "stored account",
    "peertube/create-video.json": "ignored: object type 'Video' is not stored as a status",
    "peertube/video-hls-only.json": "ignored: object type 'Video' is not stored as a status",
    "peertube/videochannel-group-actor-attributedto-array.json": "stored account",
    "pleroma/collection-unordered-page-embedded.json": "400: activity has no http(s) actor",
    "pleroma/create-chat-message.json": "ignored: object type 'ChatMessage' is not",
    "pleroma/create-note.json": "applied",
    "pleroma/followers-collection.json": "400: activity has no http(s) actor",
    "pleroma/note.json": "applied",
    "pleroma/person-actor.json": "stored account",
    "pleroma/webfinger-jrd.json": "400: activity has no type",
    "wordpress/announce.json": "ignored: Announce of a 'Update' is not a post",
    "wordpress/article.json": "applied",
    "wordpress/create-article.json": "applied",
    "wordpress/page.json": "applied",
    "wordpress/person-actor.json": "stored account",
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Many recorded payloads use plain-http test hosts; allow them as in local development.
    return replace(settings, allow_private_networks=True)


@pytest.fixture
async def peers(settings: Settings, app: Any) -> AsyncIterator[FakePeers]:
    fake = FakePeers(settings)
    app.state.fediverse.services["federation_client"] = fake.client
    yield fake
    await fake.aclose()


def as_activity(document: dict[str, Any]) -> dict[str, Any]:
    """An activity as a peer would deliver it: bare posts arrive wrapped in a Create."""
    if document.get("type") in HANDLERS or document.get("type") in ACTOR_TYPES:
        return document
    author = attributed_to(document)
    if author is None or not isinstance(document.get("id"), str):
        return document
    return {
        "@context": AS_CONTEXT,
        "id": f"{document['id']}#create",
        "type": "Create",
        "actor": author,
        "to": document.get("to", []),
        "cc": document.get("cc", []),
        "object": document,
    }


async def outcome_of(
    name: str, client: httpx.AsyncClient, database: Database, settings: Settings, peers: FakePeers
) -> str:
    document = json.loads((FIXTURES / name).read_text())
    if not isinstance(document, dict):
        return "400: not a JSON object"
    if document.get("type") in ACTOR_TYPES and "actor" not in document:
        try:
            actor = parse_actor(document)
        except ActorRejected as error:
            return f"actor rejected: {error}"
        async with database.transaction() as conn:
            await store_remote_actor(conn, actor, now=datetime.now(UTC), clean_html=sanitize_html)
        return "stored account"
    activity = as_activity(document)
    actor_uri = id_of(activity.get("actor"))
    if actor_uri and host_of(actor_uri):
        peers.actor(actor_uri)
    body = orjson.dumps(activity)
    response = await client.post(
        "/inbox", content=body, headers=signed_headers(actor_uri or "https://x.example/a", body)
    )
    if response.status_code != 202:
        return f"{response.status_code}: {response.json()['error']}"
    await make_worker(database, peers, settings).run_until_idle()
    async with database.connection() as conn:
        rows = await conn.fetch(
            "SELECT activity_id, processed_at, last_error FROM inbox_activities"
        )
    if not rows:
        return "202: dropped"
    [row] = rows
    assert row["processed_at"] is not None
    if row["last_error"] is None and activity["type"] == "Create":
        # Applied means stored: the post is there, under its own id, with clean HTML.
        async with database.connection() as conn:
            content = await conn.fetchval(
                "SELECT content FROM statuses WHERE uri = $1", id_of(activity["object"])
            )
        assert content is not None and "<script" not in content
    return row["last_error"] or "applied"


@pytest.mark.parametrize("name", PAYLOADS)
async def test_every_recorded_payload_is_ingested_or_refused_for_its_reason(
    name: str,
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    peers: FakePeers,
) -> None:
    await make_staff(database, settings, "alice")
    outcome = await outcome_of(name, client, database, settings, peers)
    expected = EXPECTED[name]
    assert (
        outcome == expected
        if expected in ("applied", "stored account")
        else outcome.startswith(expected)
    ), outcome
