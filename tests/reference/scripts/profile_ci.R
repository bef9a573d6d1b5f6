## Profile-likelihood confidence intervals (95%):
## (1) lmer ML on sleepstudy, Reaction ~ Days + (Days || Subject) and (Days | Subject):
##     confint(method = "profile"); rows .sig01.. are the SDs (and the correlation), .sigma the
##     residual SD;
## (2) glm logistic on the shipped contraception data, y ~ age + urban: confint() (the
##     profile-likelihood intervals of MASS's confint.glm).
source("tests/reference/scripts/common.R")
suppressPackageStartupMessages(library(lme4))
ss <- read.csv("tests/reference/data/sleepstudy.csv")
ss$Subject <- factor(ss$Subject)
m1 <- lmer(Reaction ~ Days + (Days || Subject), ss, REML = FALSE)
m2 <- lmer(Reaction ~ Days + (Days | Subject), ss, REML = FALSE)
co <- read.csv("glmmix/data/contraception.csv")
g1 <- glm(y ~ age + urban, co, family = binomial)
ci <- function(m, c) list(logLik = as.numeric(logLik(m)), rows = rownames(c), lower = unname(c[, 1]),
                          upper = unname(c[, 2]))
save_json(list(R = rver(), versions = sw(c("lme4", "MASS")),
               uncorrelated = ci(m1, confint(m1, method = "profile")),
               correlated = ci(m2, confint(m2, method = "profile")),
               glm = ci(g1, confint(g1))), "profile_ci")
