"""Generated Jupyter notebooks: one per top-k candidate of a search, and one for the registry's
champion, each re-creating its model from the run's transformed data.

Every notebook loads Transform's output of the run, rebuilds the architecture from its JSON
(or the user's baseline module), trains it at full fidelity with the pipeline's epochs and
steps, evaluates it on the eval split and prints the search's metric, `eval accuracy: 0.xxxx`
(regression: `eval rmse: X`). The Tuner writes them
to `<search_results>/notebooks/`, so they are logged to MLflow with the search
(`search/notebooks/`). They read the artifacts where the pipeline wrote them and import this
repository, so run them in the pipeline environment on a machine that sees the pipeline root:

    .venv/tfx/bin/python -m components.nas_tuner.notebooks --execute rank1_trial_3.ipynb
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys

import nbformat
from nbformat import v4

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOP_K = 3
RESULT = re.compile(r"eval (accuracy|rmse): ([0-9.]+)")


def _code(text: str):
    return v4.new_code_cell(text.strip("\n"))


def notebook(title: str, about: str, model: dict, data: dict, training: dict):
    """A notebook that rebuilds `model` ({"architecture": json} or {"user_module": path,
    "hyperparameters": config}) on `data` (examples, transform_graph, label, input_spec) and
    trains it with `training` (epochs, steps, eval_steps, batch_size, seed) and reports
    `training["metric"]` on the validation split."""
    setup = f"""
import os, sys, json
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, {REPO!r})  # this project: components.nas rebuilds the model
EXAMPLES = {data["examples"]!r}  # Transform's transformed examples (Split-train, Split-validation)
TRANSFORM_GRAPH = {data["transform_graph"]!r}
LABEL = {data["label"]!r}
INPUT_SPEC = {data["input_spec"]!r}
MODEL = json.loads({json.dumps(model)!r})
EPOCHS, STEPS, EVAL_STEPS = {training["epochs"]}, {training["steps"]}, {training["eval_steps"]}
BATCH_SIZE, SEED = {training["batch_size"]}, {training["seed"]}
METRIC = {training["metric"]!r}  # the search's metric (nas/task.py)
"""
    load = """
from components.nas_tuner import tfx_io  # TensorFlow and tf.Transform, then Keras 3

train = tfx_io.split_dataset(EXAMPLES, TRANSFORM_GRAPH, LABEL, "train", BATCH_SIZE, SEED)
evaluation = tfx_io.split_dataset(EXAMPLES, TRANSFORM_GRAPH, LABEL, "validation", BATCH_SIZE)
features, labels = next(iter(train))
print({name: tuple(t.shape) for name, t in features.items()}, "label", tuple(labels.shape))
"""
    build = """
import keras
import keras_tuner
from nas import baseline
from nas.encoding import Architecture
from nas.inputs import InputSpec
from nas.spaces import get_space

keras.utils.set_random_seed(SEED)
spec = InputSpec.from_json(INPUT_SPEC)
if MODEL.get("user_module"):
    hp = keras_tuner.HyperParameters.from_config(MODEL["hyperparameters"])
    model, _ = baseline.build(MODEL["user_module"], spec, hp)
else:
    arch = Architecture.from_json(MODEL["architecture"])
    model = get_space(arch.space, spec, seed=SEED).build_model(arch)
model.summary()
"""
    fit = """
history = model.fit(train, epochs=EPOCHS, steps_per_epoch=STEPS, validation_data=evaluation,
                    validation_steps=EVAL_STEPS, verbose=2)
"""
    evaluate = """
results = model.evaluate(evaluation, steps=EVAL_STEPS, verbose=0, return_dict=True)
print(f"eval {METRIC}: {results[METRIC]:.4f}")
"""
    nb = v4.new_notebook()
    nb.cells = [
        v4.new_markdown_cell(f"# {title}\n\n{about}"),
        _code(setup),
        v4.new_markdown_cell("## The run's transformed data"),
        _code(load),
        v4.new_markdown_cell("## The model, rebuilt from its description"),
        _code(build),
        v4.new_markdown_cell("## Training at full fidelity"),
        _code(fit),
        v4.new_markdown_cell("## Evaluation"),
        _code(evaluate),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return nb


def _model_of(row: dict) -> dict | None:
    if row.get("user_module"):
        return {"user_module": row["user_module"], "hyperparameters": row["hyperparameters"]}
    if row.get("architecture"):
        return {"architecture": row["architecture"]}
    return None


def champion_model(hyperparameters: dict) -> dict:
    """The notebook's model description for the champion's saved hyperparameters."""
    import keras_tuner

    from components.nas_tuner import modes
    from nas import baseline

    arch = modes.architecture_of(keras_tuner.HyperParameters.from_config(hyperparameters))
    if arch is None:  # the user's baseline model
        module = baseline.module_of(hyperparameters["values"])
        return {"user_module": module, "hyperparameters": hyperparameters}
    return {"architecture": arch.to_json()}


def write_all(
    ranked_rows: list[dict],
    out_dir: str,
    data: dict,
    training: dict,
    run: str,
    champion: dict | None = None,
    k: int = TOP_K,
) -> list[str]:
    """Notebooks for the top `k` scored rows of `ranked_rows` (best first) and, when given, the
    champion's hyperparameters. Returns the paths written."""
    os.makedirs(out_dir, exist_ok=True)
    todo = []
    for row in [r for r in ranked_rows if r.get("score") is not None][:k]:
        model = _model_of(row)
        if model is not None:
            title = f"Candidate {row['trial_id']} (rank {row.get('rank')}) of run {run}"
            about = (
                f"{row.get('summary')}  \nsearch score {row['score']:.4f} at fidelity "
                f"{row.get('fidelity')}, {row.get('params')} parameters"
            )
            todo.append(
                (f"rank{row.get('rank')}_trial_{row['trial_id']}.ipynb", title, about, model)
            )
    if champion is not None:
        todo.append(
            (
                "champion.ipynb",
                f"The registry's champion before run {run}",
                "The @champion model's architecture, retrained on this run's data.",
                champion_model(champion),
            )
        )
    paths = []
    for name, title, about, model in todo:
        path = os.path.join(out_dir, name)
        nbformat.write(notebook(title, about, model, data, training), path)
        paths.append(path)
    return paths


def execute(path: str, timeout: int = 900) -> str:
    """Run the notebook in place with nbclient on this environment's kernel; returns its
    printed output."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3").execute(
        cwd=os.path.dirname(os.path.abspath(path))
    )
    nbformat.write(nb, path)
    text = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                text.append(out.get("text", ""))
    return "".join(text)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Run a generated notebook in place.")
    p.add_argument("--execute", required=True, help="path of the .ipynb")
    args = p.parse_args(argv)
    out = execute(args.execute)
    found = RESULT.findall(out)
    metric, value = found[-1] if found else ("accuracy", None)
    print(json.dumps({metric: float(value) if value is not None else None}))
    return 0 if found else 1


if __name__ == "__main__":
    sys.exit(main())
