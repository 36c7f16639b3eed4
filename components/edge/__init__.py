"""Edge export: TensorFlow Lite versions of the trained network (see tflite.py)."""
