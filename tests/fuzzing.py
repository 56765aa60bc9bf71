"""Running a property over generated cases, with the number of cases tried recorded for the test summary.

``run_cases(request, strategy, check, examples)`` runs ``check`` on at most ``examples`` values drawn from
``strategy`` (deterministically: the same cases on every run, no example database) and records the count
as the test's ``cases`` property; ``tests/conftest.py`` prints the counts at the end of the run.
``PINNLAB_FUZZ_SCALE`` multiplies every budget (e.g. 10 for a longer, randomised search).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def fuzz_scale() -> float:
    """The factor on every example budget (``PINNLAB_FUZZ_SCALE``, default 1; above 1 the search is random)."""
    try:
        return max(float(os.environ.get("PINNLAB_FUZZ_SCALE", "1")), 0.01)
    except ValueError:
        return 1.0


def run_cases(request: pytest.FixtureRequest, strategy: st.SearchStrategy[Any], check: Callable[[Any], None],
              examples: int) -> int:
    """Run ``check`` on generated cases; returns (and records) how many were tried."""
    scale = fuzz_scale()
    count = 0

    @settings(max_examples=max(int(examples * scale), 1), derandomize=scale <= 1, database=None, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
              print_blob=True)
    @given(strategy)
    def property_holds(value: Any) -> None:
        nonlocal count
        count += 1
        check(value)

    try:
        property_holds()
    finally:
        request.node.user_properties.append(("cases", count))
    return count
