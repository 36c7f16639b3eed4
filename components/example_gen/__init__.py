"""ExampleGen by a split column: the stock CSV and TFRecord ExampleGens, with an executor that
sends each row to the split its `split_column` names (train, validation or test) instead of a
hash bucket, and drops that column (it is not a feature). component.py builds the node;
executor.py does the work. Importing this package imports nothing heavy."""
