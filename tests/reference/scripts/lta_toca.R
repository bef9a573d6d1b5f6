## Single-level latent transition analysis (LTA) on glmmix/data/toca_sim.csv:
## a 2-time-point hidden (latent) Markov model with 2 states, 10 conditionally independent
## binary items per time, P(C1) free, P(C2 | C1) free (2 x 2), missing responses ignored (MAR).
##   * invariant:    item probabilities pi_{c,item} the same at both times  (20 + 1 + 2 = 23 parameters)
##   * noninvariant: separate pi at time 1 and time 2                       (40 + 1 + 2 = 43 parameters)
##
## Debian 12 has no depmixS4, LMest, seqHMM or HMM package (apt-cache search; CRAN unreachable).
## Therefore:
##   (a) primary: an independent plain-R implementation. The log-likelihood is the forward sum
##       over the 4 joint states (c1, c2). It is maximised by EM from many random starts, and the
##       best EM solution is then polished with optim(BFGS) on the logit scale. numDeriv checks
##       the gradient and Hessian.
##   (b) cross-check of the invariant model with msm (r-cran-msm, hmmMV of hmmBinom(1, p)).
##       msm is a continuous-time HMM, so P(C2 | C1) = expm(Q). With 2 states this covers
##       every 2 x 2 transition matrix with p11 + p22 > 1, which holds at the optimum here.
##       msm is started from generic values, not from (a).
##   (c) a separate direct evaluation of the log-likelihood at the reported estimates. It
##       loops over the rows of the long CSV with dbinom and shares no code with (a).
##
## Run from /work/main:  Rscript tests/reference/scripts/lta_toca.R
source("tests/reference/scripts/common.R")
suppressPackageStartupMessages({library(msm); library(numDeriv)})

DATA <- "glmmix/data/toca_sim.csv"
d <- read.csv(DATA, stringsAsFactors = FALSE)
items <- unique(d$item)                     # file order (= Table 1 order)
J <- length(items)
studs <- sort(unique(d$student))
n <- length(studs)
## wide arrays: Y[[t]] is n x J, NA = missing
Y <- lapply(1:2, function(t) {
  m <- matrix(NA_real_, n, J, dimnames = list(studs, items))
  s <- d[d$time == t, ]
  m[cbind(match(s$student, studs), match(s$item, items))] <- s$y
  m
})
stopifnot(sum(is.na(Y[[1]])) + sum(is.na(Y[[2]])) == sum(is.na(d$y)))
Yz <- lapply(Y, function(m) { m[is.na(m)] <- 0; m })           # y, 0 where missing
O  <- lapply(Y, function(m) (!is.na(m)) * 1)                    # observed indicator
N0 <- lapply(1:2, function(t) O[[t]] - Yz[[t]])                 # 1 - y where observed, else 0

lse <- function(M) { m <- apply(M, 1, max); m + log(rowSums(exp(M - m))) }

## ---------- (a) plain-R likelihood: forward sum over the 4 joint states ----------
## par = list(p1 = P(C1) (2), Tr = 2 x 2 P(C2|C1), pi1 = J x 2 (time 1), pi2 = J x 2 (time 2))
## log f_t(y | c) = sum over observed items of y log pi + (1 - y) log(1 - pi); missing items
## contribute nothing. Full Bernoulli likelihood: there are no constants to drop.
logf <- function(t, pim) Yz[[t]] %*% log(pim) + N0[[t]] %*% log1p(-pim)   # n x 2
joint <- function(p) {
  f1 <- logf(1, p$pi1); f2 <- logf(2, p$pi2)
  lw <- matrix(0, n, 4)
  k <- 0
  for (a in 1:2) for (b in 1:2) {
    k <- k + 1
    lw[, k] <- log(p$p1[a]) + log(p$Tr[a, b]) + f1[, a] + f2[, b]
  }
  lw                                                      # columns (1,1),(1,2),(2,1),(2,2)
}
loglik <- function(p) sum(lse(joint(p)))

