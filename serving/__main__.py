"""The front as a service (`make stack` runs it; docker/compose.yaml's `serving`):

    python -m serving [--host 127.0.0.1] [--port PORT] [--state-dir DIR]

It listens on the port of the setting `serving_url` unless --port says otherwise. It serves the
@champion of the setting `serving_model`, else of the model of the last deploy (DIR's state
file), else of the only registered model that has one: a backend for that version starts, and
takes the traffic once it answers. SIGTERM stops the backends too.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
import urllib.parse
from pathlib import Path

from core import names
from serving import setting
from serving.front import Front, make_server

log = logging.getLogger("serving")


def only_champion_model(client) -> str:
    """The one registered model that has a @champion ('' if none, or several: logged)."""
    found = [m.name for m in client.search_registered_models() if names.CHAMPION in m.aliases]
    if len(found) > 1:
        log.warning(
            "SERVING several models have @champion (%s): set RETRAIN_SERVING_MODEL to serve one",
            ", ".join(sorted(found)),
        )
    return found[0] if len(found) == 1 else ""


def serve_champion(front: Front, model: str) -> None:
    """Starts and switches to `model`@champion (no `model`: the only model that has one), if
    there is one (logged either way)."""
    from mlflow import MlflowClient

    from core import registry

    client = MlflowClient()
    model = model or only_champion_model(client)
    if not model:
        log.info("SERVING no model to serve yet: nothing serves until a deploy")
        return
    champion = registry.version_by_alias(client, model, names.CHAMPION)
    if champion is None:
        log.info("SERVING %s has no @champion yet: nothing serves until a deploy", model)
        return
    front.start(model, str(champion.version))
    front.switch(str(champion.version))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving", description=__doc__)
    url = urllib.parse.urlsplit(setting("serving_url"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=url.port or 80)
    parser.add_argument("--state-dir", type=Path, default=Path(".local") / "serving")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    front = Front(
        args.state_dir,
        token=setting("serving_token"),
        drain_s=float(setting("serving_drain_s")),
        start_timeout_s=float(setting("serving_start_timeout_s")),
        spares=int(setting("serving_spares")),
    )
    server = make_server(front, args.host, args.port)
    model = setting("serving_model") or front.saved_model()

    def first() -> None:
        deadline = time.monotonic() + front.start_timeout_s
        while True:  # MLflow may start after the front
            try:
                return serve_champion(front, model)
            except Exception as e:  # noqa: BLE001 (the front keeps answering; a deploy may follow)
                if time.monotonic() > deadline:
                    log.error("SERVING could not serve %s@champion: %s", model, e)
                    return
                time.sleep(10)

    threading.Thread(target=first, daemon=True, name="champion").start()

    def stop(_signum, _frame) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("SERVING front on http://%s:%d", args.host, args.port)
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()
        front.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
