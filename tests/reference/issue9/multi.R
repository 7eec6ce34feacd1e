# Multi-term random effects.
# Run from this directory:  Rscript multi.R
# Writes data/multi.csv (generated here, set.seed) and mixed_multi.csv.
#
# Data: 6 sites (s1..s6) x 5 therapists per site x 10 clients per therapist = 300 clients.
# Therapist labels REPEAT across sites (t1..t5 in every site); therapist_unique = site_therapist
# ("s1_t1", ...) is the unique id (30 levels).  Clients are seen weekly from week 0 to
# their last week (11 for about 60%, otherwise uniform on 2..10).  format (group,
# individual, telehealth) is a client-level attribute.  Therapists differ in slope.
#
# Models (REML unless _ml; lmerControl(optimizer = "bobyqa"); Satterthwaite df):
#   a      y ~ week * format + (week | client) + (week | therapist_unique)
#   a_ml   the same, ML
#   a0_ml  y ~ week + (week | client) + (week | therapist_unique), ML (for anova against a_ml)
#          a_ml and a0_ml start bobyqa at their REML theta (see below); *_default_start are
#          the same fits from lme4's default start, which stop at a boundary saddle
#   opt_* rows: logLik / theta under nloptwrap, bobyqa, Nelder_Mead (default start) for
#          a..e (REML) and a_ml_default_start, a0_ml_default_start
#   b      y ~ week + (week || client)          [lme4: (1|client) + (0+week|client); VarCorr
#                                                groups "client" and "client.1"]
#   c      y ~ week + (1 | site/therapist)      [repeating labels; lme4: (1|site) +
#                                                (1|site:therapist); VarCorr group "therapist:site"]
#   d      y ~ week + (1 | site:therapist) + (week | client)
#   e      y ~ week + (week || client) + (1 | therapist_unique)
#   b_ml, e_ml  ML refits of b and e
# anova rows: anova_a0_a (anova(a0_ml, a_ml)), anova_b_e (anova(b, e), REML fits, default
# refit = TRUE: lme4 refits both with ML), a_typeIII (lmerTest anova(a), type III,
# Satterthwaite).
source("common.R")

## data -----------------------------------------------------------------------------
set.seed(20240909)
n_site <- 6; n_ther <- 5; n_cli <- 10
sites <- sprintf("s%d", seq_len(n_site))
th <- expand.grid(therapist = sprintf("t%d", seq_len(n_ther)), site = sites,
                  stringsAsFactors = FALSE)[, c("site", "therapist")]
th$therapist_unique <- paste(th$site, th$therapist, sep = "_")
site_eff <- setNames(rnorm(n_site, 0, 1.0), sites)
# therapist intercept / slope: sd 1.2 and 0.15, correlation 0.2
St <- matrix(c(1.2^2, 0.2 * 1.2 * 0.15, 0.2 * 1.2 * 0.15, 0.15^2), 2)
bt <- matrix(rnorm(2 * nrow(th)), ncol = 2) %*% chol(St)
# client intercept / slope: sd 3.5 and 0.3, correlation -0.3
Sc <- matrix(c(3.5^2, -0.3 * 3.5 * 0.3, -0.3 * 3.5 * 0.3, 0.3^2), 2)
fmt_lv <- c("group", "individual", "telehealth")
beta_fmt <- c(group = 0, individual = -1.0, telehealth = 0.5)
beta_wk_fmt <- c(group = 0, individual = -0.10, telehealth = 0.05)
rows <- list(); k <- 0
for (j in seq_len(nrow(th))) for (i in seq_len(n_cli)) {
  k <- k + 1
  bc <- rnorm(2) %*% chol(Sc)
  f <- sample(fmt_lv, 1)
  last <- if (runif(1) < 0.6) 11 else sample(2:10, 1)
  wk <- 0:last
  mu <- 16 + beta_fmt[[f]] + site_eff[[th$site[j]]] + bt[j, 1] + bc[1] +
    (-0.5 + beta_wk_fmt[[f]] + bt[j, 2] + bc[2]) * wk
  rows[[k]] <- data.frame(client = sprintf("c%03d", k), therapist = th$therapist[j],
                          therapist_unique = th$therapist_unique[j], site = th$site[j],
                          week = wk, format = f, y = round(mu + rnorm(length(wk), 0, 2.5), 6))
}
multi <- do.call(rbind, rows)
write.csv(multi, file.path(dat_dir, "multi.csv"), row.names = FALSE, quote = FALSE)
mu <- read.csv(file.path(dat_dir, "multi.csv"), colClasses = "character")
mu$week <- as.numeric(mu$week); mu$y <- as.numeric(mu$y)
mu$format <- factor(mu$format, levels = fmt_lv)

## fits ------------------------------------------------------------------------------
forms <- list(
  a = y ~ week * format + (week | client) + (week | therapist_unique),
  b = y ~ week + (week || client),
  c = y ~ week + (1 | site/therapist),
  d = y ~ week + (1 | site:therapist) + (week | client),
  e = y ~ week + (week || client) + (1 | therapist_unique))
fits <- lapply(forms, function(f) lmer_logged(f, data = mu, REML = TRUE, control = ctrl))
# ML fits of a and a0 start from the REML theta: from lme4's default start (theta = 1, 0, 1)
# bobyqa and Nelder_Mead stop on the boundary therapist_unique intercept sd = 0 with a
# "negative eigenvalue" warning, about 1.42 (a) / 1.19 (a0) log-likelihood units below
# the interior ML optimum (recorded as *_default_start; opt_* rows for all three optimisers)
f_a0 <- y ~ week + (week | client) + (week | therapist_unique)
a0 <- lmer_logged(f_a0, data = mu, REML = TRUE, control = ctrl)
a_ml <- lmer_logged(forms$a, data = mu, REML = FALSE, control = ctrl,
                    start = getME(fits$a, "theta"))
a0_ml <- lmer_logged(f_a0, data = mu, REML = FALSE, control = ctrl, start = getME(a0, "theta"))
a_ml_ds <- lmer_logged(forms$a, data = mu, REML = FALSE, control = ctrl)
a0_ml_ds <- lmer_logged(f_a0, data = mu, REML = FALSE, control = ctrl)
b_ml <- lmer_logged(forms$b, data = mu, REML = FALSE, control = ctrl)
e_ml <- lmer_logged(forms$e, data = mu, REML = FALSE, control = ctrl)
b <- fits$b; e <- fits$e

out <- c(Map(dump_fit, fits, names(fits)),
         Map(function(f, m) dump_optimizers(f, mu, TRUE, m), forms, names(forms)),
         list(dump_fit(a_ml, "a_ml"), dump_fit(a0_ml, "a0_ml"),
              dump_fit(a_ml_ds, "a_ml_default_start"), dump_fit(a0_ml_ds, "a0_ml_default_start"),
              dump_optimizers(forms$a, mu, FALSE, "a_ml_default_start"),
              dump_optimizers(f_a0, mu, FALSE, "a0_ml_default_start"),
              dump_fit(b_ml, "b_ml"), dump_fit(e_ml, "e_ml"),
              dump_anova(anova(a0_ml, a_ml), "anova_a0_a"),
              dump_anova(suppressMessages(anova(b, e)), "anova_b_e"),
              dump_anova(anova(fits$a, type = 3, ddf = "Satterthwaite"), "a_typeIII")))
write_ref(do.call(rbind, out), "mixed_multi.csv")
write_versions()
