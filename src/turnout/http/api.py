"""The JSON routes of the HTTP API, kept importable from here.

The routes live in :mod:`turnout.http.routes`, one module per resource.
"""

from __future__ import annotations

from turnout.http.routes import routes
from turnout.http.routes.common import ENCODED_SLASH, path_param
from turnout.http.routes.pages import read_page

__all__ = ["ENCODED_SLASH", "path_param", "read_page", "routes"]
