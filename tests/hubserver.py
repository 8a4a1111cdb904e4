"""A loopback HTTP server that answers like the Hugging Face Hub (for `HF_ENDPOINT`) and like a plain file host.

Download routes: HEAD/GET /{org}/{repo}/resolve/{revision}/{filename} with the headers huggingface_hub reads
(X-Repo-Commit, ETag, Content-Length); plain HEAD/GET /files/{name}. Both honour `Range: bytes=N-` (206 with
Content-Range). `truncate_first` names files whose first GET declares the full length, sends only half of the
bytes and closes the connection (an interrupted transfer). Every GET is counted per file and its Range header
(or None) recorded in `ranges`.

Upload routes, the ones huggingface_hub's `create_repo` / `upload_folder` (`create_commit`) call:
POST /api/repos/create, POST /api/validate-yaml (the README's front matter must parse),
POST /api/models/{org}/{repo}/preupload/{revision} (every file is answered
`uploadMode: regular`, so contents travel base64-encoded inside the commit), and
POST /api/models/{org}/{repo}/commit/{revision} (NDJSON: a header line, then one `file` line per file).
Committed files become downloadable at once. Only 127.0.0.1 is used.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

COMMIT = "0123456789abcdef0123456789abcdef01234567"
_RANGE = re.compile(r"bytes=(\d+)-$")
_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}")


@dataclass
class HubState:
    files: dict[tuple[str, str], bytes]
    plain: dict[str, bytes] = field(default_factory=dict)
    truncate_first: set[str] = field(default_factory=set)
    gets: dict[str, int] = field(default_factory=dict)
    ranges: dict[str, list[str | None]] = field(default_factory=dict)
    repos: set[str] = field(default_factory=set)
    commits: list[dict] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(state: HubState):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

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

        def _send(self, code: int, body: bytes = b"", ctype: str = "application/json", **headers: str) -> None:
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Content-Type", ctype)
            for k, v in headers.items():
                self.send_header(k.replace("_", "-"), v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _file_headers(self, body: bytes, start: int, length: int) -> None:
            self.send_header("Content-Length", str(length))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("ETag", f'"{hashlib.sha256(body).hexdigest()}"')
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("Content-Type", "application/octet-stream")
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")

        def do_HEAD(self):
            hit = self._lookup()
            if hit is None:
                self._send(404, X_Error_Code="EntryNotFound")
                return
            self.send_response(200)
            self._file_headers(hit[1], 0, len(hit[1]))
            self.end_headers()

        def do_GET(self):
            hit = self._lookup()
            if hit is None:
                self._send(404, X_Error_Code="EntryNotFound")
                return
            name, body = hit
            asked = self.headers.get("Range")
            with state.lock:
                state.gets[name] = state.gets.get(name, 0) + 1
                state.ranges.setdefault(name, []).append(asked)
                first = state.gets[name] == 1
            m = _RANGE.match(asked or "")
            start = int(m.group(1)) if m else 0
            if start >= len(body) and body:
                self._send(416)
                return
            self.send_response(206 if start else 200)
            self._file_headers(body, start, len(body) - start)
            self.end_headers()
            if name in state.truncate_first and first:
                self.wfile.write(body[start: start + (len(body) - start) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body[start:])

        # --- uploads ----------------------------------------------------------------------------------------
        def _json_body(self) -> bytes | None:
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit() or int(length) > 64 << 20:
                self._send(411 if length is None else 413)
                return None
            return self.rfile.read(int(length))

        def do_POST(self):
            path = self.path.split("?")[0]
            raw = self._json_body()
            if raw is None:
                return
            if path == "/api/repos/create":
                try:
                    payload = json.loads(raw)
                    repo = f"{payload['organization']}/{payload['name']}"
                except (ValueError, KeyError, TypeError):
                    self._send(400, b'{"error": "bad create payload"}')
                    return
                if not _REPO_ID.fullmatch(repo):
                    self._send(400, b'{"error": "bad repo id"}')
                    return
                state.repos.add(repo)
                self._send(200, json.dumps({"url": f"{state.url}/{repo}", "name": repo}).encode())
                return
            if path == "/api/validate-yaml":  # upload_folder checks a README's front matter here first
                self._send(*_validate_card(raw))
                return
            m = re.fullmatch(r"/api/models/([^/]+/[^/]+)/(preupload|commit)/([^/]+)", path)
            if not m or m.group(1) not in state.repos:
                self._send(404, b'{"error": "Repository not found"}', X_Error_Code="RepoNotFound")
                return
            repo, action = m.group(1), m.group(2)
            if action == "preupload":
                try:
                    files = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": None}
                             for f in json.loads(raw)["files"]]
                except (ValueError, KeyError, TypeError):
                    self._send(400, b'{"error": "bad preupload payload"}')
                    return
                self._send(200, json.dumps({"files": files, "commitOid": COMMIT}).encode())
                return
            added: dict[str, bytes] = {}
            try:
                lines = [json.loads(line) for line in raw.splitlines() if line.strip()]
                if not lines or lines[0].get("key") != "header":
                    raise ValueError("no header")
                for item in lines[1:]:
                    if item["key"] != "file" or item["value"].get("encoding") != "base64":
                        raise ValueError(f"unsupported operation {item['key']}")
                    name = item["value"]["path"]
                    if name.startswith("/") or ".." in name.split("/"):
                        raise ValueError("bad path")
                    added[name] = base64.b64decode(item["value"]["content"], validate=True)
            except (ValueError, KeyError, TypeError, AttributeError) as e:
                self._send(400, json.dumps({"error": f"bad commit: {e}"}).encode())
                return
            with state.lock:
                for name, body in added.items():
                    state.files[(repo, name)] = body
                state.commits.append({"repo": repo, "summary": lines[0]["value"].get("summary"),
                                      "files": sorted(added)})
            self._send(200, json.dumps({"commitUrl": f"{state.url}/{repo}/commit/{COMMIT}",
                                        "commitOid": COMMIT}).encode())

    return Handler


def _validate_card(raw: bytes) -> tuple[int, bytes]:
    """(status, body) for POST /api/validate-yaml: the README's front matter must parse to a mapping."""
    import yaml

    try:
        content = json.loads(raw)["content"]
        parts = content.split("---\n")
        meta = yaml.safe_load(parts[1]) if content.startswith("---\n") and len(parts) >= 3 else None
        if not isinstance(meta, dict):
            raise ValueError("no YAML front matter")
    except (ValueError, KeyError, TypeError, yaml.YAMLError) as e:
        return 400, json.dumps({"errors": [{"message": str(e)}], "warnings": []}).encode()
    return 200, json.dumps({"errors": [], "warnings": []}).encode()


@contextmanager
def serve_hub(files: dict[tuple[str, str], bytes] | None = None, plain: dict[str, bytes] | None = None,
              truncate_first: set[str] | None = None) -> Iterator[HubState]:
    """Serve `files` ({(repo_id, filename): bytes}) on 127.0.0.1; yields the state (its `.url` is the endpoint)."""
    state = HubState(files=dict(files or {}), plain=plain or {}, truncate_first=truncate_first or set())
    state.repos.update(repo for repo, _ in state.files)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
