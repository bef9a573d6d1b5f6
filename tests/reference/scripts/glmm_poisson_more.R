## Poisson GLMMs on four data sets not used elsewhere: glmmTMB's Owls (exposure offset) and
## Salamanders, MASS's epil, lme4's Arabidopsis (two grouping factors, counts up to 202).
## Run from the repository root: Rscript tests/reference/scripts/glmm_poisson_more.R
source("tests/reference/scripts/common.R")
suppressPackageStartupMessages({library(lme4); library(glmmTMB); library(MASS)})
dat <- "tests/reference/data/"
data(Owls, package = "glmmTMB"); data(Salamanders, package = "glmmTMB")
data(epil, package = "MASS"); data(Arabidopsis, package = "lme4")
write.csv(Owls[, c("Nest", "FoodTreatment", "SexParent", "ArrivalTime", "SiblingNegotiation", "BroodSize")],
          paste0(dat, "owls.csv"), row.names = FALSE)
write.csv(Salamanders[, c("site", "mined", "spp", "cover", "count")], paste0(dat, "salamanders.csv"), row.names = FALSE)
write.csv(epil[, c("subject", "y", "trt", "base", "age", "V4", "period")], paste0(dat, "epil.csv"), row.names = FALSE)
write.csv(Arabidopsis, paste0(dat, "arabidopsis.csv"), row.names = FALSE)

sat_pois <- function(y) sum(dpois(y, y, log = TRUE))
exact_pois <- function(m, y, group, offset = 0) {
  X <- model.matrix(m, type = "fixed")
  exact_ri_loglik(y, drop(X %*% fixef(m)) + offset, group, attr(VarCorr(m)[[1]], "stddev")[[1]],
                  function(y, eta) dpois(y, exp(eta), log = TRUE))
}
agq_summary <- function(m, y, group, offset = 0) {
  r <- mer_summary(m)
  r$logLik_printed <- r$logLik
  r$logLik <- r$logLik_printed + sat_pois(y)  # nAGQ > 1 prints the log-lik minus the saturated one
  r$logLik_exact_integrate <- exact_pois(m, y, group, offset)
  r
}

## Owls: sibling negotiation counts with exposure log(BroodSize) (Zuur et al. 2009; glmmTMB's
## vignette fits the same mean model with other families)
o <- read.csv(paste0(dat, "owls.csv"))
o$FoodTreatment <- factor(o$FoodTreatment, levels = c("Deprived", "Satiated"))
o$SexParent <- factor(o$SexParent, levels = c("Female", "Male"))
f_owls <- SiblingNegotiation ~ FoodTreatment * SexParent + offset(log(BroodSize)) + (1 | Nest)
m25 <- glmer(f_owls, data = o, family = poisson, nAGQ = 25, control = GLMER_CTRL)
m1 <- glmer(f_owls, data = o, family = poisson, nAGQ = 1, control = GLMER_CTRL)
t1 <- glmmTMB(f_owls, data = o, family = poisson)
owls <- list(formula = deparse(f_owls), agq25 = agq_summary(m25, o$SiblingNegotiation, o$Nest, log(o$BroodSize)),
             laplace = mer_summary(m1), glmmTMB_laplace = tmb_summary(t1))

## epil: seizure counts (Thall & Vail 1990), MASS's recoding (lbase, lage centred logs)
e <- read.csv(paste0(dat, "epil.csv"))
e$trt <- factor(e$trt, levels = c("placebo", "progabide"))
e$lbase <- log(e$base / 4) - mean(log(e$base / 4)); e$lage <- log(e$age) - mean(log(e$age))
f_epil <- y ~ lbase * trt + lage + V4 + (1 | subject)
m25 <- glmer(f_epil, data = e, family = poisson, nAGQ = 25, control = GLMER_CTRL)
m1 <- glmer(f_epil, data = e, family = poisson, nAGQ = 1, control = GLMER_CTRL)
stopifnot(all.equal(e$lbase, epil$lbase), all.equal(e$lage, epil$lage))
epil_r <- list(formula = deparse(f_epil), recoding = "lbase = log(base/4) - mean(log(base/4)), lage = log(age) - mean(log(age)) over the 236 rows (MASS's epil columns)",
               agq25 = agq_summary(m25, e$y, e$subject), laplace = mer_summary(m1))

## Salamanders: counts by species and mining (Price et al. 2016)
s <- read.csv(paste0(dat, "salamanders.csv"))
s$spp <- factor(s$spp, levels = levels(Salamanders$spp)); s$mined <- factor(s$mined, levels = c("yes", "no"))
f_sal <- count ~ spp + mined + (1 | site)
m25 <- glmer(f_sal, data = s, family = poisson, nAGQ = 25, control = GLMER_CTRL)
sal <- list(formula = deparse(f_sal), spp_levels = levels(s$spp), agq25 = agq_summary(m25, s$count, s$site))

## Arabidopsis: fruit counts, populations and genotypes as two grouping factors (Laplace)
a <- read.csv(paste0(dat, "arabidopsis.csv"))
a$nutrient <- factor(a$nutrient); a$rack <- factor(a$rack)
a$amd <- factor(a$amd, levels = c("clipped", "unclipped"))
a$status <- factor(a$status, levels = c("Normal", "Petri.Plate", "Transplant"))
f_ara <- total.fruits ~ nutrient * amd + rack + status + (1 | popu) + (1 | gen)
m1 <- glmer(f_ara, data = a, family = poisson, nAGQ = 1, control = GLMER_CTRL)
t1 <- glmmTMB(f_ara, data = a, family = poisson)
ara <- list(formula = deparse(f_ara), recoding = "nutrient and rack as factors (1 and 1 reference)",
            max_count = max(a$total.fruits), laplace = mer_summary(m1), glmmTMB_laplace = tmb_summary(t1))

res <- list(software = sw(c("lme4", "glmmTMB", "TMB", "MASS", "Matrix", "jsonlite")), R = rver(),
  data = list(owls = list(file = paste0(dat, "owls.csv"), source = "data(Owls, package = 'glmmTMB')", n = nrow(o)),
              epil = list(file = paste0(dat, "epil.csv"), source = "data(epil, package = 'MASS')", n = nrow(e)),
              salamanders = list(file = paste0(dat, "salamanders.csv"), source = "data(Salamanders, package = 'glmmTMB')", n = nrow(s)),
              arabidopsis = list(file = paste0(dat, "arabidopsis.csv"), source = "data(Arabidopsis, package = 'lme4')", n = nrow(a))),
  control = GLMER_CTRL_STR,
  loglik_note = paste("agq25$logLik = printed + sum(dpois(y, y, log = TRUE)) (glmer with nAGQ > 1 prints the log-likelihood",
                      "minus the saturated one); logLik_exact_integrate checks it per cluster with integrate()"),
  owls = owls, epil = epil_r, salamanders = sal, arabidopsis = ara)
save_json(res, "glmm_poisson_more")
