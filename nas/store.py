"""A search's files: per-trial checkpoints and the leaderboard, in the project directory.

Crash safety lives here. After every epoch a trial's weights (`last.weights.h5`, and
`best.weights.h5` when the objective improved), its optimizer's slots and its history
(`inflight.json`) are written atomically; a finished trial leaves `result.json`, so a resumed
search never trains it again. Every finished, pruned or failed trial appends one row to
`leaderboard.jsonl` (the last row of a trial wins).
"""

from __future__ import annotations

import json
import os

import keras
import numpy as np

from nas import scores

RESULT = "result.json"
INFLIGHT = "inflight.json"
LAST = "last.weights.h5"
OPTIMIZER = "last.optimizer.npz"
BEST = "best.weights.h5"
LEADERBOARD = "leaderboard.jsonl"
CHECKPOINTS = (INFLIGHT, LAST, OPTIMIZER)  # what an interrupted trial resumes from


def atomic_json(path: str, obj) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, sort_keys=True, default=float)
    os.replace(tmp, path)


def read_json(path: str):
    with open(path) as f:
        return json.load(f)


def save_optimizer(model, path: str) -> None:
    """Save the optimizer's slots (Adam moments, iteration count) as numpy arrays."""
    variables = model.optimizer.variables if model.optimizer is not None else []
    tmp = path + ".tmp.npz"
    np.savez(tmp, *[keras.ops.convert_to_numpy(v) for v in variables])
    os.replace(tmp, path)


def load_optimizer(model, path: str) -> bool:
    """Restore the optimizer's slots saved by save_optimizer. False where they do not fit."""
    if not os.path.exists(path) or model.optimizer is None:
        return False
    with np.load(path) as saved:
        arrays = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    model.optimizer.build(model.trainable_variables)
    variables = model.optimizer.variables
    if len(variables) != len(arrays) or any(
        tuple(v.shape) != a.shape for v, a in zip(variables, arrays, strict=True)
    ):
        return False
    for v, a in zip(variables, arrays, strict=True):
        v.assign(a)
    return True


class EpochCheckpoint(keras.callbacks.Callback):
    """After each epoch: the weights, the best epoch's weights (nas/scores.py: the best
    `monitor`, ties broken by the lowest validation loss) and the history, written
    atomically."""

    def __init__(self, trial_dir: str, history: dict, monitor: str, maximize: bool):
        super().__init__()
        self.dir, self.history, self.monitor, self.maximize = trial_dir, history, monitor, maximize
        i = scores.best_epoch(history, monitor, maximize)
        self.best = None if i is None else history[monitor][i]
        self.best_loss = None if i is None else (history.get(scores.LOSS) or [None] * (i + 1))[i]

    def on_epoch_end(self, epoch, logs=None):
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(float(v))
        value = (logs or {}).get(self.monitor)
        loss = (logs or {}).get(scores.LOSS)
        tmp = os.path.join(self.dir, "tmp.weights.h5")
        if value is not None and scores.improves(
            value, loss, self.best, self.best_loss, self.maximize
        ):
            self.best, self.best_loss = float(value), loss
            self.model.save_weights(tmp)
            os.replace(tmp, os.path.join(self.dir, BEST))
        self.model.save_weights(tmp)
        os.replace(tmp, os.path.join(self.dir, LAST))
        save_optimizer(self.model, os.path.join(self.dir, OPTIMIZER))
        atomic_json(os.path.join(self.dir, INFLIGHT), {"epoch": epoch + 1, "history": self.history})


