## A singular fit: binary data simulated without group effects (numpy seed 3, 30 groups x 6,
## logit P(y = 1) = 0.2 + 0.5 x), stored in tests/reference/data/singular_binary.csv.
## glmer (nAGQ = 15) ends at SD 0: isSingular() is TRUE and the log-likelihood equals the GLM's.
## A correlation of -1: tests/reference/data/singular_correlation.csv (numpy default_rng(7), 30
## groups x 10, yg = 1 + 0.5 x + N(0, 1), no group effects); lmer with correlated random
## slopes ends at a correlation of -1.
source("tests/reference/scripts/common.R")
suppressPackageStartupMessages(library(lme4))
d <- read.csv("tests/reference/data/singular_binary.csv"); d$g <- factor(d$g)
m <- glmer(y ~ x + (1 | g), data = d, family = binomial, nAGQ = 15)
g <- glm(y ~ x, data = d, family = binomial)
s <- read.csv("tests/reference/data/sleepstudy.csv"); s$Subject <- factor(s$Subject)
m2 <- lmer(Reaction ~ Days + (Days | Subject), data = s, REML = FALSE)
c3 <- read.csv("tests/reference/data/singular_correlation.csv"); c3$g <- factor(c3$g)
m3 <- lmer(yg ~ x + (1 + x | g), data = c3, REML = FALSE)
vc3 <- VarCorr(m3)$g
res <- list(software = sw(c("lme4", "jsonlite")), R = rver(),
  singular = list(call = "glmer(y ~ x + (1 | g), data = d, family = binomial, nAGQ = 15)", isSingular = isSingular(m),
                  logLik = as.numeric(logLik(m)), sd = as.numeric(attr(VarCorr(m)$g, "stddev")),
                  logLik_glm = as.numeric(logLik(g)), fixef = as.list(fixef(m))),
  sleepstudy = list(call = "lmer(Reaction ~ Days + (Days | Subject), data = s, REML = FALSE)", isSingular = isSingular(m2)),
  correlation = list(call = "lmer(yg ~ x + (1 + x | g), data = c3, REML = FALSE)", isSingular = isSingular(m3),
                     logLik = as.numeric(logLik(m3)), sd = as.numeric(attr(vc3, "stddev")),
                     cor = attr(vc3, "correlation")[1, 2], sigma = sigma(m3), fixef = as.list(fixef(m3))))
str(res)
save_json(res, "singular_fit")
