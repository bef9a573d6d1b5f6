## Outcomes and covariates far from zero (a constant added): the ML fits are the same models.
## Run from the repository root: Rscript tests/reference/scripts/far_from_zero.R
source("tests/reference/scripts/common.R")
suppressPackageStartupMessages(library(lme4))
d <- read.csv("tests/reference/data/sleepstudy.csv")
d$Subject <- factor(d$Subject)
d$y_far <- d$Reaction + 1e6          # outcome 1e6 away from zero (SD 56)
d$Days_far <- d$Days + 2000          # a calendar-year-like covariate (SD 2.9)
out <- list(software = sw(c("lme4", "Matrix", "jsonlite")), R = rver(),
            data = list(file = "tests/reference/data/sleepstudy.csv", source = "data(sleepstudy, package = 'lme4')"))
m1 <- lmer(y_far ~ Days + (Days | Subject), d, REML = FALSE)
out$outcome_far <- list(formula = "Reaction + 1e6 ~ Days + (Days | Subject)", logLik = as.numeric(logLik(m1)),
                        fixef = nl(fixef(m1)), sigma = sigma(m1))
m2 <- lmer(Reaction ~ Days_far + (1 | Subject), d, REML = FALSE)
out$covariate_far_intercept <- list(formula = "Reaction ~ (Days + 2000) + (1 | Subject)", logLik = as.numeric(logLik(m2)),
                                    fixef = nl(fixef(m2)))
m3 <- lmer(Reaction ~ Days_far + (Days_far || Subject), d, REML = FALSE)
out$covariate_far_uncorrelated <- list(formula = "Reaction ~ (Days + 2000) + ((Days + 2000) || Subject)",
                                       logLik = as.numeric(logLik(m3)), singular = isSingular(m3),
                                       note = "lmer stops at a singular fit; a higher maximum exists")
save_json(out, "far_from_zero")
