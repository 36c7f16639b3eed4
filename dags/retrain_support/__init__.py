"""Helpers for the retraining DAGs. Standard library only: no TFX, no TensorFlow."""
