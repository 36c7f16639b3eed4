"""The registered pyfunc, as code (MLflow's models-from-code): the pusher logs this file, and
`mlflow.pyfunc.load_model` runs it, so loading a model runs this repository's code (carried in
the model's code paths) instead of unpickling an object. What it builds is
`pyfunc_model.TFXServingModel`; its settings are the logged model's `model_config`."""

from mlflow.models import set_model

from components.mlflow_pusher.pyfunc_model import TFXServingModel

set_model(TFXServingModel())
