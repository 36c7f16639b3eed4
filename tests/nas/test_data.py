"""The search's data by rows (nas/data.py) and what each epoch logs it trained on
(nas/epochs.py): an epoch is one pass, the validation rows are the same on every call, and
the counts come from what ran."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from nas.config import SearchConfig
from nas.data import ArrayData
from nas.epochs import EpochLog, RowCount, count_rows


def table(n=1000, n_val=300, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n + n_val, 3)).astype("float32")
    y = (x[:, 0] > 0.8).astype("int64")  # about a fifth positive
    return ({"x": x[:n]}, y[:n]), ({"x": x[n:]}, y[n:])


def rows_of(batches, steps):
    return np.concatenate([batches[i][1] for i in range(steps)]), [
        batches[i][0]["x"] for i in range(steps)
    ]


def test_an_epoch_is_one_pass_and_its_order_is_fixed_by_seed_and_epoch():
    train, val = table()
    data = ArrayData(train, val)
    assert (data.train_rows, data.validation_rows) == (1000, 300)
    assert data.class_counts == tuple(np.bincount(train[1]))
    steps = data.steps_for(data.train_rows, 64)
    assert steps == 16
    first = data.train_batches(64, seed=1, epoch=0)
    _, xs = rows_of(first, steps)
    seen = np.concatenate(xs)[:, 0]
    assert sorted(seen) == sorted(train[0]["x"][:, 0])  # every row once
    again = data.train_batches(64, seed=1, epoch=0)
    assert all(np.array_equal(first[i][0]["x"], again[i][0]["x"]) for i in range(steps))
    # The next pass of an endless stream is epoch 1's order, as a resumed trial sees it.
    resumed = data.train_batches(64, seed=1, epoch=1)
    assert np.array_equal(first[steps][0]["x"], resumed[0][0]["x"])
    assert not np.array_equal(first[0][0]["x"], resumed[0][0]["x"])


def test_a_row_subset_is_fixed_random_and_the_validation_sample_too():
    train, val = table()
    sorted_train = ({"x": train[0]["x"][np.argsort(train[1])]}, np.sort(train[1]))
    data = ArrayData(sorted_train, val, validation_sample=100, steps_cap=0)
    a, _ = rows_of(data.train_batches(50, 200, seed=0), 4)
    b, _ = rows_of(data.train_batches(50, 200, seed=9, epoch=3), 4)
    assert sorted(a) == sorted(b)  # the same 200 rows, in another order
    assert 0 < a.mean() < 1  # a random subset of sorted labels holds both classes
    assert data.validation_rows == 100
    v1 = [data.validation_batches(32)[i][1] for i in range(len(data.validation_batches(32)))]
    v2 = [data.validation_batches(32)[i][1] for i in range(len(data.validation_batches(32)))]
    assert len(v1) == 4 and all(np.array_equal(p, q) for p, q in zip(v1, v2, strict=True))
    capped = ArrayData(train, val, steps_cap=5)
    assert capped.steps_for(1000, 64) == 5 and capped.rows_for(1 / 9) == 112
    with pytest.raises(ValueError, match="training and validation rows"):
        ArrayData(train, ({"x": val[0]["x"][:0]}, val[1][:0]))


def test_the_epoch_log_counts_what_ran_even_for_a_model_compiled_elsewhere():
    train, val = table(n=500, n_val=130)
    data = ArrayData(train, val)
    inputs = keras.Input((3,), name="x")
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    assert count_rows(model)  # compiled again with the row count
    log = EpochLog()
    model.fit(
        data.train_batches(64, 300),
        steps_per_epoch=data.steps_for(300, 64),
        validation_data=data.validation_batches(100),
        epochs=2,
        callbacks=[log],
        verbose=0,
    )
    assert [(e["steps_per_epoch"], e["rows_per_epoch"]) for e in log.epochs] == [(5, 300)] * 2
    assert all(e["validation_rows"] == 130 for e in log.epochs)
    assert isinstance(RowCount(), keras.metrics.Metric)


def test_the_batch_sizes_offered_grow_with_the_rows_on_one_global_list():
    from nas.config import BATCH_SIZES
    from nas.encoding import Architecture
    from nas.spaces import batch_size_of, batch_sizes, get_space
    from tests.nas.conftest import SPECS

    assert batch_sizes(3_200) == (32,)  # small data keeps small batches
    assert batch_sizes(16_000) == (32,)
    assert batch_sizes(160_000) == (128, 256)
    assert batch_sizes(1_600_000) == (1024, 2048)
    assert batch_sizes(10**9) == (4096,) and batch_sizes(0) == BATCH_SIZES
    import random

    space = get_space("chain", SPECS["tabular"], rows=160_000)
    rng = random.Random(0)
    drawn = {space.sample(rng).choices["batch_size"] for _ in range(200)}
    assert drawn == {128, 256}
    hp = space.hyperparameters()
    [offered] = [h.values for h in hp.space if h.name == "batch_size"]
    assert set(offered) == {128, 256}  # what KerasTuner offers
    # Hyperparameters from before the batch size was searched rebuild, with 32, anywhere.
    old = {k: v for k, v in space.sample(rng).choices.items() if k != "batch_size"}
    big = get_space("chain", SPECS["tabular"], rows=1_600_000)
    arch = big.architecture(old)
    assert batch_size_of(arch.choices) == 32 and batch_size_of(old) == 32
    assert big.build_model(Architecture("chain", old)).count_params() > 0
    # A champion found on a small table is offered the nearest size a big one allows.
    assert big.offer(arch).choices["batch_size"] == 1024
    assert get_space("chain", SPECS["tabular"], rows=16_000, batch_size=256).choice(
        "batch_size"
    ).values == (256,)


def test_class_weights_balance_a_rare_class_and_reach_every_trial(tmp_path):
    from nas.inputs import from_arrays
    from nas.search import run_search
    from nas.task import class_weights
    from tests.nas.conftest import config

    assert class_weights((960, 40), "auto") == {0: 1000 / 1920, 1: 1000 / 80}
    assert class_weights((700, 300), "auto") is None  # 30%: not rare
    assert class_weights((700, 300), "balanced") == pytest.approx({0: 5 / 7, 1: 5 / 3})
    assert class_weights((960, 40), "none") is None and class_weights((5, 0), "balanced") is None
    assert class_weights((3, 0, 1), "balanced") == {0: 4 / 6, 2: 4 / 2}
    with pytest.raises(ValueError, match="class_weight 'sometimes'"):
        class_weights((1, 1), "sometimes")

    train, val = table(n=600, n_val=200)
    y = (train[0]["x"][:, 0] > 1.6).astype("int64")  # about 5% positive
    data = ArrayData((train[0], y), (val[0], (val[0]["x"][:, 0] > 1.6).astype("int64")))
    spec = from_arrays(train[0], 2)
    lines = []
    # The default is none (bench/rare/RESULTS.md); auto weighs a class under 20% of the rows.
    assert SearchConfig.from_dict({}).class_weight == "none"
    search = config(max_trials=1, epochs=1, class_weight="auto")
    run_search(search, spec, data, str(tmp_path), log=lines.append)
    [line] = [x for x in lines if x.startswith("NAS data:")]
    want = class_weights(data.class_counts, "auto")
    assert f"class weights {{0: {want[0]:.2f}, 1: {want[1]:.2f}}}" in line, line
    _, labels, weights = data.train_batches(32, class_weight=want)[0]
    assert np.allclose(weights, [want[int(v)] for v in labels])


def test_a_table_search_tries_a_plain_two_layer_network_first(tmp_path):
    """On a big table a time budget may allow a trial or two: the first is a known-good
    network (two dense layers of 64, ReLU, Adam at 1e-3), not a random draw."""
    from nas.encoding import Architecture
    from nas.inputs import from_arrays
    from nas.search import run_search
    from nas.spaces import get_space
    from tests.nas.conftest import SPECS, config

    c = get_space("chain", SPECS["tabular"], rows=160_000).first().choices
    assert (c["depth"], c["op_0"], c["width_0"], c["op_1"], c["width_1"]) == (
        2,
        "dense",
        64,
        "dense",
        64,
    )
    assert (c["optimizer"], c["learning_rate"], c["batch_size"]) == ("adam", 0.001, 128)
    assert get_space("chain", SPECS["signal"]).first() is None  # tensors: the stages space's
    (x, y), (vx, vy) = table(n=300, n_val=100)
    columns = lambda m: {f"c{i}": m["x"][:, i] for i in range(3)}  # noqa: E731  (a table)
    train, val = (columns(x), y), (columns(vx), vy)
    spec = from_arrays(train[0], 2)
    assert spec.body_kind == "vector"
    search = config(
        max_trials=2,
        epochs=1,
        strategy="evolution",  # the default; KerasTuner's strategies take no seeds
        strategy_options={"population_size": 2, "sample_size": 1},
    )
    result = run_search(search, spec, ArrayData(train, val), str(tmp_path))
    row = result.rows[0]
    assert row["seed"] == "first", row
    assert Architecture.from_json(row["architecture"]).choices["width_0"] == 64
