"""Airflow's `[core] hostname_callable` for the native stack's workers: two workers on one
machine report the names compose gives their containers (worker-1, worker-2), so a task
instance's hostname says which worker ran it."""

from __future__ import annotations

import os
import socket

ENV = "RETRAIN_WORKER_HOSTNAME"


def get() -> str:
    return os.environ.get(ENV) or socket.getfqdn()
