## Bangladesh contraception GLMMs.
source("tests/reference/scripts/common.R")
suppressPackageStartupMessages({library(lme4); library(glmmTMB)})
d <- read.csv("/work/shared/data/contraception.csv")
d$district <- factor(d$district, levels = sort(unique(d$district)))
d$urban <- factor(d$urban, levels = c("N", "Y"))
d$livch <- factor(d$livch, levels = c("0", "1", "2", "3+"))
ctrl <- GLMER_CTRL
res <- list(software = sw(c("lme4", "glmmTMB", "TMB", "jsonlite")), R = rver(),
  data = list(file = "/work/shared/data/contraception.csv",
    recoding = "district factor; urban factor levels N, Y (N reference); livch factor levels 0, 1, 2, 3+ (0 reference); age as in the file (centred)",
    n = nrow(d), groups = nlevels(d$district)),
  loglik_note = "Bernoulli y: no constant exists; all logLik values are full log-likelihoods (Laplace ones are Laplace approximations).")
f1 <- y ~ age + I(age^2) + urban + livch + (1 + urban | district)
m1 <- glmer(f1, data = d, family = binomial, control = ctrl)
r1 <- mer_summary(m1)
r1$call <- 'glmer(y ~ age + I(age^2) + urban + livch + (1 + urban | district), data = d, family = binomial, control = glmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5), tolPwrss = 1e-12))  # Laplace (nAGQ = 1)'
r1$with_default_tolPwrss <- default_tol(m1)
res$glmer_laplace_slope <- r1
m2 <- glmmTMB(f1, data = d, family = binomial)
r2 <- tmb_summary(m2)
r2$call <- 'glmmTMB(y ~ age + I(age^2) + urban + livch + (1 + urban | district), data = d, family = binomial)  # Laplace'
res$glmmTMB_laplace_slope <- r2
m3 <- glmer(y ~ age + urban + livch + (1 | district), data = d, family = binomial, nAGQ = 25, control = ctrl)
r3 <- mer_summary(m3)
r3$call <- 'glmer(y ~ age + urban + livch + (1 | district), data = d, family = binomial, nAGQ = 25, control = glmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5), tolPwrss = 1e-12))'
X <- model.matrix(m3, type = "fixed")
r3$logLik_exact_integrate <- exact_ri_loglik(d$y, drop(X %*% fixef(m3)), d$district, r3$random_effects$district$sd[[1]], ldens_bern_logit)
r3$with_default_tolPwrss <- default_tol(m3)
res$glmer_agq25_intercept <- r3
cat("glmer Laplace slope", format(r1$logLik, digits = 12), "TMB", format(r2$logLik, digits = 12),
    "\nAGQ25 RI", format(r3$logLik, digits = 12), "exact", format(r3$logLik_exact_integrate, digits = 12), "\n")
cat("glmer Laplace default tolPwrss", format(r1$with_default_tolPwrss$logLik, digits = 12), "\n"); print(r1$random_effects); print(r2$random_effects); print(r1$optimizer_messages)
save_json(res, "glmm_contraception")
