# anova() of two REML fits, with lme4's default ML refit and with refit = FALSE.
# Run from this directory:  Rscript anova.R
# Writes data/orthodont.csv and mixed_anova.csv.
#
# Orthodont (nlme; 108 rows, 27 subjects; Sex levels Male (reference), Female):
#   orth_m1   distance ~ age + (1 | Subject)          REML  (orth_m1_ml: ML)
#   orth_m2   distance ~ age + Sex + (1 | Subject)    REML  (orth_m2_ml: ML)
#   anova_orth_refit     anova(m1, m2)                 default refit = TRUE: both refitted by ML
#   anova_orth_norefit   anova(m1, m2, refit = FALSE)  REML log-likelihoods compared as they are
#                        (not a valid test here: the fixed effects differ)
#   orth_int1  distance ~ age * Sex + (1 | Subject)     REML
#   orth_int2  distance ~ age * Sex + (age | Subject)   REML  (orth_int1_ml, orth_int2_ml: ML)
#   anova_orth_slope_refit, anova_orth_slope_norefit   anova(int1, int2) both ways: this
#                        random-slope comparison is the one whose chi-squares are 0.833 (ML
#                        refit, the default) and 1.176 (REML, refit = FALSE)
# sleepstudy (lme4; data as tests/reference/data/sleepstudy.csv):
#   fm1  Reaction ~ Days + (Days | Subject) REML;  fm3  Reaction ~ Days + (1 | Subject) REML
#   anova_fm3_fm1_refit, anova_fm3_fm1_norefit  (same fixed effects: the REML comparison is valid)
# Rows anova_* have the row name of anova()'s table (the model's object name) in name1.
source("common.R")
suppressPackageStartupMessages(library(nlme))   # for the data only

data("Orthodont", package = "nlme")
od <- data.frame(distance = Orthodont$distance, age = Orthodont$age,
                 Subject = as.character(Orthodont$Subject), Sex = as.character(Orthodont$Sex))
write.csv(od, file.path(dat_dir, "orthodont.csv"), row.names = FALSE, quote = FALSE)
od <- read.csv(file.path(dat_dir, "orthodont.csv"), colClasses = c(Subject = "character"))
od$Sex <- factor(od$Sex, levels = c("Male", "Female"))

m1 <- lmer_logged(distance ~ age + (1 | Subject), data = od, control = ctrl)
m2 <- lmer_logged(distance ~ age + Sex + (1 | Subject), data = od, control = ctrl)
m1_ml <- lmer_logged(distance ~ age + (1 | Subject), data = od, REML = FALSE, control = ctrl)
m2_ml <- lmer_logged(distance ~ age + Sex + (1 | Subject), data = od, REML = FALSE, control = ctrl)
int1 <- lmer_logged(distance ~ age * Sex + (1 | Subject), data = od, control = ctrl)
int2 <- lmer_logged(distance ~ age * Sex + (age | Subject), data = od, control = ctrl)
int1_ml <- lmer_logged(distance ~ age * Sex + (1 | Subject), data = od, REML = FALSE, control = ctrl)
int2_ml <- lmer_logged(distance ~ age * Sex + (age | Subject), data = od, REML = FALSE, control = ctrl)

data("sleepstudy", package = "lme4")
fm1 <- lmer_logged(Reaction ~ Days + (Days | Subject), data = sleepstudy, control = ctrl)
fm3 <- lmer_logged(Reaction ~ Days + (1 | Subject), data = sleepstudy, control = ctrl)

# lme4 announces "refitting model(s) with ML (instead of REML)": silenced
out <- list(
  dump_fit(m1, "orth_m1"), dump_fit(m2, "orth_m2"),
  dump_fit(m1_ml, "orth_m1_ml"), dump_fit(m2_ml, "orth_m2_ml"),
  dump_anova(suppressMessages(anova(m1, m2)), "anova_orth_refit"),
  dump_anova(anova(m1, m2, refit = FALSE), "anova_orth_norefit"),
  dump_fit(int1, "orth_int1"), dump_fit(int2, "orth_int2"),
  dump_fit(int1_ml, "orth_int1_ml"), dump_fit(int2_ml, "orth_int2_ml"),
  dump_anova(suppressMessages(anova(int1, int2)), "anova_orth_slope_refit"),
  dump_anova(anova(int1, int2, refit = FALSE), "anova_orth_slope_norefit"),
  dump_anova(suppressMessages(anova(fm3, fm1)), "anova_fm3_fm1_refit"),
  dump_anova(anova(fm3, fm1, refit = FALSE), "anova_fm3_fm1_norefit"))
write_ref(do.call(rbind, out), "mixed_anova.csv")
write_versions()
