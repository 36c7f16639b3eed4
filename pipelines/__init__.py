"""TFX pipeline definitions and the node runner. Runs in the pipeline (TFX) environment."""
