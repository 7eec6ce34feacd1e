## qicharts2_crosscheck.R -- compares qicharts2_examples.csv (base-R
## re-implementation) with (1) the real qicharts2 0.8.1, installed for this
## check only into a scratch library from the fetched GitHub snapshot
## (R CMD INSTALL --library=/tmp/qic/lib /tmp/qic/src; not from Debian/CRAN),
## (2) the package's own test fixtures tests/testthat/*.rds, and (3) numbers
## printed in its vignette. Prints one line per check.
## Usage: Rscript qicharts2_crosscheck.R /tmp/qic [dir of qicharts2_examples.csv]
args <- commandArgs(trailingOnly = TRUE)
qdir <- if (length(args) >= 1) args[1] else "/tmp/qic"
odir <- if (length(args) >= 2) args[2] else "."
pts  <- read.csv(file.path(odir, "qicharts2_examples.csv"), stringsAsFactors = FALSE)
sm   <- read.csv(file.path(odir, "qicharts2_examples_summary.csv"), stringsAsFactors = FALSE)
tol <- 1e-9
report <- function(what, ok) cat(sprintf("%-70s %s\n", what, if (isTRUE(ok)) "MATCH" else "DIFFER"))
num_eq <- function(a, b) isTRUE(all.equal(as.numeric(a), as.numeric(b), tolerance = tol))

## (3) vignette, set.seed(19) example, printed summary (docs/articles/qicharts2.html l.222-227)
v <- sm[sm$example == "vignette_i_shift", ]
report("vignette summary(o): n.useful 24, longest.run 13/8, crossings 4/8",
       v$n.useful == 24 && v$longest.run == 13 && v$longest.run.max == 8 &&
       v$n.crossings == 4 && v$n.crossings.min == 8 && v$runs.signal == 1)
report("vignette summary(o): aLCL -2.114884, CL 1.057091, aUCL 4.229067",
       isTRUE(all.equal(c(v$aLCL, v$CL, v$aUCL), c(-2.114884, 1.057091, 4.229067), tolerance = 1e-6)))

## (2) package test fixtures (summary objects, columns 12 and 14 dropped by the tests)
fx <- c(hai_u_total = "hai_1.rds", hai_u_by_infection = "hai_2.rds",
        hai_u_hospital_x_infection = "hai_3.rds", hai_u_funnel = "hai_4.rds")
for (id in names(fx)) {
  ref <- readRDS(file.path(qdir, "tests", fx[[id]]))
  mine <- sm[sm$example == id, ]
  cols <- c("n.obs", "n.useful", "longest.run", "longest.run.max", "n.crossings",
            "n.crossings.min", "runs.signal", "aLCL", "CL", "aUCL", "sigma.signal")
  ok <- all(vapply(cols, function(k) num_eq(mine[[k]], ref[[k]]), logical(1)))
  report(paste("fixture", fx[[id]], "vs", id), ok)
}
fxd <- c(montgomery_ex6.5_i_freeze20 = "ex_6.5_3.rds",
         montgomery_ex7.1_p_exclude_part30 = "ex_7.1_5.rds",
         montgomery_tbl7.4_p_varn = "tbl_7.4_1.rds",
         montgomery_ex7.3_c_exclude_freeze26 = "ex_7.3_3.rds",
         montgomery_ex7.4_u = "ex_7.4_1.rds",
         montgomery_ex7.5_u_x50 = "ex_7.5_1.rds")
for (id in names(fxd)) {
  ref <- readRDS(file.path(qdir, "tests", fxd[[id]]))
  mine <- pts[pts$example == id, ]
  cols <- intersect(c("y", "cl", "lcl", "ucl", "n.obs", "n.useful", "longest.run",
                      "longest.run.max", "n.crossings", "n.crossings.min",
                      "runs.signal", "sigma.signal", "include", "baseline", "part"), names(ref))
  ok <- all(vapply(cols, function(k) num_eq(mine[[k]], ref[[k]]), logical(1)))
  report(paste("fixture", fxd[[id]], "vs", id, "(per point)"), ok)
}

