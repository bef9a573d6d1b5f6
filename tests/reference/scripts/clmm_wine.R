## Cumulative link mixed models on ordinal's wine data (Randall 1989: 72 bitterness ratings
## 1 < ... < 5 by 9 judges): rating ~ temp + contact + (1 | judge), logit and probit, by the
## Laplace approximation (nAGQ = 1) and adaptive Gauss-Hermite (nAGQ = 10); the same with
## the categories' order reversed. The data are written to tests/reference/data/wine.csv.
source("tests/reference/scripts/common.R")
suppressPackageStartupMessages(library(ordinal))
w <- ordinal::wine
write.csv(w[, c("rating", "temp", "contact", "bottle", "judge")], "tests/reference/data/wine.csv", row.names = FALSE)
one <- function(formula, link, nAGQ, data = w) {
  m <- clmm(formula, data = data, link = link, nAGQ = nAGQ)  # gradTol = 1e-8: the modes' inner iterations stop at their limit
  list(call = sprintf("clmm(%s, data = wine, link = \"%s\", nAGQ = %d)", deparse(formula), link, nAGQ),
       logLik = as.numeric(logLik(m)), df = attr(logLik(m), "df"),
       beta = as.list(m$beta), alpha = as.list(m$alpha),
       sd_judge = as.numeric(attr(VarCorr(m)$judge, "stddev")),
       se = as.list(sqrt(diag(vcov(m)))), max_grad = max(abs(m$gradient)))
}
f <- rating ~ temp + contact + (1 | judge)
w$rrev <- factor(w$rating, levels = rev(levels(w$rating)), ordered = TRUE)
res <- list(software = sw(c("ordinal", "jsonlite")), R = rver(),
  data = list(source = "ordinal::wine", rows = nrow(w), judges = nlevels(w$judge)),
  note = paste("clmm's model: logit P(rating <= j) = alpha_j - (x'beta + u_judge); nAGQ = 1 is the Laplace",
               "approximation (the observed curvature at each judge's mode), nAGQ > 1 adaptive Gauss-Hermite;",
               "se: sqrt(diag(vcov(m))), ST1 is the SE of log sd(judge)"),
  logit_laplace = one(f, "logit", 1), logit_agq10 = one(f, "logit", 10),
  probit_laplace = one(f, "probit", 1), probit_agq10 = one(f, "probit", 10),
  reversed_agq10 = one(rrev ~ temp + contact + (1 | judge), "logit", 10))
for (k in c("logit_laplace", "logit_agq10", "probit_laplace", "probit_agq10", "reversed_agq10"))
  cat(k, format(res[[k]]$logLik, digits = 12), "\n")
save_json(res, "clmm_wine")
