## qicharts2_reproduce.R -- BASE-R RE-IMPLEMENTATION, NOT qicharts2 ITSELF.
##
## qicharts2 is not packaged in Debian (apt-cache policy r-cran-qicharts2 finds
## nothing), so this script re-implements, with base R only, the computations
## that qicharts2 0.8.1 (github.com/anhoej/qicharts2, commit 1b9487e, GPL-3)
## performs in R/qic.R and R/helper.functions.R for the chart types
## run, i, mr, p, c and u, and runs them on qicharts2's own example data.
## The semantics follow the source (line numbers refer to that commit):
##   runs.analysis()  helper.functions.R:1-40    Anhoej rules
##   crsignal()       helper.functions.R:42-125  (method 'anhoej' only here)
##   qic.run/i/mr/p/c/u helper.functions.R:127-183, 300-322, 371-412
##   makeparts()      helper.functions.R:532-539
##   qic.agg()        helper.functions.R:552-631
##   qic()            qic.R:117-330 (freeze ignored when part is given, l.229)
## Screened moving ranges (qic.screenedmr) default to TRUE here because
## library(qicharts2) sets that option in .onAttach (helper.functions.R:633-639);
## without attaching the package the option defaults to FALSE.
##
## Usage: bash extract_qicharts2_data.sh /tmp/qic
##        Rscript qicharts2_reproduce.R /tmp/qic  [output dir, default = script dir]
## Output: qicharts2_examples.csv (one row per plotted point),
##         qicharts2_examples_summary.csv (one row per facet x part, like summary.qic).

args <- commandArgs(trailingOnly = TRUE)
data_dir <- if (length(args) >= 1) args[1] else "/tmp/qic"
out_dir  <- if (length(args) >= 2) args[2] else {
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f)) else "."
}

## ---------------------------------------------------------------- algorithm
runs_anhoej <- function(y, cl, include) {
  y  <- y[include]
  cl <- cl[include]
  s  <- sign(y - cl)                 # points on the centre line give 0 ...
  s  <- s[s != 0 & !is.na(s)]        # ... and are dropped, as are NAs
  n_useful <- length(s)
  res <- list(n.obs = length(y), n.useful = n_useful,
              longest.run = NA, longest.run.max = NA,
              n.crossings = NA, n.crossings.min = NA, runs.signal = FALSE)
  if (n_useful > 0) {
    runs <- rle(s)$lengths
    res$longest.run     <- max(runs)
    res$longest.run.max <- round(log2(n_useful)) + 3          # Schilling 2012
    res$n.crossings     <- max(length(runs) - 1, 0)
    res$n.crossings.min <- qbinom(0.05, max(n_useful - 1, 0), 0.5)  # Chen 2010
    res$runs.signal     <- res$longest.run > res$longest.run.max ||
                           res$n.crossings < res$n.crossings.min
  }
  res
}

