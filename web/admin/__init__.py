"""The admin console: server-rendered pages for staff, behind a password sign-in and CSRF."""

from __future__ import annotations

from starlette.routing import BaseRoute

from web.admin import federation, sign_in

routes: list[BaseRoute] = [*sign_in.routes, *federation.routes]
