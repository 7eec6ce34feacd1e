"""Time the whole quarterly report on a large synthetic cohort (not run in CI).

    python benchmarks/bench_report.py [--episodes 100000] [--out DIR]

Generates ``--episodes`` episodes with :func:`ipt_analytics.simulate_cohort` (about 12 session
rows each), then times each stage: reading and validation, building the report (outcomes,
tables, charts, funnels, two mixed-model trajectory fits, not-on-track flags) and writing the
files. Prints wall time per stage and the peak resident memory of the process.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import resource
import sys
import tempfile
import time
from pathlib import Path


def peak_gb() -> float:
    # ru_maxrss is in kilobytes on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=100_000)
    parser.add_argument("--out", default=None)
    parser.add_argument("--profile", action="store_true", help="print the 25 slowest functions")
    args = parser.parse_args(argv)

    from ipt_analytics.datasets.synth import simulate_cohort
    from ipt_analytics.io.sessiondata import read_sessions
    from ipt_analytics.reporting.report import build_report

    t0 = time.perf_counter()
    cohort = simulate_cohort(n_episodes=args.episodes, seed=20240701)
    t1 = time.perf_counter()
    print(f"simulate {args.episodes:,} episodes: {len(cohort):,} session rows, {t1 - t0:.1f} s")
    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    # wall time and this process's CPU time: on a shared machine the two differ widely
    start, c_start = time.perf_counter(), time.process_time()
    data = read_sessions(cohort)
    del cohort  # the report needs only the validated data
    t2, c2 = time.perf_counter(), time.process_time()
    print(
        f"read + validate: {t2 - start:.1f} s wall, {c2 - c_start:.1f} s CPU; "
        f"peak memory so far {peak_gb():.2f} GB"
    )
    report = build_report(data, as_of="2026-07-01")
    t3, c3 = time.perf_counter(), time.process_time()
    print(
        f"build report ({report.quarter}): {t3 - t2:.1f} s wall, {c3 - c2:.1f} s CPU; "
        f"peak memory so far {peak_gb():.2f} GB"
    )
    for step, (wall, cpu) in report.timings.items():
        print(f"    {step:<45} {wall:7.1f} s wall {cpu:7.1f} s CPU")
    out = Path(args.out or tempfile.mkdtemp(prefix="bench_report_"))
    paths = report.write(out)
    t4, c4 = time.perf_counter(), time.process_time()
    if profiler:
        profiler.disable()
    print(f"write {len(paths)} files to {out}: {t4 - t3:.1f} s wall, {c4 - c3:.1f} s CPU")
    print(
        f"TOTAL (read + build + write): {t4 - start:.1f} s wall, {c4 - c_start:.1f} s CPU; "
        f"peak memory {peak_gb():.2f} GB"
    )
    if profiler:
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
