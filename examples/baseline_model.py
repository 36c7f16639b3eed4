"""An example of your own model as the search's baseline (Param `baseline_module`).

The NAS tuner calls `build_model(hp, input_spec)` and trains the model beside its candidates, on
the same data and budget; it is listed on the leaderboard as "baseline" and is pushed if it wins.
Values you declare on `hp` (a KerasTuner HyperParameters) take their defaults and are saved, so
the Trainer rebuilds the same model. Use Keras 3 (`import keras`), never `tf.keras`.
"""

import keras


def build_model(hp, input_spec):
    inputs, parts = {}, []
    for f in input_spec.features:
        if f.kind == "categorical":  # vocabulary ids, f.size = vocabulary size
            inputs[f.name] = keras.Input((1,), name=f.name, dtype="int64")
            parts.append(keras.layers.Flatten()(keras.layers.Embedding(f.size, 4)(inputs[f.name])))
        else:  # numeric (size 1), or a signal or image: f.size values, flat (f.shape to reshape)
            inputs[f.name] = keras.Input((f.size,), name=f.name, dtype="float32")
            parts.append(inputs[f.name])
    x = keras.layers.Concatenate()(parts) if len(parts) > 1 else parts[0]
    x = keras.layers.Dense(hp.Int("units", 8, 64, step=8, default=32), activation="relu")(x)
    optimizer = keras.optimizers.Adam(hp.Float("learning_rate", 1e-4, 1e-1, default=1e-2))
    if input_spec.task == "regression":  # one linear output; the search ranks by val_rmse
        model = keras.Model(inputs, keras.layers.Dense(1)(x), name="my_baseline")
        model.compile(
            optimizer=optimizer,
            loss="mean_squared_error",
            metrics=[keras.metrics.RootMeanSquaredError(name="rmse")],
        )
        return model
    outputs = keras.layers.Dense(input_spec.n_outputs, activation="softmax")(x)
    model = keras.Model(inputs, outputs, name="my_baseline")
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
