"""A loopback HTTP server that answers like the Hugging Face Hub (for `HF_ENDPOINT`) and like a plain file host.

Hub routes: HEAD/GET /{org}/{repo}/resolve/{revision}/{filename} with the headers huggingface_hub reads
(X-Repo-Commit, ETag, Content-Length). Plain routes: GET /files/{name}. `truncate_first` names files whose first
GET sends only half of the declared bytes and closes (an interrupted transfer). Only 127.0.0.1 is used.
"""
from __future__ import annotations

import hashlib
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class HubState:
    files: dict[tuple[str, str], bytes]
    plain: dict[str, bytes] = field(default_factory=dict)
    truncate_first: set[str] = field(default_factory=set)
    gets: dict[str, int] = field(default_factory=dict)
    url: str = ""


def _handler(state: HubState):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output clean
            pass

        def _lookup(self) -> tuple[str, bytes] | None:
            path = self.path.split("?")[0]
            if path.startswith("/files/"):
                name = path[len("/files/"):]
                return (name, state.plain[name]) if name in state.plain else None
            parts = path.strip("/").split("/")
            if len(parts) >= 5 and parts[2] == "resolve":
                repo, filename = "/".join(parts[:2]), "/".join(parts[4:])
                if (repo, filename) in state.files:
                    return filename, state.files[(repo, filename)]
            return None

        def _headers(self, body: bytes) -> None:
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", f'"{hashlib.sha256(body).hexdigest()}"')
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("Content-Type", "application/octet-stream")

        def do_HEAD(self):
            hit = self._lookup()
            if hit is None:
                self.send_response(404)
                self.send_header("X-Error-Code", "EntryNotFound")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self._headers(hit[1])
            self.end_headers()

        def do_GET(self):
            hit = self._lookup()
            if hit is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            name, body = hit
            state.gets[name] = state.gets.get(name, 0) + 1
            self.send_response(200)
            self._headers(body)
            self.end_headers()
            if name in state.truncate_first and state.gets[name] == 1:
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

    return Handler


@contextmanager
def serve_hub(files: dict[tuple[str, str], bytes], plain: dict[str, bytes] | None = None,
              truncate_first: set[str] | None = None) -> Iterator[HubState]:
    """Serve `files` ({(repo_id, filename): bytes}) on 127.0.0.1; yields the state (its `.url` is the endpoint)."""
    state = HubState(files=files, plain=plain or {}, truncate_first=truncate_first or set())
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
