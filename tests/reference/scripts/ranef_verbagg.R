## Conditional modes of the VerbAgg Rasch GLMM: ranef() and condVar of
## glmer(y ~ 0 + item + (1 | id), binomial("logit"), nAGQ = 25), the fit of glmer_verbagg.R.
## Also the modes recomputed independently per person (optimize() of the log posterior at
## lme4's estimates) as a check of what ranef() returns.
source("tests/reference/scripts/common.R")
suppressPackageStartupMessages(library(lme4))
d <- read.csv("/work/shared/data/verbagg_long.csv", stringsAsFactors = FALSE)
items <- setdiff(names(read.csv("/work/shared/data/verbagg_wide.csv", nrows = 1, check.names = FALSE)), "id")
d$item <- factor(d$item, levels = items)
d$id <- factor(d$id)
m <- glmer(y ~ 0 + item + (1 | id), data = d, family = binomial("logit"), nAGQ = 25, control = GLMER_CTRL)
re <- ranef(m, condVar = TRUE)
mode <- re$id[, "(Intercept)"]
sdv <- sqrt(attr(re$id, "postVar")[1, 1, ])
sd <- attr(VarCorr(m)$id, "stddev")[[1]]
eta <- drop(model.matrix(m, type = "fixed") %*% fixef(m))
check <- vapply(split(seq_len(nrow(d)), d$id), function(idx) {
  lf <- function(u) sum(dbinom(d$y[idx], 1, plogis(eta[idx] + u), log = TRUE)) + dnorm(u, 0, sd, log = TRUE)
  optimize(lf, c(-15, 15), maximum = TRUE, tol = 1e-12)$maximum
}, 0)
res <- list(software = sw(c("lme4", "Matrix", "jsonlite")), R = rver(),
  call = paste('glmer(y ~ 0 + item + (1 | id), data = d, family = binomial("logit"), nAGQ = 25, control =',
               GLMER_CTRL_STR, '); ranef(m, condVar = TRUE)'),
  data = list(file = "/work/shared/data/verbagg_long.csv",
              recoding = "item = factor with levels in verbagg_wide.csv column order; id = factor"),
  logLik = as.numeric(logLik(m)), fixef = as.list(fixef(m)), sd = sd,
  id = rownames(re$id), mode = mode, sd_mode = sdv,
  note = paste("mode: conditional modes of the random intercepts (ranef); sd_mode: sqrt of condVar (postVar),",
               "the inverse curvature of the log posterior at the mode (lme4's PIRLS weights)"),
  max_abs_diff_to_optimize = max(abs(check - mode)))
cat("logLik", format(res$logLik, digits = 12), "sd", sd, "check", res$max_abs_diff_to_optimize, "\n")
save_json(res, "ranef_verbagg")
