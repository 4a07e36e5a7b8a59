"""The chart, loaded once per test module."""

from collections.abc import Iterator

import helm_python as helm
import pytest

from .charts import CHART


@pytest.fixture(scope="module")
def chart() -> Iterator[helm.Chart]:
    with helm.Chart.load(CHART) as loaded:
        yield loaded
