## Three data sets not used elsewhere, each a different kind of model:
## * flexmix's betablocker (22 centres, deaths out of up to 1,520 patients): binomial GLMM
##   (glmer, nAGQ = 25) and a 3-class binomial mixture with classes per centre and a common
##   treatment effect (flexmix FLXMRglmfix, as in flexmix's own example), checked by a
##   hand-written likelihood maximized by optim() with numDeriv SEs;
## * ordinal's soup (185 respondents, 6-category sureness ratings): clmm (nAGQ = 10) and clm;
## * flexmix's NregFix (a 3-class gaussian mixture regression, class membership ~ w): flexmix
##   with FLXPmultinom, then its log-likelihood maximized by optim() from flexmix's estimates
##   (FLXPmultinom's M-step is nnet's, not exact) with numDeriv SEs.
## Run from the repository root: Rscript tests/reference/scripts/betablocker_soup_nregfix.R
source("tests/reference/scripts/common.R")
suppressPackageStartupMessages({library(lme4); library(flexmix); library(ordinal); library(numDeriv)})
dat <- "tests/reference/data/"
data(betablocker, package = "flexmix"); data(soup, package = "ordinal"); data(NregFix, package = "flexmix")
write.csv(betablocker, paste0(dat, "betablocker.csv"), row.names = FALSE)
write.csv(soup[, c("RESP", "PROD", "SURENESS", "DAY")], paste0(dat, "soup.csv"), row.names = FALSE)
write.csv(data.frame(x1 = NregFix$x1, x2 = NregFix$x2, w = NregFix$w, y = as.numeric(NregFix$y)),
          paste0(dat, "nregfix.csv"), row.names = FALSE)
OPT <- list(reltol = 1e-15, maxit = 1e5)

## ---- betablocker ----
b <- read.csv(paste0(dat, "betablocker.csv"))
b$Treatment <- factor(b$Treatment, levels = c("Control", "Treated"))
m25 <- glmer(cbind(Deaths, Total - Deaths) ~ Treatment + (1 | Center), data = b, family = binomial,
             nAGQ = 25, control = GLMER_CTRL)
r25 <- mer_summary(m25)
sat <- sum(dbinom(b$Deaths, b$Total, b$Deaths / b$Total, log = TRUE))
r25$logLik_printed <- r25$logLik; r25$logLik <- r25$logLik_printed + sat
## exact_ri_loglik's "outcome" is the row number, so that the density can read the row's trials
r25$logLik_exact_integrate <- exact_ri_loglik(seq_len(nrow(b)), drop(model.matrix(m25, type = "fixed") %*% fixef(m25)), b$Center,
  r25$random_effects$Center$sd[[1]], function(i, eta) dbinom(b$Deaths[i], b$Total[i], plogis(eta), log = TRUE))
set.seed(1)
K <- 3
fm <- stepFlexmix(cbind(Deaths, Total - Deaths) ~ 1 | Center, data = b, k = K, nrep = 50,
                  model = FLXMRglmfix(family = "binomial", fixed = ~ Treatment),
                  control = list(tolerance = 1e-12, iter.max = 10000, minprior = 0), verbose = FALSE)
## hand-written likelihood: class per centre, class intercepts a_k, common slope, proportions by
## multinomial logits (class 1 reference)
tr <- as.numeric(b$Treatment == "Treated")
cen <- split(seq_len(nrow(b)), b$Center)
bb_ll <- function(p) {
  a <- p[1:K]; s <- p[K + 1]; lg <- c(0, p[(K + 2):(2 * K)]); lpi <- lg - log(sum(exp(lg)))
  sum(vapply(cen, function(i) {
    l <- vapply(1:K, function(k) sum(dbinom(b$Deaths[i], b$Total[i], plogis(a[k] + s * tr[i]), log = TRUE)), 0) + lpi
    max(l) + log(sum(exp(l - max(l)))) }, 0))
}
cf <- parameters(fm); pr <- prior(fm)
p0 <- c(cf["coef.(Intercept)", ], cf["coef.TreatmentTreated", 1], log(pr[-1] / pr[1]))
op <- optim(p0, bb_ll, method = "BFGS", control = c(OPT, fnscale = -1))
op <- optim(op$par, bb_ll, method = "Nelder-Mead", control = c(OPT, fnscale = -1))
H <- hessian(bb_ll, op$par); se <- sqrt(diag(solve(-H)))
ord <- order(c(1, exp(op$par[(K + 2):(2 * K)])), decreasing = TRUE)  # classes by proportion
props <- c(1, exp(op$par[(K + 2):(2 * K)])); props <- props / sum(props)
mix <- list(call = paste("stepFlexmix(cbind(Deaths, Total - Deaths) ~ 1 | Center, k = 3, nrep = 50,",
                         "model = FLXMRglmfix(family = 'binomial', fixed = ~ Treatment), control = list(tolerance = 1e-12, iter.max = 10000, minprior = 0))"),
  flexmix_logLik = as.numeric(logLik(fm)), df = attr(logLik(fm), "df"),
  logLik = op$value, gradient_max = max(abs(grad(bb_ll, op$par))),
  intercepts = op$par[1:K][ord], intercepts_se = se[1:K][ord], treatment = op$par[K + 1], treatment_se = se[K + 1],
  class_proportions = props[ord],
  note = paste("logLik: the hand-written likelihood maximized by optim (BFGS then Nelder-Mead, reltol 1e-15)",
               "from flexmix's best of 50 starts; SEs from numDeriv::hessian of it; classes sorted by proportion"))

