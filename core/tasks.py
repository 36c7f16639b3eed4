"""Task types, as the pipeline handles them: one `Task` object per type, and code asks the
object instead of branching on the task's name.

The engine's side of a task (head, loss, metrics, the search objective and its direction) is
`nas.task`; `Task.engine` is that object. This is the pipeline's side:

- how Transform encodes the label (`label_encoding` and `classes`, read by the user module):
  the class's index in the sorted class list (pipelines/task.py decides it where the pipeline
  compiles; Transform keeps it as the label's vocabulary, `class_text` per line, so it travels
  with the transform graph and the serving model), or the value as a float; a missing label
  is `missing_label` and training leaves its rows out (`label_present`); what that means for
  the network's head (`label_outputs`, `input_target`); and back: `classes` reads the class
  values, of the label's own type, from a Transform output;
- the Evaluator's TFMA metrics on the test split (`eval_config`; the gate itself is
  core/gate.py, on the same rows);
- the serving signature's output key (`serving_output`) and the MLflow pyfunc's columns
  (`pyfunc_columns`, `output_columns`, `pyfunc_frame`);
- the explanations' score (`score`, higher is better), the TFLite agreement rule (`agreement`)
  and the summary's metric (`metric`, `tfma_metric`).

Standard library and the engine's `nas.task` (standard library too) at import; numpy, pandas,
TensorFlow and TFMA are imported by the methods that need them, so the settings contract and
the Airflow side can read the task names cheaply.
"""

from __future__ import annotations

import dataclasses

from core import names
from nas import task as engine_tasks

# Of the standard deviation of the reference's predictions. Dynamic-range quantisation moved the
# bundled diabetes model's predictions by at most 2.5% of that spread (1.4 units of a label whose
# RMSE is about 55); float TFLite by 1e-6.
REGRESSION_TOLERANCE = 0.05
TARGET_SCALE_ROWS = 20_000  # training rows read for the regression label's mean and std


@dataclasses.dataclass(frozen=True)
class Task:
    """The pipeline's side of one task type (see the module's docstring); subclasses
    implement the methods."""

    name: str
    serving_output: str  # the serving signature's output key
    label_encoding: str  # how the user module's preprocessing_fn encodes the label
    metric: str  # the gated metric's name in the run summary
    tfma_metric: str  # its key in the Evaluator's results
    agreement_rule: str  # what `agreement` counts, for the log
    pyfunc_columns: tuple[tuple[str, str], ...]  # (name, MLflow type) of the pyfunc's output

    @property
    def engine(self) -> engine_tasks.Task:
        """The engine's Task of the same name (head, loss, objective, direction)."""
        return engine_tasks.get(self.name)

    def user_config(self, classes=()) -> dict:
        """What the user module reads from its custom_config (Transform's and Trainer's):
        `classes` are the label's classes in their order (pipelines/task.py; [] for a task
        without classes)."""
        return {
            "task": self.name,
            "label_encoding": self.label_encoding,
            "serving_output": self.serving_output,
            "classes": list(classes),
        }

    def label_present(self, y):
        """Whether one example's transformed label (a TF tensor) is there, not the task's
        `missing_label`; the search's and the Trainer's datasets leave the others out."""
        raise NotImplementedError

    def output_columns(self, classes: list) -> list[tuple[str, str]]:
        """(name, MLflow type) of the pyfunc's output for these classes."""
        return list(self.pyfunc_columns)

    def eval_config(self, label: str, family: str, threshold: float = 0.5):
        """TFMA's EvalConfig of the candidate on raw rows (the transform_features signature
        computes the label): the metrics of its family (`metrics_specs`), no thresholds (the
        gate, core/gate.py, decides)."""
        import tensorflow_model_analysis as tfma

        spec = tfma.ModelSpec(
            signature_name="serving_default",
            prediction_key=self.serving_output,
            label_key=names.xf(label),
            preprocessing_function_names=["transform_features"],
        )
        return tfma.EvalConfig(
            model_specs=[spec],
            slicing_specs=[tfma.SlicingSpec()],
            metrics_specs=self.metrics_specs(family, threshold),
        )

    def metrics_specs(self, family: str, threshold: float) -> list:
        """TFMA MetricsSpecs of the task's metrics for a metric family (core/metrics.py)."""
        raise NotImplementedError

    def label_outputs(self, tft_out, label: str) -> int:
        """Units of the network's head for the transformed label."""
        raise NotImplementedError

    def input_target(self, tft_out, label: str, train_files: list[str]) -> dict:
        """The InputSpec fields that describe the label: n_outputs (and its scale)."""
        return {"n_outputs": self.label_outputs(tft_out, label)}

    def classes(self, tft_out, label: str) -> list:
        """The class values, in the head's order ([] when the task has no classes)."""
        return []

    def labels(self, raw: list, classes: list[str]):
        """Raw label values as the network's targets (numpy), for scoring explanations."""
        raise NotImplementedError

    def score(self, y, outputs) -> float:
        """How good `outputs` are for targets `y`; higher is better."""
        raise NotImplementedError

    def agreement(self, reference, edge) -> float:
        """The share of rows where the edge model's output agrees with the reference's."""
        raise NotImplementedError

    def pyfunc_frame(self, outputs, classes: list[str], threshold: float | None = None):
        """The serving output as the pyfunc's DataFrame (`output_columns`); `threshold`: a
        binary model's decision threshold (None: the most probable class)."""
        raise NotImplementedError


