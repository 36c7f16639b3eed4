"""Neural architecture search for Keras 3: a library that a TFX pipeline (components/nas_tuner)
or any other caller drives.

One concept per module or package:
- `spaces/`: what can be searched (chain, graph, cells), each a KerasTuner HyperModel over an
  explicit architecture encoding (`encoding.py`).
- `strategies/`: how the next candidate is chosen, each a KerasTuner Oracle.
- `estimation/`: how a candidate is scored cheaply (fidelity, curve extrapolation, successive
  halving, weight inheritance, network morphism) and the search's budgets inside a trial.
- `runner.py`: the one trial runner (`TrialRunner`) that trains every candidate
  (`candidate.py`: the strategy's proposals and fixed ones such as the user's `baseline.py`
  model), starting each as `start.py` says and keeping its files with `store.py`.
- `search.py`: the entry points (`run_search`, `run_worker`, `write_outputs`); `build.py`
  assembles a search from its `config.py`; `distributed.py` runs parallel trials.
- `data.py` (the search's data, by rows: `SearchData`, `ArrayData`), `epochs.py` (what each
  epoch trained and was scored on, counted as it runs), `latency.py` (latency measures, by
  kind), `device.py` (GPU and mixed precision, by backend), `report.py` (leaderboard, Pareto
  front, HTML), `task.py` (task types), `inputs.py` (input specs), `kt_private.py`
  (KerasTuner's internals).

The engine imports only `keras`, `keras_tuner` and numpy (tests/nas/test_engine_imports.py), so
it runs on any Keras backend. TensorFlow-only pieces (its device setup, TFLite latency) are
registered by the caller: `components.nas_tuner.tf_engine.install()`.
"""
