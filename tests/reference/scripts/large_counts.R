## GLMMs with large counts: the clusters' effects are known to about 0.001 (narrow posteriors).
## Data simulated once (numpy, seeds 1 and 2) and stored in tests/reference/data:
##   large_counts_poisson.csv: 40 groups x 10, y ~ Poisson(exp(11 + 0.2 x + u_g)), sd(u) = 0.3
##   large_counts_slopes.csv: 40 groups x 10, y ~ Poisson(exp(9 + 0.2 x + u_g + v_g x)), correlated
##     random intercepts and slopes (numpy seed 5); glmer Laplace (AGQ is for one effect only)
##   large_counts_binomial.csv: 30 groups x 8, y ~ Binomial(N in [50000, 100000), logit^-1(-1 + 0.3 x + u_g)), sd(u) = 0.5
## glmer with nAGQ = 15 (default control; the bobyqa control of common.R fails PIRLS here); its printed log-likelihood for nAGQ > 1 leaves out the saturated
## model's terms, which are added back (sum of dpois(y, y) / dbinom(y, N, y / N)).
source("tests/reference/scripts/common.R")
suppressPackageStartupMessages(library(lme4))
p <- read.csv("tests/reference/data/large_counts_poisson.csv"); p$g <- factor(p$g)
b <- read.csv("tests/reference/data/large_counts_binomial.csv"); b$g <- factor(b$g)
mp <- glmer(y ~ x + (1 | g), data = p, family = poisson, nAGQ = 15)
mb <- glmer(cbind(y, N - y) ~ x + (1 | g), data = b, family = binomial, nAGQ = 15)
summ <- function(m, sat, call) list(call = call, logLik_printed = as.numeric(logLik(m)),
  logLik = as.numeric(logLik(m)) + sat, fixef = as.list(fixef(m)),
  sd = as.numeric(attr(VarCorr(m)$g, "stddev")))
q <- read.csv("tests/reference/data/large_counts_slopes.csv"); q$g <- factor(q$g)
mq <- glmer(y ~ x + (1 + x | g), data = q, family = poisson)
vq <- VarCorr(mq)$g
res <- list(software = sw(c("lme4", "Matrix", "jsonlite")), R = rver(),
  poisson = summ(mp, sum(dpois(p$y, p$y, log = TRUE)), "glmer(y ~ x + (1 | g), data = p, family = poisson, nAGQ = 15)"),
  binomial = summ(mb, sum(dbinom(b$y, b$N, b$y / b$N, log = TRUE)), "glmer(cbind(y, N - y) ~ x + (1 | g), data = b, family = binomial, nAGQ = 15)"))
str(res)
res$slopes <- list(call = "glmer(y ~ x + (1 + x | g), data = q, family = poisson)", logLik = as.numeric(logLik(mq)),
  fixef = as.list(fixef(mq)), sd = as.numeric(attr(vq, "stddev")), cor = attr(vq, "correlation")[1, 2])
save_json(res, "large_counts")
