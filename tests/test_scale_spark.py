"""The Spark path (optional extra ``spark``): grouped sums in Spark SQL, episodes through
``groupBy().applyInPandas``. Reference: the pandas path of the same functions (pinned to lme4
by the parity tests). One local session (``local[1]``, no UI, 2 shuffle partitions); skipped
only when pyspark or a Java runtime is missing, with the reason shown by ``pytest -ra``.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ipt_analytics as ipt
from ipt_analytics.models.mixed import fit_mixed

pyspark = pytest.importorskip(
    "pyspark", reason="pyspark is not installed (pip install -e '.[spark]')"
)
# pyspark's own deprecation notices under pandas 3 are not this project's warnings
pytestmark = pytest.mark.filterwarnings("ignore::Warning:pyspark.*")
if shutil.which("java") is None:
    pytest.skip("no Java runtime for Spark (apt-get install default-jre-headless)",
                allow_module_level=True)  # fmt: skip

REF = Path(__file__).parent / "reference"
SAMPLE = Path(__file__).parents[1] / "data" / "sample" / "sessions.csv"


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[1]").appName("ipt_analytics-tests")
        .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.memory", "1g").getOrCreate()
    )  # fmt: skip
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def test_spark_fit_equals_pandas(spark):
    sleep = pd.read_csv(REF / "data" / "sleepstudy.csv")
    sleep["half"] = np.where(sleep["Subject"] % 2 == 0, "even", "odd")
    formula = "Reaction ~ Days * half"
    a = fit_mixed(sleep, formula, groups="Subject", re_formula="~Days")
    b = fit_mixed(spark.createDataFrame(sleep), formula, groups="Subject", re_formula="~Days")
    fa, fb = a.fixed.set_index("term"), b.fixed.set_index("term")
    assert list(fa.index) == list(fb.index)
    np.testing.assert_allclose(fb["estimate"], fa["estimate"], rtol=1e-8,
                               atol=1e-6 * fa["std_error"].min())  # fmt: skip
    np.testing.assert_allclose(fb["std_error"], fa["std_error"], rtol=1e-6)
    np.testing.assert_allclose(fb["df"], fa["df"], rtol=1e-6)
    np.testing.assert_allclose(b.variance_components["variance"],
                               a.variance_components["variance"], rtol=1e-6)  # fmt: skip
    assert abs(a.loglik - b.loglik) < 1e-6 and b.ngroups == {"Subject": 18}


def test_spark_episode_outcomes_equal_in_memory(spark):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        long = ipt.read_sessions(SAMPLE).sessions
    long = long[long["episode_id"].isin(sorted(long["episode_id"].unique())[:40])]
    long = long.drop(columns=["date"]).reset_index(drop=True)  # Spark reads no ns timestamps
    a = ipt.episode_outcomes(long)
    b = ipt.episode_outcomes(spark.createDataFrame(long))
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert a.attrs == b.attrs
