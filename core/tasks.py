"""Task types, as the pipeline handles them (to be completed: one object per task)."""

from __future__ import annotations

# The serving signature's output per task.
SERVING_OUTPUT = {"classification": "probabilities", "regression": "predictions"}
