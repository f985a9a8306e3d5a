"""The page at `/`: type a text, see the prediction, the word attributions and the head view.

Every asset is served by bertkit itself (the page's own script and styles from `serve/static/`,
the head view's from `explain/static/`, the very files the offline HTML report inlines), and the
Content-Security-Policy lets the browser fetch nothing from anywhere else.
"""

from __future__ import annotations

import html
import json
import types
from importlib import resources

from fastapi import HTTPException

from bertkit.explain.html import attention_sections
from bertkit.serve.engine import Engine

PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
            "frame-ancestors 'none'")

_MEDIA = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
# URL name -> (package, file): the only files /static serves.
_ASSETS = {
    "page.js": ("bertkit.serve", "page.js"),
    "page.css": ("bertkit.serve", "page.css"),
    "explain/views.js": ("bertkit.explain", "views.js"),
    "explain/views.css": ("bertkit.explain", "views.css"),
}

# `attention_sections` reads only `n_windows` of the map; the browser fills the views in later.
_EMPTY_MAP = types.SimpleNamespace(n_windows=1)


def _read(package: str, name: str) -> str:
    return resources.files(package).joinpath("static", name).read_text(encoding="utf-8")


class Page:
    """The index page for one engine, and the static files it links, read once at start-up."""

    def __init__(self, engine: Engine):
        settings = {"task": engine.task, "labels": engine.labels, "pairs": engine.takes_pairs,
                    "endpoints": sorted(engine.endpoints()), "model": engine.path.name}
        # JSON inside <script type="application/json">: nothing in it may close the element.
        data = json.dumps(settings).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        self.index = (_read("bertkit.serve", "index.html")
                      .replace("{{title}}", html.escape(f"bertkit: {engine.path.name} ({engine.task})"))
                      .replace("{{attention_sections}}", attention_sections(_EMPTY_MAP))
                      .replace("{{settings}}", data))
        self.assets = {url: _read(*where) for url, where in _ASSETS.items()}

    def asset(self, name: str) -> tuple[str, str]:
        """(text, media type) of a static file; 404 for anything not in the list."""
        if name not in self.assets:
            raise HTTPException(404)
        return self.assets[name], _MEDIA[name[name.rfind("."):]]