em <- function(p, invariant, maxit = 100000, tol = 1e-13) {
  ll_old <- -Inf
  for (it in 1:maxit) {
    lw <- joint(p); li <- lse(lw); ll <- sum(li)
    w <- exp(lw - li)
    p1post <- cbind(w[, 1] + w[, 2], w[, 3] + w[, 4])    # P(C1 = c | y)
    p2post <- cbind(w[, 1] + w[, 3], w[, 2] + w[, 4])    # P(C2 = c | y)
    p$p1 <- colMeans(p1post)
    Tr <- matrix(colSums(w), 2, 2, byrow = TRUE)
    p$Tr <- Tr / rowSums(Tr)
    if (invariant) {
      num <- crossprod(Yz[[1]], p1post) + crossprod(Yz[[2]], p2post)
      den <- crossprod(O[[1]], p1post) + crossprod(O[[2]], p2post)
      p$pi1 <- p$pi2 <- num / den
    } else {
      p$pi1 <- crossprod(Yz[[1]], p1post) / crossprod(O[[1]], p1post)
      p$pi2 <- crossprod(Yz[[2]], p2post) / crossprod(O[[2]], p2post)
    }
    if (ll - ll_old < tol * abs(ll)) break
    ll_old <- ll
  }
  list(par = p, loglik = loglik(p), iter = it)
}
rand_par <- function() {
  pi1 <- matrix(runif(2 * J, 0.05, 0.95), J, 2)
  a <- runif(2, 0.1, 0.9); b <- runif(1, 0.2, 0.8)
  list(p1 = c(b, 1 - b), Tr = cbind(a, 1 - a, deparse.level = 0), pi1 = pi1,
       pi2 = matrix(runif(2 * J, 0.05, 0.95), J, 2))
}

## unconstrained (logit) parametrisation for optim / numDeriv
to_theta <- function(p, invariant) {
  c(qlogis(p$p1[1]), qlogis(p$Tr[, 1]), qlogis(as.vector(p$pi1)),
    if (!invariant) qlogis(as.vector(p$pi2)))
}
from_theta <- function(th, invariant) {
  a <- plogis(th[1]); tr <- plogis(th[2:3])
  pi1 <- matrix(plogis(th[3 + 1:(2 * J)]), J, 2)
  pi2 <- if (invariant) pi1 else matrix(plogis(th[3 + 2 * J + 1:(2 * J)]), J, 2)
  list(p1 = c(a, 1 - a), Tr = cbind(tr, 1 - tr, deparse.level = 0), pi1 = pi1, pi2 = pi2)
}

## relabel: at each time, class 1 = the class with the higher mean item probability
## (the disruptive class). For the invariant model the same permutation applies at both times.
relabel <- function(p, invariant) {
  o1 <- order(colMeans(p$pi1), decreasing = TRUE)
  o2 <- if (invariant) o1 else order(colMeans(p$pi2), decreasing = TRUE)
  list(p1 = p$p1[o1], Tr = p$Tr[o1, o2], pi1 = p$pi1[, o1], pi2 = p$pi2[, o2],
       perm_time1 = o1, perm_time2 = o2)
}

