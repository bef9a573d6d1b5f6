## Fitted values (lme4's fitted(): the means at the conditional modes of the random effects),
## in the data's row order, for models whose clusters are not in sorted order of their ids
## when read as text (cbpp's herd "1", "10", ..., "2"), and for crossed random effects.
## Run from the repository root: Rscript tests/reference/scripts/fitted_values.R
source("tests/reference/scripts/common.R")
suppressPackageStartupMessages({library(lme4)})
ctrl <- GLMER_CTRL
s <- read.csv("tests/reference/data/sleepstudy.csv")
m1 <- lmer(Reaction ~ Days + (Days | Subject), data = s, REML = FALSE)
cb <- read.csv("glmmix/data/cbpp.csv", colClasses = c(herd = "character", period = "character"))
m2 <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = cb, family = binomial, control = ctrl)
g <- read.csv("tests/reference/data/grouseticks.csv")
g$YEAR <- factor(g$YEAR); for (v in c("BROOD", "INDEX", "LOCATION")) g[[v]] <- factor(g[[v]])
## default control: with GLMER_CTRL bobyqa stops short here (max|grad| 0.0057, log-lik -890.271546 against
## the default's -890.271353)
m3 <- glmer(TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION), data = g, family = poisson)
out <- list(software = sw(c("lme4", "jsonlite")), R = rver(),
  sleepstudy = list(call = "lmer(Reaction ~ Days + (Days | Subject), REML = FALSE)", logLik = as.numeric(logLik(m1)),
                    fitted = unname(fitted(m1))),
  cbpp = list(call = "glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), binomial, Laplace); herd and period read as text",
              fitted = unname(fitted(m2))),
  grouseticks = list(call = "glmer(TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION), poisson, Laplace)",
                     logLik = as.numeric(logLik(m3)), fitted = unname(fitted(m3)), sd = unname(sapply(VarCorr(m3), function(v) attr(v, "stddev")))))
save_json(out, "fitted_values")