## (1) the real package
if (requireNamespace("qicharts2", lib.loc = file.path(qdir, "lib"), quietly = TRUE)) {
  library(qicharts2, lib.loc = file.path(qdir, "lib"))   # attaching sets qic.screenedmr = TRUE
  cabg$month <- as.Date(cut(cabg$date, "month"))
  cabg_by_month <- do.call(rbind, lapply(split(cabg, cabg$month), function(g)
    data.frame(month = g$month[1], deaths = sum(g$death),
               readmissions = sum(g$readmission), n = nrow(g))))
  set.seed(19); y0 <- rnorm(24); y1 <- y0; y1[22] <- 4; y2 <- y1; y2[13:24] <- rnorm(12, mean = 2)
  h2 <- subset(hospital_infections, month >= "2016-07-01")
  calls <- list(
    vignette_run_seed19 = quote(qic(y0, return.data = TRUE)),
    vignette_i_seed19 = quote(qic(y0, chart = "i", return.data = TRUE)),
    vignette_i_spike = quote(qic(y1, chart = "i", return.data = TRUE)),
    vignette_i_shift = quote(qic(y2, chart = "i", return.data = TRUE)),
    cdi_run = quote(qic(month, n, data = cdi, return.data = TRUE)),
    cdi_run_freeze24 = quote(qic(month, n, data = cdi, freeze = 24, return.data = TRUE)),
    cdi_run_part24 = quote(qic(month, n, data = cdi, part = 24, return.data = TRUE)),
    cdi_c_part24 = quote(qic(month, n, data = cdi, chart = "c", part = 24, return.data = TRUE)),
    cdi_u_part24 = quote(qic(month, n, days, data = cdi, chart = "u", part = 24, multiply = 10000, return.data = TRUE)),
    cabg_p_readmissions = quote(qic(month, readmissions, n, data = cabg_by_month, chart = "p", return.data = TRUE)),
    cabg_p_deaths = quote(qic(month, deaths, n, data = cabg_by_month, chart = "p", return.data = TRUE)),
    cabg_i_age_last100 = quote(qic(age, data = tail(cabg, 100), chart = "i", return.data = TRUE)),
    cabg_mr_age_last100 = quote(qic(age, data = tail(cabg, 100), chart = "mr", return.data = TRUE)),
    cabg_i_age_last100_exclude = quote(qic(age, data = tail(cabg, 100), chart = "i", exclude = c(45, 70), return.data = TRUE)),
    hai_u_total = quote(qic(month, n, days, data = hospital_infections, chart = "u", return.data = TRUE)),
    hai_u_by_infection = quote(qic(month, n, days, data = hospital_infections, facets = ~ infection, chart = "u", return.data = TRUE)),
    hai_u_hospital_x_infection = quote(qic(month, n, days, data = hospital_infections, facets = hospital ~ infection, chart = "u", return.data = TRUE)),
    hai_u_funnel = quote(qic(reorder(hospital, days), n, days, data = h2, chart = "u", facets = ~ infection, multiply = 10000, return.data = TRUE))
  )
  for (id in names(calls)) {
    ref <- eval(calls[[id]])
    ref <- ref[order(as.character(ref$facet1), as.character(ref$facet2), ref$xx), ]
    mine <- pts[pts$example == id, ]
    cols <- c("y", "cl", "lcl", "ucl", "lcl.95", "ucl.95", "n.obs", "n.useful", "longest.run",
              "longest.run.max", "n.crossings", "n.crossings.min", "runs.signal", "sigma.signal")
    ok <- nrow(ref) == nrow(mine) &&
      all(vapply(cols, function(k) num_eq(mine[[k]], ref[[k]]), logical(1)))
    report(paste("real qicharts2", as.character(packageVersion("qicharts2")), "return.data vs", id), ok)
  }
  ## the screened-MR trap: without attaching, getOption('qic.screenedmr') is FALSE
  for (scr in c(TRUE, FALSE)) {
    options(qic.screenedmr = scr)
    s <- summary(qic(y2, chart = "i")); s2 <- summary(qic(age, data = tail(cabg, 100), chart = "i"))
    cat(sprintf("qic.screenedmr = %-5s vignette_i_shift: aLCL %.6f CL %.6f aUCL %.6f | cabg_i_age_last100: aLCL %.5f CL %.5f aUCL %.5f sigma.signal %d\n",
                scr, s$aLCL, s$CL, s$aUCL, s2$aLCL, s2$CL, s2$aUCL, s2$sigma.signal))
  }
  options(qic.screenedmr = TRUE)
} else cat("real qicharts2 not found in", file.path(qdir, "lib"), "- skipped\n")