limits_for <- function(g, chart, screened_mr) {
  base <- g$baseline & g$include
  na_lim <- function(g) { g$lcl <- g$ucl <- g$lcl.95 <- g$ucl.95 <- NA_real_; g }
  if (chart == "run") {
    g$cl <- median(g$y[base], na.rm = TRUE)
    g <- na_lim(g)
  } else if (chart == "i") {
    g$cl <- mean(g$y[base], na.rm = TRUE)
    mr  <- abs(diff(g$y[base] - g$cl[base]))   # moving ranges of baseline, included points
    amr <- mean(mr, na.rm = TRUE)
    if (screened_mr) {                          # Nelson 1982 screening
      mr  <- mr[mr < 3.267 * amr]
      amr <- mean(mr, na.rm = TRUE)
    }
    s <- amr / 1.128
    g$lcl <- g$cl - 3 * s; g$ucl <- g$cl + 3 * s
    g$lcl.95 <- g$cl - 2 * s; g$ucl.95 <- g$cl + 2 * s
  } else if (chart == "mr") {
    g$y  <- c(NA, abs(diff(g$y)))
    g$cl <- mean(g$y[base], na.rm = TRUE)
    g$lcl <- 0; g$lcl.95 <- 0
    g$ucl <- 3.267 * g$cl; g$ucl.95 <- (3.267 / 3) * 2 * g$cl
  } else if (chart == "p") {
    g$cl <- sum(g$y.sum[base], na.rm = TRUE) / sum(g$n[base], na.rm = TRUE)
    s <- sqrt(g$cl * (1 - g$cl) / g$n)
    g$ucl <- pmin_f(g$cl + 3 * s, 1); g$ucl.95 <- pmin_f(g$cl + 2 * s, 1)
    g$lcl <- pmax_f(g$cl - 3 * s, 0); g$lcl.95 <- pmax_f(g$cl - 2 * s, 0)
  } else if (chart == "c") {
    g$y  <- g$y.sum
    g$cl <- mean(g$y[base], na.rm = TRUE)
    s <- sqrt(g$cl)
    g$ucl <- g$cl + 3 * s; g$ucl.95 <- g$cl + 2 * s
    g$lcl <- pmax_f(g$cl - 3 * s, 0); g$lcl.95 <- pmax_f(g$cl - 2 * s, 0)
  } else if (chart == "u") {
    g$cl <- sum(g$y.sum[base], na.rm = TRUE) / sum(g$n[base], na.rm = TRUE)
    s <- sqrt(g$cl / g$n)
    g$ucl <- g$cl + 3 * s; g$ucl.95 <- g$cl + 2 * s
    g$lcl <- pmax_f(g$cl - 3 * s, 0); g$lcl.95 <- pmax_f(g$cl - 2 * s, 0)
  } else stop("chart not re-implemented: ", chart)
  g
}
## clip only finite values (qicharts2 uses `x[x > 1 & is.finite(x)] <- 1`)
pmin_f <- function(x, v) { i <- is.finite(x) & x > v; x[i] <- v; x }
pmax_f <- function(x, v) { i <- is.finite(x) & x < v; x[i] <- v; x }

parts_of <- function(part, n) {            # part = index of last point before each break
  b <- unique(c(0, part))
  b <- sort(b[b >= 0 & b < n])
  rep(seq_along(b), diff(c(b, n)))
}

qic_base <- function(x, y = NULL, n = NULL, facet1 = 1, facet2 = 1,
                     chart = "run", multiply = 1, freeze = NULL, part = NULL,
                     exclude = NULL, screened_mr = TRUE) {
  if (is.null(y)) { y <- x; x <- seq_along(y) }
  got_n <- !is.null(n)
  if (!got_n) n <- NA
  if (is.null(freeze) || !is.null(part)) { freeze <- Inf; part <- as.integer(part) }
  if (is.null(exclude)) exclude <- Inf
  dots_only <- is.factor(x) || mode(x) != "numeric"
  if (inherits(x, c("Date", "POSIXt"))) x <- as.POSIXct(as.character(x), tz = "UTC")
  if (got_n) { ok <- complete.cases(y, n); y[!ok] <- NA; n[!ok] <- NA }
  d <- data.frame(x, y, n, facet1, facet2)
  d <- droplevels(d)
  d <- d[!is.na(d$x), ]
  ## aggregate one row per (x, facet1, facet2); split() orders x fastest
  grp <- split(d, d[, c("x", "facet1", "facet2")])
  d <- do.call(rbind, lapply(grp, function(g) data.frame(
    x = g$x[1], facet1 = g$facet1[1], facet2 = g$facet2[1],
    y.sum    = sum(g$y, na.rm = length(g$y) > 1),
    y.length = sum(!is.na(g$y)),
    n        = sum(g$n, na.rm = got_n),
    y        = if (got_n) sum(g$y, na.rm = TRUE) / sum(g$n, na.rm = got_n)
               else mean(g$y, na.rm = TRUE))))
  d <- do.call(rbind, lapply(split(d, d[c("facet1", "facet2")]), function(g) {
    g$part <- parts_of(part, nrow(g)); g$xx <- seq_len(nrow(g)); g }))
  d$baseline <- d$xx <= freeze
  d$include  <- !d$xx %in% exclude
  d <- lapply(split(d, d[c("facet1", "facet2", "part")]), function(g) {
    g <- limits_for(g, chart, screened_mr)
    r <- runs_anhoej(g$y, g$cl, g$include)
    for (k in names(r)) g[[k]] <- r[[k]]
    for (k in c("y", "cl", "lcl", "lcl.95", "ucl.95", "ucl")) g[[k]] <- g[[k]] * multiply
    g
  })
  d <- do.call(rbind, c(d, make.row.names = FALSE))
  for (k in c("ucl", "ucl.95", "lcl", "lcl.95")) d[[k]][!is.finite(d[[k]])] <- NA
  d$sigma.signal <- d$y > d$ucl | d$y < d$lcl
  d$sigma.signal[is.na(d$sigma.signal)] <- FALSE
  if (dots_only || chart == "mr") d$runs.signal <- FALSE
  d
}

