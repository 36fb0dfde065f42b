"""HTTP: the Starlette app, Mastodon client API, OAuth, ActivityPub endpoints and HTML pages."""
