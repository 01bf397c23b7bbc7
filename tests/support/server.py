"""Run a real Runyard server (uvicorn, real sockets) in a background thread for tests."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from runyard.server.app import create_app
from runyard.server.settings import ServerSettings
from runyard.server.state import ServerState, open_state


def free_port() -> int:
    """Return a TCP port that is free right now on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """A Runyard server on 127.0.0.1 with its own data dir and database."""

    def __init__(
        self,
        data_dir: Path,
        database_url: str | None = None,
        *,
        tls: tuple[Path, Path] | None = None,
        bind: str = "127.0.0.1",
        **overrides: object,
    ) -> None:
        """`tls`: (certificate chain, private key) PEM files to serve https with; `bind`: the
        address to listen on (0.0.0.0: containers reach it through the bridge's gateway)."""
        self.port = free_port()
        self.settings = ServerSettings(
            host="127.0.0.1",
            port=self.port,
            data_dir=data_dir,
            database_url=database_url,
            **overrides,  # type: ignore[arg-type]
        )
        self.state: ServerState = open_state(self.settings)
        assert self.state.new_admin_key, "a fresh database must bootstrap an admin key"
        self.admin_key: str = self.state.new_admin_key
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(self.state),
            host=bind,
            port=self.port,
            log_level="warning",
            proxy_headers=False,  # as `runyard server`: the app decides whom to believe
            timeout_graceful_shutdown=2,
            ssl_certfile=str(tls[0]) if tls else None,
            ssl_keyfile=str(tls[1]) if tls else None,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self) -> LiveServer:
        """Start serving and wait until the port answers."""
        self._thread.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self._server.started:
                return self
            time.sleep(0.02)
        raise RuntimeError("runyard test server did not start within 20 s")

    def stop(self) -> None:
        """Stop serving and release the database."""
        self._server.should_exit = True
        self._thread.join(timeout=20)

    def api(self, key: str | None = None) -> httpx.Client:
        """An HTTP client for the native API, authenticated with `key` (default: admin)."""
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {key or self.admin_key}"},
            timeout=30,
        )
