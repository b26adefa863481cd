"""A local stand-in for the Slack Web API, so the console runs the real app unchanged.

It answers the few methods the bot calls, keeps each message by ts (so updates replace it),
saves uploaded files in a folder, and hands every message (and file) to the console to print.
It is not a test double: the tests use the stricter fake in tests/harness, which also checks
Block Kit rules and injects failures.
"""

from __future__ import annotations

import itertools
import json
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

CONSOLE_TEAM = "T0CONSOLE"
CONSOLE_CHANNEL = "C0CONSOLE"
# The console user's DM with the bot (where presses on the Home tab are answered), and the
# Home tab's own key among the messages shown.
CONSOLE_DM = "D0CONSOLE"
CONSOLE_HOME = "home"
CONSOLE_BOT_USER = "U0OMSBOT"


@dataclass
class ConsoleFile:
    """A file the bot uploaded, as saved on this machine."""

    name: str
    title: str
    path: Path
    lines: int


@dataclass
class ConsoleMessage:
    """One message as the console shows it.

    `kind`: posted (in a channel), updated (a channel message changed), ephemeral (only the
    user sees it), response (through a response_url; `in_channel` when its response_type said
    so), replaced (a response_url reply replacing the message it answers), deleted, file.
    """

    kind: str
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    thread_ts: str | None = None
    in_channel: bool = False
    file: ConsoleFile | None = None
    view: dict[str, Any] | None = None  # kind "view": a modal the bot opened; "home": the tab

    @property
    def only_you(self) -> bool:
        """Whether Slack would show it to the user alone (an ephemeral message)."""
        if self.kind in ("posted", "updated", "file"):
            return False
        return not self.in_channel


def _lines_of(data: bytes) -> int:
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def _safe_name(name: str) -> str:
    """A file name that stays in the folder it is saved in."""
    kept = "".join(c if c.isalnum() or c in "._-" else "_" for c in Path(name).name)
    return kept.lstrip(".") or "file"


Listener = Callable[[ConsoleMessage], None]


