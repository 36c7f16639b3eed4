"""The NAS engine's TFX adapter: the NasTuner component (spec + executor), the data it reads
from Transform, parallel-trials workers, retraining modes, earlier searches in MLflow and the
generated notebooks. It imports core/ and nas/, never another component."""
