"""Neural architecture search for Keras 3 inside a TFX pipeline.

One concept per package:
- `spaces/`: what can be searched (chain, graph, cells), each a KerasTuner HyperModel over an
  explicit architecture encoding (`encoding.py`).
- `strategies/`: how the next candidate is chosen, each a KerasTuner Oracle.
- `estimation/`: how a candidate is scored cheaply (fidelity, curve extrapolation, weight
  inheritance, network morphism), used by the one trial runner in `tuner.py`.
- `report.py` (leaderboard, Pareto front, HTML), `tracking.py` (MLflow), `device.py` (GPU).
- `component.py` / `executor.py`: the TFX wrapper.

Everything but the TFX wrapper uses only `keras`, `keras_tuner` and numpy, so the engine runs on
any Keras backend.
"""
