# Kenward-Roger reference values for tests/test_mixed_kr.py (lme4 + lmerTest + pbkrtest +
# emmeans). Run from the repository root:  Rscript tests/reference/mixed_kr.R
# Reads tests/reference/data/{sleepstudy,btheb,nested}.csv and
# tests/reference/sample_phq9_long.csv; writes tests/reference/data/kr_two_slopes.csv and
# tests/reference/data/kr_singular.csv (simulated, set.seed), tests/reference/mixed_kr.csv
# (model, kind, name1, name2, value; 15 significant digits) and mixed_kr_versions.txt.
#
# Models (all REML, bobyqa):
#   sleep8        Reaction ~ Days + (Days | Subject): sleepstudy, subjects 308 309 310 330 331
#                 332 333 334 (the first 8 factor levels; 80 rows, balanced)
#   sleep8_unbal  the same with 14 rows dropped (308: Days 7-9, 309: 5-9, 330: 0-1, 333: 9,
#                 334: 3, 4, 8; 66 rows)
#   btheb1        bdi ~ bdi.pre + time + treatment + drug + length + (1 | subject), HSAUR3's
#                 BtheB reshaped long as in mixed_reference.R (280 rows)
#   nested8       y ~ week + (week | client) + (1 | therapist), nested.csv therapists t01-t08
#   two_slopes    y ~ week * format + (week | client) + (week | therapist), kr_two_slopes.csv
#   singular      y ~ week + (week | client) + (1 | therapist), kr_singular.csv (simulated;
#                 therapist variance estimated as 0: a boundary fit)
#   traj40        total ~ week * format + (week | episode_id), sample_phq9_long.csv, the first
#                 40 episode ids in sorted order (the model of sample_trajectory.R, model a)
# Kinds per model:
#   fixef, se, df          lmerTest summary() (Satterthwaite)
#   vcov                   vcov(fit)
#   varcov                 as.data.frame(VarCorr(fit)): name1 = grp|var1, name2 = var2
#   sigma, logLik, nobs
#   se_kr, df_kr, t_kr, p_kr   lmerTest summary(fit, ddf = "Kenward-Roger")
#   vcov_kr                pbkrtest::vcovAdj(fit)
#   kr_w                   attr(vcovAdj(fit), "W"): 2 x inverse expected information of the
#                          variance parameters (pbkrtest order: lower triangle of each term's
#                          covariance by column, terms in lme4 order, sigma^2 last)
#   contest1d_kr_*, contestmd_kr_*  lmerTest contest1D / contestMD with ddf = "Kenward-Roger"
#   emm_kr_*, pairs_kr_*, trend_kr_*  emmeans / pairs(adjust = "holm") / emtrends with
#                          lmer.df = "kenward-roger" (name1 = level or contrast, name2 = column)
suppressPackageStartupMessages({
  library(lme4); library(lmerTest); library(pbkrtest); library(emmeans)
})
out_dir <- "tests/reference"
dat_dir <- file.path(out_dir, "data")
fmt <- function(x) sprintf("%.15g", x)
ctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5))
# emmeans falls back to asymptotic df above 3000 rows unless told otherwise
emm_options(pbkrtest.limit = 1e6, lmerTest.limit = 1e6)
rows <- list()
add <- function(model, kind, n1, n2, v) rows[[length(rows) + 1]] <<-
  data.frame(model = model, kind = kind, name1 = n1, name2 = n2, value = fmt(v))

dump_fit <- function(fit, model) {
  cf <- summary(fit)$coefficients
  for (i in seq_len(nrow(cf))) {
    add(model, "fixef", rownames(cf)[i], "", cf[i, "Estimate"])
    add(model, "se", rownames(cf)[i], "", cf[i, "Std. Error"])
    add(model, "df", rownames(cf)[i], "", cf[i, "df"])
  }
  V <- as.matrix(vcov(fit))
  for (i in seq_len(nrow(V))) for (j in seq_len(ncol(V)))
    add(model, "vcov", rownames(V)[i], colnames(V)[j], V[i, j])
  vc <- as.data.frame(VarCorr(fit))
  for (i in seq_len(nrow(vc))) {
    n1 <- paste(vc$grp[i], if (is.na(vc$var1[i])) "" else vc$var1[i], sep = "|")
    n2 <- if (is.na(vc$var2[i])) "" else vc$var2[i]
    add(model, "varcov", n1, n2, vc$vcov[i])
  }
  add(model, "sigma", "", "", sigma(fit))
  add(model, "logLik", "", "", as.numeric(logLik(fit)))
  add(model, "nobs", "", "", nobs(fit))
  add(model, "singular", "", "", as.numeric(isSingular(fit)))
  cf <- summary(fit, ddf = "Kenward-Roger")$coefficients
  for (i in seq_len(nrow(cf))) {
    add(model, "se_kr", rownames(cf)[i], "", cf[i, "Std. Error"])
    add(model, "df_kr", rownames(cf)[i], "", cf[i, "df"])
    add(model, "t_kr", rownames(cf)[i], "", cf[i, "t value"])
    add(model, "p_kr", rownames(cf)[i], "", cf[i, "Pr(>|t|)"])
  }
  VA <- vcovAdj(fit)
  V <- as.matrix(VA)
  for (i in seq_len(nrow(V))) for (j in seq_len(ncol(V)))
    add(model, "vcov_kr", rownames(V)[i], colnames(V)[j], V[i, j])
  W <- as.matrix(attr(VA, "W"))
  for (i in seq_len(nrow(W))) for (j in seq_len(ncol(W)))
    add(model, "kr_w", as.character(i), as.character(j), W[i, j])
}
dump_contest <- function(fit, model, L, label) {
  r <- if (is.matrix(L)) contestMD(fit, L, ddf = "Kenward-Roger")
       else contest1D(fit, L, ddf = "Kenward-Roger")
  for (cn in names(r)) add(model, paste0(label, "_kr"), cn, "", r[[cn]])
}
dump_emm <- function(tab, model, kind, key) {
  tab <- as.data.frame(tab)
  for (i in seq_len(nrow(tab))) for (cn in setdiff(names(tab), key))
    if (is.numeric(tab[[cn]])) add(model, kind, as.character(tab[[key]][i]), cn, tab[[cn]][i])
}

