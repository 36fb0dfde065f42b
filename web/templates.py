"""The Jinja2 environment for HTML pages (autoescaped), over the `web/templates` directory."""

from __future__ import annotations

from pathlib import Path

import jinja2
from starlette.templating import Jinja2Templates

TEMPLATE_DIR = Path(__file__).parent / "templates"

templates = Jinja2Templates(
    env=jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
)
