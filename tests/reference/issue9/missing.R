# Missing grouping ids: lme4's default na.action (na.omit) drops every row whose grouping
# id is NA before fitting.
# Run from this directory (after multi.R, which writes data/multi.csv):  Rscript missing.R
# Writes data/missing.csv and mixed_missing.csv.
#
# Data: the rows of data/multi.csv in sites s2 and s3 (100 clients, 10 therapists), with
# `therapist` = multi.csv's therapist_unique ("s2_t1", ...), then therapist set to NA (blank
# in the CSV) for every row of 6 clients and for about 4% of the other rows (set.seed).
# Columns: client, therapist, week, format, y.
#
# Models (REML, lmerControl(optimizer = "bobyqa")), fitted on the data with NAs as they are:
#   miss_a   y ~ week + (week | client) + (1 | therapist)
#   miss_b   y ~ week * format + (1 | therapist)
# Each is checked (stopifnot) against the same model fitted on the complete rows only.
# Kinds as dump_fit (nobs = rows used; ngroups per grouping factor after dropping), plus
#   n_rows (rows in the file), n_na_therapist (rows with therapist NA).
source("common.R")

mu <- read.csv(file.path(dat_dir, "multi.csv"), colClasses = "character")
ms <- mu[mu$site %in% c("s2", "s3"), ]
ms <- data.frame(client = ms$client, therapist = ms$therapist_unique, week = ms$week,
                 format = ms$format, y = ms$y)
set.seed(909)
gone <- sample(unique(ms$client), 6)
ms$therapist[ms$client %in% gone] <- NA
other <- which(!(ms$client %in% gone))
ms$therapist[sample(other, round(0.04 * length(other)))] <- NA
write.csv(ms, file.path(dat_dir, "missing.csv"), row.names = FALSE, quote = FALSE, na = "")

md <- read.csv(file.path(dat_dir, "missing.csv"), colClasses = "character", na.strings = "")
md$week <- as.numeric(md$week); md$y <- as.numeric(md$y)
md$format <- factor(md$format, levels = c("group", "individual", "telehealth"))
cc <- md[!is.na(md$therapist), ]

forms <- list(miss_a = y ~ week + (week | client) + (1 | therapist),
              miss_b = y ~ week * format + (1 | therapist))
out <- list()
for (m in names(forms)) {
  fit <- lmer_logged(forms[[m]], data = md, control = ctrl)       # na.action = na.omit
  fcc <- lmer_logged(forms[[m]], data = cc, control = ctrl)
  stopifnot(nobs(fit) == nrow(cc), isTRUE(all.equal(logLik(fit), logLik(fcc))),
            isTRUE(all.equal(fixef(fit), fixef(fcc))))
  out[[m]] <- rbind(dump_fit(fit, m), row1(m, "n_rows", "", "", nrow(md)),
                    row1(m, "n_na_therapist", "", "", sum(is.na(md$therapist))))
}
write_ref(do.call(rbind, out), "mixed_missing.csv")
write_versions()
