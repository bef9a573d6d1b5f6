## Four more data sets not used elsewhere:
## * lme4's Dyestuff2: lmer ML `Yield ~ 1 + (1 | Batch)`, a singular fit (batch SD exactly 0);
## * lme4's cake: lmer ML `angle ~ recipe * temperature + (1 | recipe:replicate)`;
## * MASS's bacteria: glmer `y ~ trt + I(week > 2) + (1 | ID)`, binary, 2-5 rows per child, nAGQ 25;
## * datasets' warpbreaks: a 2-class Poisson mixture regression `breaks ~ wool + tension`
##   (flexmix, 50 starts), checked by optim() of the hand-written likelihood, numDeriv SEs.
## Run from the repository root: Rscript tests/reference/scripts/more_agreements.R
source("tests/reference/scripts/common.R")
suppressPackageStartupMessages({library(lme4); library(MASS); library(flexmix); library(numDeriv)})
dat <- "tests/reference/data/"
data(Dyestuff2, package = "lme4"); data(cake, package = "lme4"); data(bacteria, package = "MASS")
write.csv(Dyestuff2, paste0(dat, "dyestuff2.csv"), row.names = FALSE)
write.csv(cake[, c("replicate", "recipe", "temperature", "angle")], paste0(dat, "cake.csv"), row.names = FALSE)
write.csv(bacteria[, c("y", "week", "ID", "trt")], paste0(dat, "bacteria.csv"), row.names = FALSE)
write.csv(warpbreaks, paste0(dat, "warpbreaks.csv"), row.names = FALSE)

d2 <- read.csv(paste0(dat, "dyestuff2.csv"))
m <- lmer(Yield ~ 1 + (1 | Batch), d2, REML = FALSE)
dye <- c(mer_summary(m), list(sigma = sigma(m), isSingular = isSingular(m),
         logLik_lm = as.numeric(logLik(lm(Yield ~ 1, d2))), call = "lmer(Yield ~ 1 + (1 | Batch), REML = FALSE)"))

ck <- read.csv(paste0(dat, "cake.csv"))
ck$recipe <- factor(ck$recipe); ck$temperature <- factor(ck$temperature); ck$replicate <- factor(ck$replicate)
m <- lmer(angle ~ recipe * temperature + (1 | recipe:replicate), ck, REML = FALSE)
cake_r <- c(mer_summary(m), list(sigma = sigma(m), call = "lmer(angle ~ recipe * temperature + (1 | recipe:replicate), REML = FALSE)"))

b <- read.csv(paste0(dat, "bacteria.csv"))
b$y <- as.numeric(b$y == "y"); b$trt <- factor(b$trt, levels = c("placebo", "drug", "drug+"))
b$wk2 <- as.numeric(b$week > 2)
m <- glmer(y ~ trt + wk2 + (1 | ID), b, binomial, nAGQ = 25, control = GLMER_CTRL)
bact <- mer_summary(m)
bact$logLik_exact_integrate <- exact_ri_loglik(b$y, drop(model.matrix(m, type = "fixed") %*% fixef(m)), b$ID,
                                               bact$random_effects$ID$sd[[1]], ldens_bern_logit)
bact$call <- "glmer(y ~ trt + wk2 + (1 | ID), binomial, nAGQ = 25), y = (y == 'y'), wk2 = week > 2"
bact$rows_per_child <- as.list(table(table(b$ID)))

w <- read.csv(paste0(dat, "warpbreaks.csv"))
w$tension <- factor(w$tension, levels = c("L", "M", "H")); w$wool <- factor(w$wool)
set.seed(1)
fm <- stepFlexmix(breaks ~ wool + tension, data = w, k = 2, nrep = 50, model = FLXMRglm(family = "poisson"),
                  control = list(tolerance = 1e-12, iter.max = 10000, minprior = 0), verbose = FALSE)
X <- model.matrix(~ wool + tension, w)
wl <- function(p) {
  B <- matrix(p[1:8], 4); lp <- c(0, p[9]) - log(1 + exp(p[9]))
  l <- sapply(1:2, function(k) dpois(w$breaks, exp(X %*% B[, k]), log = TRUE)) + rep(lp, each = nrow(w))
  sum(apply(l, 1, function(v) max(v) + log(sum(exp(v - max(v))))))
}
pc <- parameters(fm); pr <- prior(fm)
o <- optim(c(pc[, 1], pc[, 2], log(pr[2] / pr[1])), wl, method = "BFGS", control = list(fnscale = -1, reltol = 1e-15, maxit = 1e4))
o <- optim(o$par, wl, method = "Nelder-Mead", control = list(fnscale = -1, reltol = 1e-15, maxit = 1e4))
se <- sqrt(diag(solve(-hessian(wl, o$par))))
B <- matrix(o$par[1:8], 4, dimnames = list(c("Intercept", "woolB", "tensionM", "tensionH"), NULL))
S <- matrix(se[1:8], 4, dimnames = dimnames(B))
ord <- order(B["Intercept", ], decreasing = TRUE)
props <- c(1, exp(o$par[9])) / (1 + exp(o$par[9]))
warp <- list(call = "stepFlexmix(breaks ~ wool + tension, k = 2, nrep = 50, model = FLXMRglm(family = 'poisson'), control = list(tolerance = 1e-12, iter.max = 10000, minprior = 0))",
  flexmix_logLik = as.numeric(logLik(fm)), logLik = o$value, df = attr(logLik(fm), "df"),
  coef = lapply(ord, function(j) as.list(B[, j])), coef_se = lapply(ord, function(j) as.list(S[, j])),
  class_proportions = props[ord],
  note = "classes sorted by intercept, highest first; logLik and SEs: optim and numDeriv::hessian of the hand-written likelihood from flexmix's best of 50 starts")

res <- list(software = sw(c("lme4", "MASS", "flexmix", "numDeriv", "jsonlite")), R = rver(),
  data = list(dyestuff2 = "data(Dyestuff2, package = 'lme4')", cake = "data(cake, package = 'lme4'), columns replicate, recipe, temperature, angle",
              bacteria = "data(bacteria, package = 'MASS'), columns y, week, ID, trt", warpbreaks = "data(warpbreaks, package = 'datasets')"),
  control = GLMER_CTRL_STR, dyestuff2 = dye, cake = cake_r, bacteria = bact, warpbreaks = warp)
save_json(res, "more_agreements")
cat(dye$logLik, dye$logLik_lm, cake_r$logLik, bact$logLik, bact$logLik_exact_integrate, warp$flexmix_logLik, warp$logLik, "\n")
