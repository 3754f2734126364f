"""The docstring examples of the analysis core run and print what they claim."""

import doctest

import pytest

import analysis.agreement
import analysis.screening
import analysis.simulate
import analysis.stats


@pytest.mark.parametrize(
    "module", [analysis.stats, analysis.agreement, analysis.screening, analysis.simulate]
)
def test_docstring_examples_hold(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
