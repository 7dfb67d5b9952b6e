"""`newsqa serve`: one process, the REST API and the chat page over the same QAService."""

from __future__ import annotations

import ipaddress

from qa.api import create_api
from qa.errors import ConfigError


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_auth(value: str | None) -> tuple[str, str] | None:
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise ConfigError("--auth must be USER:PASSWORD")
    return user, password


def build_server(service, *, auth: tuple[str, str] | None = None, token: str | None = None):
    """FastAPI app with /api/* routes, /openapi.json, and the Gradio page mounted at /."""
    import gradio as gr

    from ui.app import build_app
    from ui.render import CSS

    app = create_api(service, token=token)
    return gr.mount_gradio_app(app, build_app(service, app.state.feeds), path="/", auth=auth, css=CSS, max_file_size="20mb")


def serve(service, *, host: str = "127.0.0.1", port: int = 7860, auth: str | None = None,
          token: str | None = None) -> None:
    credentials = parse_auth(auth)
    if not is_loopback(host) and (credentials is None or not token):
        raise ConfigError(
            f"--host {host} makes newsqa reachable from other machines: give both --auth USER:PASSWORD (the "
            "chat page) and NEWSQA_API_TOKEN (the REST API), or keep the default --host 127.0.0.1"
        )
    import uvicorn

    if not is_loopback(host) and service.settings.url_private == "auto":
        # reachable from other machines: an ingested URL may not lead into this machine's network
        service.settings = service.settings.model_copy(update={"url_private": "refuse"})
    app = build_server(service, auth=credentials, token=token)
    print(f"newsqa: chat page on http://{host}:{port}/  REST API on http://{host}:{port}/api  OpenAI API on "
          f"http://{host}:{port}/v1  MCP on http://{host}:{port}/mcp/  (index {service.settings.index_dir})",
          flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
