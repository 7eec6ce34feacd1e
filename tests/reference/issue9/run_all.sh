#!/bin/sh
# Regenerate every data/*.csv and mixed_*.csv here, in dependency order (kr.R and missing.R
# read data/multi.csv and data/chickweight.csv written by multi.R and saddle.R).
set -e
cd "$(dirname "$0")"
for s in saddle.R multi.R kr.R anova.R missing.R; do
  echo "== $s"; Rscript "$s"
done
