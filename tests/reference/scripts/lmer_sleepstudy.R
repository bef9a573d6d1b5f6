## Linear mixed models by ML (REML = FALSE) on lme4's sleepstudy.
source("tests/reference/scripts/common.R")
suppressPackageStartupMessages(library(lme4))
data("sleepstudy", package = "lme4")
write.csv(sleepstudy, "tests/reference/data/sleepstudy.csv", row.names = FALSE)
d <- read.csv("tests/reference/data/sleepstudy.csv")
d$Subject <- factor(d$Subject)
res <- list(software = sw(c("lme4", "Matrix", "jsonlite")), R = rver(),
  data = list(file = "tests/reference/data/sleepstudy.csv", source = "data(sleepstudy, package = 'lme4')",
              recoding = "Subject as factor", n = nrow(d), groups = nlevels(d$Subject)),
  loglik_note = "Exact Gaussian ML log-likelihood (full normal density incl. -n/2 log(2 pi)); no approximation.")
ctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5))
m1 <- lmer(Reaction ~ Days + (Days | Subject), data = d, REML = FALSE, control = ctrl)
r1 <- mer_summary(m1); r1$sigma <- sigma(m1)
r1$call <- 'lmer(Reaction ~ Days + (Days | Subject), data = d, REML = FALSE, control = lmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5)))'
## cross-check with the default optimizer
m1b <- lmer(Reaction ~ Days + (Days | Subject), data = d, REML = FALSE)
r1$logLik_default_optimizer <- as.numeric(logLik(m1b))
res$correlated <- r1
m2 <- lmer(Reaction ~ Days + (Days || Subject), data = d, REML = FALSE, control = ctrl)
r2 <- mer_summary(m2); r2$sigma <- sigma(m2)
r2$call <- 'lmer(Reaction ~ Days + (Days || Subject), data = d, REML = FALSE, control = lmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5)))'
r2$note <- "(Days || Subject) expands to (1 | Subject) + (0 + Days | Subject): two independent random effects"
res$uncorrelated <- r2
cat("corr", format(r1$logLik, digits = 12), format(r1$logLik_default_optimizer, digits = 12), "uncorr", format(r2$logLik, digits = 12), "\n")
save_json(res, "lmer_sleepstudy")
