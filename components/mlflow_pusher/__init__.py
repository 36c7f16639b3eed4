"""MLflow pusher: registers a blessed TFX model in the MLflow Model Registry.

component.py (spec) / executor.py (work) as in TFX's own components; champion.py resolves the
registry's @champion back to its ML Metadata artifact, when it was trained on the run's label
and schema; pyfunc_model.py is what `mlflow.pyfunc.load_model("models:/<name>@champion")` runs,
serving.py what it takes (its raw inputs and MLflow signature) and how it is logged. Importing
this package imports nothing heavy.
"""
