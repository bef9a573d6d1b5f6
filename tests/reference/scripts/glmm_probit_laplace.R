## Probit Laplace: which curvature does each program put in the log-determinant?
## glmmTMB's Laplace uses the observed Hessian of the log-integrand at the mode; glmer's
## PIRLS uses the working (expected-information) weights. VerbAgg Rasch (one grouping) and
## crossed, probit link.
source("tests/reference/scripts/common.R")
suppressPackageStartupMessages({library(lme4); library(glmmTMB)})
va <- read.csv("/work/shared/data/verbagg_long.csv")
wide <- read.csv("/work/shared/data/verbagg_wide.csv", check.names = FALSE)
va$item <- factor(va$item, levels = setdiff(names(wide), c("id", "Anger", "Gender")))
va$id <- factor(va$id)
va$Gender <- factor(va$Gender, levels = c("F", "M"))
va$btype <- factor(va$btype, levels = c("curse", "scold", "shout"))
va$situ <- factor(va$situ, levels = c("other", "self"))
pb <- binomial(link = "probit")
fits <- function(form, note) {
  m1 <- glmer(form, data = va, family = pb, nAGQ = 1, control = GLMER_CTRL)
  r1 <- mer_summary(m1)
  r1$call <- paste0("glmer(", deparse1(form), ", data, family = binomial(link = 'probit'), nAGQ = 1, control = ",
                    GLMER_CTRL_STR, ")")
  m2 <- glmmTMB(form, data = va, family = pb)
  r2 <- tmb_summary(m2)
  r2$call <- paste0("glmmTMB(", deparse1(form), ", data, family = binomial(link = 'probit'))")
  cat(deparse1(form), "\n  glmer", format(r1$logLik, digits = 12), " glmmTMB", format(r2$logLik, digits = 12), "\n")
  list(formula = deparse1(form), note = note, glmer_laplace = r1, glmmTMB_laplace = r2)
}
res <- list(software = sw(c("lme4", "glmmTMB", "TMB", "jsonlite")), R = rver(),
  data = list(file = "/work/shared/data/verbagg_long.csv", n = nrow(va),
              recoding = "item = factor in verbagg_wide.csv column order; id factor; Gender F, btype curse, situ other reference"),
  note = paste("glmer's Laplace for a non-canonical link puts PIRLS's working weights (expected information) in the",
               "log-determinant; glmmTMB differentiates the log-integrand (observed information), the Laplace",
               "approximation proper. The two differ by the observed - expected information at the modes."))
res$rasch <- fits(y ~ 0 + item + (1 | id), "one grouping column")
res$crossed <- fits(y ~ Anger + Gender + btype + situ + (1 | id) + (1 | item), "crossed")
save_json(res, "glmm_probit_laplace")
