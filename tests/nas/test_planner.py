"""The time budget's plan (nas/estimation/planner.py): its arithmetic on its own, the probe's
measurements (nas/estimation/meter.py), the budget counting the validation pass, and a search
with a tiny budget that ends on time and says what it planned."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from nas.estimation.planner import MIN_EPOCH_ROWS, Costs, fractions_for, make_plan
from tests.nas.conftest import SPECS, config

# A plausible CPU throughput for a small dense network: 20,000 training rows a second, the
# 50,000-row validation sample scored at 100,000 rows a second.
CPU = Costs(train_rows_s=20_000, validation_rows_s=100_000, setup_s=1.0, overhead_s=2.0)


def plan(rows, budget_s, costs=CPU, **kw):
    args = {
        "left_s": budget_s,
        "costs": costs,
        "train_rows": rows,
        "validation_rows": min(50_000, rows // 8),
        "epochs": 10,
        "max_trials": 50,
        "min_trials": 8,
        "rungs": (1 / 9, 1 / 3) if rows >= 100_000 else (),
    }
    return make_plan(**{**args, **kw})


def test_a_big_table_under_a_small_budget_gets_a_row_share_and_a_real_search():
    p = plan(1_600_000, 240)
    assert p.data_fraction < 1
    assert p.trials >= 8 > 2
    assert p.rows_per_epoch >= MIN_EPOCH_ROWS
    # what it planned fits: the planned trials within the budget's usable share
    assert p.trials * p.trial_s <= 240


def test_a_small_table_keeps_every_row_and_every_epoch():
    p = plan(16_000, 240)
    assert (p.data_fraction, p.epochs) == (1.0, 10)
    assert p.trials >= 8


def test_more_budget_buys_more_rows_or_epochs():
    small, big = plan(1_600_000, 240), plan(1_600_000, 600)
    assert big.rows_per_epoch * big.epochs > small.rows_per_epoch * small.epochs


def test_the_row_shares_follow_the_rungs_and_never_drop_below_the_floor():
    shares = fractions_for(1_600_000, (1 / 9, 1 / 3))
    assert shares[:3] == [1.0, 1 / 3, 1 / 9]
    assert all(1_600_000 * f >= MIN_EPOCH_ROWS for f in shares)
    assert fractions_for(5_000, (1 / 9,)) == [1.0]  # a small table: all rows or nothing


def test_when_nothing_fits_the_cheapest_trial_is_planned_and_counted():
    p = plan(1_600_000, 20)
    assert p.epochs == 1 and p.data_fraction == min(fractions_for(1_600_000, (1 / 9, 1 / 3)))
    assert p.trials < 8  # it says how many fit, not the minimum it wanted


def test_the_reevaluation_is_reserved_when_a_round_fits_and_skipped_when_not():
    fits = plan(16_000, 600, reevaluate_top=3, reevaluate_cap_s=150)
    assert fits.reevaluate and 0 < fits.reserve_s <= 150
    big = plan(1_600_000, 240, reevaluate_top=3, reevaluate_cap_s=60)
    assert not big.reevaluate and big.reserve_s == 0
    assert "re-evaluation skipped" in big.line()


def test_the_plan_caps_each_epoch_share_and_cuts_the_epochs():
    p = plan(1_600_000, 240)
    shares = p.shares([1 / 9, 1 / 3, 1 / 3] + [1.0] * 7)
    assert len(shares) == p.epochs
    assert max(shares) <= p.data_fraction and shares[0] == min(1 / 9, p.data_fraction)


def test_the_meter_measures_training_validation_and_set_up():
    import keras

    from nas.estimation.meter import Meter

    x, y = np.random.default_rng(0).normal(size=(4_000, 4)), np.zeros(4_000, dtype=int)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy")
    meter = Meter(batch_size=100, validation_rows=1_000)
    model.fit(x, y, batch_size=100, epochs=2, validation_data=(x[:1000], y[:1000]), verbose=0,
              callbacks=[meter])  # fmt: skip
    costs = meter.costs()
    assert costs is not None and len(meter.epochs) == 2
    assert costs.train_rows_s > 0 and costs.validation_rows_s > 0
    assert all("validation_s" in r for r in meter.epochs)  # Keras' validation pass was timed


def test_the_budget_leaves_room_for_the_validation_pass(tmp_path):
    """The trial stops early enough that Keras' validation pass after the last batch still
    ends within the budget (it used to run after the budget was spent)."""
    import keras

    from nas.estimation.budget import Budget
    from nas.estimation.meter import Meter
    from nas.spaces import get_space
    from tests.nas.test_strategies import oracle_for

    o = oracle_for("random", get_space("chain", SPECS["tabular"]), tmp_path, time_budget_s=6.0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy")
    x, y = np.random.default_rng(0).normal(size=(40_000, 4)), np.zeros(40_000, dtype=int)
    fit = {"batch_size": 8, "validation_data": (x[:1920], y[:1920]), "validation_batch_size": 64}
    model.fit(x[:8], y[:8], epochs=1, verbose=0, **fit)  # traced before the clock starts

    class Slow(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            time.sleep(0.01)

        def on_test_batch_end(self, batch, logs=None):
            time.sleep(0.1)  # 30 validation batches: a 3-second pass

        def on_test_begin(self, logs=None):
            left.append(o.time_left())

    left = []  # the budget's seconds left when the validation pass began
    meter = Meter(batch_size=8, validation_rows=1920)
    known = Costs(train_rows_s=800, validation_rows_s=640)  # what an earlier trial measured
    budget = Budget(o, per_epoch=len(y), meter=meter, known=known)
    o.started_at = time.time()
    model.fit(x, y, epochs=3, callbacks=[Slow(), meter, budget], verbose=0, **fit)
    assert budget.hit
    # the 3-second validation pass began with about 3 s of the budget left (it used to begin
    # once the budget had run out): timed on the budget's own clock, so a busy machine's
    # slower sleeps do not decide the test
    assert len(left) == 1 and left[0] > 2.0


MARGIN_S = 6.0  # a search may end this much past its budget (a batch, the last row's writes)


@pytest.mark.parametrize("rows", [20_000])
def test_a_search_with_a_tiny_budget_ends_on_time_and_logs_its_plan(tmp_path, rows):
    from nas.data import ArrayData
    from nas.inputs import from_arrays
    from nas.search import run_search, write_outputs

    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows + 12_000, 8)).astype("float32")
    y = (x[:, :3].sum(1) > 0).astype(int) + (x[:, 3] > 1).astype(int)
    columns = {f"f{i}": x[:, i : i + 1] for i in range(8)}  # a table: 8 numeric columns
    spec = from_arrays({k: v[:rows] for k, v in columns.items()}, 3)
    data = ArrayData(
        ({k: v[:rows] for k, v in columns.items()}, y[:rows]),
        ({k: v[rows:] for k, v in columns.items()}, y[rows:]),
        validation_sample=10_000,
    )
    budget_s = 20.0
    cfg = config(max_trials=30, epochs=10, time_budget_min=budget_s / 60, space="chain")
    lines = []
    t0 = time.time()
    result = run_search(cfg, spec, data, str(tmp_path / "state"), log=lines.append)
    wall = time.time() - t0
    assert wall <= budget_s + MARGIN_S, "\n".join([f"{wall:.1f} s", *lines])
    planned = [line for line in lines if line.startswith("NAS plan: ")]
    assert len(planned) == 1, "\n".join(lines)
    assert "training rows/s" in planned[0] and "trial(s) of" in planned[0]
    assert result.plan is not None and result.plan["line"] == planned[0]
    # the trials after the plan trained at most the plan's rows and epochs
    after = [r for r in result.rows if r.get("fidelity", "").find("plan:") >= 0]
    for row in after:
        assert row["epochs"] <= result.plan["epochs"]
        assert row["rows_per_epoch"] <= result.plan["rows_per_epoch"]
    paths = write_outputs(result, str(tmp_path / "out"))
    with open(paths["plan"]) as f:
        assert json.load(f)["trials"] == result.plan["trials"]
    with open(paths["search_config"]) as f:  # the Trainer's config: no plan in it
        assert json.load(f)["search_fidelity"] == cfg.to_dict()["search_fidelity"]
