"""The front: a stable address for the served @champion, whose backend switches atomically.

Clients POST raw rows to /invocations (and GET /ping, /version); the front forwards each request
to the current backend (backend.py: MLflow's scoring server of one version) over a kept-alive
connection and answers with the backend's answer. A switch replaces the current backend under a
lock; a request takes its backend, and counts itself in it, under the same lock, so a request
forwarded before the switch finishes on the old backend, and the old backend is stopped only
once none is left (or the drain grace, the setting `serving_drain_s`, passed).

The control endpoints, under /-/, are the deploy's (deploy.py), with the bearer token
$RETRAIN_SERVING_TOKEN (without one, from loopback clients only):

- POST /-/start {"model", "version"[, "wait": false]}: a backend for that version beside the
  current one (the one started already, if it is alive), once it answers /ping; with "wait":
  false, at once (the deploy smoke-tests it while it loads, then starts it again to wait); its
  URL (to smoke-test it);
- POST /-/smoke {"model", "version", "rows"}: the deploy's smoke test (smoke.py) of that
  version's backend (started now if it is not), run while it loads; the verdict;
- POST /-/switch {"version"}: traffic to that started backend, if it answers /ping; the old one
  drains, then stops;
- POST /-/discard {"version"}: stops a started backend that will not serve;
- GET /-/status: what serves, what is started, the requests in flight;
- GET /-/health (no token): the front answers, and the version it serves.

Standard library only (MLflow's client to find @champion when the front starts).
"""

from __future__ import annotations

import contextlib
import hmac
import http.client
import http.server
import json
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

from serving.backend import Backend, BackendError, Spares, fetch

log = logging.getLogger("serving")
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "server", "date"}
RETRYABLE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


