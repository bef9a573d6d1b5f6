## Long flexmix runs for the best known maxima of benchmarks/start_search.py's LCA rows.
## Rscript benchmarks/start_search_peers.R [NREP [CASE ...]]   (from the repository root; minutes)
## flexmix FLXMCmvbinary (poLCA is not packaged for Debian 12), EM from NREP random starts
## (set.seed(1)), tolerance 1e-10, on the distinct response patterns with their counts as
## replication weights (flexmix's `weights`: the same likelihood as the full data, a fraction
## of the cost where patterns repeat); prints the distinct maxima (log-likelihoods within
## 1e-3) with how many starts reached each.
suppressPackageStartupMessages(library(flexmix))
args <- commandArgs(trailingOnly = TRUE)
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
  list("carcinoma K=4", load_items("carcinoma.csv"), 4),
  list("LSAT K=3", load_items("lsat.csv"), 3),
  list("LSAT K=4", load_items("lsat.csv"), 4),
  list("ability K=3", load_items("ability.csv", complete = TRUE), 3),
  list("ability K=4", load_items("ability.csv", complete = TRUE), 4),
  list("VerbAgg K=3", load_items("verbagg_wide.csv", drop_id = TRUE), 3),
  list("VerbAgg K=4", load_items("verbagg_wide.csv", drop_id = TRUE), 4))
if (length(args) > 1) cases <- Filter(function(cs) cs[[1]] %in% args[-1], cases)
ctrl <- list(minprior = 0, iter.max = 20000, tolerance = 1e-10)
cat("flexmix", as.character(packageVersion("flexmix")), R.version.string, "NREP", NREP, "\n")
for (cs in cases) {
  P <- patterns(cs[[2]]); X <- P$X; w <- P$w; K <- cs[[3]]
  set.seed(1)
  t0 <- proc.time()[["elapsed"]]
  ll <- vapply(seq_len(NREP), function(i) {
    f <- try(flexmix(X ~ 1, k = K, weights = w, model = FLXMCmvbinary(), control = ctrl), silent = TRUE)
    if (inherits(f, "try-error") || f@k != K) NA_real_ else as.numeric(logLik(f))
  }, 1)
  ok <- ll[!is.na(ll)]
  s <- sort(ok, decreasing = TRUE)
  lead <- c(); n <- c()
  for (v in s) {
    if (length(lead) && lead[length(lead)] - v < 1e-3) n[length(n)] <- n[length(n)] + 1
    else { lead <- c(lead, v); n <- c(n, 1) }
  }
  top <- head(seq_along(lead), 4)
  cat(sprintf("%s (%d units, %d patterns): %d of %d starts with %d classes; %.0f s; maxima: %s\n", cs[[1]],
              sum(w), nrow(X), length(ok), NREP, K, proc.time()[["elapsed"]] - t0,
              paste(sprintf("%.4f (%d)", lead[top], n[top]), collapse = ", ")))
}
