# Reference values for tests/test_mixed_helpfull.py (lme4 only).
# Run from the repository root:  Rscript tests/reference/helpfull_reference.R
# Reads tests/reference/data/helpfull.csv (made by helpfull_extract.py) and writes
# tests/reference/helpfull_lme4.csv in the layout of the mixed_*.csv files
# (model, kind, name1, name2, value; 15 significant digits).
#
# Model: CES_D ~ TIME + GROUP + (TIME | ID), REML, rows with CES_D missing dropped.
#   months          default optimizer (nloptwrap), TIME in months: lme4 1.1-31 stops early and
#                   warns "Model failed to converge with max|grad| = ..."; the warning text and
#                   max|grad| are recorded (kinds `warning`, `max_grad`)
#   months_bobyqa   bobyqa, TIME in months
#   years           default optimizer, TIME / 12
#   years_bobyqa    bobyqa, TIME / 12 (the best of the four: the tests' target)
suppressPackageStartupMessages(library(lme4))
out_dir <- "tests/reference"
fmt <- function(x) sprintf("%.15g", x)

hp <- read.csv(file.path(out_dir, "data", "helpfull.csv"), na.strings = "")
hp$ID <- factor(hp$ID)
hp$YEARS <- hp$TIME / 12

fit_logged <- function(formula, control) {
  msgs <- character(0)
  fit <- withCallingHandlers(
    lmer(formula, data = hp, REML = TRUE, control = control),
    warning = function(w) {
      msgs <<- c(msgs, conditionMessage(w))
      invokeRestart("muffleWarning")
    })
  list(fit = fit, warnings = msgs)
}

dump_fit <- function(res, model) {
  fit <- res$fit
  rows <- list()
  add <- function(kind, n1, n2, v) rows[[length(rows) + 1]] <<-
    data.frame(model = model, kind = kind, name1 = n1, name2 = n2,
               value = if (is.character(v)) v else fmt(v))
  cf <- summary(fit)$coefficients
  for (i in seq_len(nrow(cf))) {
    add("fixef", rownames(cf)[i], "", cf[i, "Estimate"])
    add("se", rownames(cf)[i], "", cf[i, "Std. Error"])
  }
  V <- as.matrix(vcov(fit))
  for (i in seq_len(nrow(V))) for (j in seq_len(ncol(V)))
    add("vcov", rownames(V)[i], colnames(V)[j], V[i, j])
  vc <- as.data.frame(VarCorr(fit))
  for (i in seq_len(nrow(vc))) {
    n2 <- if (is.na(vc$var2[i])) "" else vc$var2[i]
    n1 <- paste(vc$grp[i], if (is.na(vc$var1[i])) "" else vc$var1[i], sep = "|")
    add("varcov", n1, n2, vc$vcov[i])
    add("sdcor", n1, n2, vc$sdcor[i])
  }
  add("logLik", "", "", as.numeric(logLik(fit)))
  add("deviance_or_crit", "", "", REMLcrit(fit))
  add("sigma", "", "", sigma(fit))
  add("nobs", "", "", nobs(fit))
  add("ngroups", "ID", "", ngrps(fit)[["ID"]])
  th <- getME(fit, "theta")
  for (i in seq_along(th)) add("theta", names(th)[i], "", th[i])
  # lme4's checkConv statistic (the max|grad| of its warning): gradient of the deviance at
  # the returned theta, scaled by the Cholesky factor of the Hessian, elementwise the
  # smaller of scaled and raw, then the largest absolute value (tolerance 0.002)
  dg <- fit@optinfo$derivs
  scgrad <- with(dg, solve(chol(Hessian), gradient))
  add("max_grad", "", "", max(pmin(abs(scgrad), abs(dg$gradient))))
  add("max_abs_grad", "", "", max(abs(dg$gradient)))
  add("optimizer", fit@optinfo$optimizer, "", 0)
  for (w in res$warnings) add("warning", "", "", w)
  for (w in unlist(fit@optinfo$conv$lme4$messages)) add("conv_message", "", "", w)
  do.call(rbind, rows)
}

bob <- lmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5))
def <- lmerControl()
out <- rbind(
  dump_fit(fit_logged(CES_D ~ TIME + GROUP + (TIME | ID), def), "months"),
  dump_fit(fit_logged(CES_D ~ TIME + GROUP + (TIME | ID), bob), "months_bobyqa"),
  dump_fit(fit_logged(CES_D ~ YEARS + GROUP + (YEARS | ID), def), "years"),
  dump_fit(fit_logged(CES_D ~ YEARS + GROUP + (YEARS | ID), bob), "years_bobyqa"))
write.csv(out, file.path(out_dir, "helpfull_lme4.csv"), row.names = FALSE)
writeLines(c(R.version.string, paste("lme4", packageVersion("lme4")),
             paste("Matrix", packageVersion("Matrix"))),
           file.path(out_dir, "helpfull_versions.txt"))
