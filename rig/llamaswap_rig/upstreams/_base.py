"""What every stdlib test upstream shares: handler basics and serving until SIGTERM.

The test upstreams run as scripts that llama-swap starts (``python <path> --port N``); they
put the repo's ``rig/`` folder on ``sys.path`` to import this module.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class UpstreamServer(ThreadingHTTPServer):
    """A threading server that keeps up with llama-swap's bursts of connections.

    socketserver listens with a backlog of 5: when llama-swap opens dozens of connections at
    once (load tests) the overflow is reset and llama-swap answers 502. Go's cmd/fake-model
    listens with the system's somaxconn; so does this.
    """

    daemon_threads = True
    request_queue_size = socket.SOMAXCONN


class UpstreamHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive, no Nagle delay, logs tagged with the upstream's name."""

    # The head and body go out as separate writes: with Nagle on, the second waits for the
    # client's delayed ACK (~40 ms per request).
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"
    tag = "upstream"

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"[{self.tag}] {self.address_string()} {format % args}\n")

    def _discard_body(self) -> None:
        """Read an unwanted request body, so the next request on this connection parses."""
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)

    def _send_json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def serve(server: ThreadingHTTPServer, *, tag: str, name: str, poll_interval: float = 0.2) -> int:
    """Serve until SIGTERM, SIGINT or SIGHUP, then close without waiting on open streams."""

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(0)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)
    host, port = server.server_address[:2]
    sys.stderr.write(f"[{tag}] {name} listening on {host!s}:{port} pid {os.getpid()}\n")
    sys.stderr.flush()
    try:
        server.serve_forever(poll_interval=poll_interval)
    except SystemExit:
        pass
    finally:
        threading.Thread(target=server.server_close, daemon=True).start()
    return 0
