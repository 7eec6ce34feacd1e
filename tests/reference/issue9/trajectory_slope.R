# fit_trajectory(nest = "therapist_slope"): a therapist random slope on the sample cohort
# (the model frame tests/reference/sample_phq9_long.csv of sample_trajectory.R).
# Run from this directory: Rscript trajectory_slope.R  -> mixed_trajectory_slope.csv
source("common.R")
d <- read.csv("../sample_phq9_long.csv", stringsAsFactors = FALSE)
d$format <- factor(d$format, levels = intersect(
  c("individual", "group", "telehealth", "telephone", "internet"), unique(d$format)))
f <- total ~ week * format + (week | episode_id) + (week | therapist_id)
fit <- lmer_logged(f, data = d, REML = TRUE, control = ctrl)
write_ref(rbind(dump_fit(fit, "ther_slope"), dump_optimizers(f, d, TRUE, "ther_slope")),
          "mixed_trajectory_slope.csv")
