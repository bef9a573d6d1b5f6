## Nested random effects in lme4's spelling, (1 | a/b) = (1 | a) + (1 | a:b).
## (1) lme4's Pastes data (Davies & Goldsmith 1972: paste strength, 10 batches x 3 casks x 2
##     tests; cask labels a, b, c repeat across batches): lmer ML fits of
##     strength ~ 1 + (1 | batch/cask) and strength ~ 1 + (1 | batch:cask).
## (2) tests/reference/data/nested_binary.csv (simulated: 20 schools x 4 classes x 8 pupils,
##     class labels 0-3 repeat across schools): glmer Laplace fit of y ~ x + (1 | school/cls).
source("tests/reference/scripts/common.R")
suppressPackageStartupMessages(library(lme4))
data(Pastes, package = "lme4")
write.csv(Pastes[, c("strength", "batch", "cask")], "tests/reference/data/pastes.csv", row.names = FALSE)
sds <- function(m) { v <- as.data.frame(VarCorr(m)); setNames(as.list(v$sdcor), v$grp) }
m1 <- lmer(strength ~ 1 + (1 | batch/cask), Pastes, REML = FALSE)
m2 <- lmer(strength ~ 1 + (1 | batch:cask), Pastes, REML = FALSE)
d <- read.csv("tests/reference/data/nested_binary.csv")
m3 <- glmer(y ~ x + (1 | school/cls), d, family = binomial, control = GLMER_CTRL)
out <- list(software = sw(c("lme4")), R = rver(),
            pastes_nested = list(loglik = as.numeric(logLik(m1)), fixef = nl(fixef(m1)), sd = sds(m1)),
            pastes_combined = list(loglik = as.numeric(logLik(m2)), fixef = nl(fixef(m2)), sd = sds(m2)),
            binary_nested_laplace = list(loglik = as.numeric(logLik(m3)), fixef = nl(fixef(m3)), sd = sds(m3)))
str(out)
save_json(out, "nested_groupings")
