"""The public names listed in ipt_analytics resolve to real objects."""

import pytest

import ipt_analytics


@pytest.mark.parametrize("name", sorted(ipt_analytics._LAZY))
def test_lazy_public_name_resolves(name):
    value = getattr(ipt_analytics, name)
    assert value is not None
    assert getattr(value, "__module__", ipt_analytics._LAZY[name]).startswith("ipt_analytics")


def test_outcome_summary_is_public_and_lazy():
    from ipt_analytics.reporting.summary import outcome_summary

    assert "outcome_summary" in ipt_analytics.__all__
    assert ipt_analytics.outcome_summary is outcome_summary
    assert "outcome_summary" in dir(ipt_analytics)


def test_unknown_name_raises_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        ipt_analytics.nope  # noqa: B018


def test_import_does_not_load_matplotlib():
    import subprocess
    import sys

    code = (
        "import sys, ipt_analytics; ipt_analytics.read_sessions; print('matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
