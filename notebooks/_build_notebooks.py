"""Write the tutorial notebooks (``notebooks/0*.ipynb``) from the Python source below.

The notebooks are generated so that they can be reviewed as code and regenerated
byte-identically: cell ids are fixed, and no outputs are stored. Run from anywhere::

    python notebooks/_build_notebooks.py            # (re)write the notebooks next to this file
    python notebooks/_build_notebooks.py --check    # exit 1 if the stored files differ

``tests/test_notebooks.py`` executes every notebook and checks that this script reproduces
the committed files.

Notebooks hold no statistics of their own: every number comes from an ``ipt_analytics``
function; pandas is used only to select, join, count and lay out its tables.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

# --------------------------------------------------------------------------------------------
# Shared first code cell: find the repository root from wherever the notebook is run.
# --------------------------------------------------------------------------------------------
SETUP = '''\
%matplotlib inline
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import ipt_analytics as ia


def find_repo_root(start=None):
    """The first folder at or above `start` (default: the working folder) with data/sample."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "data" / "sample" / "sessions.csv").is_file():
            return folder
    raise FileNotFoundError(
        f"No data/sample/sessions.csv in {here} or any folder above it. Start Jupyter inside "
        "the ipt_analytics repository, or set SAMPLE to the folder holding the sample files."
    )


