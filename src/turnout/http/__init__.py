"""turnout's HTTP API (and web console): ``create_app()``, served by ``turnout serve``.

Needs the ``http`` extra: ``pip install 'turnout[http]'``. docs/http-api.md
describes every route, the tokens and the errors.
"""

from turnout.http.app import create_app

__all__ = ["create_app"]
