"""A small client of the stack's two authenticated APIs (standard library only): Airflow's REST
API with a JWT from the FAB auth manager, and MLflow's REST API with basic auth. Used by the
tests and bench/production; handy from a shell too."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request

from core import waiting

DONE = {"success", "failed"}


def request(url: str, method: str = "GET", body=None, headers=None) -> tuple[int, object]:
    """(HTTP status, parsed JSON body or text)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, raw = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read().decode(errors="replace")
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw


class Airflow:
    """Airflow's REST API as one user."""

    def __init__(self, base: str, username: str, password: str):
        self.base = base
        status, body = request(
            f"{base}/auth/token", "POST", {"username": username, "password": password}
        )
        if status not in (200, 201):
            raise PermissionError(f"no token for {username!r}: HTTP {status} {body}")
        self.headers = {"Authorization": f"Bearer {body['access_token']}"}

    def call(self, method: str, path: str, body=None) -> tuple[int, object]:
        return request(f"{self.base}/api/v2{path}", method, body, self.headers)

    def create_user(self, username: str, password: str, role: str) -> None:
        """A user of the FAB auth manager with one role (Admin, Op, User, Viewer), through its
        own API (as an admin): no CLI start-up per user."""
        body = {
            "username": username,
            "password": password,
            "first_name": username,
            "last_name": role,
            "email": f"{username}@localhost",
            "roles": [{"name": role}],
        }
        status, out = request(f"{self.base}/auth/fab/v1/users", "POST", body, self.headers)
        if status != 200:
            raise RuntimeError(f"could not create user {username!r}: HTTP {status} {out}")

    def trigger(self, dag_id: str, conf: dict) -> tuple[int, object]:
        return self.call("POST", f"/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf})

    def unpause(self, dag_id: str, wait_s: float = 300) -> tuple[int, object]:
        """Unpauses the DAG. A stack that has just started may not have parsed its DAGs yet (the
        API answers 404 until the dag-processor has): waits up to `wait_s` for it to appear."""
        answer: list = []

        def parsed() -> bool:
            answer[:] = self.call("PATCH", f"/dags/{dag_id}", {"is_paused": False})
            return answer[0] != 404

        waiting.wait_until(parsed, wait_s, every_s=3, quiet=True)
        return answer[0], answer[1]

    def run(self, dag_id: str, run_id: str) -> dict:
        status, body = self.call("GET", f"/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id)}")
        assert status == 200, body
        return body

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        path = f"/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id)}/taskInstances?limit=200"
        status, body = self.call("GET", path)
        assert status == 200, body
        return body["task_instances"]

    def tries(self, dag_id: str, run_id: str, task_id: str) -> list[dict]:
        """Every try of one task, earliest first (the current one last)."""
        path = f"/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id)}/taskInstances/{task_id}/tries"
        status, body = self.call("GET", path)
        assert status == 200, body
        return sorted(body["task_instances"], key=lambda t: t["try_number"])

    def wait(self, dag_id: str, run_id: str, timeout_s: float, on_poll=None) -> str:
        """Polls until the run ends (its state) or `timeout_s` passes ('timeout')."""

        def ended() -> str:
            try:
                state = self.run(dag_id, run_id)["state"]
            except (OSError, AssertionError):  # the API restarting, or its DB
                state = ""
            if state not in DONE and on_poll:
                on_poll()
            return state if state in DONE else ""

        return waiting.wait_until(ended, timeout_s, every_s=3, quiet=True) or "timeout"


class MLflow:
    """MLflow's REST API, as `username` (None: unauthenticated)."""

    def __init__(self, base: str, username: str | None = None, password: str = ""):
        self.base = base
        self.headers = {}
        if username:
            token = base64.b64encode(f"{username}:{password}".encode()).decode()
            self.headers["Authorization"] = f"Basic {token}"

    def call(self, method: str, path: str, body=None) -> tuple[int, object]:
        return request(f"{self.base}/api/2.0/mlflow{path}", method, body, self.headers)

    def versions(self, model: str) -> list[dict]:
        query = urllib.parse.urlencode({"filter": f"name = '{model}'", "max_results": 1000})
        status, body = self.call("GET", f"/model-versions/search?{query}")
        assert status == 200, body
        return body.get("model_versions", [])
