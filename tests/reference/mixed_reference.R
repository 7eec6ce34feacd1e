# Reference values for tests/test_mixed_*.py (lme4 + lmerTest).
# Run from the repository root:  Rscript tests/reference/mixed_reference.R
# Writes tests/reference/data/{sleepstudy,btheb}.csv (the data) and
# tests/reference/mixed_*.csv (the numbers), every number with 15 significant digits.
suppressPackageStartupMessages({
  library(lme4); library(lmerTest); library(HSAUR3)
})
out_dir <- "tests/reference"
dat_dir <- file.path(out_dir, "data")
fmt <- function(x) sprintf("%.15g", x)

# one tidy table per fit: model, kind, name1, name2, value
dump_fit <- function(fit, model) {
  rows <- list()
  add <- function(kind, n1, n2, v) rows[[length(rows) + 1]] <<-
    data.frame(model = model, kind = kind, name1 = n1, name2 = n2, value = fmt(v))
  cf <- summary(fit)$coefficients
  for (i in seq_len(nrow(cf))) {
    add("fixef", rownames(cf)[i], "", cf[i, "Estimate"])
    add("se", rownames(cf)[i], "", cf[i, "Std. Error"])
    add("df", rownames(cf)[i], "", cf[i, "df"])
    add("t", rownames(cf)[i], "", cf[i, "t value"])
    add("p", rownames(cf)[i], "", cf[i, "Pr(>|t|)"])
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
  th <- getME(fit, "theta")
  for (i in seq_along(th)) add("theta", names(th)[i], "", th[i])
  do.call(rbind, rows)
}
# Satterthwaite df for a contrast vector and an F test (contestMD) for a matrix
dump_contest <- function(fit, model, L, label) {
  r <- if (is.matrix(L)) contestMD(fit, L) else contest1D(fit, L)
  cols <- names(r)
  do.call(rbind, lapply(cols, function(cn)
    data.frame(model = model, kind = paste0("contest_", label), name1 = cn, name2 = "",
               value = fmt(r[[cn]]))))
}
dump_anova <- function(a, model) {
  a <- as.data.frame(a); rows <- list()
  for (i in seq_len(nrow(a))) for (cn in names(a))
    rows[[length(rows) + 1]] <- data.frame(model = model, kind = paste0("anova_", cn),
      name1 = rownames(a)[i], name2 = "", value = fmt(a[i, cn]))
  do.call(rbind, rows)
}
dump_ranef <- function(fit, model) {
  re <- ranef(fit); rows <- list()
  for (g in names(re)) for (cn in names(re[[g]])) rows[[length(rows) + 1]] <-
    data.frame(model = model, kind = paste0("ranef_", g), name1 = rownames(re[[g]]),
               name2 = cn, value = fmt(re[[g]][[cn]]))
  do.call(rbind, rows)
}
ctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5))
write_ref <- function(x, file) write.csv(x, file.path(out_dir, file), row.names = FALSE)

## sleepstudy -----------------------------------------------------------------
data("sleepstudy", package = "lme4")
write.csv(data.frame(Reaction = fmt(sleepstudy$Reaction), Days = sleepstudy$Days,
                     Subject = as.character(sleepstudy$Subject)),
          file.path(dat_dir, "sleepstudy.csv"), row.names = FALSE, quote = FALSE)
fm1 <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy, control = ctrl)
fm1ml <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy, REML = FALSE, control = ctrl)
fm3 <- lmer(Reaction ~ Days + (1 | Subject), sleepstudy, control = ctrl)
fm3ml <- lmer(Reaction ~ Days + (1 | Subject), sleepstudy, REML = FALSE, control = ctrl)
fm4 <- lmer(Reaction ~ Days + (0 + Days | Subject), sleepstudy, control = ctrl)
sl <- rbind(dump_fit(fm1, "fm1"), dump_fit(fm1ml, "fm1_ml"), dump_fit(fm3, "fm3"),
            dump_fit(fm3ml, "fm3_ml"), dump_fit(fm4, "fm4_slope_only"), dump_ranef(fm1, "fm1"),
            dump_contest(fm1, "fm1", c(1, 5), "vec_1_5"),
            dump_contest(fm1, "fm1", rbind(c(1, 5), c(0, 1)), "mat"),
            dump_contest(fm1ml, "fm1_ml", c(1, 5), "vec_1_5"),
            dump_anova(anova(fm3, fm1), "anova_fm3_fm1"))
