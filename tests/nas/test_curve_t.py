"""The learning-curve stop's Student's t quantile (nas/estimation/curve.py), kept in the
standard library by the engine's import rule, against scipy's (the tests may import scipy)."""

from __future__ import annotations

import pytest
from scipy.stats import t

from nas.estimation.curve import t_quantile


@pytest.mark.parametrize("p", [0.9, 0.95, 0.99])
@pytest.mark.parametrize("dof", [1, 2, 3, 4, 5, 8, 20, 100])
def test_the_t_quantile_is_scipy_s(p, dof):
    exact = t.ppf(p, dof)
    tolerance = 0.003 if p <= 0.95 else 0.02
    assert t_quantile(p, dof) == pytest.approx(exact, rel=tolerance)
