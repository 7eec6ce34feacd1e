# Reference values for tests/test_trajectory.py and tests/test_emmeans.py
# (lme4 + lmerTest + emmeans) on the sample cohort.
# Run from the repository root:  Rscript tests/reference/sample_trajectory.R
# Reads tests/reference/sample_phq9_long.csv, the model frame written by Python
# (tests/reference/sample_write_frame.py), so both sides fit exactly the same rows.
# Writes tests/reference/sample_trajectory.csv: model, kind, name1, name2, value (15 digits).
suppressPackageStartupMessages({
  library(lme4); library(lmerTest); library(emmeans)
})
out_dir <- "tests/reference"
fmt <- function(x) sprintf("%.15g", x)
emm_options(lmer.df = "satterthwaite", lmerTest.limit = 1e7, pbkrtest.limit = 0)

d <- read.csv(file.path(out_dir, "sample_phq9_long.csv"), stringsAsFactors = FALSE)
d$format <- factor(d$format, levels = intersect(
  c("individual", "group", "telehealth", "telephone", "internet"), unique(d$format)))
d$problem_area <- factor(d$problem_area, levels = intersect(
  c("grief", "role_dispute", "role_transition", "interpersonal_deficits"),
  unique(d$problem_area)))
d$episode_id <- factor(d$episode_id)
d$therapist_id <- factor(d$therapist_id)
# partial nesting: rows outside a therapy group get no group effect (0 + in_group)
d$group_id <- factor(ifelse(is.na(d$group_id) | d$group_id == "", "none", d$group_id))

# tight optimiser tolerances: the parity tests compare optima, not optimiser slack
ctl <- lmerControl(optimizer = "nloptwrap",
                   optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-14, xtol_rel = 1e-12,
                                  ftol_rel = 1e-14, maxeval = 1e5))
rows <- list()
add <- function(model, kind, n1, n2, v) rows[[length(rows) + 1]] <<-
  data.frame(model = model, kind = kind, name1 = n1, name2 = n2, value = fmt(v))

dump_fit <- function(fit, model) {
  cf <- summary(fit)$coefficients
  for (i in seq_len(nrow(cf))) {
    add(model, "fixef", rownames(cf)[i], "", cf[i, "Estimate"])
    add(model, "se", rownames(cf)[i], "", cf[i, "Std. Error"])
    add(model, "df", rownames(cf)[i], "", cf[i, "df"])
    add(model, "p", rownames(cf)[i], "", cf[i, "Pr(>|t|)"])
  }
  vc <- as.data.frame(VarCorr(fit))
  for (i in seq_len(nrow(vc))) {
    n1 <- paste(vc$grp[i], if (is.na(vc$var1[i])) "" else vc$var1[i], sep = "|")
    n2 <- if (is.na(vc$var2[i])) "" else vc$var2[i]
    add(model, "varcov", n1, n2, vc$vcov[i])
  }
  add(model, "logLik", "", "", as.numeric(logLik(fit)))
  add(model, "nobs", "", "", nobs(fit))
}
dump_emm <- function(tab, model, kind, key) {
  tab <- as.data.frame(tab)
  for (i in seq_len(nrow(tab))) for (cn in setdiff(names(tab), key))
    add(model, kind, as.character(tab[[key]][i]), cn, tab[[cn]][i])
}

# (a) linear trajectory moderated by (session) format
fa <- lmer(total ~ week * format + (week | episode_id), data = d, REML = TRUE, control = ctl)
dump_fit(fa, "a_linear_format")
emm <- emmeans(fa, ~ format, at = list(week = 12))
dump_emm(summary(emm, infer = c(TRUE, FALSE)), "a_linear_format", "emmeans_week12", "format")
pr <- pairs(emm, adjust = "holm")
dump_emm(summary(pr, infer = c(TRUE, TRUE), adjust = "holm"), "a_linear_format",
         "pairs_week12_holm", "contrast")
dump_emm(summary(pairs(emm, adjust = "none"), infer = c(TRUE, TRUE)), "a_linear_format",
         "pairs_week12_none", "contrast")
dump_emm(summary(pairs(emm, adjust = "BH"), infer = c(TRUE, TRUE)), "a_linear_format",
         "pairs_week12_bh", "contrast")
tr <- emtrends(fa, ~ format, var = "week")
dump_emm(summary(tr, infer = c(TRUE, FALSE)), "a_linear_format", "emtrends", "format")
dump_emm(summary(pairs(tr, adjust = "holm"), infer = c(TRUE, TRUE)), "a_linear_format",
         "emtrends_pairs_holm", "contrast")
dump_emm(summary(contrast(tr, "trt.vs.ctrl", ref = 1, adjust = "holm"), infer = c(TRUE, TRUE)),
         "a_linear_format", "emtrends_trt_vs_ctrl_holm", "contrast")

# (b) IPT phases: piecewise linear in sessions completed, knots per episode
fb <- lmer(total ~ initial + middle + termination + (session0 | episode_id), data = d,
           REML = TRUE, control = ctl)
dump_fit(fb, "b_piecewise")

# (c) linear by format with therapist and therapy-group random intercepts
fc <- lmer(total ~ week * format + (week | episode_id) + (1 | therapist_id) +
             (0 + in_group | group_id), data = d, REML = TRUE, control = ctl)
dump_fit(fc, "c_nested")
emc <- emmeans(fc, ~ format, at = list(week = 12))
dump_emm(summary(emc, infer = c(TRUE, FALSE)), "c_nested", "emmeans_week12", "format")

# (d) two moderators and a covariate: marginal means average the other factor with equal
# weights and hold medication (0/1, numeric) at its mean. emmeans would by default treat a
# two-valued numeric covariate as a factor (cov.keep = "2", i.e. equal weights on 0 and 1),
# so the mean is passed explicitly, as ipt_analytics does.
med <- mean(d$medication)
fd <- lmer(total ~ week * (format + problem_area) + medication + (week | episode_id),
           data = d, REML = TRUE, control = ctl)
dump_fit(fd, "d_two_factors")
emf <- emmeans(fd, ~ format, at = list(week = 12, medication = med))
dump_emm(summary(emf, infer = c(TRUE, FALSE)), "d_two_factors", "emmeans_week12", "format")
emp <- emmeans(fd, ~ problem_area, at = list(week = 12, medication = med))
dump_emm(summary(emp, infer = c(TRUE, FALSE)), "d_two_factors", "emmeans_pa_week12",
         "problem_area")
dump_emm(summary(pairs(emp, adjust = "holm"), infer = c(TRUE, TRUE)), "d_two_factors",
         "pairs_pa_week12_holm", "contrast")
trp <- emtrends(fd, ~ problem_area, var = "week", at = list(medication = med))
dump_emm(summary(trp, infer = c(TRUE, FALSE)), "d_two_factors", "emtrends_pa", "problem_area")

out <- do.call(rbind, rows)
write.csv(out, file.path(out_dir, "sample_trajectory.csv"), row.names = FALSE)
writeLines(c(R.version.string, paste("lme4", packageVersion("lme4")),
             paste("lmerTest", packageVersion("lmerTest")),
             paste("emmeans", packageVersion("emmeans"))),
           file.path(out_dir, "sample_versions.txt"))