## sleepstudy, 8 subjects -------------------------------------------------------------
sl <- read.csv(file.path(dat_dir, "sleepstudy.csv"), colClasses = c(Subject = "character"))
s8 <- sl[sl$Subject %in% c("308", "309", "310", "330", "331", "332", "333", "334"), ]
sleep8 <- lmer(Reaction ~ Days + (Days | Subject), data = s8, control = ctrl)
dump_fit(sleep8, "sleep8")
drop <- (s8$Subject == "308" & s8$Days >= 7) | (s8$Subject == "309" & s8$Days >= 5) |
  (s8$Subject == "330" & s8$Days <= 1) | (s8$Subject == "333" & s8$Days == 9) |
  (s8$Subject == "334" & s8$Days %in% c(3, 4, 8))
s8u <- s8[!drop, ]
sleep8u <- lmer(Reaction ~ Days + (Days | Subject), data = s8u, control = ctrl)
dump_fit(sleep8u, "sleep8_unbal")
dump_contest(sleep8u, "sleep8_unbal", c(1, 5), "contest1d")
dump_contest(sleep8u, "sleep8_unbal", rbind(c(1, 5), c(0, 1)), "contestmd")

## BtheB long (REML version of lmer1 of mixed_reference.R) -------------------------------
bt <- read.csv(file.path(dat_dir, "btheb.csv"))
bt$subject <- factor(seq_len(nrow(bt)))
nb <- nrow(bt)
bl <- reshape(bt, idvar = "subject",
  varying = c("bdi.2m", "bdi.3m", "bdi.5m", "bdi.8m"), direction = "long")
bl$time <- rep(c(2, 3, 5, 8), rep(nb, 4))
bl <- bl[!is.na(bl$bdi), ]
bl$treatment <- factor(bl$treatment, levels = c("TAU", "BtheB"))
bl$drug <- factor(bl$drug, levels = c("No", "Yes"))
bl$length <- factor(bl$length, levels = c("<6m", ">6m"))
btheb1 <- lmer(bdi ~ bdi.pre + time + treatment + drug + length + (1 | subject),
               data = bl, control = ctrl)
dump_fit(btheb1, "btheb1")
emb <- emmeans(btheb1, ~ treatment, lmer.df = "kenward-roger")
dump_emm(summary(emb), "btheb1", "emm_kr", "treatment")
dump_emm(summary(pairs(emb, adjust = "holm")), "btheb1", "pairs_kr", "contrast")

## nested.csv, therapists t01-t08: random slope per client + therapist intercept ---------
ne <- read.csv(file.path(dat_dir, "nested.csv"), na.strings = "")
ne8 <- ne[ne$therapist %in% sprintf("t%02d", 1:8), ]
nested8 <- lmer(y ~ week + (week | client) + (1 | therapist), data = ne8, control = ctrl)
dump_fit(nested8, "nested8")

