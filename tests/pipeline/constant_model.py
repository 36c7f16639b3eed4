"""A baseline model (Param `baseline_module`) that predicts the same for every row: its inputs
are multiplied by zero, so only the head's bias learns (the class prior). On rare positives its
accuracy is the majority share, which a search ranking by accuracy alone would keep; the gate
must refuse it (tests/pipeline/test_learning_dag.py)."""

import keras


def build_model(hp, input_spec):
    inputs = {}
    for f in input_spec.features:
        shape, dtype = ((1,), "int64") if f.kind == "categorical" else ((f.size,), "float32")
        inputs[f.name] = keras.Input(shape, name=f.name, dtype=dtype)
    first = next(iter(inputs.values()))
    zero = keras.layers.Lambda(lambda x: keras.ops.zeros_like(keras.ops.cast(x, "float32")))
    outputs = keras.layers.Dense(input_spec.n_outputs, activation="softmax")(zero(first))
    model = keras.Model(inputs, outputs, name="constant")
    model.compile(
        optimizer=keras.optimizers.Adam(0.05),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model
