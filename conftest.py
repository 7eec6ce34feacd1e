"""Test configuration shared by the test suite and the doctests in the package."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib  # noqa: E402
import pytest  # noqa: E402

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _close_figures():
    # Figures left open leak memory across hundreds of plotting tests.
    yield
    import matplotlib.pyplot as plt

    plt.close("all")
