"""The one place that builds this server's own URLs (ActivityPub ids and web links)."""

from __future__ import annotations

from fediverse.config import Settings


class LocalUrls:
    """URLs of local things, derived from the configured scheme and domain."""

    def __init__(self, settings: Settings) -> None:
        self.base = settings.base_url
        self.domain = settings.domain

    def actor(self, username: str) -> str:
        return f"{self.base}/users/{username}"

    def profile(self, username: str) -> str:
        return f"{self.base}/@{username}"

    def inbox(self, username: str) -> str:
        return f"{self.actor(username)}/inbox"

    def outbox(self, username: str) -> str:
        return f"{self.actor(username)}/outbox"

    def followers(self, username: str) -> str:
        return f"{self.actor(username)}/followers"

    def following(self, username: str) -> str:
        return f"{self.actor(username)}/following"

    def featured(self, username: str) -> str:
        return f"{self.actor(username)}/collections/featured"

    def featured_tags(self, username: str) -> str:
        return f"{self.actor(username)}/collections/tags"

    def key_id(self, username: str) -> str:
        return f"{self.actor(username)}#main-key"

    def shared_inbox(self) -> str:
        return f"{self.base}/inbox"

    def instance_actor(self) -> str:
        return f"{self.base}/actor"

    def status_uri(self, username: str, status_id: int) -> str:
        return f"{self.actor(username)}/statuses/{status_id}"

    def status_url(self, username: str, status_id: int) -> str:
        return f"{self.profile(username)}/{status_id}"

    def activity(self, username: str, status_id: int) -> str:
        return f"{self.status_uri(username, status_id)}/activity"

    def tag(self, name: str) -> str:
        return f"{self.base}/tags/{name}"

    def media(self, file_name: str) -> str:
        return f"{self.base}/media/{file_name}"

    def avatar_missing(self) -> str:
        return f"{self.base}/static/avatar-missing.png"

    def header_missing(self) -> str:
        return f"{self.base}/static/header-missing.png"