write_ref(sl, "mixed_sleepstudy.csv")

## BtheB (HSAUR3 ch. 13; time = 2, 3, 5, 8) -------------------------------------
data("BtheB", package = "HSAUR3")
write.csv(BtheB, file.path(dat_dir, "btheb.csv"), row.names = FALSE)
BtheB$subject <- factor(rownames(BtheB))
nobs_b <- nrow(BtheB)
BtheB_long <- reshape(BtheB, idvar = "subject",
  varying = c("bdi.2m", "bdi.3m", "bdi.5m", "bdi.8m"), direction = "long")
BtheB_long$time <- rep(c(2, 3, 5, 8), rep(nobs_b, 4))
BtheB_long <- BtheB_long[!is.na(BtheB_long$bdi), ]
lmer1 <- lmer(bdi ~ bdi.pre + time + treatment + drug + length + (1 | subject),
              data = BtheB_long, REML = FALSE, control = ctrl)
lmer2 <- lmer(bdi ~ bdi.pre + time + treatment + drug + length + (time | subject),
              data = BtheB_long, REML = FALSE, control = ctrl)
lmer1r <- update(lmer1, REML = TRUE)
lmer2r <- update(lmer2, REML = TRUE)
bt <- rbind(dump_fit(lmer1, "lmer1"), dump_fit(lmer2, "lmer2"), dump_fit(lmer1r, "lmer1_reml"),
            dump_fit(lmer2r, "lmer2_reml"), dump_anova(anova(lmer1, lmer2), "anova_1_2"))
write_ref(bt, "mixed_btheb.csv")

## synthetic weekly PHQ-like data, 2,000 clients ---------------------------------
wk <- read.csv(file.path(dat_dir, "weekly_2000.csv"))
wk$format <- factor(wk$format, levels = c("group", "individual", "telehealth"))
t0 <- proc.time()[["elapsed"]]
wfit <- lmer(y ~ week * format + (week | client), wk, control = ctrl)
t_w <- proc.time()[["elapsed"]] - t0
wml <- update(wfit, REML = FALSE)
wk0 <- rbind(dump_fit(wfit, "weekly"), dump_fit(wml, "weekly_ml"),
             data.frame(model = "weekly", kind = "seconds", name1 = "", name2 = "",
                        value = fmt(t_w)),
             dump_contest(wfit, "weekly", c(0, 0, 0, 0, 1, 0), "vec_week_ind"),
             dump_contest(wfit, "weekly", rbind(c(0, 0, 0, 0, 1, 0), c(0, 0, 0, 0, 0, 1)),
                          "mat_interaction"))
write_ref(wk0, "mixed_weekly.csv")

## nested: (week | client) + (1 | therapist) + (1 | group), group only for group clients
ne <- read.csv(file.path(dat_dir, "nested.csv"), na.strings = "")
ne$in_group <- as.numeric(!is.na(ne$group_id))
# rows outside any group get a dummy level whose column is all zero: no likelihood effect
ne$group_fill <- ifelse(is.na(ne$group_id), "none", ne$group_id)
nfit <- lmer(y ~ week + (week | client) + (1 | therapist) + (0 + in_group | group_fill),
             ne, control = ctrl)
nml <- update(nfit, REML = FALSE)
write_ref(rbind(dump_fit(nfit, "nested"), dump_fit(nml, "nested_ml"),
                dump_contest(nfit, "nested", c(1, 4), "vec_1_4")), "mixed_nested.csv")

writeLines(c(R.version.string, paste("lme4", packageVersion("lme4")),
             paste("lmerTest", packageVersion("lmerTest")),
             paste("HSAUR3", packageVersion("HSAUR3")),
             paste("numDeriv", packageVersion("numDeriv")),
             paste("Matrix", packageVersion("Matrix"))),
           file.path(out_dir, "mixed_versions.txt"))
