"""Serving @champion: MLflow's own scoring server per version (backend.py), a stable front that
switches between them without dropping a request (front.py), and the deploy that starts,
smoke-tests and switches a new version (deploy.py; smoke.py runs in the TFX environment).

Standard library and MLflow's client only: the Airflow environment imports it.
"""

from __future__ import annotations


def setting(name: str):
    """The operator setting `name` (core/operator_settings.py), from its environment variable
    where the deployment sets one."""
    from core import settings as contract

    return contract.SETTINGS[name].default_value()