ROOT = find_repo_root()
SAMPLE = ROOT / "data" / "sample"
# display settings only: the toolkit's tables are never rounded, the screen rounds them
pd.set_option("display.precision", 3)
pd.set_option("display.max_columns", 40)
pd.set_option("display.width", 160)
plt.rcParams["figure.dpi"] = 90
# show the toolkit's warnings as one line each: "DataWarning: ..."
warnings.formatwarning = lambda message, category, *args, **kwargs: (
    f"{category.__name__}: {message}\\n"
)
print("ipt_analytics", ia.__version__, "| sample data:", SAMPLE.relative_to(ROOT))'''

RELIABILITY_NOTE = """\
**Reliability for the Jacobson-Truax reliable change index.** The RCI needs the reliability of
the instrument. We pass `reliability=0.89` explicitly: the internal consistency (Cronbach's
alpha) of the PHQ-9 in the PHQ Primary Care Study (Kroenke, Spitzer & Williams 2001, *J Gen
Intern Med* 16:606-613). It is also the default stored in `ipt_analytics.instruments` (printed
below; `None` there would leave the RCI columns empty), but writing it in the analysis keeps
the value visible and fixed whatever the installed version. Report the value and its type with
your results: a test-retest coefficient (0.84 in the same paper) gives a larger reliable-change
threshold and fewer reliable improvers."""


def md(text: str):
    return ("markdown", text)


def code(text: str):
    return ("code", text)


# --------------------------------------------------------------------------------------------
# 01 quickstart
# --------------------------------------------------------------------------------------------
NB01 = [
    md("""\
# 01 Quickstart: from a session file to clinical outcomes

This notebook walks through the first hour with `ipt_analytics`:

1. read a messy file without losing track of a single row (`on_error="quarantine"`);
2. read the clean sample cohort and look at what was loaded;
3. severity bands and the PHQ-9 item 9 safety flag;
4. episode outcomes: response, remission and reliable improvement;
5. a first figure of the observed symptom trajectories.

All data in `data/sample` are **synthetic** (drawn by
`ipt_analytics.datasets.synth`); they describe no
real person. The notebook finds the repository root by walking up from the working folder until
it meets `data/sample`, so it runs from `notebooks/` or from the root."""),
    code(SETUP),
    md("""\
## 1. A messy file: every row accepted or rejected, with a reason

Routine data are rarely clean. `read_sessions` validates every row against the data contract
(items in range, known labels, real dates, dates in session order, no conflicting duplicates,
...). With the default `on_error="raise"` any problem stops the load with a `SchemaError` that
lists the rows to fix. With `on_error="quarantine"` the valid rows are kept and the others are
returned in `.rejected`, one row per problem, with the spreadsheet row number (header = row 1),
the column, the offending value and the reason. Nothing is coerced or dropped silently."""),
    code("""\
messy = ia.read_sessions(SAMPLE / "messy_sessions.csv", on_error="quarantine")
messy"""),
    md("The rejected rows, as a table you can hand back to whoever keeps the spreadsheet:"),
    code("""\
messy.rejected"""),
    code("""\
messy.rejected_by_reason()"""),
    md("""\
**The accounting always balances:** every input row is either accepted, rejected, or an exact
duplicate of an accepted row that was collapsed (and counted). If these numbers did not add
up, rows would have disappeared somewhere."""),
    code("""\
accounted = messy.n_accepted_rows + messy.n_rejected_rows + messy.n_duplicates_collapsed
print(
    f"accounting: {messy.n_input_rows} input rows = {messy.n_accepted_rows} accepted "
    f"+ {messy.n_rejected_rows} rejected + {messy.n_duplicates_collapsed} duplicates collapsed "
    f"({'balanced' if accounted == messy.n_input_rows else 'NOT balanced'})"
)"""),
    md("""\
With the default `on_error="raise"` the same file stops the analysis. The error names the row,
column, value, reason and the fix; the full list is on the exception's `.problems`."""),
    code("""\
try:
    ia.read_sessions(SAMPLE / "messy_sessions.csv")
except ia.SchemaError as err:
    print("\\n".join(str(err).splitlines()[:4]))
    print(f"... {len(err.problems)} problems in total on err.problems")"""),
    md("""\
## 2. The sample cohort

`sessions.csv` is a routine-care IPT cohort: one row per attended session with PHQ-9 items at
every session, GAD-7 items at most sessions and QIDS-SR16 at one site. `read_sessions` scores
the items (totals, severity bands, prorating at most 2 missing PHQ-9 items), derives the
weeks since each episode's first session and builds one row per treatment episode."""),
    code("""\
data = ia.read_sessions(SAMPLE / "sessions.csv")
data"""),
    code("""\
data.summary()"""),
    md("""\
`data.sessions` is the canonical long table, one row per rating (instrument) per session.
The episode table `data.episodes` holds each episode's primary format, problem area, therapist,
site, planned sessions and how it ended."""),
    code("""\
data.sessions[
    ["episode_id", "session", "date", "week", "instrument", "total", "severity",
     "safety_flag", "format", "problem_area"]
].head(6)"""),
    code("""\
data.episodes.head()"""),
    md("""\
## 3. Severity bands and the safety flag

Each total is placed in the instrument's published severity band (PHQ-9: 0-4 none/minimal,
5-9 mild, 10-14 moderate, 15-19 moderately severe, 20-27 severe; Kroenke et al. 2001). The
instrument facts, with their sources, are data in `ipt_analytics.instruments`:"""),
    code("""\
phq9 = ia.get_instrument("phq9")
pd.DataFrame(phq9.bands, columns=["low", "high", "band"])"""),
    md("""\
The share of PHQ-9 ratings in each band, session by session, shows the cohort moving from
moderate-to-severe depression towards the mild and minimal bands. Late sessions include only
the clients with longer courses (note the numbers of ratings above the bars)."""),
    code("""\
from ipt_analytics.stats.describe import severity_shares
from ipt_analytics.plotting import plot_severity_shares

shares = severity_shares(data.sessions, instrument="phq9", max_time=16)
fig, ax = plt.subplots(figsize=(9, 4))
plot_severity_shares(shares, ax=ax)
ax.set_title("PHQ-9 severity band by session", pad=16);"""),
    md("""\
**Safety flag.** PHQ-9 item 9 asks about thoughts of being better off dead or of self-harm.
Any answer above 0 sets `safety_flag`, whatever the total: a low total never hides it, and the
clinician should follow the service's risk protocol. The flag is unknown (NA), never "no",
when item 9 was not answered. The counts below are ratings and episodes with at least one
flag."""),
    code("""\
phq = data.sessions[data.sessions["instrument"] == "phq9"]
baseline_rows = phq.groupby("episode_id").head(1)
pd.Series(
    {
        "PHQ-9 ratings": len(phq),
        "ratings with item 9 > 0": int(phq["safety_flag"].sum()),
        "ratings with item 9 unanswered": int(phq["safety_flag"].isna().sum()),
        "episodes with a flag at any session": phq.loc[phq["safety_flag"].eq(True),
                                                       "episode_id"].nunique(),
        "episodes with a flag at baseline": int(baseline_rows["safety_flag"].sum()),
        "episodes": phq["episode_id"].nunique(),
    },
    name="count",
).to_frame()"""),
    md("""\
## 4. Episode outcomes

`episode_outcomes` turns each episode's ratings into one row of outcomes. The main ones:

- **response**: PHQ-9 reduced by at least 50% from baseline (the first rating, completed
  before the first session) to the last rating;
- **remission**: last PHQ-9 below 5, i.e. back in the none/minimal band;
- **reliable improvement** (Jacobson & Truax 1991): the decrease is larger than the
  measurement error could plausibly produce, |RCI| > 1.96 with
  RCI = change / (SD_baseline x sqrt(2 (1 - reliability)));
- **cs_category**: recovered (reliable improvement and below the clinical cut-off), improved,
  unchanged, deteriorated, harmed;
- the NHS Talking Therapies measures (`nhs_recovery`, `nhs_reliable_improvement`: PHQ-9
  decrease >= 6 or GAD-7 >= 4), which use fixed thresholds and need no reliability.

An episode with a single rating has no outcome (NA, never False) and `outcome_note` says why."""),
    md(RELIABILITY_NOTE),
    code("""\
print("default reliability stored for the PHQ-9:", phq9.reliability)
PHQ9_RELIABILITY = 0.89  # Cronbach's alpha, Kroenke et al. 2001
outcomes = ia.episode_outcomes(data, instrument="phq9", reliability=PHQ9_RELIABILITY)
jt = outcomes.attrs["definitions"]["jacobson_truax"]
print(
    f"S_diff = {jt['s_diff']:.2f} points; a reliable change needs more than "
    f"{jt['critical_value'] * jt['s_diff']:.2f} points; clinical cut-off (criterion "
    f"{jt['criterion']}) = {jt['cutoff']:.2f}"
)"""),
    code("""\
outcomes[
    ["episode_id", "format", "n_ratings", "baseline", "final", "change", "pct_change",
     "response", "remission", "reliable_improvement", "cs_category", "nhs_reliable_improvement"]
].head(8)"""),
    md("""\
A short table of the rates. Each rate's denominator is the episodes where the outcome is
defined (at least two ratings; for NHS reliable improvement: finished treatment). The Wilson
interval comes from `ipt_analytics.stats.intervals`."""),
    code("""\
from ipt_analytics.stats.intervals import wilson_interval

rows = []
for name in ["response", "remission", "reliable_improvement", "nhs_reliable_improvement",
             "nhs_recovery", "dropout"]:
    defined = outcomes[name].dropna()
    events, n = int(defined.sum()), len(defined)
    low, high = wilson_interval(events, n)
    rows.append({"outcome": name, "events": events, "n": n, "rate": events / n,
                 "conf_low": float(low), "conf_high": float(high)})
pd.DataFrame(rows)"""),
    code("""\
outcomes["cs_category"].value_counts().rename("episodes").to_frame()"""),
    md("""\
## 5. Observed trajectories

Mean PHQ-9 per session by format with a 95% t interval, over a faint sample of individual
episodes (10 per format, drawn with a fixed seed). These are observed means: later sessions
contain only the clients still in treatment, so the curve mixes change over time with who stays.
Notebook 02 models the trajectories properly."""),
    code("""\
from ipt_analytics.plotting import plot_observed_trajectories

fig, ax = plt.subplots(figsize=(9, 5))
plot_observed_trajectories(data.sessions, by="format", n_lines=10, seed=1, max_time=16, ax=ax)
ax.set_title("Observed PHQ-9 by session and format");"""),
    md("""\
**Next:** `02_trajectories.ipynb` (mixed-effects trajectory models),
`03_formats_and_problem_areas.ipynb` (the tables and figures of a paper) and
`04_quality_improvement.ipynb` (quarterly quality-improvement workflow)."""),
]

# --------------------------------------------------------------------------------------------
# 02 trajectories
# --------------------------------------------------------------------------------------------
NB02 = [
    md("""\
# 02 Symptom trajectories with linear mixed models

Each episode contributes a series of PHQ-9 ratings, one before every session. Ratings of the
same client are correlated, clients are seen for different numbers of sessions, and some leave
early. A **linear mixed model** handles all three: every episode gets its own starting level
(random intercept) and its own rate of change (random slope) around the average trajectory,
every available rating is used, and the estimates remain valid when dropout depends on the
scores already observed (missing at random).

`ipt_analytics.fit_trajectory` builds and fits these models (the same numbers as R's
lme4/lmerTest; `tests/reference/` holds the R scripts). This notebook fits them to the whole
synthetic sample cohort (1,200 episodes; each fit takes a few seconds). The true parameters of
the generator are in `data/sample/README.md`, so the estimates can be checked against them."""),
    code(SETUP),
    code("""\
data = ia.read_sessions(SAMPLE / "sessions.csv")
print(data.summary()["n_episodes"], "episodes,", data.summary()["instruments"]["phq9"],
      "PHQ-9 ratings")"""),
    md("""\
## 1. A linear trajectory by format

`total ~ time * format + (time | episode_id)`: time is weeks since the episode's first session,
so the intercept is the expected baseline score and the `time` coefficient the change in
PHQ-9 points per week in the reference format (individual IPT). `format[T.x]` is the
difference in baseline and `time:format[T.x]` the difference in weekly change for format x.
Format is taken per session (an episode that moves from in-person to video contributes ratings
to both)."""),
    code("""\
fit = ia.fit_trajectory(data, by="format", time="week", shape="linear")
print(fit.summary())"""),
    md("""\
**Satterthwaite degrees of freedom.** In a mixed model the t statistic of a fixed effect has
no exact reference distribution, because its standard error depends on estimated variance
components. The Satterthwaite approximation (as in lmerTest) finds the df of the t distribution
that best matches the uncertainty of that standard error. With 1,200 episodes the df are in
the hundreds or thousands and the t test is practically a z test; with few episodes, or for
effects that vary between therapists, they become small and the intervals wider."""),
    code("""\
fit.fixed"""),
    md("""\
Because the data are synthetic, the slope differences can be set beside the values they were
drawn from (`ipt_analytics.datasets.synth.TRUE_PARAMETERS`): each 95% interval should cover its true
value in 19 of 20 such analyses. (The `time` slope itself is not comparable one to one: it
also absorbs the problem-area and medication offsets, averaged over the cohort.)"""),
    code("""\
from ipt_analytics.datasets.synth import TRUE_PARAMETERS

true_offsets = pd.DataFrame(
    {"term": [f"time:format[T.{f}]" for f in TRUE_PARAMETERS.format_slope if f != "individual"],
     "true_value": [v for f, v in TRUE_PARAMETERS.format_slope.items() if f != "individual"]}
)
columns = ["term", "estimate", "conf_low", "conf_high", "true_value"]
fit.fixed.merge(true_offsets, on="term")[columns]"""),
    md("""\
**Variance components.** The SD of the random intercepts says how much clients differ at
baseline; the SD of the random slopes how much their weekly change differs; their correlation
whether clients who start higher improve faster; the residual SD is the session-to-session
noise. `.warnings` lists fit problems in plain words (empty here)."""),
    code("""\
fit.model.variance_components"""),
    code("""\
print("fit warnings:", fit.warnings or "none")"""),
    md("""\
## 2. IPT phases: a piecewise trajectory

IPT has an initial phase (about 3 sessions: history, interpersonal inventory, choice of problem
area), a middle phase working on the problem area, and a termination phase (the last 2-4
sessions). `shape="piecewise"` gives each phase its own slope, with knots placed per episode:
the initial phase ends after 3 completed sessions and termination starts 3 sessions before the
planned end. On the session scale the coefficients are PHQ-9 points per session within each
phase."""),
    code("""\
fit_phases = ia.fit_trajectory(data, by="format", time="session", shape="piecewise")
phase_terms = fit_phases.fixed[fit_phases.fixed["term"].isin(["initial", "middle", "termination"])]
phase_terms"""),
    md("""\
In the synthetic data the true course is linear in weeks, so the three phase slopes of
individual IPT are close to each other; in real data a steeper initial phase (early response)
or a plateau during termination would show up here."""),
    md("""\
## 3. Nesting: therapists and therapy groups

Clients of the same therapist, and members of the same therapy group, are not independent.
`nest=["therapist", "group"]` adds a random intercept per therapist and per group (only ratings
given in a group session get a group effect: partial nesting)."""),
    code("""\
fit_nested = ia.fit_trajectory(data, by="format", nest=["therapist", "group"])
fit_nested.model.variance_components"""),
    code("""\
print("fit warnings:", fit_nested.warnings or "none")
fit_nested.model.icc"""),
    md("""\
## 4. Comparing models

`compare` is a likelihood-ratio test of two nested models fitted to the same rows (like
`anova()` in lme4). Both comparisons below differ only in their random parts, so the REML
fits are compared directly. A variance tested at zero lies on the boundary of its range, which
makes the chi-square p-value conservative (too large)."""),
    code("""\
fit_intercept = ia.fit_trajectory(data, by="format", random="intercept")
fit_intercept.model.compare(fit.model)"""),
    code("""\
fit.model.compare(fit_nested.model)"""),
    md("""\
## 5. Estimated marginal means at week 12 and contrasts

A marginal mean is the model's expected PHQ-9 for each format at a given time (here week 12,
the usual end of a 12-16 session course), with a t interval on Satterthwaite df. Contrasts
compare every pair of formats; the p-values are adjusted with Holm's method for the 10
comparisons, and the intervals are Bonferroni-adjusted (Holm has no interval counterpart)."""),
    code("""\
from ipt_analytics.models.emmeans import contrasts, effect_size, marginal_means
from ipt_analytics.plotting import plot_contrasts, plot_marginal_means

means_12 = marginal_means(fit, at={"week": 12}, by="format")
means_12"""),
    code("""\
fig, ax = plt.subplots(figsize=(7, 4))
plot_marginal_means(means_12, group="format", ax=ax, conf_level=0.95, at="week 12")
ax.set_title("Estimated mean PHQ-9 at week 12", pad=22);"""),
    code("""\
pairs_12 = contrasts(fit, by="format", at={"week": 12}, p_adjust="holm")
pairs_12"""),
    code("""\
fig, ax = plt.subplots(figsize=(8, 5))
plot_contrasts(pairs_12, ax=ax, at="week 12")
ax.set_title("Differences in PHQ-9 at week 12", pad=22);"""),
    md("""\
The slopes themselves can be compared too (`on="slope"`): here each format against individual
IPT, the treatment-versus-control family."""),
    code("""\
contrasts(fit, by="format", on="slope", method="trt.vs.ctrl", reference="individual")"""),
    md("""\
## 6. Effect size: GMA d

For growth models Feingold's GMA d expresses the difference in model-implied change over the
course (slope difference x duration) in units of the baseline SD, so it is comparable with a
pre-post Cohen's d. Positive d here means the format improves **less** than individual IPT
(scores fall more slowly). Duration defaults to the median course length in weeks."""),
    code("""\
effect_size(fit, by="format", reference="individual")"""),
    md("""\
## 7. Predicted trajectories

The model's mean trajectory per format (population level, with 95% confidence bands), over the
observed means as points. Each format's line is solid and banded only over the weeks that format
was observed (up to the last week at least 10 of its episodes reach); beyond that it is dashed,
an extrapolation (internet IPT, 8-12 sessions, stops being data after week 12). Observed means
of fewer than 10 ratings are not drawn."""),
    code("""\
from ipt_analytics.stats.describe import observed_means
from ipt_analytics.plotting import plot_predicted_trajectories

predicted = fit.predictions(times=np.arange(0, 17))
observed = observed_means(data.sessions, time="week", by="format")
observed = observed[observed["time"] <= 16]
fig, ax = plt.subplots(figsize=(9, 5))
plot_predicted_trajectories(predicted, observed=observed, time="week", ax=ax)
ax.set_title("Model-predicted PHQ-9 by format");"""),
    md("""\
## 8. Expected recovery and "not on track"

For an individual client the relevant question is not the average trajectory but "is this
client recovering as expected for someone who started where they started?". The model implies
a joint normal distribution of a client's scores; **conditioning on the observed baseline**
shifts the expected course (a client starting at 22 is expected to stay above one starting at
12, and partly regress towards the mean) and narrows the band, because part of the future
variation is already known from the baseline. The 80% and 90% bands are **prediction bands
for a single rating**, not confidence bands for the mean. A rating above the upper limit of the
90% band happens for 5% of ratings of clients who follow the model: such a client is flagged
*not on track* and the case is worth reviewing (an open counterpart of the proprietary signal
systems of routine outcome monitoring)."""),
    code("""\
from ipt_analytics.plotting import plot_expected_recovery

bands = ia.expected_recovery(fit, baseline=18, settings={"format": "individual"},
                             sessions=range(1, 17))
bands.head()"""),
    md("""\
`flag_not_on_track` applies this to every episode still in treatment (end reason `ongoing`)
and compares its latest score with its own band:"""),
    code("""\
flags = ia.flag_not_on_track(fit, data, level=0.9)
print(f"{int(flags['not_on_track'].sum())} of {len(flags)} ongoing episodes are not on track")
flags[flags["not_on_track"]]"""),
    md("""\
One flagged episode, drawn against the band computed from its own baseline, format and session
weeks (the figure says "this client": never put an identifier in a figure that is shared)."""),
    code("""\
example_id = flags.loc[flags["not_on_track"], "episode_id"].iloc[0]
client = data.sessions[(data.sessions["episode_id"] == example_id)
                       & (data.sessions["instrument"] == "phq9")]
client_bands = ia.expected_recovery(
    fit,
    baseline=float(client["total"].iloc[0]),
    settings={"format": client["format"].iloc[0]},
    sessions=client["session"].tolist(),
    weeks=client["week"].tolist(),
)
fig, ax = plt.subplots(figsize=(8, 4.5))
plot_expected_recovery(client_bands, client=client[["session", "total"]], time="session", ax=ax)
ax.set_title(f"Expected recovery ({client['format'].iloc[0]}, baseline "
             f"{client['total'].iloc[0]:.0f})");"""),
    md("""\
## 9. Dropout sensitivity

The mixed model is valid if dropout depends only on scores already observed (missing at
random, MAR). A pattern-mixture check fits separate slopes for completers and dropouts: if
dropouts' scores were falling more slowly before they left, dropout is related to the course of
symptoms, and the pattern-mixture average slope should be reported beside the MAR slope.

How to read it on the synthetic cohort: dropout was generated to depend on the latest observed
score (MAR): clients whose scores stay high are more likely to leave, and internet clients, who
improve more slowly, leave more often. Dropouts therefore have shallower slopes and the check
reports a difference, although the MAR mixed model is the right model for these data. A
difference shows that dropout is related to the course of symptoms; whether that relation goes
beyond the observed scores (missing not at random) cannot be decided from the data, so report
both slopes."""),
    code("""\
from ipt_analytics.models.dropout import dropout_sensitivity

sensitivity = dropout_sensitivity(data)
print(sensitivity.attrs["note"])
sensitivity"""),
]

# --------------------------------------------------------------------------------------------
# 03 formats and problem areas
# --------------------------------------------------------------------------------------------
NB03 = [
    md("""\
# 03 Formats and problem areas: the tables and figures of a paper

A comparison of IPT delivery formats (individual, group, telehealth, telephone, internet) and
of the four IPT problem areas, as it would appear in a paper:

- Table 1: baseline characteristics by format;
- Table 2: outcome rates by format with Wilson intervals, and adjusted odds ratios;
- Table 3: ANCOVA of the final PHQ-9 score, adjusted for baseline;
- figures: Kaplan-Meier time to response with the log-rank test, waterfall plot, Jacobson-Truax
  plot, forest plot of contrasts;
- the same, briefly, for problem areas.

In routine care the format is not randomised: the comparisons describe the clients who received
each format and are adjusted only for what was measured."""),
    code(SETUP),
    md(RELIABILITY_NOTE),
    code("""\
from ipt_analytics.stats.groups import compare_groups
from ipt_analytics.stats.survival import kaplan_meier

data = ia.read_sessions(SAMPLE / "sessions.csv")
print("default reliability stored for the PHQ-9:", ia.get_instrument("phq9").reliability)
PHQ9_RELIABILITY = 0.89  # Cronbach's alpha, Kroenke et al. 2001
outcomes = ia.episode_outcomes(data, reliability=PHQ9_RELIABILITY)
# the GAD-7 baseline is used in Table 1
gad7 = ia.episode_outcomes(data, instrument="gad7", nhs_tt_measures=False)
FORMATS = ["individual", "group", "telehealth", "telephone", "internet"]
len(outcomes), len(gad7)"""),
    md("""\
## Table 1. Baseline characteristics by format

Built from the toolkit's episode and outcome tables with pandas (counting and laying out is
display, not statistics). Format is the episode's primary format; percentages are of the
episodes in each column."""),
    code("""\
base = outcomes.merge(
    data.episodes[["episode_id", "planned_sessions"]], on="episode_id"
).merge(gad7[["episode_id", "baseline"]].rename(columns={"baseline": "gad7_baseline"}),
        on="episode_id", how="left")
by_format = base.groupby("format")


def mean_sd(column):
    stats_ = by_format[column].agg(["mean", "std"])
    return stats_.apply(lambda r: f"{r['mean']:.1f} ({r['std']:.1f})", axis=1)


def percent(mask):
    return (mask.groupby(base["format"]).mean() * 100).map("{:.0f}%".format)


table1 = pd.DataFrame(
    {
        "episodes, n": by_format.size().astype(str),
        "baseline PHQ-9, mean (SD)": mean_sd("baseline"),
        "PHQ-9 >= 15 at baseline": percent(base["baseline"] >= 15),
        "baseline GAD-7, mean (SD)": mean_sd("gad7_baseline"),
        "antidepressant medication": percent(base["medication"].fillna(False).astype(bool)),
        "planned sessions, median": by_format["planned_sessions"].median().map("{:.0f}".format),
        **{f"problem area: {a}": percent(base["problem_area"] == a)
           for a in ["grief", "role_dispute", "role_transition", "interpersonal_deficits"]},
    }
).T[FORMATS]
table1"""),
    md("""\
## Table 2. Outcome rates by format

`compare_groups` gives each format's rate with a Wilson 95% interval, risk differences, risk
ratios, odds ratios and NNT against the reference (the largest group, individual IPT), and the
omnibus chi-square test. Episodes with a single rating have no outcome and are left out (the
warning says how many)."""),
    code("""\
results = {name: compare_groups(outcomes, by="format", outcome=name)
           for name in ["response", "remission", "reliable_improvement", "dropout"]}
rates = pd.concat(
    {name: res.groups.set_index("group")[["events", "n", "rate", "conf_low", "conf_high"]]
     for name, res in results.items()},
    names=["outcome", "format"],
)
rates"""),
    code("""\
pd.concat({name: res.omnibus for name, res in results.items()}, names=["outcome", None])"""),
    md("""\
**Adjusted odds ratios.** A logistic regression of response on format, baseline severity,
medication and problem area. Odds ratios below 1 mean lower odds of response than individual
IPT for a client with the same baseline score, medication status and problem area; the p-values
of the format terms are Holm-adjusted."""),
    code("""\
response_adj = compare_groups(outcomes, by="format", outcome="response",
                              adjust_for=["baseline", "medication", "problem_area"])
response_adj.adjusted[["term", "estimate", "conf_low", "conf_high", "p_value", "p_adjusted"]]"""),
    code("""\
fig, ax = plt.subplots(figsize=(7, 3.5))
response_adj.plot(ax=ax, term="odds_ratio")
ax.set_title("Unadjusted odds ratio of response vs individual IPT");"""),
    md("""\
## Table 3. ANCOVA of the final PHQ-9

The final score (last available rating) is compared between formats adjusting for the baseline
score (ANCOVA; more powerful than comparing change scores and not biased by baseline
imbalance). `estimate` is each format's adjusted mean at the average baseline."""),
    code("""\
ancova = compare_groups(outcomes, by="format", outcome="final")
ancova.groups"""),
    code("""\
vs_individual = ancova.contrasts[ancova.contrasts["reference"] == "individual"]
vs_individual[["contrast", "estimate", "conf_low", "conf_high", "p_value", "p_adjusted"]]"""),
    md("""\
Forest plot of these contrasts (positive = higher final PHQ-9 than individual IPT, i.e. worse).
The printed p-values are Holm-adjusted over all 10 pairwise comparisons; the intervals are
not adjusted (Holm has no interval counterpart), and the figure says so: an interval that
excludes 0 can sit beside an adjusted p above 0.05."""),
    code("""\
from ipt_analytics.plotting import plot_contrasts

fig, ax = plt.subplots(figsize=(8, 3.5))
plot_contrasts(vs_individual.reset_index(drop=True), conf_level=0.95, ax=ax)
ax.set_title("Final PHQ-9 vs individual IPT, adjusted for baseline", pad=22);"""),
    md("""\
## Figure: time to response (Kaplan-Meier)

Weeks from baseline to the first rating with a 50% reduction. Episodes that end (or are still
ongoing) without response are censored at their last rating, which the Kaplan-Meier estimate
handles; the log-rank test compares the curves. Numbers at risk are shown under the axes, and
each curve stops where fewer than 10 episodes remain at risk (an estimate resting on one or two
episodes falls to 0 on a single event; `min_at_risk=` changes the threshold)."""),
    code("""\
from ipt_analytics.plotting import plot_kaplan_meier

km = kaplan_meier(outcomes, time="time_to_response", event="response_event", by="format")
km.logrank"""),
    code("""\
fig, ax = plt.subplots(figsize=(9, 5.5))
plot_kaplan_meier(km, at_risk=km.at_risk([0, 4, 8, 12, 16]), ax=ax)
ax.set_title("Time to response by format");"""),
    md("""\
## Figures: waterfall and reliable change

The waterfall plot shows every episode's percent change, sorted, coloured by response and
remission; the dashed lines are the response (-50%) and partial response (-25%) thresholds.
Shown for individual and internet IPT, the formats that differ most."""),
    code("""\
from ipt_analytics.plotting import plot_reliable_change, plot_waterfall

fig, axes = plt.subplots(2, 1, figsize=(10, 8.5), layout="constrained")
for ax, fmt in zip(axes, ["individual", "internet"]):
    plot_waterfall(outcomes[outcomes["format"] == fmt], ax=ax)
    ax.set_title(f"{fmt} IPT")"""),
    md("""\
The Jacobson-Truax plot: final against baseline score for every episode. Points below the
diagonal band improved reliably; below the horizontal cut-off line they also ended in the
functional range (recovered). The band and cut-off come from the definitions recorded with the
outcomes (reliability 0.89, criterion a)."""),
    code("""\
fig, ax = plt.subplots(figsize=(6.5, 6))
plot_reliable_change(outcomes, jitter=0.3, seed=1, ax=ax);"""),
    md("""\
## Problem areas

The same questions for the four IPT problem areas: grief, role dispute, role transition and
interpersonal deficits. In the synthetic cohort interpersonal deficits were given the slowest
improvement (as in several IPT studies, where it is the hardest problem area). Without a
`reference=` argument, `compare_groups` compares against the largest group (printed with each
result); pass `reference="grief"`, say, to choose another."""),
    code("""\
pa_response = compare_groups(outcomes, by="problem_area", outcome="response",
                             adjust_for=["baseline", "format"])
print("reference:", pa_response.meta["reference"])
pa_response.groups"""),
    code("""\
pa_response.adjusted[pa_response.adjusted["term"].str.startswith("problem_area")][
    ["term", "estimate", "conf_low", "conf_high", "p_adjusted"]]"""),
    code("""\
pa_ancova = compare_groups(outcomes, by="problem_area", outcome="final")
pa_ancova.contrasts[["contrast", "estimate", "conf_low", "conf_high", "p_adjusted"]]"""),
    code("""\
pa_km = kaplan_meier(outcomes, by="problem_area")
print(pa_km.logrank.to_string(index=False))
fig, ax = plt.subplots(figsize=(9, 5.5))
plot_kaplan_meier(pa_km, at_risk=pa_km.at_risk([0, 4, 8, 12, 16]), ax=ax)
ax.set_title("Time to response by problem area");"""),
]

# --------------------------------------------------------------------------------------------
# 04 quality improvement
# --------------------------------------------------------------------------------------------
NB04 = [
    md("""\
# 04 Quality improvement: quarterly outcomes and control charts

The workflow of a service's quality-improvement (QI) team: each quarter, how many episodes
ended, how many clients improved reliably or recovered, by format and by site, and whether a
quarter's rate is within the range expected from chance (a p-chart).

**No client identifiers in QI outputs.** The outcome table is stripped of `client_id` as soon
as it is made; episodes are only counted. The same rule holds for anything you copy out of this
notebook."""),
    code(SETUP),
    code("""\
from ipt_analytics.stats.groups import compare_groups
from ipt_analytics.stats.spc import p_chart, spc_summary
from ipt_analytics.plotting import plot_p_chart

data = ia.read_sessions(SAMPLE / "sessions.csv")
outcomes = ia.episode_outcomes(data, reliability=0.89)  # Cronbach's alpha, Kroenke et al. 2001
qi = outcomes.drop(columns=["client_id"]).merge(
    data.episodes[["episode_id", "start_date", "end_date"]], on="episode_id"
)"""),
    md("""\
## Which episodes count, and in which quarter

QI reports follow NHS England's computation of the NHS Talking Therapies measures (the SQL
behind its dashboards, cited in `docs/definitions.md`): an episode counts in the
quarter in which it **ended**, and only episodes that **finished a course of treatment** (an end
recorded, not still ongoing, and at least two treatment contacts) enter the rates. Reliable
improvement (`nhs_reliable_improvement`: PHQ-9 down by >= 6 or GAD-7 down by >= 4, without
reliable deterioration on the other) has all finished episodes as denominator; recovery
(`nhs_recovery`: from caseness to below both cut-offs) all finished episodes except those below
caseness at the start. A finished episode without paired (first and last) scores stays in the
denominators and counts as not improved, as in NHS England's figures; the share of finished
episodes with paired scores is reported beside the rates as a data-quality figure. An episode
outside a rate's denominator has NA for that outcome, so counting the non-missing values gives
the denominator (`n_reliable_improvement`, `n_recovery` below)."""),
    code("""\
nhs = ia.nhs_tt_summary(outcomes)
nhs[["measure", "numerator", "denominator", "rate", "denominator_rule"]]"""),
    md("""\
Some papers analyse only episodes with paired scores (`nhs_convention="paired_only"`); their
rates are higher whenever scores are missing and are not comparable with national figures.
In the synthetic cohort 99.5% of finished episodes have paired scores, so the two conventions
differ little:"""),
    code("""\
paired_only = ia.episode_outcomes(data, reliability=0.89, nhs_convention="paired_only")
pd.concat({"nhs_england": ia.nhs_tt_summary(outcomes).set_index("measure")["rate"],
           "paired_only": ia.nhs_tt_summary(paired_only).set_index("measure")["rate"]},
          axis=1).round(2)"""),
    code("""\
qi = qi[qi["finished_treatment"].fillna(False).astype(bool)].copy()
qi["quarter"] = qi["end_date"].dt.to_period("Q").astype(str)
print(f"{len(qi)} finished episodes, ended {qi['end_date'].min():%Y-%m-%d} "
      f"to {qi['end_date'].max():%Y-%m-%d}")"""),
    code("""\
g = qi.groupby("quarter")
by_quarter = pd.DataFrame({
    "finished": g.size(),
    "dropout": g["dropout"].sum().astype(int),
    "n_reliable_improvement": g["nhs_reliable_improvement"].count(),
    "reliable_improvement": g["nhs_reliable_improvement"].sum().astype(int),
    "n_recovery": g["nhs_recovery"].count(),
    "recovered": g["nhs_recovery"].sum().astype(int),
})
by_quarter"""),
    md("""\
## By format and by site

`compare_groups` gives the rates with Wilson 95% intervals and an omnibus chi-square test of
whether the rate differs between formats (or sites). In routine data, differences between
formats partly reflect who is offered which format."""),
    code("""\
ri_format = compare_groups(qi, by="format", outcome="nhs_reliable_improvement")
ri_format.groups"""),
    code("""\
ri_site = compare_groups(qi, by="site", outcome="nhs_reliable_improvement")
pd.concat({"format": ri_format.omnibus, "site": ri_site.omnibus}, names=["by", None])"""),
    code("""\
ri_site.groups"""),
    md("Finished episodes per quarter and format: the cells the quarterly rates rest on."),
    code("""\
pd.crosstab(qi["quarter"], qi["format"], margins=True)"""),
    md("""\
## p-chart of the quarterly reliable-improvement rate

A p-chart (Montgomery 2009, ch. 7) draws each quarter's rate around the pooled rate (centre
line) with 3-sigma limits that widen when a quarter has fewer episodes, and applies Anhoej's
run rules (as the R package qicharts2 does): a shift is signalled when the longest run on one
side of the centre line is longer than round(log2(n)) + 3 points, or when the line is crossed
fewer times than the binomial 5% quantile. A quarter outside the limits, or a shift, is worth a
look; quarters inside the limits should not be ranked or explained one by one. The chart names
the signal that fired and prints each quarter's n.

**The first quarters of an extract are incomplete.** The sample cohort starts in July 2024, so
the only episodes that can have *ended* in the first months are short ones, many of them
dropouts. Any quarter that starts before the extract start plus the longest episode (here
18 weeks) is marked `incomplete`: drawn hollow, left out of the centre line, limits and run
rules, and never flagged. `p_chart` computes everything; pandas above only counted."""),
    code("""\
first_start = data.episodes["start_date"].min()
longest = (data.episodes["end_date"] - data.episodes["start_date"]).max()
starts = pd.PeriodIndex(by_quarter.index, freq="Q").start_time
by_quarter["incomplete"] = starts < first_start + longest
chart = p_chart(by_quarter.reset_index(), period="quarter", events="reliable_improvement",
                n="n_reliable_improvement", incomplete="incomplete")
chart[["period", "n", "rate", "centre", "lcl", "ucl", "incomplete", "signal"]]"""),
    code("""\
spc_summary(chart)"""),
    code("""\
fig, ax = plt.subplots(figsize=(9, 4.5))
plot_p_chart(chart, ylabel="Reliable improvement rate", xlabel="Quarter episode ended", ax=ax)
ax.set_title("Reliable improvement (NHS Talking Therapies definition) by quarter");"""),
    md("""\
The same chart for dropout among finished episodes (dropouts after at least two sessions).
Attributing episodes to the quarter they *started* avoids the start-of-extract artefact but
creates the mirror image at the end (recent starters have not finished yet): the first and
last quarters of a data extract need care either way."""),
    code("""\
dropout_chart = p_chart(by_quarter.reset_index(), period="quarter", events="dropout",
                        n="finished", incomplete="incomplete")
fig, ax = plt.subplots(figsize=(9, 4.5))
plot_p_chart(dropout_chart, ylabel="Dropout rate", xlabel="Quarter episode ended", ax=ax)
ax.set_title("Dropout among finished episodes by quarter");"""),
    md("""\
## Small cells: suppress before you share

Cross-tabulations get thin quickly: site x quarter has cells with few episodes, and a rate in
a cell of 3 episodes can identify clients. Before a table leaves the team, apply a small-cell
suppression policy. `suppress_table` implements the published presets (`POLICIES`: NHS
Digital, the NHS Talking Therapies dashboards, CMS, PCORnet, PEDSnet, Washington DOH; sources
in `docs/definitions.md`, small-cell suppression) with complementary suppression, so that a hidden
cell cannot be recovered from the margins, and `check_no_disclosure` verifies the result.
Below: finished episodes and reliable improvements by site and quarter, under NHS Digital's
rule (1-7 hidden, other counts rounded to the nearest 5, rates from the rounded counts)."""),
    code("""\
from ipt_analytics import check_no_disclosure, suppress_table

site_quarter = (qi.assign(improved=qi["nhs_reliable_improvement"].fillna(False).astype(int))
                  .groupby(["site", "quarter"], as_index=False)
                  .agg(finished=("episode_id", "size"), improved=("improved", "sum")))
site_quarter["improved_pct"] = 100 * site_quarter["improved"] / site_quarter["finished"]
shared = suppress_table(site_quarter, count_columns=["finished", "improved"],
                        denominators={"improved": "finished"},
                        rate_columns={"improved_pct": ("improved", "finished", 100)},
                        policy="nhs_digital")
check_no_disclosure(shared)
info = shared.attrs["suppression"]
print(f"policy {info['policy']}: {info['n_primary']} small cells and "
      f"{info['n_secondary']} complementary cells suppressed")
shared[["site", "quarter", "finished", "improved", "improved_pct"]].head(12)"""),
    md("""\
## The whole quarterly report in one call

`build_report` does all of the above for a quarter, suppressed and checked, and more: caseload,
outcomes by format, problem area and site with the change from the previous quarter and the
same quarter a year before, monthly p-charts with the start-of-extract months marked
incomplete, Making Data Count icons, funnel plots of sites and therapists adjusted for
baseline severity, model-adjusted trajectories, safety items and episodes to review
(`docs/report.md`). `ipt-analytics report` on the command line writes the same report as
HTML, XLSX, CSV and `metrics.json`."""),
    code("""\
from ipt_analytics.reporting.report import build_report

report = build_report(data, quarter="2026Q2", config=SAMPLE / "report.toml")
print(report)
report.tables["outcomes"].query("breakdown == 'format' and outcome == 'nhs_reliable_improvement'")[
    ["group", "n", "events", "rate_pct", "rate_ci_low", "rate_ci_high", "change_prev_pp"]]"""),
    code("""\
from IPython.display import SVG

SVG(report.figures["p_chart_nhs_recovery"]["svg"])"""),
]

# --------------------------------------------------------------------------------------------
# 05 reproduce
# --------------------------------------------------------------------------------------------
NB05 = [
    md("""\
# 05 Reproduce a published table: specs and `ipt-analytics reproduce`

A published table becomes a **spec**: a TOML file naming the data, the analysis, every printed
number with its tolerance, and the citation. `ipt-analytics reproduce` re-derives the numbers
and fails loudly on drift, so a research group's CI can re-check a paper's tables on every
change of code, data or dependencies. This notebook:

1. looks at the specs shipped with the package (HSAUR3 Beat the Blues, the lme4 paper, NHS
   Digital rates, Dennis et al. 2020, Cuijpers et al. 2011, the sample cohort's own Tables 1-3);
2. runs a published one;
3. writes a spec for a table of your own paper and pins its numbers with `--update`;
4. shows what a mismatch and a broken spec look like;
5. wires it into CI.

The full reference is `docs/reproduce.md`."""),
    code(SETUP),
    code("""\
import tempfile

from ipt_analytics.reproduce import SPEC_DIR, load_spec, reproduce

specs = {path.stem: load_spec(path) for path in sorted(SPEC_DIR.glob("*.toml"))}
pd.DataFrame({"origin": [s.origin for s in specs.values()],
              "numbers": [len(s.numbers) for s in specs.values()],
              "title": [s.title for s in specs.values()]}, index=list(specs))"""),
    md("""\
## A published table: HSAUR3 chapter 13, Beat the Blues

The spec reshapes the bundled wide data (`bundled = "btheb"`) to long, codes the follow-ups as
months 2, 3, 5, 8 as the third edition does, fits `BtheB_lmer1` and `BtheB_lmer2` by maximum
likelihood, compares them, and checks every number of the printed output "as printed": the
reproduced value is rounded to the printed digits and must equal them. Its first lines:"""),
    code("""\
print("\\n".join(specs["hsaur3_btheb_lmer"].text.splitlines()[:24]))"""),
    code("""\
OUT = Path(tempfile.mkdtemp())  # results go here; in a project use reports/out/
code = reproduce([SPEC_DIR / "hsaur3_btheb_lmer.toml"], out_dir=OUT)
print("exit code", code)"""),
    md("""\
**How much room is left?** "As printed" passes when the reproduced value lies within half a
unit of the last printed digit. The results file `reproduce.json` holds every reproduced value
at full precision; dividing its distance from the printed value by that half unit shows how
close each number came to the rounding boundary (1 = on the boundary)."""),
    code("""\
import json
from decimal import Decimal

rows = json.loads((OUT / "reproduce.json").read_text())["specs"][0]["numbers"]
half_unit = [0.5 * 10.0 ** Decimal(r["published"]).as_tuple().exponent for r in rows]
margin = [abs(r["reproduced"] - float(r["published"])) / h for r, h in zip(rows, half_unit)]
fig, ax = plt.subplots(figsize=(7, 3))
ax.plot(range(len(rows)), margin, "o", ms=4)
ax.axhline(1, color="firebrick", lw=1, ls="--", label="rounding boundary")
ax.set(xlabel="printed number (order of the spec)", ylim=(0, 1.4),
       ylabel="|reproduced - printed|\\n/ half a printed unit",
       title="HSAUR3 Beat the Blues: 62 printed numbers")
ax.legend(loc="upper right")
plt.show()"""),
    md("""\
**Why two editions give different numbers.** The first edition codes the four follow-ups as
months 2, 4, 6, 8; the third as 2, 3, 5, 8. The same ratings, placed at different times,
change every estimate, so each edition has its own spec (`hsaur1_btheb_lmer`, also reproduced
to every printed digit). The data after each spec's steps:"""),
    code("""\
from ipt_analytics.reproduce.data import load_data

fig, axes = plt.subplots(1, 2, figsize=(8, 3), sharey=True)
for ax, key in zip(axes, ["hsaur1_btheb_lmer", "hsaur3_btheb_lmer"]):
    long = load_data(specs[key])
    means = long.groupby(["treatment", "time"], observed=True)["bdi"].mean().unstack(0)
    means.plot(ax=ax, marker="o")
    ax.set(title=key, xlabel="time (months)", ylabel="observed mean BDI-II")
plt.show()"""),
    md("""\
## A table of your own paper

Say Table 2 of your paper gives the response rate by delivery format, computed with this
toolkit from your session file. Write the spec with `origin = "own"` and no values, then let
`--update` (here `update=True`) write them: it prints the diff, which you commit. From then on,
any change beyond the tolerance fails."""),
    code("""\
SPEC = f'''
[spec]
id = "my_table2_response"
title = "Table 2: response by delivery format"
origin = "own"

