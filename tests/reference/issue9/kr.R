# Kenward-Roger: lmerTest summary(fit, ddf = "Kenward-Roger") and pbkrtest::vcovAdj().
# Run from this directory (after multi.R, which writes data/multi.csv):  Rscript kr.R
# Writes data/sleepstudy8.csv, data/sleepstudy8_unbal.csv, data/btheb_long.csv and mixed_kr.csv.
#
# Models (all REML, lmerControl(optimizer = "bobyqa")):
#   sleep8    Reaction ~ Days + (Days | Subject), lme4's sleepstudy, the first 8 subjects in
#             factor-level order (308 309 310 330 331 332 333 334; 80 rows)
#   sleep8_unbal  the same 8 subjects with 14 rows dropped (unequal follow-up; 66 rows):
#             308 Days 7-9, 309 Days 5-9, 330 Days 0-1, 333 Day 9, 334 Days 3, 4, 8
#   btheb1    bdi ~ bdi.pre + time + treatment + drug + length + (1 | subject), HSAUR3's BtheB
#             reshaped long exactly as in tests/reference/mixed_reference.R (time = 2, 3, 5, 8;
#             rows with bdi missing dropped; 280 rows) - the REML version of its lmer1
#   multi_a   y ~ week * format + (week | client) + (week | therapist_unique), data/multi.csv
#             (model a of multi.R)
#   cw_int    weight ~ Time * Diet + (Time | Chick), ChickWeight (model cw_int_reml of saddle.R)
# Kinds: dump_fit() rows (Satterthwaite df in `df`), then
#   df_kr, se_kr, t_kr, p_kr   lmerTest summary(fit, ddf = "Kenward-Roger")
#   vcov_kr                    pbkrtest::vcovAdj(fit) (the KR-adjusted covariance of the fixed effects)
#   emm_kr_*, emm_satt_*       emmeans(..., lmer.df = "kenward-roger" / "satterthwaite"):
#       sleep8, sleep8_unbal ~ Days at Days = 0, 9; btheb1 ~ treatment; multi_a ~ format at week = 11;
#       cw_int ~ Diet at Time = 12 (+ pairs_kr_* : pairwise, Holm)
#   anova_* in model multi_a_typeIII_kr: lmerTest anova(fit, type = 3, ddf = "Kenward-Roger")
source("common.R")
suppressPackageStartupMessages({ library(pbkrtest); library(emmeans); library(HSAUR3) })

dump_kr <- function(fit, model) {
  rows <- list()
  add <- function(kind, n1, n2, v) rows[[length(rows) + 1]] <<- row1(model, kind, n1, n2, v)
  cf <- summary(fit, ddf = "Kenward-Roger")$coefficients
  for (i in seq_len(nrow(cf))) {
    add("se_kr", rownames(cf)[i], "", cf[i, "Std. Error"])
    add("df_kr", rownames(cf)[i], "", cf[i, "df"])
    add("t_kr", rownames(cf)[i], "", cf[i, "t value"])
    add("p_kr", rownames(cf)[i], "", cf[i, "Pr(>|t|)"])
  }
  V <- as.matrix(vcovAdj(fit))
  for (i in seq_len(nrow(V))) for (j in seq_len(ncol(V)))
    add("vcov_kr", rownames(V)[i], colnames(V)[j], V[i, j])
  do.call(rbind, rows)
}
emm_both <- function(fit, model, specs, at = NULL, pairs = FALSE) {
  out <- list()
  for (ddf in c("kenward-roger", "satterthwaite")) {
    tag <- if (ddf == "kenward-roger") "kr" else "satt"
    e <- suppressMessages(emmeans(fit, specs, at = at, lmer.df = ddf))
    out[[length(out) + 1]] <- dump_emm(summary(e), model, paste0("emm_", tag))
    if (pairs) out[[length(out) + 1]] <-
      dump_emm(summary(pairs(e, adjust = "holm")), model, paste0("pairs_", tag))
  }
  do.call(rbind, out)
}

## sleepstudy, 8 subjects ------------------------------------------------------------
data("sleepstudy", package = "lme4")
s8 <- sleepstudy[sleepstudy$Subject %in% levels(sleepstudy$Subject)[1:8], ]
write.csv(data.frame(Reaction = fmt(s8$Reaction), Days = s8$Days,
                     Subject = as.character(s8$Subject)),
          file.path(dat_dir, "sleepstudy8.csv"), row.names = FALSE, quote = FALSE)
