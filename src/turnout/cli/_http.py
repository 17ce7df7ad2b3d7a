"""``turnout serve``: the HTTP API (and web console); ``turnout token create``: API tokens."""

from __future__ import annotations

import copy
from types import FrameType

import click

from turnout.cli._context import connected, definitions, settings_for
from turnout.cli._errors import BadConfiguration, run_async
from turnout.cli._output import err, out
from turnout.contracts.errors import ConfigurationError

__all__ = ["register"]


@click.command()
@click.option("--port", "-p", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to listen on (0.0.0.0: every interface).")  # fmt: skip
@click.option("--tokens-file", metavar="FILE",
              help="TURNOUT_API_TOKENS_FILE: 'TENANT sha256:HEX' lines "
              "(see turnout token create).")  # fmt: skip
@click.option("--module", "-m", "modules", multiple=True,
              help="Module(s) with the workflow classes (optional: their return types "
              "convert results; workers answer queries).")  # fmt: skip
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))  # fmt: skip
@click.option("--header-timeout", type=click.FloatRange(0, 86_400, min_open=True), default=10.0,
              show_default=True, envvar="TURNOUT_HTTP_HEADER_TIMEOUT", metavar="SECONDS",
              help="A client sends its request's head within this time of connecting "
              "(or of its previous response), or is cut.")  # fmt: skip
@click.option("--client-timeout", type=click.FloatRange(0, 86_400, min_open=True), default=30.0,
              show_default=True, envvar="TURNOUT_HTTP_CLIENT_TIMEOUT", metavar="SECONDS",
              help="The longest wait for the next part of a request body (then 408), or for "
              "a client to take response data, before its connection is closed.")  # fmt: skip
@click.pass_context
def serve(ctx: click.Context, port: int, host: str, tokens_file: str | None,
          modules: tuple[str, ...], log_level: str, header_timeout: float,
          client_timeout: float) -> None:  # fmt: skip
    """Serve the HTTP API (and the web console) on HOST:PORT until SIGINT/SIGTERM."""
    try:
        import uvicorn

        from turnout.http import create_app
        from turnout.http.local import is_loopback
        from turnout.http.server import ClientTimeouts, server_config
    except ImportError as exc:
        raise BadConfiguration(
            f"turnout serve needs the http extra: pip install 'turnout[http]' ({exc})"
        ) from exc
    settings = settings_for(ctx)
    workflows, _ = definitions(modules)
    tokenless = not (tokens_file or settings.api_tokens_file)
    if tokenless and not is_loopback(host):
        raise BadConfiguration(
            f"--host {host} lets other machines connect, so the HTTP API needs a tokens file "
            "there: pass --tokens-file FILE or set TURNOUT_API_TOKENS_FILE (`turnout token "
            "create --tenant TENANT` makes a token and prints its line), or serve on 127.0.0.1"
        )
    local_tenant = settings.tenant_id if tokenless else None
    try:
        app = create_app(
            settings, tokens_file=tokens_file, workflows=workflows, local_tenant=local_tenant
        )
    except ConfigurationError as exc:
        raise BadConfiguration(str(exc)) from exc
    run_async(_reachable(ctx, workflows))  # a wrong setting fails now, not on each request
    base = f"http://{f'[{host}]' if ':' in host else host}:{port}"
    err.print(
        f"serving the HTTP API on {base} ({settings.executor.value} executor); "
        f"OpenAPI at {base}/openapi.json"
    )
    if any(getattr(route, "path", None) == "/" for route in app.routes):
        err.print(f"the web console: {base}/")
    if tokenless:
        err.print(
            f"no tokens file: requests from this machine act for tenant {local_tenant!r} "
            "without a token; for tokens: turnout token create --tenant TENANT, then "
            "--tokens-file FILE"
        )
    state = app.state.turnout

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            state.stopping = True  # open event streams end, so connections can close
            super().handle_exit(sig, frame)

    timeouts = ClientTimeouts(header=header_timeout, body=client_timeout, write=client_timeout)
    log_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)  # turnout's lines next to uvicorn's
    log_config["loggers"]["turnout"] = {"handlers": ["default"], "level": log_level.upper()}
    config = server_config(
        app,
        timeouts=timeouts,
        log_config=log_config,
        host=host,
        port=port,
        log_level=log_level,
        access_log=log_level == "debug",
        timeout_graceful_shutdown=10,
    )
    Server(config).run()


async def _reachable(ctx: click.Context, workflows: list[type]) -> None:
    """Connect once with the settings and close: the database or Temporal server answers."""
    async with connected(ctx, workflows):
        pass


@click.group()
def token() -> None:
    """Tokens of the HTTP API."""


@token.command(name="create")
@click.option("--tenant", "tenant", required=True, help="The tenant the token acts for.")
def token_create(tenant: str) -> None:
    """Print a fresh token (shown once) and the line to add to the tokens file."""
    from turnout.http.auth import new_token, token_line

    secret = new_token()
    try:
        line = token_line(tenant, secret)
    except ConfigurationError as exc:
        raise click.BadParameter(str(exc), param_hint="--tenant") from exc
    err.print("the token (keep it secret; it is stored nowhere and is shown only now):")
    out.print(secret, markup=False)
    err.print("the line to add to the tokens file (TURNOUT_API_TOKENS_FILE or --tokens-file):")
    out.print(line, markup=False)


def register(group: click.Group) -> None:
    """Add ``turnout serve`` and ``turnout token`` to ``group``."""
    group.add_command(serve)
    group.add_command(token)
