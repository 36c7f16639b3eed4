"""The deploy of a new @champion through the front (front.py), for dags/deploy_new_model.py:

1. start the new version's model server beside the one serving, and
2. smoke-test it, in one call (POST /-/smoke; the front runs smoke.py in the TFX environment,
   in a spare Python whose imports are done where one waits): the rows saved with the version,
   sent to the new server, must be answered as the registered pyfunc answers them in process.
   The smoke test's in-process half (loading the pyfunc, predicting) runs while the server
   loads, then it waits for the server's /ping; a server that exits fails it at once;
3. switch the front to it (POST /-/switch); the old server drains, then stops.

On a failed smoke test the old version keeps serving, the new server is stopped, @champion goes
back to the version that served (core/promotion.make_champion, reason "deploy smoke test
failed"), people are told (`notify`), and DeployFailed is raised (the task fails).

Standard library and MLflow's client.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request

from core import names, promotion, registry
from serving import setting

log = logging.getLogger("retrain")
SMOKE_REASON = "deploy smoke test failed"


class DeployFailed(RuntimeError):
    """A version that was not deployed; the message is the one-line reason."""


class Control:
    """The front's control endpoints at `url` (the setting `serving_url`), with its token."""

    def __init__(self, url: str = "", token: str | None = None, timeout_s: float = 0):
        self.url = (url or setting("serving_url")).rstrip("/")
        self.token = setting("serving_token") if token is None else token
        self.timeout_s = timeout_s or float(setting("serving_start_timeout_s")) + 360

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}/-/{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as e:
            try:
                why = json.loads(e.read()).get("error", "")
            except ValueError:
                why = ""
            raise DeployFailed(f"the serving front refused {path}: HTTP {e.code} {why}") from None
        except (urllib.error.URLError, OSError) as e:
            raise DeployFailed(f"cannot reach the serving front at {self.url}: {e}") from None

    def status(self) -> dict:
        return self.call("GET", "status")

    def serving(self) -> dict | None:
        """{model, version, url, ...} of what serves now, or None."""
        return self.status()["serving"]

    def start(self, model: str, version: str, wait: bool = True) -> dict:
        """The started backend ({model, version, url, alive, ready}); with `wait`, once it
        answers /ping."""
        return self.call("POST", "start", {"model": model, "version": str(version), "wait": wait})

    def smoke(self, model: str, version: str, rows: int = 0) -> dict:
        """The front's smoke test of the version's backend (starting it if it is not), run
        while it loads: the verdict ({"ok", "why", "timing", ...})."""
        body = {"model": model, "version": str(version)}
        body["rows"] = rows or int(setting("serving_smoke_rows"))
        return self.call("POST", "smoke", body)

    def switch(self, version: str) -> dict:
        return self.call("POST", "switch", {"version": str(version)})

    def discard(self, version: str) -> dict:
        return self.call("POST", "discard", {"version": str(version)})


def restore_champion(client, model: str, version: str, previous: str | None) -> str:
    """@champion back to `previous` (else the version `version` replaced) if it is on
    `version`; what was done, in words."""
    current = registry.version_by_alias(client, model, names.CHAMPION)
    if current is None or str(current.version) != str(version):
        where = "none" if current is None else f"version {current.version}"
        return f"@champion left where it is ({where})"
    target = previous or current.tags.get(names.TAG_CHAMPION_FROM) or ""
    if not target:
        return "@champion left on it: there is no previous version to put back"
    promotion.make_champion(client, model, target, SMOKE_REASON, by="deploy")
    return f"@champion put back to version {target}"


def deploy(client, model: str, version, control: Control | None = None, notify=None) -> dict:
    """Deploys `model` `version` (see the module's docstring); {"deployed", "previous"}.
    `notify(message)`: told of a failed deploy."""
    control = control or Control()
    version = str(version)
    before = control.serving()
    previous = before["version"] if before and before["model"] == model else None
    if previous == version:
        log.info("DEPLOY %s version %s already serves", model, version)
        return {"deployed": version, "previous": previous}
    began = time.monotonic()
    try:
        verdict = control.smoke(model, version)
    except DeployFailed as e:
        verdict = {"ok": False, "why": str(e)}
    if verdict["ok"]:
        control.switch(version)
        log.info(
            "DEPLOYED %s version %s (smoke test: %s); it serves at %s/invocations, "
            "replacing version %s",
            *(model, version, verdict["why"], control.url, previous or "none"),
        )
        timing = {**verdict.get("timing", {}), "switched_s": round(time.monotonic() - began, 1)}
        log.info("DEPLOY TIMING %s version %s: %s", model, version, json.dumps(timing))
        return {"deployed": version, "previous": previous}
    control.discard(version)
    back = restore_champion(client, model, version, previous)
    serves = f"version {previous} still serves" if previous else "nothing serves"
    message = f"{model} version {version} failed its deploy smoke test ({verdict['why']}): "
    message += f"not deployed, {serves}, {back}"
    log.error("DEPLOY FAILED: %s", message)
    if notify is not None:
        notify(message)
    raise DeployFailed(message)


def champion_of(client, events: list[dict]) -> tuple[str, str] | None:
    """(model, version) to deploy for the triggering events, newest first (`at`, their
    timestamps), or None, logged. A version the pipeline registered (no `alias` key) is deployed
    only if it is @champion now: one registered as @challenger only is not. An alias moved in
    MLflow (`alias`: the registry webhook's event) deploys whatever @champion points at now."""
    for event in sorted(
        events, key=lambda e: (str(e.get("at") or ""), int(e.get("version") or 0)), reverse=True
    ):
        current = registry.version_by_alias(client, event["model"], names.CHAMPION)
        moved = "alias" in event
        if current is not None and (moved or str(current.version) == str(event["version"])):
            return event["model"], str(current.version)
        log.info(
            "NOT DEPLOYED: %s version %s is not @champion (@champion: %s)",
            *(event.get("model"), event.get("version"), current and current.version),
        )
    return None
