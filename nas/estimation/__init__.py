"""Performance estimation: cheaper ways to score a candidate than full training.

Each is switched on by the search's config (`nas/config.py`) and applied by the trial runner
(`runner.py`), so any strategy combines with any estimator:
- `fidelity.py`: lower fidelity during search (data, epochs, width, cells, resolution).
- `curve.py`: stop a trial whose extrapolated learning curve cannot beat the best.
- `halving.py`: successive halving; at each rung keep only trials in the top 1/eta so far.
- `inherit.py`: start a child from its parent's weights where shapes match.
- `morph.py`: function-preserving widen/deepen (Net2Net) so a child starts where its parent ended.
- `budget.py`: a trial ends once the search's time or compute budget is spent.
"""