fit_model <- function(invariant, nstart = 100, seed = 1) {
  set.seed(seed)
  fits <- lapply(seq_len(nstart), function(i) em(rand_par(), invariant))
  ll <- vapply(fits, `[[`, 1, "loglik")
  best <- fits[[which.max(ll)]]
  ## polish with BFGS on the logit scale
  th0 <- to_theta(best$par, invariant)
  f <- function(th) -loglik(from_theta(th, invariant))
  op <- optim(th0, f, method = "BFGS", control = list(reltol = 1e-16, maxit = 10000))
  thb <- if (-op$value >= best$loglik) op$par else th0
  g <- numDeriv::grad(function(th) -f(th), thb)
  H <- numDeriv::hessian(function(th) -f(th), thb)
  ev <- eigen(H, symmetric = TRUE, only.values = TRUE)$values
  p <- from_theta(thb, invariant)
  list(par = p, theta = thb, H = H, loglik = loglik(p), em_loglik = best$loglik, em_iter = best$iter,
       optim = list(loglik = -op$value, convergence = op$convergence, counts = op$counts),
       max_abs_gradient = max(abs(g)), hessian_max_eigen = max(ev),
       starts = list(n = nstart, seed = seed,
                     n_reaching_best = sum(abs(ll - max(ll)) < 1e-6),
                     tolerance_for_same = 1e-6,
                     distinct_local_maxima = unique(round(sort(ll, decreasing = TRUE), 4))))
}

## (c) direct check: loop over the rows of the long CSV, independent of (a)
direct_loglik <- function(p) {
  rows <- split(d[!is.na(d$y), ], d$student[!is.na(d$y)])
  tot <- 0
  for (r in rows) {
    L <- 0
    for (a in 1:2) for (b in 1:2) {
      pr <- ifelse(r$time == 1, p$pi1[cbind(match(r$item, items), a)],
                                p$pi2[cbind(match(r$item, items), b)])
      L <- L + p$p1[a] * p$Tr[a, b] * prod(dbinom(r$y, 1, pr))
    }
    tot <- tot + log(L)
  }
  tot
}

## delta-method SEs of the reported probabilities from the logit-scale observed information
se_probs <- function(fm, invariant) {
  V <- solve(-fm$H)
  p <- fm$par; th <- fm$theta
  se_th <- sqrt(diag(V))
  dp <- plogis(th) * (1 - plogis(th))          # d p / d logit for every element of theta
  se <- se_th * dp
  list(p1 = se[1], Tr_col1 = se[2:3], pi1 = matrix(se[3 + 1:(2 * J)], J, 2),
       pi2 = if (invariant) NULL else matrix(se[3 + 2 * J + 1:(2 * J)], J, 2))
}

summarise <- function(fm, invariant) {
  se <- se_probs(fm, invariant)
  r <- relabel(fm$par, invariant)
  s1 <- se$pi1[, r$perm_time1]
  tr <- r$Tr; dimnames(tr) <- list(c("C1=1", "C1=2"), c("C2=1", "C2=2"))
  ## SE of P(C2 = 1 | C1 = a) in the package's labels is se$Tr_col1[a]; after relabelling
  ## both cells of a row share it
  tr_se <- matrix(se$Tr_col1[r$perm_time1], 2, 2); dimnames(tr_se) <- dimnames(tr)
  out <- list(
    loglik = fm$loglik,
    n_params = length(fm$theta),
    aic = -2 * fm$loglik + 2 * length(fm$theta),
    bic = -2 * fm$loglik + log(n) * length(fm$theta),
    p_c1 = r$p1,
    p_c1_se = rep(se$p1, 2),
    transition = unname(split(tr, row(tr))),
    transition_se = unname(split(tr_se, row(tr_se))),
    p_c2 = as.vector(r$p1 %*% r$Tr))
  if (invariant) {
    out$items <- setNames(lapply(seq_len(J), function(j) r$pi1[j, ]), items)
    out$items_se <- setNames(lapply(seq_len(J), function(j) s1[j, ]), items)
  } else {
    s2 <- se$pi2[, r$perm_time2]
    out$items_time1 <- setNames(lapply(seq_len(J), function(j) r$pi1[j, ]), items)
    out$items_time2 <- setNames(lapply(seq_len(J), function(j) r$pi2[j, ]), items)
    out$items_time1_se <- setNames(lapply(seq_len(J), function(j) s1[j, ]), items)
    out$items_time2_se <- setNames(lapply(seq_len(J), function(j) s2[j, ]), items)
  }
  out$original_class_order <- list(time1 = r$perm_time1, time2 = r$perm_time2)
  out$estimation <- list(
    em_loglik = fm$em_loglik, em_iterations = fm$em_iter, optim_bfgs = fm$optim,
    max_abs_gradient_logit_scale = fm$max_abs_gradient,
    hessian_max_eigenvalue = fm$hessian_max_eigen, starts = fm$starts)
  out$loglik_direct_check <- direct_loglik(fm$par)
  out
}

