# R peers for benchmarks/glmm_verbagg.py: glmer (adaptive GH, Laplace) and glmmTMB (Laplace).
#
# Usage (called by glmm_verbagg.py; not meant to be run by hand, but it can be):
#   Rscript glmm_peers.R DATA.csv OUT.csv "FORMULA" FACTORS NAGQ REPS GLMER_REPS METHODS
#     FACTORS  comma-separated columns converted to factors ("id,item"; the grouping
#              variable must be one of them)
#     NAGQ     quadrature points for the adaptive GH glmer fit (nAGQ)
#     REPS     repetitions of the glmmTMB fit
#     GLMER_REPS  repetitions of each glmer fit
#     METHODS  comma-separated subset of glmer_agq,glmer_laplace,glmmtmb
#
# Only the fit itself is timed (system.time(...)[["elapsed"]]); loading the packages and
# reading the data are not. Both glmer fits use control = glmerControl(optimizer = "bobyqa").
# OUT.csv gets one row per fit (and repetition) with the time, log-likelihood, random
# intercept SD of the first grouping (sd) and of the second one if any (sd2), fixed effects ("name=value;..."), convergence flag and warnings.

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 8) stop("expected 8 arguments, got ", length(args))
data_file <- args[1]
out_file <- args[2]
form <- as.formula(args[3])
factors <- strsplit(args[4], ",")[[1]]
nagq <- as.integer(args[5])
reps <- as.integer(args[6])
glmer_reps <- as.integer(args[7])
methods <- strsplit(args[8], ",")[[1]]

suppressPackageStartupMessages({
  library(lme4)
  library(glmmTMB)
})

d <- read.csv(data_file, stringsAsFactors = FALSE)
for (f in factors) d[[f]] <- factor(d[[f]])
groups <- vapply(lme4::findbars(form), function(b) all.vars(b[[3]])[1], "")
sd_of <- function(vc, i) if (i > length(groups)) NA_real_ else attr(vc[[groups[i]]], "stddev")[[1]]

timed <- function(fun) {
  w <- character()
  t <- system.time(m <- withCallingHandlers(fun(), warning = function(cond) {
    w <<- c(w, conditionMessage(cond))
    invokeRestart("muffleWarning")
  }))
  list(model = m, seconds = t[["elapsed"]], warnings = w)
}

fe_string <- function(b) paste(sprintf("%s=%.10g", names(b), b), collapse = ";")
clean <- function(s) gsub("[\r\n,\"]", " ", paste(s, collapse = " | "))

rows <- list()
add_row <- function(software, method, rep, r, loglik, vc, fe, converged, msg) {
  rows[[length(rows) + 1]] <<- data.frame(
    software = software, method = method, rep = rep, seconds = r$seconds,
    loglik = sprintf("%.10f", loglik), sd = sprintf("%.10f", sd_of(vc, 1)),
    sd2 = sprintf("%.10f", sd_of(vc, 2)), fixef = fe,
    converged = converged, message = clean(c(msg, r$warnings)),
    version = as.character(packageVersion(if (software == "glmer") "lme4" else "glmmTMB")),
    r_version = paste(R.version$major, R.version$minor, sep = "."),
    stringsAsFactors = FALSE
  )
}

glmer_row <- function(method, nq, rep) {
  r <- timed(function() glmer(form, data = d, family = binomial, nAGQ = nq,
                              control = glmerControl(optimizer = "bobyqa")))
  m <- r$model
  msgs <- m@optinfo$conv$lme4$messages
  conv <- m@optinfo$conv$opt == 0 && is.null(msgs)
  add_row("glmer", method, rep, r, as.numeric(logLik(m)),
          VarCorr(m), fe_string(fixef(m)), conv, msgs)
}

if ("glmmtmb" %in% methods) {
  for (i in seq_len(reps)) {
    r <- timed(function() glmmTMB(form, data = d, family = binomial))
    m <- r$model
    conv <- m$fit$convergence == 0 && isTRUE(m$sdr$pdHess)
    add_row("glmmTMB", "Laplace", i, r, as.numeric(logLik(m)),
            VarCorr(m)$cond, fe_string(fixef(m)$cond), conv,
            if (m$fit$convergence != 0) m$fit$message else character())
  }
}
if ("glmer_laplace" %in% methods) {
  for (i in seq_len(glmer_reps)) glmer_row("Laplace", 1L, i)
}
if ("glmer_agq" %in% methods) {
  for (i in seq_len(glmer_reps)) glmer_row(sprintf("AGQ %d", nagq), nagq, i)
}

write.csv(do.call(rbind, rows), out_file, row.names = FALSE)