class ConsoleSlack:
    """The Web API subset the bot uses, answered locally."""

    def __init__(self, listener: Listener, files_dir: Path | None = None) -> None:
        self._listener = listener
        self._lock = threading.Lock()
        self._seq = itertools.count(1)
        self.messages: dict[tuple[str, str], ConsoleMessage] = {}
        # What each response_url answers: the message a reply with replace_original replaces
        # (the clicked message, or the command's first reply).
        self._originals: dict[str, tuple[str, str] | None] = {}
        # Where uploaded files are saved (the console prints each path); without one given,
        # a temporary folder made at the first file.
        self.files_dir = files_dir
        self._uploads: dict[str, tuple[str, bytes | None]] = {}
        self.app = Starlette(
            routes=[
                Route("/api/{method}", self._api, methods=["GET", "POST"]),
                Route("/response/{token}", self._response, methods=["POST"]),
                Route("/upload/{file_id}", self._upload, methods=["POST"]),
            ]
        )
        self.base_url = ""  # set by the shell once the server has a port

    def response_url(self, original: tuple[str, str] | None = None) -> str:
        """A response_url; `original` is the (channel, ts) of the message it answers."""
        token = str(next(self._seq))
        with self._lock:
            self._originals[token] = original
        return f"{self.base_url}/response/{token}"

    def set_original(self, url: str, original: tuple[str, str]) -> None:
        """The message a command's response_url answers (the ack, once it is shown)."""
        token = url.rpartition("/")[2]
        with self._lock:
            if self._originals.get(token) is None:
                self._originals[token] = original

    def new_ts(self) -> str:
        return self._ts()

    def _ts(self) -> str:
        return f"{int(time.time())}.{next(self._seq):06d}"

    async def _params(self, request: Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query_params)
        body = await request.body()
        if body:
            if request.headers.get("content-type", "").startswith("application/json"):
                params.update(json.loads(body))
            else:
                params.update(parse_qsl(body.decode()))
        for key in ("blocks", "view"):
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        return params

    def _emit(self, message: ConsoleMessage) -> None:
        with self._lock:
            self.messages[(message.channel, message.ts)] = message
        self._listener(message)

    async def _api(self, request: Request) -> Response:
        method = request.path_params["method"]
        p = await self._params(request)
        channel = str(p.get("channel") or CONSOLE_CHANNEL)
        if method == "auth.test":
            return JSONResponse(
                {
                    "ok": True,
                    "team_id": CONSOLE_TEAM,
                    "user_id": CONSOLE_BOT_USER,
                    "bot_id": "B0OMSBOT",
                    "team": "console",
                    "user": "oms-bot",
                    "url": "https://console.invalid/",
                }
            )
        if method in ("chat.postMessage", "chat.postEphemeral", "chat.update"):
            kind = {"chat.postMessage": "posted", "chat.postEphemeral": "ephemeral"}.get(
                method, "updated"
            )
            ts = str(p.get("ts") or self._ts())
            if method == "chat.update" and (channel, ts) not in self.messages:
                return JSONResponse({"ok": False, "error": "message_not_found"})
            self._emit(
                ConsoleMessage(
                    kind,
                    channel,
                    ts,
                    str(p.get("text") or ""),
                    p.get("blocks") or [],
                    p.get("thread_ts"),
                )
            )
            key = "message_ts" if method == "chat.postEphemeral" else "ts"
            return JSONResponse({"ok": True, "channel": channel, key: ts})
        if method == "users.info":
            user = str(p.get("user"))
            return JSONResponse(
                {"ok": True, "user": {"id": user, "name": user.lower(), "tz": "UTC"}}
            )
        if method == "conversations.info":
            return JSONResponse({"ok": True, "channel": {"id": channel, "name": "console"}})
        if method == "usergroups.users.list":
            return JSONResponse({"ok": True, "users": []})
        if method == "files.getUploadURLExternal":
            return self._get_upload_url(p)
        if method == "files.completeUploadExternal":
            return self._complete_upload(p, channel)
        if method == "views.open":
            # The console asks the modal's inputs as questions once the click is done.
            given = p.get("view")
            view: dict[str, Any] = given if isinstance(given, dict) else {}
            view_id = f"V0CONSOLE{next(self._seq):06d}"
            self._emit(ConsoleMessage("view", channel, view_id, "", view={**view, "id": view_id}))
            return JSONResponse({"ok": True, "view": {"id": view_id}})
        if method == "views.update":
            # A form filled in once its choices are read (the rollback's stores) is asked
            # like a form just opened.
            view_id = str(p.get("view_id") or "")
            given = p.get("view")
            if isinstance(given, dict):
                self._emit(
                    ConsoleMessage("view", channel, view_id, "", view={**given, "id": view_id})
                )
            return JSONResponse({"ok": True, "view": {"id": view_id}})
        if method == "views.publish":
            # The Home tab, printed like a message whose buttons can be clicked.
            given = p.get("view")
            home: dict[str, Any] = given if isinstance(given, dict) else {}
            home = {**home, "id": "V0CONSOLEHOME"}
            self._emit(
                ConsoleMessage(
                    "home", CONSOLE_HOME, CONSOLE_HOME, "", home.get("blocks") or [], view=home
                )
            )
            return JSONResponse({"ok": True, "view": home})
        return JSONResponse({"ok": False, "error": "unknown_method"})

    async def _response(self, request: Request) -> Response:
        token = request.path_params["token"]
        p = json.loads(await request.body() or b"{}")
        with self._lock:
            original = self._originals.get(token)
        if p.get("delete_original") and original is not None:
            self._emit(ConsoleMessage("deleted", original[0], original[1], ""))
            return PlainTextResponse("ok")
        replace = bool(p.get("replace_original")) and original is not None
        channel, ts = original if replace and original is not None else (CONSOLE_CHANNEL, "")
        message = ConsoleMessage(
            "replaced" if replace else "response",
            channel,
            ts or self._ts(),
            str(p.get("text") or ""),
            p.get("blocks") or [],
            in_channel=p.get("response_type") == "in_channel",
        )
        with self._lock:
            if self._originals.get(token) is None:
                # A command's first reply is what a later replace_original replaces.
                self._originals[token] = (message.channel, message.ts)
        self._emit(message)
        return PlainTextResponse("ok")

    # ---- files: files_upload_v2's three steps ---------------------------------------------------

    def _get_upload_url(self, p: dict[str, Any]) -> Response:
        filename = str(p.get("filename") or "")
        if not filename or p.get("length") is None:
            return JSONResponse({"ok": False, "error": "invalid_arguments"})
        file_id = f"F0CONSOLE{next(self._seq):06d}"
        with self._lock:
            self._uploads[file_id] = (filename, None)
        return JSONResponse(
            {"ok": True, "file_id": file_id, "upload_url": f"{self.base_url}/upload/{file_id}"}
        )

    async def _upload(self, request: Request) -> Response:
        file_id = request.path_params["file_id"]
        data = await request.body()
        with self._lock:
            if file_id not in self._uploads:
                return PlainTextResponse("file not found", status_code=404)
            self._uploads[file_id] = (self._uploads[file_id][0], data)
        return PlainTextResponse(f"OK - {len(data)}")

    def _complete_upload(self, p: dict[str, Any], channel: str) -> Response:
        entries = p.get("files")
        if isinstance(entries, str):
            entries = json.loads(entries)
        shared = []
        for entry in entries or []:
            file_id = str(entry.get("id"))
            with self._lock:
                name, data = self._uploads.pop(file_id, ("", None))
            if data is None:
                return JSONResponse({"ok": False, "error": "file_not_found"})
            if self.files_dir is None:
                self.files_dir = Path(tempfile.mkdtemp(prefix="oms-bot-files-"))
            self.files_dir.mkdir(parents=True, exist_ok=True)
            path = self.files_dir / f"{file_id}-{_safe_name(name)}"
            path.write_bytes(data)
            title = str(entry.get("title") or name)
            self._emit(
                ConsoleMessage(
                    "file",
                    str(p.get("channel_id") or channel),
                    self._ts(),
                    str(p.get("initial_comment") or ""),
                    thread_ts=p.get("thread_ts"),
                    file=ConsoleFile(name, title, path, _lines_of(data)),
                )
            )
            shared.append({"id": file_id, "name": name, "title": title, "size": len(data)})
        return JSONResponse({"ok": True, "files": shared})
