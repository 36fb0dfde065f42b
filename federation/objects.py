"""Our statuses and actions as ActivityStreams, shaped and addressed as Mastodon sends them.

Addressing follows Mastodon's ActivityPub::TagManager#to/#cc; activity ids follow its
serializers: `<status uri>/activity` for Create (dereferenceable), `<actor>#likes/<id>`,
`<actor>#follows/<id>`, `<status uri>#delete`... for the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from federation.activitystreams import ACTOR_CONTEXT, AS_CONTEXT, PUBLIC
from federation.actors import render_actor
from fediverse.audience import Visibility
from fediverse.storage.accounts import Account
from fediverse.storage.media import MediaAttachment
from fediverse.storage.polls import Poll
from fediverse.storage.statuses import Status
from fediverse.urls import LocalUrls

# The extension terms a Mastodon Note uses (its serializer's context for statuses).
NOTE_CONTEXT: list[Any] = [
    AS_CONTEXT,
    {
        "ostatus": "http://ostatus.org#",
        "atomUri": "ostatus:atomUri",
        "inReplyToAtomUri": "ostatus:inReplyToAtomUri",
        "conversation": "ostatus:conversation",
        "sensitive": "as:sensitive",
        "toot": "http://joinmastodon.org/ns#",
        "votersCount": "toot:votersCount",
        "blurhash": "toot:blurhash",
        "focalPoint": {"@container": "@list", "@id": "toot:focalPoint"},
        "Hashtag": "as:Hashtag",
    },
]
DELETE_CONTEXT: list[Any] = [
    AS_CONTEXT,
    {"ostatus": "http://ostatus.org#", "atomUri": "ostatus:atomUri"},
]


def iso(moment: datetime) -> str:
    """Mastodon's timestamp shape: UTC, whole seconds, `Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def actor_uri(account: Account, urls: LocalUrls) -> str:
    return urls.actor(account.username) if account.is_local else account.uri


def followers_uri(account: Account, urls: LocalUrls) -> str | None:
    return urls.followers(account.username) if account.is_local else account.followers_url


def pretty_acct(account: Account, urls: LocalUrls) -> str:
    """`user@domain` for everybody (Mastodon's pretty_acct), as Mention names carry it."""
    return f"{account.username}@{account.domain or urls.domain}"


# --- addressing -----------------------------------------------------------------------------


def _mention_addresses(mentions: list[Account], urls: LocalUrls) -> list[str]:
    addresses: list[str] = []
    for account in mentions:
        addresses.append(actor_uri(account, urls))
        if account.actor_type == "Group" and (group := followers_uri(account, urls)):
            addresses.append(group)
    return addresses


def address_to(
    visibility: str, author: Account, mentions: list[Account], urls: LocalUrls
) -> list[str]:
    """Primary audience: Public, else the followers collection, else (direct) the mentioned."""
    if visibility == Visibility.PUBLIC:
        return [PUBLIC]
    if visibility in (Visibility.UNLISTED, Visibility.PRIVATE):
        return [urls.followers(author.username)]
    return _mention_addresses(mentions, urls)


def address_cc(
    visibility: str,
    author: Account,
    mentions: list[Account],
    urls: LocalUrls,
    *,
    reblogged_author: Account | None = None,
) -> list[str]:
    """Secondary audience: a boost's original author; followers (public) or Public (unlisted);
    the mentioned, except for direct posts, which have no secondary audience."""
    cc: list[str] = []
    if reblogged_author is not None:
        cc.append(actor_uri(reblogged_author, urls))
    if visibility == Visibility.PUBLIC:
        cc.append(urls.followers(author.username))
    elif visibility == Visibility.UNLISTED:
        cc.append(PUBLIC)
    if visibility != Visibility.DIRECT:
        cc.extend(_mention_addresses(mentions, urls))
    return cc


# --- Note -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoteParts:
    """A local status with what its Note shows beyond the row."""

    status: Status
    author: Account
    mentions: list[Account]
    tags: list[str]
    media: list[MediaAttachment]
    # A status with a poll is a Question.
    poll: Poll | None = None


def render_attachment(media: MediaAttachment, urls: LocalUrls) -> dict[str, Any]:
    url = urls.media(media.file_name) if media.file_name else media.remote_url
    document: dict[str, Any] = {
        "type": "Document",
        "mediaType": media.content_type,
        "url": url,
        "name": media.description,
        "blurhash": media.blurhash,
    }
    if media.focus_x is not None and media.focus_y is not None:
        document["focalPoint"] = [round(media.focus_x, 2), round(media.focus_y, 2)]
    original = media.meta.get("original")
    if isinstance(original, dict):
        for key in ("width", "height"):
            if isinstance(original.get(key), int):
                document[key] = original[key]
    return document


