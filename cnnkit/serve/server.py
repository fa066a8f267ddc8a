"""Running the explorer with uvicorn: in the foreground (``cnnkit serve``) or in a background
thread (:func:`background`, for tests, the load benchmark and the screenshot script)."""
from __future__ import annotations

import contextlib
import errno
import socket
import threading
import time
from typing import Callable, Iterator

from .._optional import require

__all__ = ["run", "background", "url_of"]

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def _server(app, host: str, port: int, log_level: str):
    uvicorn = require("uvicorn", extra="serve", purpose="serving the explorer")
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False, lifespan="off",
                            timeout_graceful_shutdown=2)
    return uvicorn.Server(config)


def _bind(host: str, port: int) -> socket.socket:
    """A listening-ready socket on ``host:port`` (port 0: a free one); ``OSError`` in one line when
    the address is taken or not this machine's."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise OSError(f"port {port} on {host} is in use (another cnnkit serve?): choose one with --port, "
                          f"or --port 0 for a free one") from None
        raise OSError(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def url_of(server, host: str) -> str:
    """``http://HOST:PORT/`` of a started uvicorn server (the port it really bound)."""
    port = server.servers[0].sockets[0].getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def run(app, host: str = "127.0.0.1", port: int = 8000, on_ready: Callable[[str], None] | None = None,
        log_level: str = "warning") -> None:
    """Serve ``app`` until Ctrl-C; ``on_ready(url)`` is called once the socket is bound."""
    server = _server(app, host, port, log_level)

    def announce():
        while not server.started and not server.should_exit:
            time.sleep(0.05)
        if server.started and on_ready is not None:
            on_ready(url_of(server, host))

    sock = _bind(host, port)
    threading.Thread(target=announce, daemon=True).start()
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


@contextlib.contextmanager
def background(app, host: str = "127.0.0.1", port: int = 0, timeout: float = 20.0) -> Iterator[str]:
    """Serve ``app`` in a daemon thread on ``host`` (a free port by default); yields the URL and
    stops the server (and waits for its thread) on exit."""
    server = _server(app, host, port, "warning")
    server.install_signal_handlers = lambda: None  # not the main thread (older uvicorn)
    sock = _bind(host, port)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="cnnkit-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError(f"the explorer did not start on {host}:{port} within {timeout:g} s")
        time.sleep(0.02)
    try:
        yield url_of(server, host)
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()
