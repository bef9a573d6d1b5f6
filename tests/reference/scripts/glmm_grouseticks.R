## lme4's grouseticks: TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD), Poisson, AGQ 25.
source("tests/reference/scripts/common.R")
suppressPackageStartupMessages({library(lme4)})
data("grouseticks", package = "lme4")
write.csv(grouseticks, "tests/reference/data/grouseticks.csv", row.names = FALSE)
d <- read.csv("tests/reference/data/grouseticks.csv")
d$YEAR <- factor(d$YEAR, levels = c("95", "96", "97"))
d$BROOD <- factor(d$BROOD)
d$sHEIGHT <- drop(scale(d$HEIGHT))
ctrl <- GLMER_CTRL
m <- glmer(TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD), data = d, family = poisson, nAGQ = 25, control = ctrl)
r <- mer_summary(m)
r$call <- 'glmer(TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD), data = d, family = poisson, nAGQ = 25, control = glmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5), tolPwrss = 1e-12))'
lsat_sum <- sum(dpois(d$TICKS, d$TICKS, log = TRUE))
r$logLik_printed <- r$logLik; r$logLik <- NULL
r$logLik_exact_from_printed <- r$logLik_printed + lsat_sum
X <- model.matrix(m, type = "fixed")
r$logLik_exact_integrate <- exact_ri_loglik(d$TICKS, drop(X %*% fixef(m)), d$BROOD, r$random_effects$BROOD$sd[[1]],
                                             function(y, eta) dpois(y, exp(eta), log = TRUE))
r$with_default_tolPwrss <- default_tol(m)
m1 <- glmer(TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD), data = d, family = poisson, nAGQ = 1, control = ctrl)
res <- list(software = sw(c("lme4", "jsonlite")), R = rver(),
  data = list(file = "tests/reference/data/grouseticks.csv", source = "data(grouseticks, package = 'lme4')",
    recoding = "YEAR factor (95 reference); BROOD factor; scale(HEIGHT) = (HEIGHT - mean)/sd(HEIGHT) over all 403 rows",
    n = nrow(d), groups = nlevels(d$BROOD), height_mean = mean(d$HEIGHT), height_sd = sd(d$HEIGHT)),
  constants = list(saturated_loglik = lsat_sum, sum_lgamma_y_plus_1 = sum(lgamma(d$TICKS + 1)),
    note = "saturated_loglik = sum dpois(y, y, log = TRUE) (includes -lgamma(y+1))"),
  loglik_note = paste("glmer with nAGQ > 1 prints log-lik minus the saturated log-lik (deviance-residual based),",
    "i.e. NOT the full Poisson log-likelihood: exact = printed + saturated_loglik; logLik_exact_integrate",
    "(per-brood adaptive integrate(), full dpois incl. -lgamma(y+1)) confirms it.",
    "The Laplace fit (nAGQ = 1) prints the full log-likelihood (incl. -lgamma(y+1)) of the Laplace approximation."),
  agq25 = r,
  laplace = list(logLik = as.numeric(logLik(m1)), fixef = as.list(fixef(m1)),
                 sd = attr(VarCorr(m1)$BROOD, "stddev")[[1]], call = sub("nAGQ = 25", "nAGQ = 1", r$call),
                 with_default_tolPwrss = default_tol(m1)))
cat("printed", format(r$logLik_printed, digits = 12), "exact_from_printed", format(r$logLik_exact_from_printed, digits = 12),
    "exact_int", format(r$logLik_exact_integrate, digits = 12), "laplace", format(res$laplace$logLik, digits = 12), "\n")
save_json(res, "glmm_grouseticks")
