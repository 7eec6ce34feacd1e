# Saddle points / strong negative intercept-slope correlation.
# Run from this directory:  Rscript saddle.R
# Writes data/chickweight.csv, data/saddle_sim_{060,080,095}.csv and mixed_saddle.csv.
#
# Models (lmerControl(optimizer = "bobyqa"); Satterthwaite df from lmerTest):
#   cw_int_reml   weight ~ Time * Diet + (Time | Chick)   REML, ChickWeight (578 rows)
#   cw_add_ml     weight ~ Time + Diet + (Time | Chick)   ML
#   cw12_int_reml weight ~ Time * Diet + (Time | Chick)   REML, Diet 1 and 2 only (340 rows)
#   *_diag        the same with (Time || Chick) (zero correlation), for comparison
#   sim060, sim080, sim095   y ~ week + (week | client)  REML on simulated weekly data with
#                 true intercept-slope correlation -0.6, -0.8, -0.95 and random drop-out
# For each: dump_fit() rows, the logLik/criterion/theta under the three optimisers
# (kinds opt_*, optimiser in name1), and for the ChickWeight fits emmeans at Time = 12 by
# Diet (Satterthwaite df, kinds emm_*) and pairwise Holm contrasts (kinds pairs_*; the
# unadjusted p as pairs_none_p.value).
source("common.R")
suppressPackageStartupMessages(library(emmeans))
emm_options(lmer.df = "satterthwaite")

## ChickWeight -------------------------------------------------------------------
data("ChickWeight", package = "datasets")
cw <- data.frame(weight = ChickWeight$weight, Time = ChickWeight$Time,
                 Chick = as.character(ChickWeight$Chick),
                 Diet = as.integer(as.character(ChickWeight$Diet)))
write.csv(cw, file.path(dat_dir, "chickweight.csv"), row.names = FALSE, quote = FALSE)
# read back exactly as a consumer of the CSV would: Chick character, Diet a factor 1..4
cw <- read.csv(file.path(dat_dir, "chickweight.csv"), colClasses = c(Chick = "character"))
cw$Diet <- factor(cw$Diet, levels = 1:4)
cw12 <- droplevels(cw[cw$Diet %in% c("1", "2"), ])

f_int <- weight ~ Time * Diet + (Time | Chick)
f_add <- weight ~ Time + Diet + (Time | Chick)
cw_fits <- list(
  cw_int_reml = list(f = f_int, d = cw, reml = TRUE),
  cw_add_ml = list(f = f_add, d = cw, reml = FALSE),
  cw12_int_reml = list(f = f_int, d = cw12, reml = TRUE))

emm_rows <- function(fit, model) {
  # (emmeans notes that Diet is involved in an interaction: intended, silenced)
  e <- suppressMessages(emmeans(fit, ~ Diet, at = list(Time = 12), lmer.df = "satterthwaite"))
  rbind(dump_emm(summary(e), model, "emm"),
        dump_emm(summary(pairs(e, adjust = "holm")), model, "pairs"),
        dump_emm(summary(pairs(e, adjust = "none")), model, "pairs_none"))
}

res <- list()
for (m in names(cw_fits)) {
  s <- cw_fits[[m]]
  fit <- lmer_logged(s$f, data = s$d, REML = s$reml, control = ctrl)
  # the zero-correlation fit (Time || Chick): the best point on the rho = 0 plane, where an
  # optimiser started at rho = 0 may stall; its logLik is well below the full optimum
  fd <- lmer_logged(update(s$f, . ~ . - (Time | Chick) + (Time || Chick)), data = s$d,
                    REML = s$reml, control = ctrl)
  res[[m]] <- rbind(dump_fit(fit, m), dump_optimizers(s$f, s$d, s$reml, m), emm_rows(fit, m),
                    dump_fit(fd, paste0(m, "_diag")))
}

## simulated weekly data, unequal follow-up -------------------------------------------
# client i: b0 + b1 * week + e, (b0, b1) ~ N(0, [sd0^2, r sd0 sd1; r sd0 sd1, sd1^2]),
# observed at weeks 0..last_i with last_i uniform on 1..15 (random drop-out)
sim_weekly <- function(n, r, seed) {
  set.seed(seed)
  sd0 <- 4; sd1 <- 0.5; sigma <- 2.5; beta <- c(15, -0.6)
  S <- matrix(c(sd0^2, r * sd0 * sd1, r * sd0 * sd1, sd1^2), 2)
  b <- matrix(rnorm(2 * n), n) %*% chol(S)
  last <- sample(1:15, n, replace = TRUE)
  d <- do.call(rbind, lapply(seq_len(n), function(i) {
    wk <- 0:last[i]
    data.frame(client = sprintf("c%03d", i), week = wk,
               y = beta[1] + b[i, 1] + (beta[2] + b[i, 2]) * wk + rnorm(length(wk), 0, sigma))
  }))
  d$y <- round(d$y, 6)
  d
}
sims <- list(sim060 = list(n = 150, r = -0.60, seed = 9060),
             sim080 = list(n = 90, r = -0.80, seed = 9080),
             sim095 = list(n = 40, r = -0.95, seed = 9095))
f_sim <- y ~ week + (week | client)
for (m in names(sims)) {
  s <- sims[[m]]
  file <- file.path(dat_dir, sprintf("saddle_%s.csv", sub("sim", "sim_", m)))
  write.csv(sim_weekly(s$n, s$r, s$seed), file, row.names = FALSE, quote = FALSE)
  d <- read.csv(file, colClasses = c(client = "character"))
  fit <- lmer_logged(f_sim, data = d, REML = TRUE, control = ctrl)
  res[[m]] <- rbind(dump_fit(fit, m), dump_optimizers(f_sim, d, TRUE, m),
                    row1(m, "true_cor", "", "", s$r), row1(m, "nclients", "", "", s$n))
}

write_ref(do.call(rbind, res), "mixed_saddle.csv")
write_versions()
