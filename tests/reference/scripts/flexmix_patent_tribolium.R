## Mixtures of GLMs with concomitant (class-membership) covariates, fitted by flexmix, on data
## no other reference uses:
## * flexmix's patent data (Wang, Cockburn & Puterman 1998: 70 pharmaceutical firms,
##   patents, log R&D spending lgRD, R&D to sales ratio RDS): the Poisson mixture regression
##   Patents ~ lgRD with k = 2 and 3 classes, without and with the concomitant model ~ RDS
##   (flexmix's FLXPmultinom);
## * flexmix's tribolium data (27 binomial counts of beetles remaining, out of Total, by
##   Species and Replicate): the binomial mixture cbind(Remaining, Total - Remaining) ~ 1 with
##   2 classes and the concomitant model ~ Species.
## flexmix's best of 20 random starts (stepFlexmix, EM to 1e-8), then polished by optim()
## of the hand-written log-likelihood (BFGS then Nelder-Mead, reltol 1e-15); SEs from
## numDeriv::hessian of that likelihood. Classes sorted by their intercept, highest first;
## concomitant logits are reported against the first sorted class (log(pi_k / pi_1)).
## Run from the repository root: Rscript tests/reference/scripts/flexmix_patent_tribolium.R
source("tests/reference/scripts/common.R")
suppressPackageStartupMessages({library(flexmix); library(numDeriv)})
dat <- "tests/reference/data/"
data(patent, package = "flexmix"); data(tribolium, package = "flexmix")
write.csv(patent[, c("Patents", "RDS", "lgRD")], paste0(dat, "patent.csv"), row.names = FALSE)
write.csv(tribolium, paste0(dat, "tribolium.csv"), row.names = FALSE)
pat <- read.csv(paste0(dat, "patent.csv"))
tri <- read.csv(paste0(dat, "tribolium.csv"))
tri$Species <- factor(tri$Species)
CTL <- list(tolerance = 1e-8, iter.max = 3000, minprior = 0)

lse <- function(v) max(v) + log(sum(exp(v - max(v))))
## y: outcome; X: outcome design; Z: concomitant design; ldens(y, eta) per row
mix_fit <- function(formula, data, k, family, conc, y, X, Z, ldens, label) {
  set.seed(1)
  cm <- if (is.null(conc)) NULL else FLXPmultinom(conc)
  fm <- stepFlexmix(formula, data = data, k = k, nrep = 20, model = FLXMRglm(family = family),
                    concomitant = cm, control = CTL, verbose = FALSE)
  p <- ncol(X); q <- ncol(Z)
  ll <- function(th) {
    B <- matrix(th[1:(p * k)], p)
    G <- cbind(0, matrix(th[-(1:(p * k))], q))       # logits vs component 1
    eta <- Z %*% G
    lp <- eta - apply(eta, 1, lse)
    l <- sapply(1:k, function(j) ldens(y, drop(X %*% B[, j]))) + lp
    sum(apply(l, 1, lse))
  }
  pc <- matrix(parameters(fm), ncol = k)
  G0 <- if (is.null(conc)) matrix(log(prior(fm)[-1] / prior(fm)[1]), 1) else parameters(fm, which = "concomitant")[, -1, drop = FALSE]
  th <- c(pc[1:p, ], G0)
  o <- optim(th, ll, method = "BFGS", control = list(fnscale = -1, reltol = 1e-15, maxit = 1e4))
  o <- optim(o$par, ll, method = "Nelder-Mead", control = list(fnscale = -1, reltol = 1e-15, maxit = 1e4))
  o <- optim(o$par, ll, method = "BFGS", control = list(fnscale = -1, reltol = 1e-15, maxit = 1e4))
  ## numDeriv's default relative step (d = 0.1) breaks its Richardson extrapolation here (patent k = 2:
  ## NaN SEs, others 0.03 for 0.22); d = 1e-3 agrees with optimHess() to 1e-3
  se <- sqrt(diag(solve(-hessian(ll, o$par, method.args = list(d = 1e-3, r = 4)))))
  B <- matrix(o$par[1:(p * k)], p, dimnames = list(colnames(X), NULL))
  SB <- matrix(se[1:(p * k)], p, dimnames = dimnames(B))
  G <- cbind(0, matrix(o$par[-(1:(p * k))], q))
  ord <- order(B[1, ], decreasing = TRUE)
  Gs <- G[, ord, drop = FALSE] - G[, ord[1]]         # against the first sorted class
  rownames(Gs) <- colnames(Z)
  eta <- Z %*% G; post_pr <- exp(eta - apply(eta, 1, lse))
  cat(label, sprintf("flexmix %.8f  polished %.8f", as.numeric(logLik(fm)), o$value), "\n")
  list(flexmix_logLik = as.numeric(logLik(fm)), logLik = o$value, df = attr(logLik(fm), "df"),
       coef = lapply(ord, function(j) as.list(B[, j])), coef_se = lapply(ord, function(j) as.list(SB[, j])),
       concomitant_logits = lapply(seq_len(k), function(j) as.list(Gs[, j])),
       mean_class_probability = colMeans(post_pr)[ord])
}
ldpois <- function(y, eta) dpois(y, exp(eta), log = TRUE)
Xp <- model.matrix(~ lgRD, pat); Z1 <- matrix(1, nrow(pat), 1, dimnames = list(NULL, "(Intercept)"))
Zr <- model.matrix(~ RDS, pat)
out <- list(software = sw(c("flexmix", "numDeriv", "jsonlite")), R = rver(),
  data = list(patent = "data(patent, package = 'flexmix'), columns Patents, RDS, lgRD -> tests/reference/data/patent.csv",
              tribolium = "data(tribolium, package = 'flexmix') -> tests/reference/data/tribolium.csv"),
  note = "classes sorted by intercept, highest first; logLik, estimates and SEs: optim() of the hand-written likelihood from flexmix's best of 20 starts, numDeriv::hessian")
for (k in 2:3) {
  out[[paste0("patent_k", k)]] <- mix_fit(Patents ~ lgRD, pat, k, "poisson", NULL, pat$Patents, Xp, Z1, ldpois,
                                          paste("patent k", k))
  out[[paste0("patent_conc_k", k)]] <- mix_fit(Patents ~ lgRD, pat, k, "poisson", ~ RDS, pat$Patents, Xp, Zr, ldpois,
                                               paste("patent ~RDS k", k))
}
tri$fail <- tri$Total - tri$Remaining
ldbin <- function(y, eta) dbinom(y[, 1], y[, 1] + y[, 2], plogis(eta), log = TRUE)
Yt <- cbind(tri$Remaining, tri$fail); Xt <- matrix(1, nrow(tri), 1, dimnames = list(NULL, "(Intercept)"))
Zt <- model.matrix(~ Species, tri)
out$tribolium_conc_k2 <- mix_fit(cbind(Remaining, fail) ~ 1, tri, 2, "binomial", ~ Species, Yt, Xt, Zt, ldbin,
                                 "tribolium ~Species k 2")
out$tribolium_conc_k2$species_levels <- levels(tri$Species)
save_json(out, "flexmix_patent_tribolium")
