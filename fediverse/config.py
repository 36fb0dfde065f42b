"""Settings read from environment variables (and an optional TOML file with the same keys)."""

from __future__ import annotations

import os
import secrets
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    """Everything the server needs to know about where and how it runs."""

    domain: str = "localhost:8000"
    scheme: str = "https"
    data_dir: Path = Path("./data")
    database_url: str | None = None
    secret_key: str = ""
    allow_private_networks: bool = False
    registrations: str = "closed"  # closed | open | approval
    character_limit: int = 500
    instance_title: str = "fediverse-server"
    instance_description: str = "A federated microblogging server for our organization."
    contact_email: str = ""
    authorized_fetch: bool = True
    ca_bundle: str | None = None
    run_workers: bool = True
    # Proxies whose X-Forwarded-For/-Proto are believed (sign-in rate limits key on the address).
    trusted_proxies: str = "127.0.0.1"
    max_upload_bytes: int = 16 * 1024 * 1024
    max_image_pixels: int = 33_177_600  # 7680x4320, Mastodon's limit
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.domain}"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)


_ENV_KEYS: dict[str, str] = {
    "FEDIVERSE_DOMAIN": "domain",
    "FEDIVERSE_SCHEME": "scheme",
    "FEDIVERSE_DATA_DIR": "data_dir",
    "FEDIVERSE_DATABASE_URL": "database_url",
    "FEDIVERSE_SECRET_KEY": "secret_key",
    "FEDIVERSE_ALLOW_PRIVATE_NETWORKS": "allow_private_networks",
    "FEDIVERSE_REGISTRATIONS": "registrations",
    "FEDIVERSE_CHARACTER_LIMIT": "character_limit",
    "FEDIVERSE_INSTANCE_TITLE": "instance_title",
    "FEDIVERSE_INSTANCE_DESCRIPTION": "instance_description",
    "FEDIVERSE_CONTACT_EMAIL": "contact_email",
    "FEDIVERSE_AUTHORIZED_FETCH": "authorized_fetch",
    "FEDIVERSE_CA_BUNDLE": "ca_bundle",
    "FEDIVERSE_MAX_UPLOAD_BYTES": "max_upload_bytes",
    "FEDIVERSE_TRUSTED_PROXIES": "trusted_proxies",
}


def _coerce(name: str, raw: Any) -> Any:
    if name in {"allow_private_networks", "authorized_fetch", "run_workers"}:
        return raw if isinstance(raw, bool) else str(raw).strip().lower() in _TRUE
    if name in {"character_limit", "max_upload_bytes"}:
        return int(raw)
    if name == "data_dir":
        return Path(str(raw))
    if name == "scheme":
        value = str(raw).lower()
        if value not in {"http", "https"}:
            raise ValueError(f"FEDIVERSE_SCHEME must be http or https, not {raw!r}")
        return value
    if name == "registrations":
        value = str(raw).lower()
        if value not in {"closed", "open", "approval"}:
            raise ValueError(
                f"FEDIVERSE_REGISTRATIONS must be closed, open or approval, not {raw!r}"
            )
        return value
    if name == "domain":
        return str(raw).strip().lower().rstrip(".")
    return None if raw in (None, "") else str(raw)


def load_settings(environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Read settings: config file (FEDIVERSE_CONFIG) first, then the environment, then overrides."""
    env = dict(os.environ if environ is None else environ)
    values: dict[str, Any] = {}
    config_file = env.get("FEDIVERSE_CONFIG")
    if config_file:
        with open(config_file, "rb") as handle:
            for key, raw in tomllib.load(handle).items():
                name = _ENV_KEYS.get(key.upper(), key.lower())
                if name in Settings.__dataclass_fields__:
                    values[name] = _coerce(name, raw)
    for env_key, name in _ENV_KEYS.items():
        if env_key in env:
            values[name] = _coerce(name, env[env_key])
    values.update(overrides)
    settings = Settings(**values)
    if not settings.secret_key:
        settings = replace(settings, secret_key=_stored_secret_key(settings.data_dir))
    return settings


def _stored_secret_key(data_dir: Path) -> str:
    """A secret key generated once and kept in the data directory."""
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key