class TrialStore:
    """The files of one search under `project_dir`: a folder `trial_<id>` per trial (its
    checkpoints, its best weights, its result) and the leaderboard."""

    def __init__(self, project_dir: str):
        self.project_dir = project_dir

    # ---- one trial ----------------------------------------------------------------------
    def trial_dir(self, trial_id: str) -> str:
        """The trial's folder, created if needed."""
        path = os.path.join(self.project_dir, f"trial_{trial_id}")
        os.makedirs(path, exist_ok=True)
        return path

    def path(self, trial_id: str, name: str) -> str:
        return os.path.join(self.project_dir, f"trial_{trial_id}", name)

    def best_weights(self, trial_id: str) -> str:
        """Where the trial's best weights are (they may not exist)."""
        return self.path(trial_id, BEST)

    def result(self, trial_id: str) -> dict | None:
        """{"score", "history", "row"} of a finished trial; None if it has not finished."""
        path = self.path(trial_id, RESULT)
        return read_json(path) if os.path.exists(path) else None

    def history(self, trial_id: str, objective: str) -> list[float] | None:
        """A finished trial's per-epoch history of `objective` (None if it has not finished)."""
        result = self.result(trial_id)
        return None if result is None else result["history"].get(objective, [])

    def checkpoint(self, trial_id: str, history: dict, monitor: str, maximize: bool):
        """The callback that checkpoints the trial after each epoch, continuing `history`."""
        return EpochCheckpoint(self.trial_dir(trial_id), history, monitor, maximize)

    def resume(self, model, trial_id: str) -> tuple[int, dict, bool] | None:
        """Load an interrupted trial's last weights and optimizer slots into `model`. Returns
        (epochs done, history, whether the optimizer was restored), or None if there is
        nothing to resume."""
        inflight, last = self.path(trial_id, INFLIGHT), self.path(trial_id, LAST)
        if not (os.path.exists(inflight) and os.path.exists(last)):
            return None
        state = read_json(inflight)
        model.load_weights(last)
        restored = load_optimizer(model, self.path(trial_id, OPTIMIZER))
        return state["epoch"], state["history"], restored

    def discard_checkpoints(self, trial_id: str) -> None:
        for name in CHECKPOINTS:
            path = self.path(trial_id, name)
            if os.path.exists(path):
                os.remove(path)

    def finish(self, trial_id: str, score: float, history: dict, row: dict) -> None:
        """Mark the trial finished (it is never trained again) and drop its checkpoints."""
        atomic_json(
            os.path.join(self.trial_dir(trial_id), RESULT),
            {"score": float(score), "history": history, "row": row},
        )
        self.discard_checkpoints(trial_id)

    def pruned(self, trial_id: str, row: dict) -> None:
        """Keep the row of a trial pruned before training."""
        atomic_json(os.path.join(self.trial_dir(trial_id), RESULT + ".pruned"), row)

    def rerun(self, trial_id: str, k: int) -> dict | None:
        """The kept result of the trial's re-evaluation run `k` (None: not run to the end)."""
        path = self.path(trial_id, f"rerun-{k}.json")
        return read_json(path) if os.path.exists(path) else None

    def keep_rerun(self, trial_id: str, k: int, result: dict) -> None:
        atomic_json(os.path.join(self.trial_dir(trial_id), f"rerun-{k}.json"), result)

    # ---- the leaderboard ----------------------------------------------------------------
    @property
    def leaderboard_path(self) -> str:
        return os.path.join(self.project_dir, LEADERBOARD)

    def append(self, row: dict) -> None:
        with open(self.leaderboard_path, "a") as f:
            f.write(json.dumps(row, sort_keys=True, default=float) + "\n")

    def rows(self, start_order: list[str] = ()) -> list[dict]:
        """Leaderboard rows, one per trial (the last write wins), in `start_order` (trials not
        in it last, by id)."""
        if not os.path.exists(self.leaderboard_path):
            return []
        by_id: dict[str, dict] = {}
        with open(self.leaderboard_path) as f:
            for line in f:
                if line.strip():
                    row = json.loads(line)
                    by_id[row["trial_id"]] = row
        order = {t: i for i, t in enumerate(start_order)}
        return sorted(by_id.values(), key=lambda r: (order.get(r["trial_id"], 1e9), r["trial_id"]))

    def compute_spent(self) -> int:
        """Example-epochs trained by the trials on the leaderboard."""
        return sum(r.get("examples_seen") or 0 for r in self.rows())