def probability_column(value) -> str:
    """The pyfunc's column of one class's probability: `probability_` + the class's text."""
    return f"probability_{class_text(value)}"


def class_text(value) -> str:
    """A class as one line of the label's vocabulary: "true"/"false", "2", "0.5", "Adelie"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def class_key(value):
    """A label value as a key that compares with a class: a number for numbers, "true"/"false"
    and numeric text (an eval row's 2.0 matches the class 2, "true" the class True)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in ("true", "false"):
            return float(text.lower() == "true")
        try:
            return float(text)
        except ValueError:
            return text
    return None if value is None else float(value)


class Classification(Task):
    """A class per row: the label is its class's index in the sorted class list, the head a
    softmax over the classes; gated on accuracy. A missing label (or one not among the
    classes) is -1."""

    missing_label = -1

    def metrics_specs(self, family: str, threshold: float) -> list:
        """Accuracy and log loss; for a binary label also ROC and PR AUC, precision and recall
        at the decision threshold, of the positive class (class 1)."""
        import json

        import tensorflow_model_analysis as tfma

        specs = [
            tfma.MetricsSpec(
                metrics=[
                    tfma.MetricConfig(class_name="ExampleCount"),
                    tfma.MetricConfig(class_name="SparseCategoricalAccuracy"),
                    tfma.MetricConfig(class_name="SparseCategoricalCrossentropy"),
                ]
            )
        ]
        if family == "binary":
            at = json.dumps({"thresholds": [float(threshold)]})
            specs.append(
                tfma.MetricsSpec(
                    metrics=[
                        tfma.MetricConfig(class_name="AUC"),
                        tfma.MetricConfig(class_name="AUCPrecisionRecall"),
                        tfma.MetricConfig(class_name="Precision", config=at),
                        tfma.MetricConfig(class_name="Recall", config=at),
                    ],
                    binarize=tfma.BinarizationOptions(class_ids={"values": [1]}),
                )
            )
        return specs

    def label_present(self, y):
        import tensorflow as tf

        return tf.reduce_all(y >= 0)

    def label_outputs(self, tft_out, label: str) -> int:
        return int(tft_out.vocabulary_size_by_name(label_vocabulary(tft_out, label)))

    def classes(self, tft_out, label: str) -> list:
        """The class values, typed as the label is: bools when the vocabulary is
        "false"/"true", else ints (an integer label), floats (a float label) or text."""
        import tensorflow as tf

        texts = [c.decode() for c in tft_out.vocabulary_by_name(label_vocabulary(tft_out, label))]
        raw = tft_out.raw_feature_spec().get(label)
        dtype = None if raw is None else raw.dtype
        if texts and set(texts) <= {"false", "true"}:
            return [t == "true" for t in texts]
        try:
            if dtype == tf.int64:
                return [int(t) for t in texts]
            if dtype == tf.float32:
                return [float(t) for t in texts]
        except ValueError:
            pass
        return texts

    def output_columns(self, classes: list) -> list[tuple[str, str]]:
        """`class` typed as the classes are (long, double, boolean or string)."""
        kinds = {type(c) for c in classes}
        kind = "string"
        if kinds == {bool}:
            kind = "boolean"
        elif kinds == {int}:
            kind = "long"
        elif kinds and kinds <= {int, float}:
            kind = "double"
        return [("class", kind), ("probability", "double")] + [
            (probability_column(c), "double") for c in classes
        ]

    def labels(self, raw: list, classes: list):
        """Each raw label's class index (-1: missing or not a class)."""
        import numpy as np

        index = {class_key(c): i for i, c in enumerate(classes)}
        return np.array([index.get(class_key(v), -1) for v in raw])

    def score(self, y, outputs) -> float:
        """Accuracy of the argmax."""
        import numpy as np

        return float(np.mean(np.asarray(outputs).argmax(axis=1) == np.asarray(y)))

    def agreement(self, reference, edge) -> float:
        """The same class."""
        import numpy as np

        return float(np.mean(reference.argmax(axis=1) == edge.argmax(axis=1)))

    def pyfunc_frame(self, outputs, classes: list, threshold: float | None = None):
        """The class (its own value: 2, True, "Adelie"), its probability, and one probability
        column per class. A binary model with a decision `threshold` says the positive class
        (the second) when its probability is at least the threshold, else the most probable."""
        import pandas as pd

        best = outputs.argmax(axis=1)
        if threshold is not None and outputs.shape[1] == 2:
            best = (outputs[:, 1] >= threshold).astype(int)
        frame = {
            "class": [classes[i] for i in best],
            "probability": outputs[range(len(best)), best].astype(float),
        }
        for i, c in enumerate(classes):
            frame[probability_column(c)] = outputs[:, i].astype(float)
        return pd.DataFrame(frame)


class Regression(Task):
    """A number per row: the label is the value as a float, the head one unit rescaled to the
    label's scale; gated on RMSE, with MAE reported."""

    def metrics_specs(self, family: str, threshold: float) -> list:
        """RMSE, MSE and MAE (R² is the gate's, core/metrics.py)."""
        import tensorflow_model_analysis as tfma

        names_ = ("ExampleCount", "RootMeanSquaredError", "MeanSquaredError", "MeanAbsoluteError")
        return [tfma.MetricsSpec(metrics=[tfma.MetricConfig(class_name=n) for n in names_])]

    missing_label = float("nan")

    def label_present(self, y):
        import tensorflow as tf

        return tf.reduce_all(tf.math.is_finite(y))

    def label_outputs(self, tft_out, label: str) -> int:
        return 1

    def input_target(self, tft_out, label: str, train_files: list[str]) -> dict:
        """One output, with the training labels' mean and std (the head rescales by them)."""
        mean, std = target_scale(train_files, label)
        return {"n_outputs": 1, "target_mean": mean, "target_std": std}

    def labels(self, raw: list, classes: list):
        import numpy as np

        return np.array([np.nan if v is None else float(v) for v in raw])

    def score(self, y, outputs) -> float:
        """-RMSE."""
        import numpy as np

        error = np.asarray(outputs).reshape(-1) - np.asarray(y).astype(float)
        return -float(np.sqrt(np.mean(error**2)))

    def agreement(self, reference, edge) -> float:
        """Within REGRESSION_TOLERANCE x the spread (std) of the reference's predictions (an
        absolute floor of 1e-6 for a constant model)."""
        import numpy as np

        ref, out = reference.reshape(-1), edge.reshape(-1)
        tolerance = max(REGRESSION_TOLERANCE * float(np.std(ref)), 1e-6)
        return float(np.mean(np.abs(ref - out) <= tolerance))

    def pyfunc_frame(self, outputs, classes: list, threshold: float | None = None):
        """The predicted value."""
        import pandas as pd

        return pd.DataFrame({"prediction": outputs.reshape(-1).astype(float)})


def label_vocabulary(tft_out, label: str) -> str:
    """The name of the label's vocabulary in a Transform output: `names.feature_name(label)`,
    or the label itself in a transform graph made before names were made safe."""
    name = names.feature_name(label)
    return name if tft_out.vocabulary_file_by_name(name) else label


def target_scale(file_patterns: list[str], label: str, limit: int = TARGET_SCALE_ROWS):
    """(mean, std) of the transformed label over the first `limit` training rows, read in file
    order, so the Tuner and the Trainer compute the same numbers from the same examples."""
    import numpy as np
    import tensorflow as tf

    name = names.xf(label)
    files = sorted(f for p in file_patterns for f in tf.io.gfile.glob(p))
    if not files:
        raise FileNotFoundError(f"no training examples in {file_patterns} to scale the label")
    spec = {name: tf.io.FixedLenFeature([1], tf.float32)}
    ds = tf.data.TFRecordDataset(files, compression_type="GZIP").take(limit).batch(1024)
    values = np.concatenate([tf.io.parse_example(b, spec)[name].numpy().reshape(-1) for b in ds])
    values = values[np.isfinite(values)]
    if not len(values):
        raise ValueError(f"the label {label!r} has no finite values in {file_patterns}")
    std = float(values.std())
    return float(values.mean()), std if std > 1e-6 else 1.0


CLASSIFICATION = Classification(
    name=engine_tasks.CLASSIFICATION.name,
    serving_output="probabilities",
    label_encoding="classes",
    metric="accuracy",
    tfma_metric="sparse_categorical_accuracy",
    agreement_rule="same class as the SavedModel",
    pyfunc_columns=(("class", "string"), ("probability", "double")),
)
REGRESSION = Regression(
    name=engine_tasks.REGRESSION.name,
    serving_output="predictions",
    label_encoding="value",
    metric="rmse",
    tfma_metric="root_mean_squared_error",
    agreement_rule=f"within {REGRESSION_TOLERANCE:.0%} of the SavedModel's prediction spread",
    pyfunc_columns=(("prediction", "double"),),
)
TASKS: dict[str, Task] = {t.name: t for t in (CLASSIFICATION, REGRESSION)}
NAMES = tuple(TASKS)


def get(task: str | Task) -> Task:
    """The Task named `task` (a Task is returned as it is)."""
    if isinstance(task, Task):
        return task
    if task not in TASKS:
        raise ValueError(f"task {task!r} is not one of {list(TASKS)}")
    return TASKS[task]
