## Survey-weighted GLMs on apistrat (R package survey's api data: a stratified random sample
## of 200 California schools from the Academic Performance Index program, weights pw).
## Exports glmmix/data/apistrat.csv and the svyglm estimates and covariances.
## Design: svydesign(ids = ~1, weights = ~pw) (with-replacement, no strata): its sandwich
## variance is n / (n - 1) times the pseudo-ML sandwich H^-1 B H^-1 that glmmix reports.
## The stratified design (strata = ~stype, fpc = ~fpc) is recorded as well, for reference.
source("tests/reference/scripts/common.R")
suppressPackageStartupMessages(library(survey))
data(api)
a <- apistrat
out <- data.frame(cds = a$cds, stype = as.character(a$stype), dnum = a$dnum, snum = a$snum,
                  api00 = a$api00, api99 = a$api99, ell = a$ell, meals = a$meals, mobility = a$mobility,
                  sch_wide = as.integer(a$sch.wide == "Yes"), pw = a$pw, fpc = a$fpc)
write.csv(out, "glmmix/data/apistrat.csv", row.names = FALSE)
fits <- function(des) {
  g <- svyglm(api00 ~ ell + meals + mobility, design = des)
  b <- svyglm(sch_wide ~ ell + meals, design = des, family = quasibinomial())
  list(gaussian = list(call = "svyglm(api00 ~ ell + meals + mobility, design)",
                       coef = as.list(coef(g)), vcov = unname(as.matrix(vcov(g))), names = names(coef(g))),
       logit = list(call = "svyglm(sch_wide ~ ell + meals, design, family = quasibinomial())",
                    coef = as.list(coef(b)), vcov = unname(as.matrix(vcov(b))), names = names(coef(b))))
}
res <- list(software = sw(c("survey", "jsonlite")), R = rver(),
  data = list(file = "glmmix/data/apistrat.csv", source = "R package survey, data(api): apistrat",
              recoding = "sch_wide = 1 if sch.wide == 'Yes'"),
  n = nrow(out),
  with_replacement = c(list(design = "svydesign(ids = ~1, weights = ~pw, data = apistrat)"),
                       fits(svydesign(ids = ~1, weights = ~pw, data = out))),
  stratified = c(list(design = "svydesign(ids = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat)"),
                 fits(svydesign(ids = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = out))))
print(res$with_replacement$gaussian$coef)
save_json(res, "svyglm_apistrat")
