"""Helpers for the fault suite: a TCP proxy that can take a database away, audit queries.

The proxy sits between a bot and the test PostgreSQL server. `stop()` closes the listening
socket and every open connection, so the bot sees exactly what it would see if the database
host went down: live connections break and new ones are refused. `start()` brings it back on
the same port.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Iterator

from sqlalchemy.engine import make_url

from bot.store import Store
from bot.store.audit import AuditEvent, search


class TcpProxy:
    """Forwards 127.0.0.1:<port> to (host, port) until stopped; can be restarted."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port: int = probe.getsockname()[1]
        probe.close()

    def start(self) -> TcpProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def stop(self) -> None:
        """Refuse new connections and cut every open one, both ways."""
        with self._lock:
            listener, self._listener = self._listener, None
            conns, self._conns = self._conns, set()
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # stopped
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:  # stopped while connecting
                    client.close()
                    server.close()
                    return
                self._conns.update((client, server))
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


def through_proxy(url: str) -> tuple[str, TcpProxy]:
    """A started proxy in front of the database of `url`, and the URL that goes through it."""
    parsed = make_url(url)
    proxy = TcpProxy(parsed.host or "127.0.0.1", parsed.port or 5432).start()
    proxied = parsed.set(host="127.0.0.1", port=proxy.port)
    return proxied.render_as_string(hide_password=False), proxy


def audit_events(store: Store, **filters: object) -> list[AuditEvent]:
    """The audit trail as `/oms history` reads it (bot/store/audit.py search), oldest first."""
    found = search(store, limit=500, **filters)  # type: ignore[arg-type]
    return list(reversed(found))


class LogCapture(logging.Handler):
    """Keeps every log record of the process (the bot runs in this process, on a thread)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def errors(self) -> list[logging.LogRecord]:
        """Records at ERROR or worse, or carrying a traceback: unhandled failures."""
        return [r for r in self.records if r.levelno >= logging.ERROR or r.exc_info]

    def messages(self) -> list[str]:
        return [r.getMessage() for r in self.records]


@contextlib.contextmanager
def captured_logs() -> Iterator[LogCapture]:
    """Capture every record logged while the block runs (any logger, any thread)."""
    capture = LogCapture()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(capture)
    root.setLevel(min(old_level or logging.WARNING, logging.INFO))
    try:
        yield capture
    finally:
        root.removeHandler(capture)
        root.setLevel(old_level)
