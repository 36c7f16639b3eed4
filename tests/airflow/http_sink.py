"""A real HTTP server on loopback that keeps every request it is sent and answers `ok` (as
Slack's incoming webhooks do), for the webhook notification tests."""

from __future__ import annotations

import http.server
import json
import threading


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw.decode(errors="replace")
        self.server.requests.append(
            {"path": self.path, "type": self.headers.get("Content-Type"), "body": body}
        )
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args) -> None:  # quiet
        pass


class HttpSink(http.server.ThreadingHTTPServer):
    """`with HttpSink() as sink:` serves on `sink.port`; `sink.requests` holds each POST's path,
    content type and JSON body. `sink.url(path)` is a URL on it."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict] = []
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def __exit__(self, *exc):
        self.shutdown()
        super().__exit__(*exc)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"