summary_base <- function(d) {
  s <- lapply(split(d, d[c("facet1", "facet2", "part")]), function(g) data.frame(
    facet1 = g$facet1[1], facet2 = g$facet2[1], part = g$part[1],
    n.obs = g$n.obs[1], n.useful = g$n.useful[1],
    longest.run = g$longest.run[1], longest.run.max = g$longest.run.max[1],
    n.crossings = g$n.crossings[1], n.crossings.min = g$n.crossings.min[1],
    runs.signal = as.integer(max(g$runs.signal)),
    aLCL = mean(g$lcl, na.rm = TRUE), aLCL.95 = mean(g$lcl.95, na.rm = TRUE),
    CL = mean(g$cl, na.rm = TRUE),
    aUCL.95 = mean(g$ucl.95, na.rm = TRUE), aUCL = mean(g$ucl, na.rm = TRUE),
    sigma.signal = sum(g$sigma.signal, na.rm = TRUE)))
  s <- do.call(rbind, s)
  s <- s[order(s$facet1, s$facet2, s$part), ]
  rownames(s) <- NULL
  s
}

## ---------------------------------------------------------------- examples
load_rda <- function(file) { e <- new.env(); load(file.path(data_dir, "data", file), e); e }
ex <- load_rda("cabg.rda"); cabg <- ex$cabg
ex <- load_rda("cdi.rda");  cdi  <- ex$cdi
ex <- load_rda("hospital_infections.rda"); hai <- ex$hospital_infections
sysdata <- load_rda("sysdata.rda")

cabg$month <- as.Date(cut(cabg$date, "month"))                 # vignette l.522-523
cabg_by_month <- do.call(rbind, lapply(split(cabg, cabg$month), function(g)
  data.frame(month = g$month[1], deaths = sum(g$death),
             readmissions = sum(g$readmission), n = nrow(g))))   # vignette l.555-559
last100 <- tail(cabg, 100)

set.seed(19); y0 <- rnorm(24)                                   # vignette l.78-81
y1 <- y0; y1[22] <- 4                                           # vignette l.143
y2 <- y1; y2[13:24] <- rnorm(12, mean = 2)                      # vignette l.153

