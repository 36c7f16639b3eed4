"""Custom TFX components (NAS tuner, MLflow pusher), each split as component.py / executor.py."""