## two random slopes: client and therapist (simulated) -----------------------------------
# 12 therapists x 6 clients, weekly from week 0 to a last week uniform on 3..10; format
# (a, b) per therapist; y = 14 + 1.5 b + (-0.6 - 0.3 b) week + therapist (intercept sd 1.5,
# slope sd 0.25, cor 0.3) + client (intercept sd 3, slope sd 0.35, cor -0.4) + N(0, 1.5^2)
set.seed(20261130)
n_t <- 12; n_c <- 6
mk_re <- function(k, sd0, sd1, r) {
  S <- matrix(c(sd0^2, r * sd0 * sd1, r * sd0 * sd1, sd1^2), 2)
  matrix(rnorm(2 * k), k) %*% chol(S)
}
re_t <- mk_re(n_t, 1.5, 0.25, 0.3)
re_c <- mk_re(n_t * n_c, 3, 0.35, -0.4)
fmt_t <- rep(c("a", "b"), length.out = n_t)
sim <- list()
for (ti in seq_len(n_t)) for (ci in seq_len(n_c)) {
  k <- (ti - 1) * n_c + ci
  last <- sample(3:10, 1)
  wk <- 0:last
  b <- as.numeric(fmt_t[ti] == "b")
  y <- 14 + 1.5 * b + (-0.6 - 0.3 * b) * wk + re_t[ti, 1] + re_t[ti, 2] * wk +
    re_c[k, 1] + re_c[k, 2] * wk + rnorm(length(wk), 0, 1.5)
  sim[[k]] <- data.frame(client = sprintf("c%03d", k), therapist = sprintf("t%02d", ti),
                         format = fmt_t[ti], week = wk, y = round(y, 6))
}
ts <- do.call(rbind, sim)
write.csv(ts, file.path(dat_dir, "kr_two_slopes.csv"), row.names = FALSE, quote = FALSE)
ts <- read.csv(file.path(dat_dir, "kr_two_slopes.csv"))
ts$format <- factor(ts$format, levels = c("a", "b"))
two <- lmer(y ~ week * format + (week | client) + (week | therapist), data = ts, control = ctrl)
dump_fit(two, "two_slopes")
dump_contest(two, "two_slopes", rbind(c(0, 0, 1, 0), c(0, 0, 0, 1)), "contestmd")
emt <- emmeans(two, ~ format, at = list(week = 8), lmer.df = "kenward-roger")
dump_emm(summary(emt), "two_slopes", "emm_kr", "format")

## a boundary fit: therapist variance estimated as zero (simulated) --------------------------
# 8 therapists x 5 clients, weeks 0..last (last uniform on 3..8), y = 15 - 0.7 week + client
# (intercept sd 3, slope sd 0.4, independent) + N(0, 2^2), no therapist effect; with this seed
# lme4 puts the therapist variance on the boundary (theta = 0, isSingular TRUE)
set.seed(1)
n_t <- 8; n_c <- 5
re_c <- cbind(rnorm(n_t * n_c, 0, 3), rnorm(n_t * n_c, 0, 0.4))
sim <- list()
for (ti in 1:n_t) for (ci in 1:n_c) {
  k <- (ti - 1) * n_c + ci
  wk <- 0:sample(3:8, 1)
  y <- 15 - 0.7 * wk + re_c[k, 1] + re_c[k, 2] * wk + rnorm(length(wk), 0, 2)
  sim[[k]] <- data.frame(client = sprintf("c%03d", k), therapist = sprintf("t%02d", ti),
                         week = wk, y = round(y, 6))
}
write.csv(do.call(rbind, sim), file.path(dat_dir, "kr_singular.csv"), row.names = FALSE,
          quote = FALSE)
sg <- read.csv(file.path(dat_dir, "kr_singular.csv"))
singular <- suppressMessages(
  lmer(y ~ week + (week | client) + (1 | therapist), data = sg, control = ctrl))
stopifnot(isSingular(singular))
dump_fit(singular, "singular")

## sample cohort, 40 episodes, through emmeans (marginal means, pairs, trends) -----------
d <- read.csv(file.path(out_dir, "sample_phq9_long.csv"), stringsAsFactors = FALSE)
keep <- sort(unique(d$episode_id))[1:40]
d <- d[d$episode_id %in% keep, ]
d$format <- factor(d$format, levels = intersect(
  c("individual", "group", "telehealth", "telephone", "internet"), unique(d$format)))
traj40 <- lmer(total ~ week * format + (week | episode_id), data = d, control = ctrl)
dump_fit(traj40, "traj40")
emm <- emmeans(traj40, ~ format, at = list(week = 12), lmer.df = "kenward-roger")
dump_emm(summary(emm), "traj40", "emm_kr", "format")
dump_emm(summary(pairs(emm, adjust = "holm"), infer = c(TRUE, TRUE)), "traj40", "pairs_kr",
         "contrast")
etr <- emtrends(traj40, ~ format, var = "week", lmer.df = "kenward-roger")
dump_emm(summary(etr), "traj40", "trend_kr", "format")

write.csv(do.call(rbind, rows), file.path(out_dir, "mixed_kr.csv"), row.names = FALSE)
writeLines(c(R.version.string, paste("lme4", packageVersion("lme4")),
             paste("lmerTest", packageVersion("lmerTest")),
             paste("pbkrtest", packageVersion("pbkrtest")),
             paste("emmeans", packageVersion("emmeans")),
             paste("Matrix", packageVersion("Matrix"))),
           file.path(out_dir, "mixed_kr_versions.txt"))
