"""The peers of our search in the vision benchmark, both plain Keras 3:

- `hand_cnn`: what a careful engineer writes first: three convolutions of 64 filters (kernel 5
  for signals, 3 for images), each with batch norm and ReLU, max pooling after the first two,
  global average pooling, Adam at 1e-3; trained once. Batch norm uses momentum 0.9 in both
  peers, as in our spaces (see `_bn`).
- `hyperband`: KerasTuner's Hyperband (max_epochs = the benchmark's epochs, factor 3) over a
  reasonable hand-written conv space: 2-5 conv layers of 16-128 filters, kernel 3 or 5, batch
  norm, optional max pooling after the second and fourth layers, GAP or flatten, dropout 0-0.5,
  Adam at 1e-4..1e-2 (log). It stops at the same wall clock as our search: no new trial after
  the time limit, and a running one ends after the epoch in which it passes.
"""

from __future__ import annotations

import math
import os
import time

import keras
import keras_tuner

from nas.estimation.reevaluate import Deadline


def _layers(shape):
    one_d = len(shape) == 1
    conv = keras.layers.Conv1D if one_d else keras.layers.Conv2D
    pool = keras.layers.MaxPooling1D if one_d else keras.layers.MaxPooling2D
    gap = keras.layers.GlobalAveragePooling1D if one_d else keras.layers.GlobalAveragePooling2D
    return conv, pool, gap, (*shape, 1)


def _bn():
    # Momentum 0.9, as ours (nas/spaces/ops.py) and PyTorch's default: with Keras' 0.99 the
    # moving statistics lag the weights over the few hundred steps these runs take. The hand
    # CNN on the development seed 100, test accuracy with 0.99 / 0.9: digits 0.518 / 0.989,
    # signals 0.639 / 0.694. A first run with 0.99 was stopped after seed 1 (0.443 on digits).
    return keras.layers.BatchNormalization(momentum=0.9)


def _compile(model, lr):
    model.compile(
        optimizer=keras.optimizers.Adam(lr),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def hand_cnn(shape, classes: int) -> keras.Model:
    conv, pool, gap, full = _layers(shape)
    kernel = 5 if len(shape) == 1 else 3
    x = inputs = keras.Input((math.prod(shape),), name="x")
    x = keras.layers.Reshape(full)(x)
    for i in range(3):
        x = conv(64, kernel, padding="same", use_bias=False)(x)
        x = keras.layers.ReLU()(_bn()(x))
        if i < 2:
            x = pool(2, padding="same")(x)
    x = gap()(x)
    return _compile(keras.Model(inputs, keras.layers.Dense(classes, "softmax")(x)), 1e-3)


def conv_space(shape, classes: int):
    """The hand-written KerasTuner space Hyperband searches (see the module's docstring)."""
    conv, pool, gap, full = _layers(shape)

    def build(hp):
        x = inputs = keras.Input((math.prod(shape),), name="x")
        x = keras.layers.Reshape(full)(x)
        do_pool = hp.Boolean("pool")
        for i in range(hp.Int("layers", 2, 5)):
            x = conv(
                hp.Choice(f"filters_{i}", [16, 32, 64, 128]),
                hp.Choice(f"kernel_{i}", [3, 5]),
                padding="same",
            )(x)
            x = keras.layers.ReLU()(_bn()(x))
            if do_pool and i in (1, 3) and max(x.shape[1:-1]) > 1:
                x = pool(2, padding="same")(x)
        x = (
            gap()(x)
            if hp.Choice("head", ["gap", "flatten"]) == "gap"
            else keras.layers.Flatten()(x)
        )
        x = keras.layers.Dropout(hp.Float("dropout", 0.0, 0.5, step=0.1))(x)
        out = keras.layers.Dense(classes, "softmax")(x)
        return _compile(keras.Model(inputs, out), hp.Float("lr", 1e-4, 1e-2, sampling="log"))

    return build


def hyperband(shape, classes, train, val, *, epochs, batch, seed, time_limit_s, workdir):
    """(best model as Hyperband left it, trials run, search seconds)."""
    tuner = keras_tuner.Hyperband(
        conv_space(shape, classes),
        objective="val_accuracy",
        max_epochs=epochs,
        factor=3,
        hyperband_iterations=100,  # the time limit ends it, not the iterations
        seed=seed,
        directory=workdir,
        project_name="hyperband",
        overwrite=True,
    )
    tuner.oracle.verbose = 0
    t0 = time.time()
    populate = tuner.oracle.populate_space

    def limited(trial_id):
        if time.time() - t0 > time_limit_s:
            return {"status": "STOPPED", "values": None}
        return populate(trial_id)

    tuner.oracle.populate_space = limited
    keras.utils.set_random_seed(seed)
    tuner.search(
        {"x": train[0]},
        train[1],
        validation_data=({"x": val[0]}, val[1]),
        batch_size=batch,
        callbacks=[Deadline(t0 + time_limit_s)],
        verbose=0,
    )
    wall = time.time() - t0
    model = tuner.get_best_models(1)[0]
    _compile(model, tuner.get_best_hyperparameters(1)[0].get("lr"))
    return model, len(tuner.oracle.trials), wall, os.path.join(workdir, "hyperband")
