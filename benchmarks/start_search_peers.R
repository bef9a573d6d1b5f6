## Long flexmix runs for the best known maxima of benchmarks/start_search.py's LCA rows.
## Rscript benchmarks/start_search_peers.R [NREP [CASE ...]] [--json FILE]   (from the repository root; minutes)
## flexmix FLXMCmvbinary (poLCA is not packaged for Debian 12), EM from NREP random starts
## (set.seed(1)), tolerance 1e-10, on the distinct response patterns with their counts as
## replication weights (flexmix's `weights`: the same likelihood as the full data, a fraction
## of the cost where patterns repeat); prints the distinct maxima (log-likelihoods within
## 1e-3) with how many starts reached each, and the CPU time of the starts.
## --json FILE: also record, per case (merged into FILE, other cases kept), every start's
## log-likelihood, EM iterations and CPU seconds, the distinct maxima with their counts, and
## the best start's estimates after EM continued from it to a tolerance of 1e-15 (classes by
## prior, largest first) -- tests/reference/values/flexmix_start_search.json.
## --default-control: flexmix's default control instead (at most 200 EM iterations, relative
## tolerance 1e-6, classes below a prior of 0.05 removed), as a user would run it; each start
## that keeps its K classes is then continued by EM to 1e-10 (not timed) to tell which maximum's
## basin it stopped in. Recorded as "CASE (flexmix default control)".
suppressPackageStartupMessages(library(flexmix))
args <- commandArgs(trailingOnly = TRUE)
json <- NULL
if (length(i <- which(args == "--json"))) {
  json <- args[i + 1]
  args <- args[-c(i, i + 1)]
}
default_control <- "--default-control" %in% args
args <- setdiff(args, "--default-control")
NREP <- if (length(args)) as.integer(args[1]) else 100
D <- "/work/shared/data"
load_items <- function(f, drop_id = FALSE, complete = FALSE) {
  d <- read.csv(file.path(D, f))
  if (drop_id) d <- d[, -1]
  if (complete) d <- d[complete.cases(d), ]
  X <- as.matrix(d)
  if (min(X, na.rm = TRUE) == 1) X <- X - 1  # carcinoma is coded 1/2, as poLCA wants: 0/1 here
  X
}
## distinct rows of X and how often each occurs
patterns <- function(X) {
  key <- apply(X, 1, paste, collapse = "")
  first <- !duplicated(key)
  list(X = X[first, , drop = FALSE], w = as.integer(table(key)[key[first]]))
}
cases <- list(
  list("carcinoma K=4", load_items("carcinoma.csv"), 4, "carcinoma.csv", "ratings 1/2 recoded 0/1"),
  list("LSAT K=3", load_items("lsat.csv"), 3, "lsat.csv", "none"),
  list("LSAT K=4", load_items("lsat.csv"), 4, "lsat.csv", "none"),
  list("ability K=3", load_items("ability.csv", complete = TRUE), 3, "ability.csv", "complete cases"),
  list("ability K=4", load_items("ability.csv", complete = TRUE), 4, "ability.csv", "complete cases"),
  list("VerbAgg K=3", load_items("verbagg_wide.csv", drop_id = TRUE), 3, "verbagg_wide.csv", "id column dropped"),
  list("VerbAgg K=4", load_items("verbagg_wide.csv", drop_id = TRUE), 4, "verbagg_wide.csv", "id column dropped"))
