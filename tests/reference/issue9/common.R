# Shared helpers for the issue-9 reference scripts (saddle.R, multi.R, kr.R, anova.R,
# missing.R).  Sourced by each of them; run every script from this directory:
#   Rscript saddle.R
# Output layout is that of tests/reference/mixed_*.csv: model, kind, name1, name2, value,
# one number per row with 15 significant digits (text in `value` only for the kinds
# `warning`, `message`, `optimizer`).  dump_fit() is the dump_fit() of
# tests/reference/mixed_reference.R plus `ngroups`, `singular` and lme4's convergence
# statistic `max_grad` (as in helpfull_reference.R).
suppressPackageStartupMessages({
  library(lme4); library(lmerTest)
})
out_dir <- "."
dat_dir <- "data"
dir.create(dat_dir, showWarnings = FALSE)
fmt <- function(x) sprintf("%.15g", x)
ctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5))
write_ref <- function(x, file) write.csv(x, file.path(out_dir, file), row.names = FALSE)
row1 <- function(model, kind, n1, n2, v)
  data.frame(model = model, kind = kind, name1 = n1, name2 = n2,
             value = if (is.character(v)) v else fmt(v))

# lme4's checkConv statistic: gradient of the deviance at the optimum scaled by the
# Cholesky factor of the numerical Hessian, elementwise min(|scaled|, |raw|), max over
# components (lme4 warns above 0.002)
max_grad <- function(fit) {
  dg <- fit@optinfo$derivs
  if (is.null(dg)) return(NA_real_)
  sc <- tryCatch(with(dg, solve(chol(Hessian), gradient)), error = function(e) dg$gradient)
  max(pmin(abs(sc), abs(dg$gradient)))
}

# lmer() that records warnings and messages (singular fit, convergence) instead of printing
lmer_logged <- function(...) {
  msgs <- character(0); warns <- character(0)
  fit <- withCallingHandlers(lmer(...),
    warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") },
    message = function(m) { msgs <<- c(msgs, trimws(conditionMessage(m))); invokeRestart("muffleMessage") })
  attr(fit, "warns") <- warns; attr(fit, "msgs") <- msgs
  fit
}

dump_fit <- function(fit, model) {
  rows <- list()
  add <- function(kind, n1, n2, v) rows[[length(rows) + 1]] <<- row1(model, kind, n1, n2, v)
  cf <- summary(fit)$coefficients           # lmerTest: Satterthwaite df
  for (i in seq_len(nrow(cf))) {
    add("fixef", rownames(cf)[i], "", cf[i, "Estimate"])
    add("se", rownames(cf)[i], "", cf[i, "Std. Error"])
    if ("df" %in% colnames(cf)) {
      add("df", rownames(cf)[i], "", cf[i, "df"])
      add("t", rownames(cf)[i], "", cf[i, "t value"])
      add("p", rownames(cf)[i], "", cf[i, "Pr(>|t|)"])
    }
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
  add("REML", "", "", as.numeric(isREML(fit)))
  add("deviance_or_crit", "", "", if (isREML(fit)) REMLcrit(fit) else deviance(fit))
  add("AIC", "", "", AIC(fit)); add("BIC", "", "", BIC(fit))
  add("sigma", "", "", sigma(fit)); add("nobs", "", "", nobs(fit))
  ng <- ngrps(fit)
  for (g in names(ng)) add("ngroups", g, "", ng[[g]])
  th <- getME(fit, "theta")
  for (i in seq_along(th)) add("theta", names(th)[i], "", th[i])
  add("singular", "", "", as.numeric(isSingular(fit)))
  add("max_grad", "", "", max_grad(fit))
  add("optimizer", fit@optinfo$optimizer, "", 0)
  for (w in attr(fit, "warns")) add("warning", "", "", w)
  for (m in attr(fit, "msgs")) add("message", "", "", m)
  do.call(rbind, rows)
}

# the same model under lme4's three optimisers (default nloptwrap, bobyqa, Nelder_Mead)
dump_optimizers <- function(formula, data, REML, model) {
  ctrls <- list(nloptwrap = lmerControl(),
                bobyqa = lmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5)),
                Nelder_Mead = lmerControl(optimizer = "Nelder_Mead", optCtrl = list(maxfun = 1e5)))
  rows <- list()
  for (o in names(ctrls)) {
    f <- lmer_logged(formula, data = data, REML = REML, control = ctrls[[o]])
    add <- function(kind, n2, v) rows[[length(rows) + 1]] <<- row1(model, kind, o, n2, v)
    add("opt_logLik", "", as.numeric(logLik(f)))
    add("opt_deviance_or_crit", "", if (REML) REMLcrit(f) else deviance(f))
    th <- getME(f, "theta")
    for (i in seq_along(th)) add("opt_theta", names(th)[i], th[i])
    add("opt_max_grad", "", max_grad(f))
    add("opt_feval", "", f@optinfo$feval)
    for (w in attr(f, "warns")) add("opt_warning", "", w)
    for (m in attr(f, "msgs")) add("opt_message", "", m)
  }
  do.call(rbind, rows)
}

dump_anova <- function(a, model) {
  a <- as.data.frame(a); rows <- list()
  for (i in seq_len(nrow(a))) for (cn in names(a))
    rows[[length(rows) + 1]] <- row1(model, paste0("anova_", cn), rownames(a)[i], "", a[i, cn])
  do.call(rbind, rows)
}

# an emmeans / contrast summary: one row per cell and numeric column; name1 = the cell
# label (values of the primary and by variables pasted with ","), name2 = "";
# kind = prefix_column
dump_emm <- function(s, model, prefix) {
  s <- as.data.frame(s)
  lab_cols <- c(attr(s, "pri.vars"), attr(s, "by.vars"))
  if (is.null(lab_cols)) lab_cols <- names(s)[!vapply(s, is.numeric, TRUE)]
  num <- setdiff(names(s)[vapply(s, is.numeric, TRUE)], lab_cols)
  labs <- if (length(lab_cols)) do.call(paste, c(lapply(s[lab_cols], as.character), sep = ","))
          else rep("", nrow(s))
  rows <- list()
  for (i in seq_len(nrow(s))) for (cn in num)
    rows[[length(rows) + 1]] <- row1(model, paste0(prefix, "_", cn), labs[i], "", s[i, cn])
  do.call(rbind, rows)
}

write_versions <- function(file = "versions.txt") {
  pk <- c("lme4", "lmerTest", "emmeans", "pbkrtest", "nlme", "Matrix", "numDeriv",
          "HSAUR3", "survival", "minqa", "nloptr")
  writeLines(c(R.version.string,
               paste(pk, vapply(pk, function(p) as.character(packageVersion(p)), ""))),
             file.path(out_dir, file))
}