class Front:
    """The backends and which one serves. `token`: the control endpoints' bearer token ('':
    loopback only); `drain_s`: the old backend's grace after a switch; `start_timeout_s`: how
    long a new backend may take to answer /ping; `spares`: how many warm Pythons wait for the
    next model server and smoke test (backend.Spares); its logs and state file go under
    `state_dir`."""

    def __init__(
        self, state_dir: Path, token: str, drain_s: float, start_timeout_s: float, spares: int = 0
    ):
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.token, self.drain_s, self.start_timeout_s = token, drain_s, start_timeout_s
        self.spares = Spares(spares, self.state_dir / "logs")
        self.spares.fill_later()
        self.current: Backend | None = None
        self.started: dict[str, Backend] = {}
        self.lock = threading.Lock()
        self.starting = threading.Lock()  # one start at a time: the same version never twice
        self.local = threading.local()  # per-thread kept-alive connections: {port: connection}

    # ---- serving ----------------------------------------------------------------------------

    def take(self) -> Backend | None:
        """The current backend, counted in (leave it with `backend.leave()`)."""
        with self.lock:
            backend = self.current
            if backend is not None:
                backend.enter()
            return backend

    def forward(self, backend: Backend, method: str, path: str, body: bytes, headers: dict):
        """(status, headers, body) of the backend's answer; one retry on a kept-alive connection
        the backend had closed."""
        pool = self.local.__dict__.setdefault("pool", {})
        for attempt in (1, 2):
            conn = pool.get(backend.port)
            fresh = conn is None
            if fresh:
                conn = pool[backend.port] = http.client.HTTPConnection("127.0.0.1", backend.port)
            try:
                conn.request(method, path, body=body, headers=headers)
                answer = conn.getresponse()
                data = answer.read()
                return answer.status, answer.getheaders(), data
            except RETRYABLE:
                conn.close()
                pool.pop(backend.port, None)
                if fresh or attempt == 2:
                    raise
            except OSError:
                conn.close()
                pool.pop(backend.port, None)
                raise
        raise AssertionError("unreachable")

    # ---- control ---------------------------------------------------------------------------

    def start(self, model: str, version: str, wait: bool = True) -> Backend:
        """The backend of `model` `version` beside the current one: the one serving or started
        already if it is alive, else a new one. With `wait`, once it answers /ping (a
        BackendError, and it is stopped, if it exits or does not in `start_timeout_s`)."""
        with self.starting:  # one start at a time: the same version never twice
            backend = self._start(model, str(version))
        if wait and not backend.ready:
            try:
                backend.wait_ready(self.start_timeout_s)
            except BackendError:
                with self.lock:
                    if self.started.get(backend.version) is backend:
                        del self.started[backend.version]
                backend.stop()
                raise
            took = time.monotonic() - backend.started_at
            log.info(
                "SERVING ready %s version %s at %s, %.1f s after its start",
                *(model, backend.version, backend.url, took),
            )
        return backend

    def _start(self, model: str, version: str) -> Backend:
        with self.lock:
            if self.current is not None and self.current.version == version:
                if self.current.model == model:
                    return self.current
            known = self.started.get(version)
        if known is not None and known.model == model and known.alive:
            return known
        local = fetch(model, version, self.state_dir / "models")
        backend = Backend(model, version, self.state_dir / "logs", uri=str(local))
        backend.start(self.spares)
        with self.lock:
            old = self.started.pop(version, None)
            self.started[version] = backend
        if old is not None:
            old.stop()
        log.info("SERVING starting %s version %s at %s", model, version, backend.url)
        return backend

    def smoke(self, model: str, version: str, rows: int) -> dict:
        """smoke.py's verdict on the version's backend (started now if it is not): the smoke
        test runs in a spare (or fresh) Python of the TFX environment, its in-process half
        while the backend loads, then it waits for the backend's /ping; meanwhile this waits
        for the backend too, so one that exits fails the smoke test at once. With `timing`:
        the seconds to the backend's /ping and to the verdict."""
        began = time.monotonic()
        backend = self.start(model, version, wait=False)
        log = self.state_dir / "logs" / f"smoke-{model}-{version}-{time.time_ns()}.log"
        argv = ["--model-uri", backend.uri, "--url", backend.url]
        argv += ["--rows", str(rows), "--wait-s", str(self.start_timeout_s)]
        proc = self.spares.run("serving.smoke", argv, log)
        try:
            self.start(model, version)  # returns once it answers /ping
            ready = time.monotonic()
            proc.wait(self.start_timeout_s + 300)
        except (BackendError, subprocess.TimeoutExpired) as e:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return {"ok": False, "why": str(e) or "the smoke test did not end"}
        lines = log.read_text(errors="replace").splitlines()
        verdicts = [ln for ln in lines if ln.startswith('{"ok"')]
        if proc.returncode != 0 or not verdicts:
            tail = ([ln for ln in lines if ln.strip()] or ["no output"])[-1][:300]
            why = f"the smoke test did not run (exit {proc.returncode}): {tail}"
            return {"ok": False, "why": f"{why}; its log: {log}"}
        log.unlink()
        timing = {"ready_s": round(ready - began, 1), "smoke_s": round(time.monotonic() - began, 1)}
        return {**json.loads(verdicts[-1]), "timing": timing}

    def switch(self, version: str) -> Backend | None:
        """Traffic to the started backend of `version`; the old one is stopped once drained (in
        a thread). Returns the old one."""
        version = str(version)
        with self.lock:
            candidate = self.started.get(version)
        if candidate is not None and not candidate.ready:
            if not candidate.pings():
                raise BackendError(f"version {version} does not answer /ping yet: not switched")
            candidate.ready = True
        with self.lock:
            if self.current is not None and self.current.version == version:
                return None  # already serving (the front's start-up and a deploy raced)
            new = self.started.pop(version, None)
            if new is None:
                raise KeyError(f"version {version} is not started: POST /-/start first")
            old, self.current = self.current, new
        self.save()
        log.info("SERVING switched to %s version %s", new.model, version)
        retired = old if old is not None and old is not new else None
        threading.Thread(target=self.retire, args=(retired,), daemon=True).start()
        return old

    def retire(self, backend: Backend | None) -> None:
        """Stops `backend` once drained, then starts the spares the deploy used."""
        if backend is not None:
            left = backend.drain(self.drain_s)
            if left:
                log.warning("SERVING stopping version %s with %d requests in flight", backend, left)
            backend.stop()
            self.forget(backend)
            log.info("SERVING stopped version %s (drained)", backend.version)
        self.spares.fill()

    def forget(self, backend: Backend) -> None:
        """Removes the stopped backend's downloaded artifacts, unless another backend of the
        version is there."""
        with self.lock:
            others = [b for b in (self.current, *self.started.values()) if b is not None]
        if not any(b.version == backend.version and b.model == backend.model for b in others):
            shutil.rmtree(self.state_dir / "models" / backend.model / backend.version, True)

    def discard(self, version: str) -> bool:
        with self.lock:
            backend = self.started.pop(str(version), None)
        if backend is not None:
            backend.stop()
            self.forget(backend)
        self.spares.fill_later()
        return backend is not None

    def status(self) -> dict:
        with self.lock:
            current = self.current
            started = list(self.started.values())
        serving = None
        if current is not None:
            serving = dict(current.describe(), in_flight=current.in_flight)
        return {"serving": serving, "started": [b.describe() for b in started]}

    def save(self) -> None:
        with self.lock:
            current = self.current
        if current is not None:
            state = {"model": current.model, "version": current.version}
            (self.state_dir / "state.json").write_text(json.dumps(state))

    def saved_model(self) -> str:
        """The model of the last switch, from the state file ('' if none)."""
        path = self.state_dir / "state.json"
        return json.loads(path.read_text()).get("model", "") if path.exists() else ""

    def stop(self) -> None:
        with self.lock:
            backends = [b for b in (self.current, *self.started.values()) if b is not None]
            self.current, self.started = None, {}
        for backend in backends:
            backend.stop()
        self.spares.stop()

    def authorized(self, handler: http.server.BaseHTTPRequestHandler) -> bool:
        if not self.token:
            return handler.client_address[0] in ("127.0.0.1", "::1")
        given = handler.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode())