[citation]
reference = "Our paper (in preparation)"
where = "Table 2"

[data]
path = "{(SAMPLE / 'sessions.csv').as_posix()}"
reader = "sessions"

[defaults]
tolerance = {{ rel = 1e-6 }}

[[analysis]]
name = "outcomes"
run = "episode_outcomes"
instrument = "phq9"

[[analysis]]
name = "response"
run = "compare_groups"
table = "outcomes"
by = "format"
outcome = "response"
'''
for fmt in ["individual", "group", "telehealth", "telephone", "internet"]:
    SPEC += f'''
[[numbers]]
quantity = "response rate, {fmt}"
from = "response.groups"
where = {{ group = "{fmt}" }}
column = "rate"
'''
my_spec = OUT / "my_table2_response.toml"
my_spec.write_text(SPEC)
print("exit code", reproduce([my_spec], out_dir=OUT, update=True))"""),
    md("""\
## When something drifts, or a spec is broken

A changed number fails (exit code 1) and the table shows published and reproduced side by
side. A spec that cannot be run stops with exit code 2 and a message naming the file, the key
and the fix; the other specs still run. Here a printed value was mistyped, then an option
name:"""),
    code("""\
nnt = (SPEC_DIR / "cuijpers_2011_nnt.toml").read_text()
typo = OUT / "typo.toml"
typo.write_text(nnt.replace('value = "2.91"', 'value = "2.19"'))
print("exit code", reproduce([typo], out_dir=OUT))
broken = OUT / "broken.toml"
broken.write_text(nnt.replace("d = 0.63", "effect = 0.63"))
print("exit code", reproduce([broken], out_dir=OUT))"""),
    md("""\
## Wiring it into CI

On the command line, with a JUnit file that any CI system shows as one test per number:

```bash
ipt-analytics reproduce specs/ --junit reports/out/reproduce.xml   # exit 1 or 2 fails the job
```

or inside the test suite, so that the usual test command covers it (this project's
`tests/test_reproduce.py` runs every shipped spec this way):

```python
from ipt_analytics.cli import main

def test_paper_tables_reproduce(tmp_path):
    assert main(["reproduce", "specs/", "--out", str(tmp_path)]) == 0
```"""),
]

NOTEBOOKS = {
    "01_quickstart.ipynb": NB01,
    "02_trajectories.ipynb": NB02,
    "03_formats_and_problem_areas.ipynb": NB03,
    "04_quality_improvement.ipynb": NB04,
    "05_reproduce.ipynb": NB05,
}


def build(name: str, cells) -> nbformat.NotebookNode:
    """One notebook with fixed cell ids and no outputs."""
    stem = name.split("_", 1)[0]
    nb = new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for k, (kind, source) in enumerate(cells):
        cell = new_markdown_cell(source) if kind == "markdown" else new_code_cell(source)
        cell["id"] = f"nb{stem}-{k:02d}"  # fixed ids: regeneration is byte-identical
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def render(name: str) -> str:
    """The file content of a notebook, exactly as written to disk."""
    return nbformat.writes(build(name, NOTEBOOKS[name])) + "\n"


def write_all(out_dir: Path) -> list[Path]:
    """Write every notebook to ``out_dir``; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in NOTEBOOKS:
        path = out_dir / name
        path.write_bytes(render(name).encode("utf-8"))
        paths.append(path)
    return paths


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write (default: here)")
    parser.add_argument("--check", action="store_true",
                        help="compare with the files in --out instead of writing")  # fmt: skip
    args = parser.parse_args(argv)
    if args.check:
        stale = [n for n in NOTEBOOKS if not (args.out / n).is_file()
                 or (args.out / n).read_bytes() != render(n).encode("utf-8")]  # fmt: skip
        for n in stale:
            print(f"out of date: {args.out / n} (run python notebooks/_build_notebooks.py)")
        return 1 if stale else 0
    for path in write_all(args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
