## Cumulative-logit random-intercept model written as clmm users write it:
## resp ~ item + Gender + (1 | id), thresholds absorbing the intercept, treatment contrasts.
## Data: the shipped glmmix/data/verbagg_long.csv, the six S1/S2 "Want" items.
source("tests/reference/scripts/common.R")
suppressPackageStartupMessages(library(ordinal))
d <- read.csv("glmmix/data/verbagg_long.csv", stringsAsFactors = FALSE)
d <- d[d$item %in% c("S1WantCurse", "S1WantScold", "S1WantShout", "S2WantCurse", "S2WantScold", "S2WantShout"), ]
d$item <- factor(d$item)                      # alphabetical levels, reference S1WantCurse
d$Gender <- factor(d$Gender)                  # reference F
d$resp <- factor(d$resp, levels = c("no", "perhaps", "yes"), ordered = TRUE)
d$id <- factor(d$id)
fit1 <- function(nAGQ) {
  m <- clmm(resp ~ item + Gender + (1 | id), data = d, link = "logit", nAGQ = nAGQ,
            control = clmm.control(gradTol = 1e-8))
  list(call = sprintf('clmm(resp ~ item + Gender + (1 | id), data = d, link = "logit", nAGQ = %d)', nAGQ),
       logLik = as.numeric(logLik(m)), df = attr(logLik(m), "df"),
       beta = as.list(m$beta), alpha = as.list(m$alpha), sd_id = as.numeric(attr(VarCorr(m)$id, "stddev")),
       se = as.list(sqrt(diag(vcov(m)))), max_grad = max(abs(m$gradient)))
}
res <- list(software = sw(c("ordinal", "jsonlite")), R = rver(),
  data = list(file = "glmmix/data/verbagg_long.csv", rows = nrow(d), persons = nlevels(d$id),
    subset = "items S1WantCurse, S1WantScold, S1WantShout, S2WantCurse, S2WantScold, S2WantShout",
    coding = "resp ordered no < perhaps < yes; item and Gender treatment contrasts (alphabetical reference levels)"),
  note = "clmm's model: logit P(resp <= j) = alpha_j - (x'beta + u_id); nAGQ > 1 is adaptive Gauss-Hermite",
  agq15 = fit1(15), agq25 = fit1(25), laplace = fit1(1))
cat("AGQ15", format(res$agq15$logLik, digits = 12), "AGQ25", format(res$agq25$logLik, digits = 12),
    "Laplace", format(res$laplace$logLik, digits = 12), "\n")
save_json(res, "clmm_verbagg")
