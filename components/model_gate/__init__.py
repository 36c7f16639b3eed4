"""The Evaluator: TFMA's evaluation of the candidate on the test split, and the gate
(core/gate.py) on the same rows: the candidate against the trivial baseline and @champion, with a
paired bootstrap. component.py (spec) / executor.py (work), as in TFX's own components; the
blessing is the gate's. Importing this package imports nothing heavy.
"""
