## Laplace fits whose curvature moves with family parameters (gaussian residual SD, ordinal
## thresholds), crossed random effects:
##  * lme4's Penicillin (plates crossed with samples), lmer by ML: the gaussian likelihood,
##    which the Laplace approximation gives exactly; data written to tests/reference/data;
##  * VerbAgg's three-category response (no < perhaps < yes), persons crossed with items,
##    ordinal::clmm (Laplace, its default for crossed terms).
## Run from the repository root: Rscript tests/reference/scripts/laplace_extra.R
source("tests/reference/scripts/common.R")
suppressPackageStartupMessages({library(lme4); library(ordinal)})
write.csv(Penicillin, "tests/reference/data/penicillin.csv", row.names = FALSE)
m <- lmer(diameter ~ 1 + (1 | plate) + (1 | sample), Penicillin, REML = FALSE,
          control = lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-10)))
vc <- as.data.frame(VarCorr(m))
pen <- list(call = "lmer(diameter ~ 1 + (1 | plate) + (1 | sample), Penicillin, REML = FALSE)",
            logLik = as.numeric(logLik(m)), intercept = unname(fixef(m)),
            sd_plate = vc$sdcor[vc$grp == "plate"], sd_sample = vc$sdcor[vc$grp == "sample"],
            sigma = sigma(m), se_intercept = unname(sqrt(diag(as.matrix(vcov(m))))))
va <- read.csv("glmmix/data/verbagg_long.csv", stringsAsFactors = FALSE)
va$r3 <- factor(va$resp, levels = c("no", "perhaps", "yes"), ordered = TRUE)
va$btype <- factor(va$btype); va$Gender <- factor(va$Gender)
va$id <- factor(va$id); va$item <- factor(va$item)
c1 <- clmm(r3 ~ btype + Anger + Gender + (1 | id) + (1 | item), data = va, link = "logit",
           control = clmm.control(gradTol = 1e-8))
ord <- list(call = "clmm(r3 ~ btype + Anger + Gender + (1 | id) + (1 | item), link = 'logit')",
            logLik = as.numeric(logLik(c1)), beta = nl(c1$beta), alpha = nl(c1$alpha),
            sd = nl(sapply(VarCorr(c1), function(v) sqrt(v[1, 1]))),
            se = nl(sqrt(diag(vcov(c1)))))
res <- list(software = sw(c("lme4", "ordinal", "jsonlite")), R = rver(), penicillin = pen, verbagg_ordinal = ord)
cat("penicillin", format(pen$logLik, digits = 12), "clmm", format(ord$logLik, digits = 12), "\n")
save_json(res, "laplace_extra")
