#!/usr/bin/env bash
# Extract qicharts2's example data (.rda), its internal Montgomery tables
# (R/sysdata.rda) and its test reference fixtures (.rds) from the fetched
# snapshot of github.com/anhoej/qicharts2 into a scratch directory.
# Nothing is copied into /work/main. Snapshot used: commit
# 1b9487ecb3938d25a8a04578464f960d3a064f64 (2025-09-05, qicharts2 0.8.1, GPL-3).
set -euo pipefail
GIT_DIR=${QIC_GIT_DIR:-/work/.mirror/anhoej+qicharts2/repo}
OUT=${1:-/tmp/qic}
mkdir -p "$OUT/data" "$OUT/tests"
for f in cabg cdi hospital_infections; do
  git --git-dir="$GIT_DIR" show HEAD:data/$f.rda > "$OUT/data/$f.rda"
done
git --git-dir="$GIT_DIR" show HEAD:R/sysdata.rda > "$OUT/data/sysdata.rda"
for f in $(git --git-dir="$GIT_DIR" ls-tree --name-only HEAD tests/testthat/ | grep '\.rds$'); do
  git --git-dir="$GIT_DIR" show HEAD:"$f" > "$OUT/tests/$(basename "$f")"
done
echo "extracted to $OUT"
