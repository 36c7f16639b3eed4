"""What the per-trial early stops share: a Keras callback that records the monitored score after
each epoch (continuing a restored history) and stops training when `should_stop` says so."""

from __future__ import annotations

import keras


class EpochStopper(keras.callbacks.Callback):
    """Records the monitored score after each epoch and stops training once `should_stop`
    (a subclass's rule) says so; `stopped_epoch` is then the epochs trained."""

    def __init__(self, monitor: str, history: list[float] | None = None):
        super().__init__()
        self.monitor = monitor
        self.values = list(history or [])
        self.stopped_epoch = None  # epochs trained when it stopped (None: it did not)

    def should_stop(self) -> bool:
        raise NotImplementedError

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        self.values.append(float(value))
        if self.should_stop():
            self.stopped_epoch = len(self.values)
            self.model.stop_training = True