## ---- soup ----
s <- read.csv(paste0(dat, "soup.csv"))
s$SURENESS <- factor(s$SURENESS, levels = 1:6, ordered = TRUE); s$PROD <- factor(s$PROD, levels = c("Ref", "Test"))
s$RESP <- factor(s$RESP); s$DAY <- factor(s$DAY)
cm <- clmm(SURENESS ~ PROD + DAY + (1 | RESP), data = s, nAGQ = 10)
cl <- clm(SURENESS ~ PROD + DAY, data = s)
soup_r <- list(clmm = list(call = "clmm(SURENESS ~ PROD + DAY + (1 | RESP), data = s, nAGQ = 10)", logLik = as.numeric(logLik(cm)),
                           alpha = as.list(cm$alpha), beta = as.list(cm$beta), sd = as.numeric(attr(VarCorr(cm)$RESP, "stddev")),
                           se = as.list(sqrt(diag(vcov(cm))))),
               clm = list(call = "clm(SURENESS ~ PROD + DAY, data = s)", logLik = as.numeric(logLik(cl)), alpha = as.list(cl$alpha),
                          beta = as.list(cl$beta), se = as.list(sqrt(diag(vcov(cl))))))

## ---- NregFix ----
nr <- read.csv(paste0(dat, "nregfix.csv"))
nr$x2 <- factor(nr$x2); nr$w <- factor(nr$w)
set.seed(1)
fx <- stepFlexmix(y ~ x1 + x2, data = nr, k = K, nrep = 50, concomitant = FLXPmultinom(~ w),
                  control = list(tolerance = 1e-12, iter.max = 10000, minprior = 0), verbose = FALSE)
X <- model.matrix(~ x1 + x2, nr); W <- model.matrix(~ w, nr)
nf_ll <- function(p) {  # p: K x 3 coefficients, K log sigmas, (K - 1) x 2 logit coefficients
  B <- matrix(p[1:(3 * K)], 3); ls <- p[3 * K + 1:K]; G <- cbind(0, matrix(p[4 * K + 1:(2 * (K - 1))], 2))
  lg <- W %*% G; lpi <- lg - apply(lg, 1, function(v) max(v) + log(sum(exp(v - max(v)))))
  l <- sapply(1:K, function(k) dnorm(nr$y, X %*% B[, k], exp(ls[k]), log = TRUE)) + lpi
  sum(apply(l, 1, function(v) max(v) + log(sum(exp(v - max(v))))))
}
pc <- parameters(fx); pg <- parameters(fx, which = "concomitant")
q0 <- c(pc[c("coef.(Intercept)", "coef.x1", "coef.x21"), ], log(pc["sigma", ]), pg[, -1])
op2 <- optim(q0, nf_ll, method = "BFGS", control = c(OPT, fnscale = -1))
op2 <- optim(op2$par, nf_ll, method = "Nelder-Mead", control = c(OPT, fnscale = -1))
op2 <- optim(op2$par, nf_ll, method = "BFGS", control = c(OPT, fnscale = -1))
H2 <- hessian(nf_ll, op2$par); se2 <- sqrt(diag(solve(-H2)))
B <- matrix(op2$par[1:(3 * K)], 3, dimnames = list(c("Intercept", "x1", "x21"), NULL))
Bse <- matrix(se2[1:(3 * K)], 3, dimnames = dimnames(B))
ord2 <- order(B["Intercept", ], decreasing = TRUE)  # classes by intercept, highest first
nreg <- list(call = paste("stepFlexmix(y ~ x1 + x2, k = 3, nrep = 50, concomitant = FLXPmultinom(~ w),",
                          "control = list(tolerance = 1e-12, iter.max = 10000, minprior = 0))"),
  flexmix_logLik = as.numeric(logLik(fx)), df = attr(logLik(fx), "df"), logLik = op2$value,
  gradient_max = max(abs(grad(nf_ll, op2$par))),
  coef = lapply(seq_len(K), function(j) as.list(B[, ord2[j]])), coef_se = lapply(seq_len(K), function(j) as.list(Bse[, ord2[j]])),
  sigma = exp(op2$par[3 * K + 1:K])[ord2], sigma_se = (exp(op2$par[3 * K + 1:K]) * se2[3 * K + 1:K])[ord2],
  note = paste("flexmix's FLXPmultinom M-step (nnet) is not exact: its EM stops short (flexmix_logLik);",
               "logLik is the hand-written likelihood maximized by optim (BFGS, Nelder-Mead, BFGS; reltol 1e-15)",
               "from flexmix's best of 50 starts; SEs from numDeriv::hessian (sigma's by the delta method from log sigma);",
               "classes sorted by their intercept, highest first"))

res <- list(software = sw(c("lme4", "flexmix", "ordinal", "numDeriv", "jsonlite")), R = rver(),
  data = list(betablocker = list(file = paste0(dat, "betablocker.csv"), source = "data(betablocker, package = 'flexmix')", n = nrow(b)),
              soup = list(file = paste0(dat, "soup.csv"), source = "data(soup, package = 'ordinal'), columns RESP, PROD, SURENESS, DAY", n = nrow(s)),
              nregfix = list(file = paste0(dat, "nregfix.csv"), source = "data(NregFix, package = 'flexmix'), columns x1, x2, w, y", n = nrow(nr))),
  betablocker = list(glmer_agq25 = c(r25, list(call = "glmer(cbind(Deaths, Total - Deaths) ~ Treatment + (1 | Center), family = binomial, nAGQ = 25)")),
                     mixture3 = mix),
  soup = soup_r, nregfix = nreg)
save_json(res, "betablocker_soup_nregfix")
cat("bb", r25$logLik, r25$logLik_exact_integrate, "mix", mix$flexmix_logLik, mix$logLik, mix$gradient_max,
    "\nsoup", soup_r$clmm$logLik, soup_r$clm$logLik, "\nnreg", nreg$flexmix_logLik, nreg$logLik, nreg$gradient_max, "\n")
