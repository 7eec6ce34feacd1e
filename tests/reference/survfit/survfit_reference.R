## survfit_reference.R -- reference Kaplan-Meier numbers from R's survival
## package on its `aml` data set (Miller 1997; 23 AML patients, maintenance
## chemotherapy "Maintained" vs "Nonmaintained"), for golden tests.
## Run with Debian's r-base-core + r-cran-survival:
##   Rscript survfit_reference.R [output dir]
## Writes aml.csv, survfit_reference.csv, survdiff_reference.csv.
##
## Notes for porting:
## * survfit()'s `std.err` is the standard error of the cumulative hazard
##   (Greenwood), i.e. SE of -log S(t), NOT of S(t); summary.survfit() and
##   the `std.err` column of summary() report SE of S(t) = surv * std.err.
##   Both are written below (std.err = fit$std.err, se_surv = surv * std.err).
## * conf.type = "log":     S * exp(-/+ z * std.err)          (survival's default)
##   conf.type = "log-log": S ^ exp(-/+ z * std.err / log(S)), i.e. CI on log(-log S)
##   z = qnorm(0.975); the "log" (and "plain") upper limit is capped at 1
##   (e.g. Maintained, t = 9: 0.909 * exp(1.96 * 0.0953) = 1.10 -> 1 in the csv);
##   after S reaches 0, std.err is NaN/Inf and lower/upper are NA.
## * Rows are the fit's distinct times (censored-only times included,
##   n.event = 0) -- the same rows as print(summary(fit, censored = TRUE)).

args <- commandArgs(trailingOnly = TRUE)
out_dir <- if (length(args)) args[1] else {
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f)) else "."
}
suppressPackageStartupMessages(library(survival))
data(cancer, package = "survival")       # aml lives in the 'cancer' data bundle
aml_df <- survival::aml
write.csv(aml_df, file.path(out_dir, "aml.csv"), row.names = FALSE)

tidy_fit <- function(fit, model, conf_type) {
  strata <- if (is.null(fit$strata)) rep("overall", length(fit$time)) else
    rep(names(fit$strata), fit$strata)
  data.frame(model = model, conf_type = conf_type, strata = strata,
             time = fit$time, n.risk = fit$n.risk, n.event = fit$n.event,
             n.censor = fit$n.censor, surv = fit$surv,
             std.err = fit$std.err, se_surv = fit$surv * fit$std.err,
             lower = fit$lower, upper = fit$upper, conf.int = fit$conf.int,
             survival_version = as.character(packageVersion("survival")),
             stringsAsFactors = FALSE)
}
rows <- list()
for (ct in c("log", "log-log", "plain")) {
  rows[[length(rows) + 1]] <- tidy_fit(survfit(Surv(time, status) ~ x, data = aml_df, conf.type = ct),
                                       "Surv(time, status) ~ x", ct)
  rows[[length(rows) + 1]] <- tidy_fit(survfit(Surv(time, status) ~ 1, data = aml_df, conf.type = ct),
                                       "Surv(time, status) ~ 1", ct)
}
ref <- do.call(rbind, rows)
write.csv(ref, file.path(out_dir, "survfit_reference.csv"), row.names = FALSE)

## median survival and its CI (print.survfit), per model and conf.type
med <- do.call(rbind, lapply(c("log", "log-log"), function(ct) {
  f1 <- survfit(Surv(time, status) ~ x, data = aml_df, conf.type = ct)
  f0 <- survfit(Surv(time, status) ~ 1, data = aml_df, conf.type = ct)
  t1 <- summary(f1)$table; t0 <- summary(f0)$table
  data.frame(conf_type = ct, strata = c(rownames(t1), "overall"),
             n = c(t1[, "n.max"], t0["n.max"]), events = c(t1[, "events"], t0["events"]),
             median = c(t1[, "median"], t0["median"]),
             lcl_0.95 = c(t1[, "0.95LCL"], t0["0.95LCL"]),
             ucl_0.95 = c(t1[, "0.95UCL"], t0["0.95UCL"]), row.names = NULL)
}))
write.csv(med, file.path(out_dir, "survfit_median_reference.csv"), row.names = FALSE)

## log-rank (rho = 0) and Peto-Peto modification of Gehan-Wilcoxon (rho = 1)
sd_rows <- lapply(c(0, 1), function(rho) {
  s <- survdiff(Surv(time, status) ~ x, data = aml_df, rho = rho)
  df <- length(s$n) - 1
  data.frame(rho = rho, group = names(s$n), n = as.numeric(s$n), observed = s$obs,
             expected = s$exp, var_diag = diag(s$var), chisq = s$chisq, df = df,
             p_value = pchisq(s$chisq, df, lower.tail = FALSE), row.names = NULL)
})
sdref <- do.call(rbind, sd_rows)
write.csv(sdref, file.path(out_dir, "survdiff_reference.csv"), row.names = FALSE)

options(width = 160, digits = 7)
print(summary(survfit(Surv(time, status) ~ x, data = aml_df, conf.type = "log-log")))
print(survdiff(Surv(time, status) ~ x, data = aml_df))
print(med)
print(sdref)
