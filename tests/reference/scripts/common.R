## Shared helpers for the reference-value scripts (sourced; run scripts from /work/main).
suppressPackageStartupMessages(library(jsonlite))
sw <- function(pkgs) {
  out <- lapply(pkgs, function(p) as.character(packageVersion(p)))
  names(out) <- pkgs
  out
}
rver <- function() R.version.string
save_json <- function(x, name) {
  f <- file.path("tests/reference/values", paste0(name, ".json"))
  write_json(x, f, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null")
  cat("wrote", f, "\n")
}
## named list from a named vector (keeps names in JSON)
nl <- function(v) as.list(v)
## matrix -> list of rows keyed by rownames, each a named list by colnames
mat2list <- function(m) {
  lapply(setNames(seq_len(nrow(m)), rownames(m)), function(i) as.list(setNames(m[i, ], colnames(m))))
}
## Run flexmix 'nrep' times from random starts, return all fits + summary of the best.
multistart <- function(fitfun, nrep, seed = 1, tol = 1e-6, polish = NULL) {
  set.seed(seed)
  fits <- vector("list", nrep)
  for (i in seq_len(nrep)) fits[[i]] <- try(fitfun(), silent = TRUE)
  ok <- !vapply(fits, inherits, TRUE, "try-error")
  ll <- rep(NA_real_, nrep)
  ll[ok] <- vapply(fits[ok], function(f) as.numeric(logLik(f)), 1)
  k <- rep(NA_integer_, nrep)
  k[ok] <- vapply(fits[ok], function(f) as.integer(f@k), 1L)
  best <- which.max(ll)
  out <- list(best = fits[[best]], ll = ll, k = k, best_ll = ll[best],
       n_best = sum(abs(ll - ll[best]) < tol, na.rm = TRUE), n_ok = sum(ok))
  if (!is.null(polish)) {
    ## continue EM from the best fit's posterior with a much tighter tolerance
    p <- polish(posterior(out$best))
    out$polished <- list(loglik_before = ll[best], loglik_after = as.numeric(logLik(p)),
                         extra_iterations = p@iter)
    if (as.numeric(logLik(p)) >= ll[best]) out$best <- p
  }
  out
}

## ---- latent class helpers (flexmix FLXMCmvbinary) ----
FLX_CONTROL <- list(minprior = 0, iter.max = 20000, tolerance = 1e-10)
FLX_POLISH <- list(minprior = 0, iter.max = 100000, tolerance = 1e-15)

## Standard errors from numDeriv's Hessian of flexmix's own observed-data log-likelihood
## (flexmix:::FLXlogLikfun) at the EM estimates, in flexmix's parametrization
## (FLXMCmvbinary: the item probabilities themselves; concomitant: multinomial logits
## log(pi_k / pi_1)). Parameters on the boundary (probability within 1e-6 of 0 or 1) are
## held fixed and get SE NA (reported as null).
flx_hessian_se <- function(m, bound = 1e-6) {
  f <- flexmix::FLXlogLikfun(m)
  p0 <- flexmix::FLXgetParameters(m)
  isprob <- grepl("center", names(p0))
  fixed <- isprob & (p0 < bound | p0 > 1 - bound)
  idx <- which(!fixed)
  ## work on the logit scale for probabilities (keeps numDeriv's steps inside (0,1)),
  ## then delta method back: d p / d logit = p (1 - p)
  lg <- isprob[idx]
  to_p <- function(q) { q[lg] <- plogis(q[lg]); q }
  q0 <- p0[idx]; q0[lg] <- qlogis(q0[lg])
  g <- function(q) { p <- p0; p[idx] <- to_p(q); f(p) }
  H <- numDeriv::hessian(g, q0)
  Vq <- solve(-H)
  J <- diag(ifelse(lg, p0[idx] * (1 - p0[idx]), 1), length(idx))
  V <- J %*% Vq %*% J
  se <- rep(NA_real_, length(p0)); names(se) <- names(p0)
  se[idx] <- sqrt(diag(V))
  Vfull <- matrix(NA_real_, length(p0), length(p0), dimnames = list(names(p0), names(p0)))
  Vfull[idx, idx] <- V
  list(par = p0, se = se, vcov = Vfull, fixed = names(p0)[fixed],
       grad_max = max(abs(numDeriv::grad(g, q0))))
}

## Summarise a binary LCA flexmix fit, classes sorted by prior (largest first).
lca_summary <- function(ms, items, with_se = TRUE, concomitant = FALSE) {
  m <- ms$best
  K <- m@k
  pri <- prior(m)
  ord <- order(pri, decreasing = TRUE)
  P <- parameters(m)          # items x components
  rownames(P) <- items
  out <- list(
    loglik = as.numeric(logLik(m)),
    npar = attr(logLik(m), "df"),
    class_proportions = pri[ord],
    prob_yes = lapply(setNames(ord, paste0("class", seq_along(ord))),
                      function(j) as.list(setNames(P[, j], items))),
    em_iterations = m@iter,
    converged = m@converged,
    starts = list(n = length(ms$ll), n_ok = ms$n_ok, n_reaching_best = ms$n_best,
                  tolerance_for_same = 1e-6, all_logliks = sort(ms$ll, decreasing = TRUE)),
    original_component_order = ord,
    polish = ms$polished)
  out$nobs <- nrow(m@posterior$scaled)
  if (with_se) {
    s <- try(flx_hessian_se(m), silent = TRUE)
    if (inherits(s, "try-error")) {
      out$se_note <- paste("Hessian failed:", as.character(s))
    } else {
      sep <- lapply(setNames(seq_along(ord), paste0("class", seq_along(ord))), function(c) {
        j <- ord[c]
        nm <- paste0("model.1_Comp.", j, ".center.", colnames(m@model[[1]]@y))
        v <- s$se[nm]; names(v) <- items
        as.list(v)
      })
      out$prob_yes_se <- sep
      ## SE of class proportions by the delta method from the logits (if no concomitant)
      if (!concomitant && K > 1) {
        an <- paste0("concomitant_Comp.", 2:K, ".alpha")
        if (all(an %in% names(s$par))) {
          a <- c(0, s$par[an]); pr <- exp(a) / sum(exp(a))
          J <- (diag(pr) - pr %o% pr)[, -1, drop = FALSE]   # d pi / d alpha_(2..K)
          Va <- s$vcov[an, an, drop = FALSE]
          out$class_proportions_se <- sqrt(diag(J %*% Va %*% t(J)))[ord]
        }
      }
      out$se_method <- paste("sqrt(diag(solve(-H))), H = numDeriv::hessian of flexmix's observed-data",
        "log-likelihood (FLXlogLikfun) at the EM optimum, computed in logits of the item probabilities",
        "and mapped to the probability scale by the delta method; class proportions via delta method from flexmix's logits log(pi_k/pi_1).",
        "Boundary probabilities (within 1e-6 of 0 or 1) held fixed, SE null. Observed",
        "information, not poLCA's probs.se (poLCA not installable here).")
      out$se_boundary_fixed <- s$fixed
      out$max_abs_gradient_at_optimum <- s$grad_max
      out$hessian_se_raw <- as.list(s$se)
    }
  }
  out
}

## ---- GLMM helpers ----
## Exact marginal log-likelihood of a random-intercept GLMM by adaptive numerical
## integration (stats::integrate) per group, at given fixed-effect linear predictor
## 'eta' (without the random effect) and random-intercept SD 'sd'. 'ldens(y, eta)' is the
## full conditional log density per row (all constants included).
exact_ri_loglik <- function(y, eta, group, sd, ldens) {
  g <- split(seq_along(y), group)
  tot <- 0
  for (idx in g) {
    lf <- function(u) vapply(u, function(v) sum(ldens(y[idx], eta[idx] + v)), 0) + dnorm(u, 0, sd, log = TRUE)
    opt <- optimize(lf, c(-10 * sd, 10 * sd), maximum = TRUE)
    c0 <- opt$objective; m <- opt$maximum
    I <- integrate(function(u) exp(lf(u) - c0), m - 12 * sd, m + 12 * sd,
                   rel.tol = 1e-12, abs.tol = 0, subdivisions = 1000L)$value
    tot <- tot + c0 + log(I)
  }
  tot
}
ldens_bern_logit  <- function(y, eta) dbinom(y, 1, plogis(eta), log = TRUE)
ldens_bern_probit <- function(y, eta) dbinom(y, 1, pnorm(eta), log = TRUE)

## Summary of a merMod fit
mer_summary <- function(m) {
  vc <- lme4::VarCorr(m)
  re <- lapply(vc, function(v) {
    s <- attr(v, "stddev")
    out <- list(sd = as.list(s))
    if (length(s) > 1) { cr <- attr(v, "correlation"); out$corr <- cr[lower.tri(cr)] }
    out
  })
  fe <- lme4::fixef(m)
  list(logLik = as.numeric(logLik(m)), df = attr(logLik(m), "df"),
       fixef = as.list(fe), fixef_se = as.list(sqrt(diag(as.matrix(vcov(m))))),
       random_effects = re,
       theta = as.list(lme4::getME(m, "theta")),
       optimizer = m@optinfo$optimizer,
       optimizer_messages = c(m@optinfo$conv$lme4$messages, m@optinfo$warnings),
       nAGQ = if (isGLMM(m)) m@devcomp$dims[["nAGQ"]] else NULL)
}
tmb_summary <- function(m) {
  vc <- glmmTMB::VarCorr(m)$cond
  re <- lapply(vc, function(v) {
    s <- attr(v, "stddev"); out <- list(sd = as.list(s))
    if (length(s) > 1) { cr <- attr(v, "correlation"); out$corr <- cr[lower.tri(cr)] }
    out })
  fe <- glmmTMB::fixef(m)$cond
  list(logLik = as.numeric(logLik(m)), df = attr(logLik(m), "df"),
       fixef = as.list(fe), fixef_se = as.list(sqrt(diag(vcov(m)$cond))),
       random_effects = re, convergence = m$fit$convergence, message = m$fit$message,
       pdHess = m$sdr$pdHess)
}

## glmer controls: tight PIRLS tolerance (tolPwrss = 1e-12). With lme4's default
## tolPwrss = 1e-7 the Laplace (nAGQ = 1) log-likelihood can be off by several 1e-3
## (VerbAgg: -4039.25460 vs the true Laplace -4039.24854 that glmmTMB reports).
GLMER_CTRL  <- lme4::glmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5), tolPwrss = 1e-12)
GLMER_CTRL0 <- lme4::glmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5))
GLMER_CTRL_STR <- 'glmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5), tolPwrss = 1e-12)'
default_tol <- function(m) {
  m0 <- update(m, control = GLMER_CTRL0)
  list(logLik = as.numeric(logLik(m0)), fixef = as.list(lme4::fixef(m0)),
       theta = as.list(lme4::getME(m0, "theta")),
       control = 'glmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5))  # lme4 default tolPwrss = 1e-7')
}
