# lme4 references for seven data sets of benchmarks/saddle_study.py (written by its
# simulate(k) for k = 0, 1, 20, 29, 34, 226, 285 into data/saddle_study_subset.csv):
# 226 is where the old engine stopped 0.30 log-likelihood units below lme4 at a saddle,
# 285 is singular in lme4 as well (a true boundary optimum), 20/29/34 needed a restart.
# Run from this directory: Rscript saddle_study.R  -> mixed_saddle_study.csv
source("common.R")
d <- read.csv(file.path(dat_dir, "saddle_study_subset.csv"), colClasses = c(client = "character"))
res <- list()
for (k in unique(d$dataset)) {
  s <- d[d$dataset == k, ]
  f <- if (all(s$arm == "a")) y ~ week + (week | client) else y ~ week * arm + (week | client)
  m <- sprintf("set%03d", k)
  fit <- lmer_logged(f, data = s, REML = TRUE, control = ctrl)
  res[[m]] <- rbind(dump_fit(fit, m), dump_optimizers(f, s, TRUE, m))
}
write_ref(do.call(rbind, res), "mixed_saddle_study.csv")
