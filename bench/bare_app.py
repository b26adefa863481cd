"""The baseline: a bare Bolt AsyncApp with default settings that only acks /oms.

Served the same way as the bot (starlette + uvicorn). Run as its own process:
python bench/bare_app.py PORT SECRET SLACK_API_URL
"""

from __future__ import annotations

import sys
from typing import Any

import uvicorn
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def main() -> None:
    port, secret, api_url = sys.argv[1], sys.argv[2], sys.argv[3]
    app = AsyncApp(
        client=AsyncWebClient(token="xoxb-bench", base_url=api_url), signing_secret=secret
    )

    @app.command("/oms")
    async def on_oms(ack: Any) -> None:
        await ack()

    handler = AsyncSlackRequestHandler(app)

    async def events(request: Request) -> Response:
        return await handler.handle(request)

    asgi = Starlette(routes=[Route("/slack/events", events, methods=["POST"])])
    uvicorn.run(asgi, host="127.0.0.1", port=int(port), log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
