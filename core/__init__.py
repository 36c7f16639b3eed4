"""The common core every component may import: the settings contract, task types, MLflow
helpers, names of tags and files, and the TFLite edge export. It imports no TFX component."""