examples <- list(
  list(id = "vignette_run_seed19", call = "set.seed(19); y <- rnorm(24); qic(y)",
       f = function() qic_base(y0)),
  list(id = "vignette_i_seed19", call = "qic(y, chart = 'i')",
       f = function() qic_base(y0, chart = "i")),
  list(id = "vignette_i_spike", call = "y[22] <- 4; qic(y, chart = 'i')",
       f = function() qic_base(y1, chart = "i")),
  list(id = "vignette_i_shift", call = "y[13:24] <- rnorm(12, mean = 2); qic(y, chart = 'i')",
       f = function() qic_base(y2, chart = "i")),
  list(id = "cdi_run", call = "qic(month, n, data = cdi)",
       f = function() qic_base(cdi$month, cdi$n)),
  list(id = "cdi_run_freeze24", call = "qic(month, n, data = cdi, freeze = 24)",
       f = function() qic_base(cdi$month, cdi$n, freeze = 24)),
  list(id = "cdi_run_part24", call = "qic(month, n, data = cdi, part = 24)",
       f = function() qic_base(cdi$month, cdi$n, part = 24)),
  list(id = "cdi_c_part24", call = "qic(month, n, data = cdi, chart = 'c', part = 24)",
       f = function() qic_base(cdi$month, cdi$n, chart = "c", part = 24)),
  list(id = "cdi_u_part24", call = "qic(month, n, days, data = cdi, chart = 'u', part = 24, multiply = 10000)",
       f = function() qic_base(cdi$month, cdi$n, cdi$days, chart = "u", part = 24, multiply = 10000)),
  list(id = "cabg_p_readmissions", call = "qic(month, readmissions, n, data = cabg_by_month, chart = 'p')",
       f = function() qic_base(cabg_by_month$month, cabg_by_month$readmissions, cabg_by_month$n, chart = "p")),
  list(id = "cabg_p_deaths", call = "qic(month, deaths, n, data = cabg_by_month, chart = 'p')",
       f = function() qic_base(cabg_by_month$month, cabg_by_month$deaths, cabg_by_month$n, chart = "p")),
  list(id = "cabg_i_age_last100", call = "qic(age, data = tail(cabg, 100), chart = 'i')",
       f = function() qic_base(last100$age, chart = "i")),
  list(id = "cabg_mr_age_last100", call = "qic(age, data = tail(cabg, 100), chart = 'mr')",
       f = function() qic_base(last100$age, chart = "mr")),
  list(id = "cabg_i_age_last100_exclude", call = "qic(age, data = tail(cabg, 100), chart = 'i', exclude = c(45, 70))",
       f = function() qic_base(last100$age, chart = "i", exclude = c(45, 70))),
  list(id = "hai_u_total", call = "qic(month, n, days, data = hospital_infections, chart = 'u')  # test hai_1.rds",
       f = function() qic_base(hai$month, hai$n, hai$days, chart = "u")),
  list(id = "hai_u_by_infection", call = "qic(month, n, days, data = hospital_infections, facets = ~ infection, chart = 'u')  # hai_2.rds",
       f = function() qic_base(hai$month, hai$n, hai$days, facet1 = hai$infection, chart = "u")),
  list(id = "hai_u_hospital_x_infection", call = "qic(month, n, days, data = hospital_infections, facets = hospital ~ infection, chart = 'u')  # hai_3.rds",
       f = function() qic_base(hai$month, hai$n, hai$days, facet1 = hai$hospital, facet2 = hai$infection, chart = "u")),
  list(id = "hai_u_funnel", call = "qic(reorder(hospital, days), n, days, data = subset(hospital_infections, month >= '2016-07-01'), chart = 'u', facets = ~ infection, multiply = 10000)  # hai_4.rds",
       f = function() { h <- subset(hai, month >= as.Date("2016-07-01"))
         qic_base(reorder(h$hospital, h$days), h$n, h$days, facet1 = h$infection, chart = "u", multiply = 10000) }),
  list(id = "montgomery_ex6.5_i_freeze20", call = "qic(weeks, cost, data = tbl_06.07, chart = 'i', freeze = 20)  # ex_6.5_3.rds",
       f = function() with(sysdata$tbl_06.07, qic_base(weeks, cost, chart = "i", freeze = 20))),
  list(id = "montgomery_ex7.1_p_exclude_part30", call = "qic(sample, count, size, data = tbl_07.03, chart = 'p', exclude = c(15, 23), part = 30)  # ex_7.1_5.rds",
       f = function() with(sysdata$tbl_07.03, qic_base(sample, count, size, chart = "p", exclude = c(15, 23), part = 30))),
  list(id = "montgomery_tbl7.4_p_varn", call = "qic(sample, count, size, data = tbl_07.04, chart = 'p')  # tbl_7.4_1.rds",
       f = function() with(sysdata$tbl_07.04, qic_base(sample, count, size, chart = "p"))),
  list(id = "montgomery_ex7.3_c_exclude_freeze26", call = "qic(sample, count, data = tbl_07.08, chart = 'c', exclude = c(6, 20), freeze = 26)  # ex_7.3_3.rds",
       f = function() with(sysdata$tbl_07.08, qic_base(sample, count, chart = "c", exclude = c(6, 20), freeze = 26))),
  list(id = "montgomery_ex7.4_u", call = "qic(sample, count, size, data = tbl_07.10, chart = 'u')  # ex_7.4_1.rds",
       f = function() with(sysdata$tbl_07.10, qic_base(sample, count, size, chart = "u"))),
  list(id = "montgomery_ex7.5_u_x50", call = "qic(roll, count, meters, data = tbl_07.11, chart = 'u', multiply = 50)  # ex_7.5_1.rds",
       f = function() with(sysdata$tbl_07.11, qic_base(roll, count, meters, chart = "u", multiply = 50)))
)

