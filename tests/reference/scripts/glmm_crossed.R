## Crossed and multiple grouping factors, Laplace (glmer nAGQ = 1 and glmmTMB):
## VerbAgg y ~ Anger + Gender + btype + situ + (1|id) + (1|item), the same with (1 + mode|id),
## and grouseticks (Poisson) with BROOD and LOCATION as separate terms (BROOD is nested in
## LOCATION) and with an observation-level INDEX term as well.
source("tests/reference/scripts/common.R")
suppressPackageStartupMessages({library(lme4); library(glmmTMB)})
va <- read.csv("/work/shared/data/verbagg_long.csv")
va$id <- factor(va$id); va$item <- factor(va$item)
va$Gender <- factor(va$Gender, levels = c("F", "M"))
va$btype <- factor(va$btype, levels = c("curse", "scold", "shout"))
va$situ <- factor(va$situ, levels = c("other", "self"))
va$mode <- factor(va$mode, levels = c("do", "want"))
gt <- read.csv("tests/reference/data/grouseticks.csv")
gt$YEAR <- factor(gt$YEAR); gt$BROOD <- factor(gt$BROOD); gt$LOCATION <- factor(gt$LOCATION)
gt$INDEX <- factor(gt$INDEX)
ctrl <- GLMER_CTRL
fit_both <- function(form, data, family, note) {
  t1 <- system.time(m1 <- glmer(form, data = data, family = family, nAGQ = 1, control = ctrl))
  r1 <- mer_summary(m1)
  r1$call <- paste0("glmer(", deparse1(form), ", data, family = ", family$family, ", nAGQ = 1, control = ", GLMER_CTRL_STR, ")")
  r1$seconds <- unname(t1["elapsed"])
  t2 <- system.time(m2 <- glmmTMB(form, data = data, family = family))
  r2 <- tmb_summary(m2)
  r2$call <- paste0("glmmTMB(", deparse1(form), ", data, family = ", family$family, ")")
  r2$seconds <- unname(t2["elapsed"])
  cat(deparse1(form), "\n  glmer", format(r1$logLik, digits = 12), " glmmTMB", format(r2$logLik, digits = 12), "\n")
  list(formula = deparse1(form), note = note, glmer_laplace = r1, glmmTMB_laplace = r2)
}
res <- list(software = sw(c("lme4", "glmmTMB", "TMB", "Matrix", "jsonlite")), R = rver(),
  data = list(verbagg = list(file = "/work/shared/data/verbagg_long.csv", n = nrow(va),
                             recoding = "id, item as factors; Gender F, btype curse, situ other, mode do are the reference levels"),
              grouseticks = list(file = "tests/reference/data/grouseticks.csv", n = nrow(gt),
                                 recoding = "YEAR, BROOD, LOCATION, INDEX as factors (YEAR 95 = reference)")),
  loglik_note = "Laplace log-likelihoods with all constants (Bernoulli; Poisson with -log(y!)); seconds: elapsed time of the fit on a shared 2-core machine (noisy)")
res$verbagg_crossed <- fit_both(y ~ Anger + Gender + btype + situ + (1 | id) + (1 | item), va, binomial(),
  "random intercepts of persons and items (crossed)")
res$verbagg_crossed_slope <- fit_both(y ~ Anger + Gender + btype + situ + (1 + mode | id) + (1 | item), va, binomial(),
  "persons' random intercepts and want/do slopes (correlated), items' random intercepts (crossed)")
res$grouseticks_two <- fit_both(TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION), gt, poisson(),
  "BROOD is nested in LOCATION, written as two separate terms")
res$grouseticks_three <- fit_both(TICKS ~ YEAR + cHEIGHT + (1 | INDEX) + (1 | BROOD) + (1 | LOCATION), gt, poisson(),
  "three grouping factors, one of them observation-level (INDEX)")
save_json(res, "glmm_crossed")