cat("fitting invariant model ...\n")
fi <- fit_model(TRUE, nstart = 100, seed = 1)
si <- summarise(fi, TRUE)
cat("invariant loglik", format(si$loglik, digits = 15), "direct", format(si$loglik_direct_check, digits = 15), "\n")
cat("fitting noninvariant model ...\n")
fn <- fit_model(FALSE, nstart = 100, seed = 2)
sn <- summarise(fn, FALSE)
cat("noninvariant loglik", format(sn$loglik, digits = 15), "direct", format(sn$loglik_direct_check, digits = 15), "\n")

## ---------- (b) msm cross-check of the invariant model ----------
dl <- data.frame(student = rep(studs, each = 2), time = rep(1:2, n))
ymat <- matrix(NA_real_, 2 * n, J)
ymat[dl$time == 1, ] <- Y[[1]]; ymat[dl$time == 2, ] <- Y[[2]]
dl$y <- ymat
hm <- function(pr) do.call(hmmMV, lapply(pr, function(q) do.call(hmmBinom, list(size = 1, prob = q))))
Q0 <- rbind(c(-0.2, 0.2), c(0.2, -0.2))
mfit <- msm(y ~ time, subject = student, data = dl, qmatrix = Q0,
            hmodel = list(hm(rep(0.7, J)), hm(rep(0.2, J))),
            initprobs = c(0.5, 0.5), est.initprobs = TRUE,
            opt.method = "nlm", iterlim = 10000, gradtol = 1e-8)
m_ll <- -mfit$minus2loglik / 2
m_P <- unclass(pmatrix.msm(mfit, t = 1))
m_init <- mfit$hmodel$initprobs
m_pi <- sapply(1:2, function(s) {
  pr <- mfit$hmodel$pars[mfit$hmodel$parstate == s & names(mfit$hmodel$pars) == "prob"]
  pr
})
m_par <- list(p1 = as.vector(m_init), Tr = matrix(m_P, 2, 2), pi1 = m_pi, pi2 = m_pi)
m_rel <- relabel(m_par, TRUE)
m_npar <- mfit$paramdata$nopt          # estimated parameters (the fixed sizes excluded)
cat("msm loglik", format(m_ll, digits = 15), "npar", m_npar, "\n")
msm_check <- list(
  call = paste("msm(y ~ time, subject = student, qmatrix = rbind(c(-0.2, 0.2), c(0.2, -0.2)),",
               "hmodel = list(hmmMV(10 x hmmBinom(1, 0.7)), hmmMV(10 x hmmBinom(1, 0.2))),",
               "initprobs = c(0.5, 0.5), est.initprobs = TRUE, opt.method = \"nlm\", iterlim = 10000, gradtol = 1e-8);",
               "y = n_obs x 10 matrix with NA for missing; one row per student-time, time = 1, 2"),
  loglik = m_ll, n_params = m_npar, nlm_code = mfit$opt$code, nlm_iterations = mfit$opt$iterations,
  n_obs_rows = nrow(mfit$data$mf),
  p_c1 = m_rel$p1,
  transition = unname(split(m_rel$Tr, row(m_rel$Tr))),
  items = setNames(lapply(seq_len(J), function(j) m_rel$pi1[j, ]), items),
  loglik_of_msm_estimates_in_plain_R = loglik(m_par),
  abs_diff_loglik_vs_plain_R = abs(m_ll - si$loglik),
  max_abs_diff_items_vs_plain_R = max(abs(m_rel$pi1 - relabel(fi$par, TRUE)$pi1)),
  note = paste("msm is a continuous-time HMM: P(C2|C1) = expm(Q) over one time unit. With 2 states this",
               "equals a free 2x2 transition matrix restricted to p11 + p22 > 1, which is not binding here,",
               "so the fits coincide. The parameter count is the same: 2 intensities + 1 initial logit + 20 probabilities.",
               "msm's default optim(BFGS) with numerical gradients stops at maxit without converging (loglik",
               "-11244.41 after 10000 iterations), so nlm is used (nlm code 2 = successive iterates within tolerance)."))