def render_note(parts: NoteParts, urls: LocalUrls) -> dict[str, Any]:
    """The status as a Note (no @context: embed it, or add NOTE_CONTEXT to serve it)."""
    status, author = parts.status, parts.author
    note: dict[str, Any] = {
        "id": status.uri,
        "type": "Note",
        "summary": status.spoiler_text or None,
        "inReplyTo": status.in_reply_to_uri,
        "published": iso(status.created_at),
        "url": status.url or urls.status_url(author.username, status.id),
        "attributedTo": urls.actor(author.username),
        "to": address_to(status.visibility, author, parts.mentions, urls),
        "cc": address_cc(status.visibility, author, parts.mentions, urls),
        "sensitive": status.sensitive,
        "atomUri": status.uri,
        "inReplyToAtomUri": status.in_reply_to_uri,
        "content": status.content,
    }
    if status.language:
        note["contentMap"] = {status.language: status.content}
    if status.edited_at is not None:
        note["updated"] = iso(status.edited_at)
    note["attachment"] = [render_attachment(media, urls) for media in parts.media]
    note["tag"] = [
        {
            "type": "Mention",
            "href": actor_uri(account, urls),
            "name": f"@{pretty_acct(account, urls)}",
        }
        for account in parts.mentions
    ] + [{"type": "Hashtag", "href": urls.tag(name), "name": f"#{name}"} for name in parts.tags]
    if parts.poll is not None:
        note.update(render_question_fields(parts.poll, now=datetime.now(UTC)))
    return note


def render_question_fields(poll: Poll, *, now: datetime) -> dict[str, Any]:
    """What turns a Note into a Question (Mastodon's NoteSerializer with a poll): the options
    with their counts as `replies.totalItems`, `endTime`, `closed` once ended, `votersCount`."""
    options = [
        {"type": "Note", "name": title, "replies": {"type": "Collection", "totalItems": count}}
        for title, count in zip(poll.options, poll.tallies, strict=False)
    ]
    fields: dict[str, Any] = {
        "type": "Question",
        "anyOf" if poll.multiple else "oneOf": options,
        "votersCount": poll.voters_count,
    }
    if poll.expires_at is not None:
        fields["endTime"] = iso(poll.expires_at)
        if poll.closed_at is not None or poll.expired_at(now):
            fields["closed"] = iso(poll.expires_at)
    return fields


def render_note_document(parts: NoteParts, urls: LocalUrls) -> dict[str, Any]:
    return {"@context": NOTE_CONTEXT, **render_note(parts, urls)}


# --- activities about statuses --------------------------------------------------------------


def render_create(parts: NoteParts, urls: LocalUrls) -> dict[str, Any]:
    note = render_note(parts, urls)
    return {
        "@context": NOTE_CONTEXT,
        "id": f"{parts.status.uri}/activity",
        "type": "Create",
        "actor": note["attributedTo"],
        "published": note["published"],
        "to": note["to"],
        "cc": note["cc"],
        "object": note,
    }


def render_update_note(parts: NoteParts, urls: LocalUrls, *, update_id: int) -> dict[str, Any]:
    """An edit; `update_id` makes the activity id unique per edit (`#updates/<n>`)."""
    note = render_note(parts, urls)
    return {
        "@context": NOTE_CONTEXT,
        "id": f"{parts.status.uri}#updates/{update_id}",
        "type": "Update",
        "actor": note["attributedTo"],
        "published": note.get("updated", note["published"]),
        "to": note["to"],
        "cc": note["cc"],
        "object": note,
    }


def render_update_question(parts: NoteParts, urls: LocalUrls, *, update_id: int) -> dict[str, Any]:
    """New counts (or the end) of our poll, for its voters and the author's followers: an
    Update of the Question, as Mastodon's UpdatePollSerializer sends it."""
    question = render_note(parts, urls)
    return {
        "@context": NOTE_CONTEXT,
        "id": f"{parts.status.uri}#updates/{update_id}",
        "type": "Update",
        "actor": question["attributedTo"],
        "to": question["to"],
        "cc": question["cc"],
        "object": question,
    }


def vote_id(actor: str, key: int) -> str:
    return f"{actor}#votes/{key}"


def render_vote(
    actor: str, *, key: int, option_title: str, question_uri: str, poll_author_uri: str
) -> dict[str, Any]:
    """A vote on a peer's poll: a Create of a Note naming the option, replying to the Question,
    addressed to the poll's author only (Mastodon's VoteSerializer)."""
    note_id = vote_id(actor, key)
    return {
        "@context": AS_CONTEXT,
        "id": f"{note_id}/activity",
        "type": "Create",
        "actor": actor,
        "to": [poll_author_uri],
        "object": {
            "id": note_id,
            "type": "Note",
            "name": option_title,
            "attributedTo": actor,
            "to": [poll_author_uri],
            "inReplyTo": question_uri,
        },
    }


def render_delete(status_uri: str, author: Account, urls: LocalUrls) -> dict[str, Any]:
    """Mastodon addresses every Delete to Public: the Tombstone reveals nothing."""
    return {
        "@context": DELETE_CONTEXT,
        "id": f"{status_uri}#delete",
        "type": "Delete",
        "actor": urls.actor(author.username),
        "to": [PUBLIC],
        "object": {"id": status_uri, "type": "Tombstone", "atomUri": status_uri},
    }


