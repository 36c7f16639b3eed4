"""The registry leads, serving follows: MLflow's registry webhook, checked and read.

MLflow (3.3+) POSTs a JSON delivery to a registered webhook on each registry event; with a
secret it signs it as the Standard Webhooks convention does (mlflow/webhooks/delivery.py):

- `X-MLflow-Delivery-Id`: a fresh UUID per delivery; `X-MLflow-Timestamp`: Unix seconds;
- `X-MLflow-Signature`: `v1,` + base64 of HMAC-SHA256(secret, "ID.TIMESTAMP.BODY"), BODY the
  request's bytes as sent.

`verify` checks all three and refuses a delivery older (or newer) than `TOLERANCE_S`, so a
captured one cannot be replayed later. `champion_moved` reads a verified delivery: the
registered model and version @champion now points at, or None for any other event.

The receiver is plugins/registry_webhook.py (on Airflow's api-server); the stack registers the
webhook on MLflow (stack/mlflow_server.py). Standard library only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

from core import names

SIGNATURE_HEADER = "X-MLflow-Signature"
TIMESTAMP_HEADER = "X-MLflow-Timestamp"
DELIVERY_HEADER = "X-MLflow-Delivery-Id"
TOLERANCE_S = 300  # Standard Webhooks' window
# What the stack registers on MLflow, and the receiver's path on Airflow's api-server.
WEBHOOK_NAME = "retrain-deploy"
EVENT = "model_version_alias.created"  # MLflow sends it on every set alias (a move too)
URL_PREFIX = "/registry-webhook"
PATH = "/mlflow"
# The Asset event the receiver records; dags/deploy_new_model.py is scheduled on it.
ASSET_NAME = "registry_champion_moved"
ASSET_URI = "mlflow-alias://champion"


class Refused(ValueError):
    """A delivery that is not MLflow's with our secret; the message says why (no secret in it)."""


def sign(secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    """The `X-MLflow-Signature` MLflow sends for this delivery."""
    content = f"{delivery_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(secret: str, headers, body: bytes, now: float | None = None) -> None:
    """Raises Refused unless `body` was signed with `secret` within TOLERANCE_S of `now`.
    `headers`: any mapping with case-insensitive `get` (or exact header names)."""
    if not secret:
        raise Refused("no webhook secret is configured: every delivery is refused")
    delivery = headers.get(DELIVERY_HEADER) or ""
    stamp = headers.get(TIMESTAMP_HEADER) or ""
    given = headers.get(SIGNATURE_HEADER) or ""
    if not (delivery and stamp and given):
        raise Refused("a delivery id, timestamp and signature are required")
    try:
        age = abs((time.time() if now is None else now) - int(stamp))
    except ValueError:
        raise Refused("the timestamp is not Unix seconds") from None
    if age > TOLERANCE_S:
        raise Refused(f"the timestamp is {age:.0f} s away from now (at most {TOLERANCE_S} s)")
    expected = sign(secret, delivery, stamp, body)
    # Standard Webhooks allows several space-separated signatures (a secret being rotated).
    if not any(hmac.compare_digest(expected, s) for s in given.split()):
        raise Refused("the signature does not match")


def champion_moved(body: bytes) -> dict | None:
    """{"model", "version", "alias"} when a verified delivery says @champion was set; else
    None."""
    event = json.loads(body)
    if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
        return None
    data = event["data"]
    if (event.get("entity"), event.get("action")) != ("model_version_alias", "created"):
        return None
    if data.get("alias") != names.CHAMPION or not data.get("name") or not data.get("version"):
        return None
    return {"model": str(data["name"]), "version": str(data["version"]), "alias": names.CHAMPION}
