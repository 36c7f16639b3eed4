"""The trial runner: one KerasTuner Tuner subclass that every strategy and estimator shares.

For each candidate (candidate.py) it builds the model, prunes it if it breaks a limit, starts
it (start.py: from scratch, its parent, a seed's weights, or its own last epoch after a crash),
trains it at the search fidelity with curve-based early stopping and successive halving, then
records a leaderboard row, logs it to the tracker and prints one progress line.

Crash safety: everything lives in the project directory (store.py; the caller keys it by
pipeline run and node). A finished trial leaves `result.json`, so a resumed search never trains
it again; an interrupted one resumes from its last epoch with its optimizer's slots.
"""

from __future__ import annotations

import time
import zlib

import keras
import keras_tuner
import numpy as np

from nas import latency, scores, start, task
from nas.candidate import Candidate, Proposal
from nas.device import DeviceInfo
from nas.encoding import Architecture
from nas.epochs import ROWS_PER_EPOCH, EpochLog, count_rows, epoch_counts
from nas.estimation import curve, halving
from nas.estimation.budget import Budget, stopped_by
from nas.estimation.meter import Meter
from nas.estimation.planning import Planning
from nas.kt_private import TrialStatus
from nas.spaces import BATCH_SIZE, batch_size_of
from nas.store import TrialStore
from nas.strategies.base import PRUNED

LATENCY_BATCH = 32  # every candidate's latency is measured on batches of this many rows
VALIDATION_BATCH = 512  # validation batches hold at least this many rows (inference only)


