"""Server-rendered HTML pages: public profiles and statuses, and the invite sign-up page."""

from __future__ import annotations

from starlette.routing import BaseRoute

from web.pages import profiles, signup

routes: list[BaseRoute] = [*profiles.routes, *signup.routes]
