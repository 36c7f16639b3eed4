"""The trial runner's side of the time budget's plan (nas/estimation/planner.py): the first
trial (the probe) measures what training costs here (nas/estimation/meter.py), the runner plans
once from it, and every searched trial after it (and the probe's own later epochs) trains the
plan's share of the rows for at most the plan's epochs. The plan keeps the re-evaluation's
reserve, and the oracle starts no trial that cannot train an epoch in what is left.
"""

from __future__ import annotations

from nas.estimation import halving, planner, reevaluate
from nas.estimation.meter import Meter

# The probe plans after two epochs (the second one measures an epoch's set-up without the
# first one's tracing), or once it spent this share of the budget: on a big table its first
# epoch alone can take a good part of it.
PROBE_SHARE = 0.2


class Planning:
    """Mixin of the trial runner (put it before keras_tuner.Tuner): `plan` (None until made)
    and `costs` (the latest measured) and the methods that make and apply them."""

    plan: planner.Plan | None = None
    costs: planner.Costs | None = None

    def _keep_reserve(self) -> None:
        """Tell the oracle how much of the time budget the re-evaluation will need."""
        if self._is_worker():
            return
        if self.plan is not None:
            self.oracle.reserve_s = self.plan.reserve_s
        else:
            self.oracle.reserve_s = reevaluate.reserve_s(self.config, self.rows(), self.maximize)

    def epoch_rows(self, data, epochs: int, halves: bool, planned: bool = False) -> list[int]:
        """The training rows of each epoch: the search fidelity's share of them, times the
        rung's share under row fidelity (nas/estimation/halving.py `row_fractions`); a
        `planned` trial's at most the plan's epochs, each at most the plan's share."""
        cfg, base = self.config, self.space.fidelity.data_fraction
        shares = [1.0] * epochs
        if halves and cfg.row_fidelity_on(data.train_rows):
            shares = halving.row_fractions(cfg.halving_rungs, cfg.halving_row_fractions, epochs)
        if planned and self.plan is not None:
            shares = self.plan.shares(shares)
        return [data.rows_for(base * share) for share in shares]

    def _probed(self, meter: Meter) -> bool:
        """Whether the probe measured enough to plan: two epochs (the second one's set-up is
        an epoch's, not a trial's first), or `PROBE_SHARE` of the budget spent."""
        left = self.oracle.time_left()
        spent = None if left is None else self.oracle.time_budget_s - self.oracle.reserve_s - left
        return len(meter.epochs) >= 2 or (
            spent is not None and spent >= PROBE_SHARE * self.oracle.time_budget_s
        )

    def _plan(self, data, final: bool = True) -> bool:
        """Plan the search from the measured costs (nas/estimation/planner.py), once, when
        `final` and the config plans and has costs to plan from. Returns whether it planned."""
        left = self.oracle.time_left()
        if self.plan is not None or not final or not self.config.plans:
            return False
        if self.costs is None or left is None or self._is_worker():
            return False
        self.plan = planner.for_search(
            self.config, data, self.costs, left + self.oracle.reserve_s, self._full_epochs()
        )
        self._keep_reserve()
        self.log(self.plan.line())
        return True

    def prober(self, meter: Meter, data, rows: list, epochs: int, halves: bool, planned: bool):
        """`after(epoch)` for `fit_epochs`: keep the costs `meter` measured and, once the
        probe measured enough, plan; a `planned` trial's later epochs then follow the plan."""

        def after(epoch: int) -> None:
            self.costs = meter.costs() or self.costs
            if self.plan is None and self._plan(data, final=self._probed(meter)) and planned:
                rows[epoch + 1 :] = self.epoch_rows(data, epochs, halves, True)[epoch + 1 :]

        return after