def render_announce(
    boost_uri: str,
    visibility: str,
    published: datetime | None,
    booster: Account,
    original_uri: str,
    original_author: Account,
    urls: LocalUrls,
) -> dict[str, Any]:
    """A boost; its id is the boost's own uri (`<status uri>/activity`, dereferenceable).
    `to`/`cc` follow the boost's visibility, and `cc` names the original's author."""
    announce: dict[str, Any] = {
        "@context": AS_CONTEXT,
        "id": boost_uri,
        "type": "Announce",
        "actor": urls.actor(booster.username),
    }
    if published is not None:
        announce["published"] = iso(published)
    announce["to"] = address_to(visibility, booster, [], urls)
    announce["cc"] = address_cc(visibility, booster, [], urls, reblogged_author=original_author)
    announce["object"] = original_uri
    return announce


def render_undo_announce(
    announce: dict[str, Any], booster: Account, boost_id: int, urls: LocalUrls
) -> dict[str, Any]:
    actor = urls.actor(booster.username)
    embedded = {key: value for key, value in announce.items() if key != "@context"}
    return {
        "@context": AS_CONTEXT,
        "id": f"{actor}#announces/{boost_id}/undo",
        "type": "Undo",
        "actor": actor,
        "to": [PUBLIC],
        "object": embedded,
    }


# --- activities between accounts ------------------------------------------------------------


def like_id(actor: str, favourite_id: int) -> str:
    return f"{actor}#likes/{favourite_id}"


def render_like(actor: str, object_uri: str, activity_id: str) -> dict[str, Any]:
    return {
        "@context": AS_CONTEXT,
        "id": activity_id,
        "type": "Like",
        "actor": actor,
        "object": object_uri,
    }


def follow_id(actor: str, request_id: int) -> str:
    return f"{actor}#follows/{request_id}"


def render_follow(actor: str, target_uri: str, activity_id: str) -> dict[str, Any]:
    return {
        "@context": AS_CONTEXT,
        "id": activity_id,
        "type": "Follow",
        "actor": actor,
        "object": target_uri,
    }


def _embedded_follow(follow_uri: str | None, follower_uri: str, target_uri: str) -> dict[str, Any]:
    follow: dict[str, Any] = {"type": "Follow", "actor": follower_uri, "object": target_uri}
    if follow_uri:
        follow = {"id": follow_uri, **follow}
    return follow


def _answer_follow(
    kind: str, target_uri: str, follower_uri: str, follow_uri: str | None, key: int
) -> dict[str, Any]:
    return {
        "@context": AS_CONTEXT,
        "id": f"{target_uri}#{kind.lower()}s/follows/{key}",
        "type": kind,
        "actor": target_uri,
        "object": _embedded_follow(follow_uri, follower_uri, target_uri),
    }


def render_accept_follow(
    target_uri: str, follower_uri: str, follow_uri: str | None, *, accept_key: int
) -> dict[str, Any]:
    """Our account (`target_uri`) accepts a peer's Follow (`follow_uri`, the peer's id)."""
    return _answer_follow("Accept", target_uri, follower_uri, follow_uri, accept_key)


def render_reject_follow(
    target_uri: str, follower_uri: str, follow_uri: str | None, *, reject_key: int
) -> dict[str, Any]:
    return _answer_follow("Reject", target_uri, follower_uri, follow_uri, reject_key)


def block_id(actor: str, block_key: int) -> str:
    return f"{actor}#blocks/{block_key}"


def render_block(actor: str, target_uri: str, activity_id: str) -> dict[str, Any]:
    return {
        "@context": AS_CONTEXT,
        "id": activity_id,
        "type": "Block",
        "actor": actor,
        "object": target_uri,
    }


def render_undo(actor: str, inner: dict[str, Any], activity_id: str) -> dict[str, Any]:
    """Undo of a Follow, Like or Block: the original embedded (without its @context)."""
    return {
        "@context": AS_CONTEXT,
        "id": activity_id,
        "type": "Undo",
        "actor": actor,
        "object": {key: value for key, value in inner.items() if key != "@context"},
    }


def render_undo_follow(
    actor: str, target_uri: str, follow_uri: str | None, *, undo_key: int
) -> dict[str, Any]:
    return render_undo(
        actor, _embedded_follow(follow_uri, actor, target_uri), f"{actor}#follows/{undo_key}/undo"
    )


def render_update_person(account: Account, urls: LocalUrls, *, update_id: int) -> dict[str, Any]:
    document = render_actor(account, urls)
    person = {key: value for key, value in document.items() if key != "@context"}
    actor = urls.actor(account.username)
    return {
        "@context": ACTOR_CONTEXT,
        "id": f"{actor}#updates/{update_id}",
        "type": "Update",
        "actor": actor,
        "to": [PUBLIC],
        "object": person,
    }
