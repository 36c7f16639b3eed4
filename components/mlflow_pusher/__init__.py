"""MLflow pusher: registers a blessed TFX model in the MLflow Model Registry.

component.py (spec) / executor.py (work) as in TFX's own components; champion.py resolves the
registry's @champion back to its ML Metadata artifact; pyfunc_model.py is what
`mlflow.pyfunc.load_model("models:/<name>@champion")` runs. Importing this package imports
nothing heavy.
"""