class Handler(http.server.BaseHTTPRequestHandler):
    """The front's HTTP handler: the proxy and the control endpoints."""

    protocol_version = "HTTP/1.1"
    server_version = "retrain-serving"
    front: Front  # set on the class made by `make_server`

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        log.debug("%s " + format, self.client_address[0], *args)

    def reply(self, status: int, body, headers=()) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        sent = {k.lower() for k, _ in headers}
        for key, value in headers:
            if key.lower() not in HOP_HEADERS:
                self.send_header(key, value)
        if "content-type" not in sent:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self):  # noqa: N802 (http.server's name)
        if self.path.startswith("/-/"):
            return self.control("GET", b"")
        if self.path in ("/version", "/-/version"):
            status = self.front.status()["serving"]
            return self.reply(200 if status else 503, status or {"error": "nothing serves yet"})
        return self.proxy("GET", b"")

    def do_POST(self):  # noqa: N802
        body = self.body()
        if self.path.startswith("/-/"):
            return self.control("POST", body)
        return self.proxy("POST", body)

    def proxy(self, method: str, body: bytes) -> None:
        backend = self.front.take()
        if backend is None:
            return self.reply(503, {"error": "no model is deployed yet"})
        try:
            headers = {"Content-Type": self.headers.get("Content-Type", "application/json")}
            status, answer_headers, data = self.front.forward(
                backend, method, self.path, body, headers
            )
        except OSError as e:
            log.error("SERVING version %s did not answer: %s", backend.version, e)
            return self.reply(502, {"error": f"the model server did not answer: {e}"})
        finally:
            backend.leave()
        headers = [*answer_headers, ("X-Model-Version", backend.version)]
        self.reply(status, data, headers)

    def control(self, method: str, body: bytes) -> None:
        if (method, self.path) == ("GET", "/-/health"):  # the front itself, for supervisors
            serving = self.front.status()["serving"]
            return self.reply(200, {"front": "up", "version": serving and serving["version"]})
        if not self.front.authorized(self):
            return self.reply(403, {"error": "the control endpoints need the serving token"})
        try:
            request = json.loads(body or b"{}")
            if (method, self.path) == ("GET", "/-/status"):
                return self.reply(200, self.front.status())
            if (method, self.path) == ("POST", "/-/start"):
                wait = bool(request.get("wait", True))
                backend = self.front.start(request["model"], request["version"], wait)
                return self.reply(200, backend.describe())
            if (method, self.path) == ("POST", "/-/smoke"):
                rows = int(request["rows"])
                return self.reply(200, self.front.smoke(request["model"], request["version"], rows))
            if (method, self.path) == ("POST", "/-/switch"):
                old = self.front.switch(request["version"])
                return self.reply(200, {"previous": old.version if old else None})
            if (method, self.path) == ("POST", "/-/discard"):
                return self.reply(200, {"discarded": self.front.discard(request["version"])})
        except BackendError as e:
            return self.reply(502, {"error": str(e)})
        except (KeyError, ValueError) as e:
            return self.reply(400, {"error": f"bad control request: {e}"})
        return self.reply(404, {"error": f"no control endpoint {method} {self.path}"})


def make_server(front: Front, host: str, port: int) -> http.server.ThreadingHTTPServer:
    handler = type("FrontHandler", (Handler,), {"front": front})
    server = http.server.ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server