point_cols <- c("facet1", "facet2", "part", "xx", "x", "y", "n", "cl", "lcl", "ucl",
                "lcl.95", "ucl.95", "baseline", "include", "n.obs", "n.useful",
                "longest.run", "longest.run.max", "n.crossings", "n.crossings.min",
                "runs.signal", "sigma.signal")
points <- list(); summaries <- list()
for (e in examples) {
  d <- e$f()
  d$x <- if (inherits(d$x, "POSIXt")) format(d$x, "%Y-%m-%d") else as.character(d$x)
  d$facet1 <- as.character(d$facet1); d$facet2 <- as.character(d$facet2)
  d <- d[order(d$facet1, d$facet2, d$xx), ]
  points[[e$id]] <- cbind(example = e$id, d[point_cols], call = e$call,
                          computed_by = "base-R re-implementation of qicharts2 0.8.1 (not the package)")
  s <- summary_base(d)
  summaries[[e$id]] <- cbind(example = e$id, s, call = e$call)
}
points <- do.call(rbind, c(points, make.row.names = FALSE))
summaries <- do.call(rbind, c(summaries, make.row.names = FALSE))
write.csv(points, file.path(out_dir, "qicharts2_examples.csv"), row.names = FALSE)
write.csv(summaries, file.path(out_dir, "qicharts2_examples_summary.csv"), row.names = FALSE)

## also export the small aggregated inputs used above (derived from qicharts2 data)
write.csv(cabg_by_month, file.path(out_dir, "qicharts2_cabg_by_month.csv"), row.names = FALSE)
write.csv(cdi[c("month", "n", "days", "period")], file.path(out_dir, "qicharts2_cdi.csv"), row.names = FALSE)

options(width = 200)
print(summaries[c("example", "part", "n.obs", "n.useful", "longest.run", "longest.run.max",
                  "n.crossings", "n.crossings.min", "runs.signal", "aLCL", "CL", "aUCL", "sigma.signal")],
      row.names = FALSE)

## critical values of the Anhoej rules (vignette Appendix 2, n = 10..100; extended to 1..200)
n <- 1:200
crit <- data.frame(n_useful = n,
                   longest_run_max = round(log2(n)) + 3,        # signal if longest run >  this
                   n_crossings_min = qbinom(0.05, n - 1, 0.5))  # signal if crossings   <  this
write.csv(crit, file.path(out_dir, "anhoej_critical_values.csv"), row.names = FALSE)
