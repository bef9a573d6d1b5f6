## LCA with K = 2, 3 on LSAT (5 binary items, 1000 persons) (poLCA not available in Debian 12: flexmix FLXMCmvbinary).
source("tests/reference/scripts/common.R")
suppressPackageStartupMessages({library(flexmix); library(numDeriv)})
d <- read.csv("/work/shared/data/lsat.csv")
items <- names(d)
X <- as.matrix(d)               # already 0/1
NREP <- 30
res <- list(
  software = sw(c("flexmix", "numDeriv", "jsonlite")), R = rver(),
  data = list(file = "/work/shared/data/lsat.csv",
              recoding = "none: items I1-I5 are 0/1; prob_yes = P(item = 1)",
              n = nrow(X)),
  loglik_note = "Full Bernoulli log-likelihood sum_i log sum_k pi_k prod_j p_kj^x_ij (1-p_kj)^(1-x_ij); no constants exist/dropped.",
  poLCA = "poLCA is not packaged for Debian 12 and CRAN is unreachable; flexmix used instead, so no poLCA probs.se/P.se.")
for (K in 2:3) {
  call <- sprintf("flexmix(X ~ 1, k = %d, model = FLXMCmvbinary(), control = list(minprior = 0, iter.max = 20000, tolerance = 1e-10)) from %d random starts (set.seed(%d)), best logLik kept, then EM continued from its posterior with tolerance = 1e-15", K, NREP, K)
  ms <- multistart(function() flexmix(X ~ 1, k = K, model = FLXMCmvbinary(), control = FLX_CONTROL), NREP, seed = K,
    polish = function(post) flexmix(X ~ 1, k = K, cluster = post, model = FLXMCmvbinary(), control = FLX_POLISH))
  r <- lca_summary(ms, items)
  r$call <- call
  res[[paste0("K", K)]] <- r
  cat("K =", K, "loglik", format(r$loglik, digits = 12), "npar", r$npar, "best reached", r$starts$n_reaching_best, "/", NREP, "\n")
}
save_json(res, "lca_lsat")
