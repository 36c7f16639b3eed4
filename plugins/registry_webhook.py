"""The receiver of MLflow's registry webhook, on Airflow's api-server (an Airflow 3 plugin's
FastAPI app, mounted at /registry-webhook): an alias moved in MLflow's UI or API reaches
dags/deploy_new_model.py as an Asset event.

POST /registry-webhook/mlflow takes MLflow's delivery. Its signature is checked first
(core/registry_webhook.verify: HMAC-SHA256 with the setting `registry_webhook_secret`, from
$RETRAIN_REGISTRY_WEBHOOK_SECRET, and a timestamp within 5 minutes); a bad or missing one is
answered 401 and changes nothing. A valid delivery saying @champion was set records an event of
the Asset `registry_champion_moved` with {"model", "version", "alias", "delivery"}; any other
registry event is answered 200 and ignored. The deploy task deploys what @champion points at.

Airflow puts its plugins folder on sys.path; the repository's own standard-library packages
(core/) are one folder up and join sys.path here, as dags/retrain_support does for the DAGs.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from airflow.plugins_manager import AirflowPlugin
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.append(str(REPO))

from core import registry_webhook as hook  # noqa: E402
from core import settings as contract  # noqa: E402

log = logging.getLogger("retrain.registry_webhook")
app = FastAPI(title="MLflow registry webhook receiver")


def secret() -> str:
    return contract.SETTINGS["registry_webhook_secret"].default_value()


def record(moved: dict, delivery: str) -> int | None:
    """Records the Asset event; its id, or None while the Asset is unknown (the DAG not parsed
    yet)."""
    from airflow.assets.manager import asset_manager
    from airflow.models.asset import AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        # By name: Airflow stores the URI normalized (a trailing slash added).
        asset = session.scalar(select(AssetModel).where(AssetModel.name == hook.ASSET_NAME))
        if asset is None:
            return None
        event = asset_manager.register_asset_change(
            asset=asset, extra={**moved, "delivery": delivery}, source_is_api=True, session=session
        )
        session.flush()
        return event.id if event is not None else None


@app.post(hook.PATH)
async def receive(request: Request) -> JSONResponse:
    """MLflow's delivery: 401 unless signed with our secret; 503 (MLflow retries) while the
    Asset is unknown; else 200 with what was recorded."""
    body = await request.body()
    try:
        hook.verify(secret(), request.headers, body)
        moved = hook.champion_moved(body)
    except hook.Refused as e:
        log.warning("REGISTRY WEBHOOK REFUSED from %s: %s", request.client, e)
        return JSONResponse({"error": f"refused: {e}"}, status_code=401)
    except ValueError:
        return JSONResponse({"error": "the body is not JSON"}, status_code=400)
    if moved is None:
        return JSONResponse({"recorded": None})
    delivery = request.headers.get(hook.DELIVERY_HEADER, "")
    event_id = await run_in_threadpool(record, moved, delivery)
    if event_id is None:
        return JSONResponse({"error": f"no Asset {hook.ASSET_NAME} yet"}, status_code=503)
    log.info(
        "REGISTRY WEBHOOK: %s @%s -> version %s (delivery %s): Asset event %s",
        *(moved["model"], moved["alias"], moved["version"], delivery, event_id),
    )
    return JSONResponse({"recorded": {**moved, "asset_event_id": event_id}})


class RegistryWebhookPlugin(AirflowPlugin):
    """Mounts the receiver of MLflow's registry webhook on the api-server."""

    name = "registry_webhook"
    fastapi_apps = [{"app": app, "url_prefix": hook.URL_PREFIX, "name": "MLflow registry webhook"}]