res <- list(
  source = list(
    primary = paste("independent plain-R implementation (this script): exact log-likelihood by the forward sum",
                    "over the 4 joint states (c1, c2), EM from 100 random starts per model, best polished by",
                    "optim(BFGS) on the logit scale, gradient/Hessian checked with numDeriv"),
    cross_check = "msm (continuous-time hidden Markov model, hmmMV/hmmBinom) for the invariant model",
    software = sw(c("msm", "numDeriv", "jsonlite")), R = rver(),
    unavailable = paste("depmixS4, LMest, seqHMM and HMM are not packaged for Debian 12 (bookworm) and CRAN",
                        "is unreachable; only r-cran-msm among hidden-Markov packages is available.")),
  data = list(file = DATA, n_students = n, n_items = J, n_times = 2, items = items,
              n_responses = nrow(d), n_missing_responses = sum(is.na(d$y)),
              n_student_times_all_missing = sum(rowSums(O[[1]]) == 0) + sum(rowSums(O[[2]]) == 0),
              classroom = "ignored (single-level model)"),
  model = paste("Single-level LTA = 2-time-point latent Markov model. C1, C2 in {1, 2}. P(C1) free;",
                "P(C2 | C1) free 2x2; items conditionally independent given C_t; P(y_tj = 1 | C_t = c) = pi_{c,j}",
                "(invariant: same pi at both times). Missing responses are ignored: they are MAR and",
                "contribute a factor of 1."),
  loglik_note = paste("Full log-likelihood: sum_i log sum_{c1,c2} P(c1) P(c2|c1) prod_{t, observed j}",
                      "pi_{t,c_t,j}^y (1 - pi_{t,c_t,j})^(1 - y). Bernoulli terms have no constants, so nothing",
                      "is dropped. loglik_direct_check re-evaluates it at the estimates with dbinom, looping",
                      "over the rows of the long CSV."),
  class_labelling = paste("Class 1 = the class with the higher item probabilities (mean over the 10 items), i.e.",
                          "the disruptive class; class 2 = not disruptive. The package / EM output is permuted",
                          "accordingly (original_class_order). For the noninvariant model the rule is applied",
                          "separately at each time."),
  layout = paste("p_c1 = [P(C1=1), P(C1=2)]; transition[[a]][[b]] = P(C2 = b | C1 = a) (rows = C1 class);",
                 "items[item] = [pi_class1, pi_class2]; p_c2 = implied marginal P(C2); *_se = delta-method SEs",
                 "from the observed information on the logit scale (numDeriv Hessian)"),
  n_students = n,
  n_missing_responses = sum(is.na(d$y)),
  loglik = si$loglik,
  n_params = si$n_params,
  p_c1 = si$p_c1,
  transition = si$transition,
  items = si$items,
  invariant = si,
  loglik_noninvariant = sn$loglik,
  n_params_noninvariant = sn$n_params,
  noninvariant = sn,
  lr_test_invariance = list(statistic = 2 * (sn$loglik - si$loglik), df = sn$n_params - si$n_params,
                            p_value = pchisq(2 * (sn$loglik - si$loglik), sn$n_params - si$n_params,
                                             lower.tail = FALSE)),
  msm_check = msm_check)
save_json(res, "lta_toca")