class TrialRunner(Planning, keras_tuner.Tuner):
    """Runs the search's trials (KerasTuner calls `run_trial`) and fixed candidates
    (`run_fixed`), keeping their files in a `TrialStore` under the project directory.

    `tracker` (optional) gets `log_trial(row, choices, history)` for every row; `log` gets one
    progress line per trial. With `rendezvous` set and KerasTuner's worker environment
    (distributed.py), this runner is a worker of a parallel search."""

    def __init__(
        self,
        oracle,
        space,
        config,
        *,
        directory,
        project_name="search",
        device=None,
        tracker=None,
        log=print,
        rendezvous: str = "",
        **kwargs,
    ):
        latency.require(config.latency)
        self.space, self.config, self.tracker, self.log = space, config, tracker, log
        self.device = device or DeviceInfo(keras.backend.backend(), [], "float32")
        self._trial_times: list[float] = []
        self.recorded: list[str] = []  # trial ids this process recorded (a parallel runner's)
        super().__init__(
            oracle=oracle,
            hypermodel=space,
            directory=directory,
            project_name=project_name,
            overwrite=False,
            **kwargs,
        )
        self.store = TrialStore(self.project_dir)
        if self._is_worker():  # a parallel search: KerasTuner made the oracle a gRPC client
            from nas.distributed import WorkerOracle

            self.oracle = WorkerOracle(self.oracle, self.project_dir, rendezvous)
        self.oracle.compute_spent = self.compute_spent()
        self._keep_reserve()

    # ---- bookkeeping --------------------------------------------------------------------
    @property
    def is_worker(self) -> bool:
        """Whether this runner is a worker of a parallel search (distributed.py)."""
        return self._is_worker()

    @property
    def maximize(self) -> bool:
        return self.oracle.objective.direction == "max"

    def rows(self) -> list[dict]:
        """Leaderboard rows in the order trials started, one per trial (the last write wins)."""
        return self.store.rows(self.oracle.start_order)

    def compute_spent(self) -> int:
        """Example-epochs trained by the trials on the leaderboard."""
        return self.store.compute_spent()

    def earlier_histories(self, trial_id: str) -> list[list[float]]:
        """The objective's per-epoch history of every other trial that finished training."""
        out = []
        for tid in self.oracle.start_order:
            history = self.store.history(tid, self.config.objective) if tid != trial_id else None
            if history is not None:
                out.append(history)
        return out

    def _record(self, row: dict, arch: Architecture | None, history: dict) -> None:
        self.recorded.append(row["trial_id"])
        self.store.append(row)
        self.oracle.compute_spent = self.compute_spent()
        self._keep_reserve()
        if self.tracker is not None:
            self.tracker.log_trial(row, arch.choices if arch else {}, history)
        self._progress(row)

    def _progress(self, row: dict) -> None:
        self._trial_times.append(row.get("wall_s") or 0.0)
        done = len(self.rows())
        total = (self.oracle.max_trials or done) + bool(self.config.baseline_module)
        best = self.oracle.best_score()
        if row.get("score") is not None:
            sign = 1 if self.maximize else -1
            best = row["score"] if best is None else max(best, row["score"], key=lambda s: sign * s)
        eta = np.mean(self._trial_times) * max(total - done, 0)
        left = self.oracle.time_left()
        if left is not None:
            eta = min(eta, max(left, 0))
        score = scores.shown(row.get("score"), row.get("score_se"))
        best_s = "-" if best is None else f"{best:.4f}"
        self.log(
            f"NAS trial {row['trial_id']} ({done}/{total}) strategy={self.config.strategy} "
            f"space={self.config.space} fidelity={row['fidelity']} status={row['status']} "
            f"score={score} best={best_s} params={row.get('params')} "
            f"epochs={row.get('epochs')} wall={row.get('wall_s', 0):.1f}s "
            f"ETA {time.strftime('%H:%M:%S', time.gmtime(eta))}"
        )

    def _row(self, candidate: Candidate, **fields) -> dict:
        values, arch = candidate.values, candidate.arch
        row = {
            "trial_id": candidate.trial_id,
            "status": "completed",
            "score": None,
            "params": None,
            "latency_ms": None,
            "fidelity": self.space.fidelity.label(),
            "epochs": 0,
            "examples_seen": 0,
            "wall_s": 0.0,
            "early_stopped": False,
            "parent": values.get("nas/parent") or values.get("tuner/trial_id"),
            "mutation": values.get("nas/mutation"),
            "architecture": arch.to_json() if arch else None,
            "runner": self.tuner_id,
            "seed": values.get("nas/seed"),
            **candidate.row_fields(self.space),
        }
        row.update(fields)
        return row

    def seed_of(self, trial_id: str) -> int:
        """The seed of a trial (or of a run, an epoch), fixed by the search's seed and its id."""
        return zlib.crc32(f"{self.config.seed}:{trial_id}".encode()) % (2**31)

    # ---- running candidates -------------------------------------------------------------
    def run_trial(self, trial, data, **_ignored):
        """KerasTuner's hook: train the strategy's trial (never again once it finished)."""
        done = self.store.result(trial.trial_id)
        if done is not None:  # finished before a crash: never train it again
            self.log(f"NAS trial {trial.trial_id} finished before the restart; not rerun")
            return {self.oracle.objective.name: done["score"]}
        row = self.train(Proposal.of(trial, self.space), data)
        return {self.config.objective: row["score"]}

    def run_fixed(self, candidate: Candidate, data) -> dict:
        """Train a candidate the strategy did not propose (the user's baseline model) like a
        trial, under its own trial id. Returns its row; a finished one is kept, not rerun."""
        done = self.store.result(candidate.trial_id)
        if done is not None:
            return done["row"]
        return self.train(candidate, data)

    def train(self, c: Candidate, data) -> dict:
        """Build, start, train, record and finish one candidate. Returns its row."""
        t0, cfg = time.time(), self.config
        if c.searched and c.values.get("nas/pruned"):
            self._prune(c, c.values["nas/pruned"], t0)
        if not c.searched:  # an interrupted fixed candidate starts again
            self.store.discard_checkpoints(c.trial_id)
        scheduled = "tuner/epochs" in c.values  # Hyperband's schedule: no other early stop
        epochs = int(c.values["tuner/epochs"]) if scheduled else self._full_epochs()
        batch = self.batch_size(c)
        halves = c.searched and not scheduled and self.halves(data)
        planned = c.searched and not scheduled  # a plan cuts its rows and epochs
        rows = self.epoch_rows(data, epochs, halves, planned)
        keras.utils.set_random_seed(self.seed_of(c.trial_id))
        with self.device.scope():
            model = c.build(self.space, steps=sum(data.steps_for(r, batch) for r in rows))
        count_rows(model)
        params = c.params(self.space, model)
        latency_ms = latency.measure(model, data.sample_batch(LATENCY_BATCH), kind=cfg.latency)
        if c.searched:
            self._check_limits(c, params, latency_ms, t0)

        begin = self._start(c, model) if c.searched else start.Start()
        history = begin.history
        meter = Meter(batch, data.validation_rows, started=t0)
        callbacks = [
            EpochLog(),  # first: the others read the rows it logs
            self.store.checkpoint(c.trial_id, history, cfg.objective, self.maximize),
            meter,
        ]
        stopper = rungs = None
        if c.searched and cfg.curve_stop and not scheduled:
            stopper = curve.CurveStopper(
                cfg.objective,
                curve.target(self),
                len(rows),  # the plan's epochs, for a planned trial
                maximize=self.maximize,
                confidence=cfg.curve_confidence,
                min_epochs=cfg.curve_min_epochs,
                history=history.get(cfg.objective, []),
            )
            callbacks.append(stopper)
        if halves:
            earlier = self.earlier_histories(c.trial_id)
            rungs = halving.RungStopper(
                cfg.objective,
                cfg.halving_rungs,
                halving.rung_scores(earlier, cfg.halving_rungs, self.maximize),
                eta=cfg.halving_eta,
                maximize=self.maximize,
                history=history.get(cfg.objective, []),
            )
            callbacks.append(rungs)
        # example-epochs of this trial before a restart, as its epochs logged them
        seen = sum(history.get(ROWS_PER_EPOCH, []))
        budget = Budget(self.oracle, rows[0], seen=seen, meter=meter, known=self.costs)
        callbacks.append(budget)
        probe = self.prober(meter, data, rows, epochs, halves, planned)
        if begin.initial_epoch < epochs:
            self.fit_epochs(
                model, data, batch, rows, begin.initial_epoch, callbacks, c.trial_id, probe
            )
        self.costs = meter.costs() or self.costs
        self._plan(data)  # a probe the budget stopped early plans with what it measured
        if not self._is_worker():  # start no trial with less time left than one needed
            self.oracle.min_trial_s = max(self.oracle.min_trial_s, meter.least_s())
        values_seen = history.get(cfg.objective, [])
        if not values_seen:
            raise c.missing_objective(cfg.objective)
        best = self.scored(history)
        row = self._row(
            c,
            **best,
            params=int(params),
            latency_ms=round(latency_ms, 3),
            epochs=len(values_seen),
            wall_s=round(time.time() - t0, 2),
            early_stopped=bool(stopper and stopper.stopped_epoch)
            or bool(rungs and rungs.stopped_epoch)
            or budget.hit,
            stopped_by=stopped_by(stopper, rungs, budget),
            start=begin.label,
            batch_size=batch,
            **epoch_counts(history),
        )
        if planned and self.plan is not None and not self.plan.is_full:
            row["fidelity"] += "; " + self.plan.describe()
        elif halves and cfg.row_fidelity_on(data.train_rows):
            row["fidelity"] += "; " + halving.describe_rows(
                cfg.halving_rungs, cfg.halving_row_fractions
            )
        self._record(row, c.arch, history)
        self.store.finish(c.trial_id, best["score"], history, row)
        return row

    def scored(self, history: dict) -> dict:
        """A trial's (or run's) score from its per-epoch history (nas/scores.py `score_of`)."""
        return scores.score_of(history, self.config.objective, self.maximize)

    def halves(self, data) -> bool:
        """Whether searched trials stop at halving rungs: successive halving, or row fidelity
        (`row_fidelity`: on, or auto on a large table), which needs the rungs."""
        return self.config.successive_halving or self.config.row_fidelity_on(data.train_rows)

    def batch_size(self, c: Candidate) -> int:
        """A candidate's batch size: its architecture's; for the user's baseline model, the
        search's fixed one or the middle of the sizes this search offers."""
        if c.arch is not None:
            return batch_size_of(c.arch.choices)
        offered = self.space.choice(BATCH_SIZE).values
        return self.config.batch_size or offered[len(offered) // 2]

    def _full_epochs(self) -> int:
        return self.space.fidelity.epochs_for(self.config.epochs)

    def _start(self, c: Candidate, model) -> start.Start:
        return start.choose(
            space=self.space,
            store=self.store,
            trials=self.oracle.trials,
            config=self.config,
            model=model,
            arch=c.arch,
            values=c.values,
            trial_id=c.trial_id,
            seed=self.seed_of(c.trial_id),
            log=self.log,
        )

    def _check_limits(self, c: Candidate, params: int, latency_ms: float, t0: float) -> None:
        cfg = self.config
        if cfg.max_params and params > cfg.max_params:
            self._prune(c, f"{params} parameters > limit {cfg.max_params}", t0, params)
        if cfg.max_latency_ms and latency_ms > cfg.max_latency_ms:
            reason = f"latency {latency_ms:.2f} ms > limit {cfg.max_latency_ms} ms"
            self._prune(c, reason, t0, params)

    def fit_epochs(self, model, data, batch, rows, initial, callbacks, trial_id, after=None):
        """Train epochs `initial` to `len(rows)`, epoch e on the first `rows[e]` training rows
        (one pass: `data.steps_for`), scored on every validation row. One fit call per epoch,
        each with the data's order for that epoch and a seed fixed by (seed, trial, epoch), so
        a resumed trial sees the batches an uninterrupted one would. `after(epoch)` runs after
        each epoch and may change the later epochs' `rows` in place."""
        order_seed = self.seed_of(trial_id)
        validation = data.validation_batches(max(batch, VALIDATION_BATCH))
        weights = self.class_weights(data)
        epoch = initial
        while epoch < len(rows):
            keras.utils.set_random_seed(self.seed_of(f"{trial_id}:{epoch}"))
            model.fit(
                data.train_batches(
                    batch, rows[epoch], seed=order_seed, epoch=epoch, class_weight=weights
                ),
                steps_per_epoch=data.steps_for(rows[epoch], batch),
                validation_data=validation,
                epochs=epoch + 1,
                initial_epoch=epoch,
                callbacks=callbacks,
                verbose=0,
            )
            if model.stop_training:
                return
            if after is not None:
                after(epoch)
            epoch += 1

    def class_weights(self, data) -> dict | None:
        """The class weights every trial trains with (`class_weight` knob, nas/task.py)."""
        if self.space.input_spec.task != "classification":
            return None
        return task.class_weights(data.class_counts, self.config.class_weight)

    def _prune(self, c: Candidate, reason: str, t0: float, params=None):
        row = self._row(
            c, status="pruned", params=params, wall_s=round(time.time() - t0, 2), mutation=reason
        )
        self.store.pruned(c.trial_id, row)
        self._record(row, c.arch, {})
        raise keras_tuner.errors.FailedTrialError(f"{PRUNED}: {reason}")

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        if trial.status == TrialStatus.FAILED and not any(
            r["trial_id"] == trial.trial_id for r in self.rows()
        ):
            message = (trial.message or "").strip().splitlines()
            self.log(f"NAS trial {trial.trial_id} failed: {message[-1] if message else ''}")
            failed = Proposal.of(trial, self.space, with_arch=False)
            self._record(self._row(failed, status="failed"), None, {})