s8 <- read.csv(file.path(dat_dir, "sleepstudy8.csv"), colClasses = c(Subject = "character"))
sleep8 <- lmer_logged(Reaction ~ Days + (Days | Subject), data = s8, control = ctrl)
# the same subjects with unequal follow-up (balanced sleep8 has KR = Satterthwaite = 7 df and
# no KR inflation of the covariance); rows dropped deterministically
drop <- (s8$Subject == "308" & s8$Days >= 7) | (s8$Subject == "309" & s8$Days >= 5) |
  (s8$Subject == "330" & s8$Days <= 1) | (s8$Subject == "333" & s8$Days == 9) |
  (s8$Subject == "334" & s8$Days %in% c(3, 4, 8))
s8u <- s8[!drop, ]
write.csv(data.frame(Reaction = fmt(s8u$Reaction), Days = s8u$Days, Subject = s8u$Subject),
          file.path(dat_dir, "sleepstudy8_unbal.csv"), row.names = FALSE, quote = FALSE)
s8u <- read.csv(file.path(dat_dir, "sleepstudy8_unbal.csv"), colClasses = c(Subject = "character"))
sleep8u <- lmer_logged(Reaction ~ Days + (Days | Subject), data = s8u, control = ctrl)

## BtheB long -------------------------------------------------------------------------
data("BtheB", package = "HSAUR3")
BtheB$subject <- factor(rownames(BtheB))
nobs_b <- nrow(BtheB)
bl <- reshape(BtheB, idvar = "subject",
  varying = c("bdi.2m", "bdi.3m", "bdi.5m", "bdi.8m"), direction = "long")
bl$time <- rep(c(2, 3, 5, 8), rep(nobs_b, 4))
bl <- bl[!is.na(bl$bdi), ]
write.csv(data.frame(subject = as.character(bl$subject), time = bl$time, bdi = bl$bdi,
                     bdi.pre = bl$bdi.pre, treatment = bl$treatment, drug = bl$drug,
                     length = bl$length),
          file.path(dat_dir, "btheb_long.csv"), row.names = FALSE, quote = FALSE)
bl <- read.csv(file.path(dat_dir, "btheb_long.csv"), colClasses = c(subject = "character"))
bl$treatment <- factor(bl$treatment, levels = c("TAU", "BtheB"))
bl$drug <- factor(bl$drug, levels = c("No", "Yes"))
bl$length <- factor(bl$length, levels = c("<6m", ">6m"))
btheb1 <- lmer_logged(bdi ~ bdi.pre + time + treatment + drug + length + (1 | subject),
                      data = bl, control = ctrl)

## multi model (a) ----------------------------------------------------------------------
mu <- read.csv(file.path(dat_dir, "multi.csv"), colClasses = "character")
mu$week <- as.numeric(mu$week); mu$y <- as.numeric(mu$y)
mu$format <- factor(mu$format, levels = c("group", "individual", "telehealth"))
multi_a <- lmer_logged(y ~ week * format + (week | client) + (week | therapist_unique),
                       data = mu, control = ctrl)

## ChickWeight ---------------------------------------------------------------------------
cw <- read.csv(file.path(dat_dir, "chickweight.csv"), colClasses = c(Chick = "character"))
cw$Diet <- factor(cw$Diet, levels = 1:4)
cw_int <- lmer_logged(weight ~ Time * Diet + (Time | Chick), data = cw, control = ctrl)

out <- list(
  dump_fit(sleep8, "sleep8"), dump_kr(sleep8, "sleep8"),
  emm_both(sleep8, "sleep8", ~ Days, at = list(Days = c(0, 9))),
  dump_fit(sleep8u, "sleep8_unbal"), dump_kr(sleep8u, "sleep8_unbal"),
  emm_both(sleep8u, "sleep8_unbal", ~ Days, at = list(Days = c(0, 9))),
  dump_fit(btheb1, "btheb1"), dump_kr(btheb1, "btheb1"),
  emm_both(btheb1, "btheb1", ~ treatment, pairs = TRUE),
  dump_fit(multi_a, "multi_a"), dump_kr(multi_a, "multi_a"),
  emm_both(multi_a, "multi_a", ~ format, at = list(week = 11), pairs = TRUE),
  dump_anova(anova(multi_a, type = 3, ddf = "Kenward-Roger"), "multi_a_typeIII_kr"),
  dump_fit(cw_int, "cw_int"), dump_kr(cw_int, "cw_int"),
  emm_both(cw_int, "cw_int", ~ Diet, at = list(Time = 12), pairs = TRUE))
write_ref(do.call(rbind, out), "mixed_kr.csv")
write_versions()