if (length(args) > 1) cases <- Filter(function(cs) cs[[1]] %in% args[-1], cases)
strict <- list(minprior = 0, iter.max = 20000, tolerance = 1e-10)
ctrl <- if (default_control) list() else strict
cpu <- function() sum(proc.time()[c("user.self", "sys.self")])
## sorted log-likelihoods grouped into maxima: a value within 1e-3 of the previous one joins its group
maxima <- function(ll) {
  lead <- c(); n <- c()
  for (v in sort(ll, decreasing = TRUE)) {
    if (length(lead) && lead[length(lead)] - v < 1e-3) n[length(n)] <- n[length(n)] + 1
    else { lead <- c(lead, v); n <- c(n, 1) }
  }
  list(loglik = lead, n = n)
}
## estimates of a fit, classes by prior (largest first): priors and P(item = 1) per class
estimates <- function(f, items) {
  o <- order(-prior(f))
  P <- parameters(f)[, o, drop = FALSE]
  dimnames(P) <- list(items, paste0("class", seq_along(o)))
  list(class_proportions = I(prior(f)[o]), prob_yes = lapply(as.data.frame(P), function(p) as.list(setNames(p, items))))
}
version <- as.character(packageVersion("flexmix"))
cat("flexmix", version, R.version.string, "NREP", NREP, "\n")
for (cs in cases) {
  P <- patterns(cs[[2]]); X <- P$X; w <- P$w; K <- cs[[3]]
  set.seed(1)
  t0 <- proc.time()[["elapsed"]]
  ll <- iter <- sec <- cont <- rep(NA_real_, NREP); best <- NULL
  for (i in seq_len(NREP)) {
    ci <- cpu()
    f <- try(flexmix(X ~ 1, k = K, weights = w, model = FLXMCmvbinary(), control = ctrl), silent = TRUE)
    sec[i] <- cpu() - ci
    if (inherits(f, "try-error") || f@k != K) next
    ll[i] <- as.numeric(logLik(f)); iter[i] <- f@iter
    if (default_control)
      cont[i] <- as.numeric(logLik(flexmix(X ~ 1, cluster = posterior(f), weights = w, model = FLXMCmvbinary(),
                                           control = strict)))
    if (is.null(best) || ll[i] > as.numeric(logLik(best))) best <- f
  }
  ok <- ll[!is.na(ll)]
  m <- maxima(ok)
  top <- function(m) { j <- head(seq_along(m$loglik), 4); paste(sprintf("%.4f (%d)", m$loglik[j], m$n[j]), collapse = ", ") }
  key <- if (default_control) paste(cs[[1]], "(flexmix default control)") else cs[[1]]
  cat(sprintf("%s (%d units, %d patterns): %d of %d starts with %d classes; %.0f s (%.0f CPU s in the starts); maxima: %s\n",
              key, sum(w), nrow(X), length(ok), NREP, K, proc.time()[["elapsed"]] - t0, sum(sec), top(m)))
  if (default_control) cat("  continued to 1e-10:", top(mc <- maxima(cont[!is.na(cont)])), "\n")
  if (is.null(json) || is.null(best)) next
  ## EM continued from the best start's posterior, to the boundary maxima's exact values
  pol <- flexmix(X ~ 1, cluster = posterior(best), weights = w, model = FLXMCmvbinary(),
                 control = list(minprior = 0, iter.max = 100000, tolerance = 1e-15))
  if (as.numeric(logLik(pol)) < as.numeric(logLik(best))) pol <- best
  rec <- list(
    software = list(flexmix = version), R = R.version.string,
    script = sprintf("Rscript benchmarks/start_search_peers.R %d \"%s\"%s --json %s", NREP, cs[[1]],
                     if (default_control) " --default-control" else "", json),
    data = list(file = file.path(D, cs[[4]]), rows = cs[[5]], n = sum(w), patterns = nrow(X), items = ncol(X)),
    call = sprintf("flexmix(X ~ 1, k = %d, weights = <pattern counts>, model = FLXMCmvbinary(), control = %s); set.seed(1) once, then %d starts in a row",
                   K, if (default_control) "list() (flexmix's defaults)" else "list(minprior = 0, iter.max = 20000, tolerance = 1e-10)", NREP),
    starts = list(n = NREP, n_with_K_classes = length(ok), seed = 1, same_maximum_within = 1e-3,
                  maxima = lapply(m, I), best_loglik = m$loglik[1], n_reaching_best = m$n[1],
                  loglik = I(ll), em_iterations = I(iter), cpu_seconds = I(sec)),
    starts_continued = if (default_control)
      list(note = "each start with K classes continued by EM to a relative tolerance of 1e-10 from its posterior (not timed)",
           maxima = lapply(mc, I), n_reaching_best = sum(cont > max(cont, na.rm = TRUE) - 1e-3, na.rm = TRUE),
           loglik = I(cont)),
    cpu_seconds = sum(sec), load_average = readLines("/proc/loadavg"),
    date = format(Sys.time(), tz = "UTC", usetz = TRUE),
    best = c(list(loglik_at_stop = as.numeric(logLik(best)), loglik = as.numeric(logLik(pol)),
                  polish = "EM continued from the best start's posterior, tolerance 1e-15, at most 1e5 iterations",
                  polish_iterations = pol@iter),
             estimates(pol, colnames(X))))
  out <- if (file.exists(json)) jsonlite::read_json(json) else list()
  out[[key]] <- Filter(Negate(is.null), rec)
  jsonlite::write_json(out, json, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null")
  cat("wrote", key, "to", json, "\n")
}
