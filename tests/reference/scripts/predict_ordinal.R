## Category probabilities of ordinal outcomes (glmmix predict(type = "prob")).
## Data: glmmix/data/verbagg_long.csv, the six S1/S2 "Want" items (as clmm_verbagg.R).
## (1) clm(resp ~ item + Gender): predict(type = "prob") for new rows.
## (2) clmm(resp ~ item + Gender + (1 | id), nAGQ = 15): ordinal has no predict() for clmm, so
##     the probabilities are computed from clmm's estimates by integrate():
##     marginal  P(y = k) = int [F(a_k - eta - u) - F(a_{k-1} - eta - u)] dnorm(u, 0, sd) du;
##     conditional on a person's six responses: the same probability averaged over the
##     posterior of u given them, p(u | y) ~ prod_rows P(y_r | u) dnorm(u, 0, sd).
source("tests/reference/scripts/common.R")
suppressPackageStartupMessages(library(ordinal))
d <- read.csv("glmmix/data/verbagg_long.csv", stringsAsFactors = FALSE)
d <- d[d$item %in% c("S1WantCurse", "S1WantScold", "S1WantShout", "S2WantCurse", "S2WantScold", "S2WantShout"), ]
d$item <- factor(d$item)
d$Gender <- factor(d$Gender)
d$resp <- factor(d$resp, levels = c("no", "perhaps", "yes"), ordered = TRUE)
d$id <- factor(d$id)
new <- data.frame(item = factor(c("S1WantCurse", "S1WantScold", "S2WantShout", "S2WantCurse"), levels = levels(d$item)),
                  Gender = factor(c("F", "M", "F", "M"), levels = levels(d$Gender)))
m0 <- clm(resp ~ item + Gender, data = d, link = "logit")
p0 <- predict(m0, newdata = new, type = "prob")$fit

m <- clmm(resp ~ item + Gender + (1 | id), data = d, link = "logit", nAGQ = 15,
          control = clmm.control(gradTol = 1e-8))
alpha <- c(-Inf, m$alpha, Inf)
sd <- as.numeric(attr(VarCorr(m)$id, "stddev"))
X <- function(df) model.matrix(~ item + Gender, df)[, -1, drop = FALSE]
eta_of <- function(df) as.numeric(X(df) %*% m$beta)
cat_prob <- function(k, eta, u) plogis(alpha[k + 1] - eta - u) - plogis(alpha[k] - eta - u)
INT <- function(f, lo = -12 * sd, hi = 12 * sd) integrate(f, lo, hi, rel.tol = 1e-12, abs.tol = 0, subdivisions = 1000L)$value
marg <- t(sapply(eta_of(new), function(e) sapply(1:3, function(k) INT(function(u) cat_prob(k, e, u) * dnorm(u, 0, sd)))))
colnames(marg) <- levels(d$resp)
## conditional: persons 1, 150 and 300, their six rows (in the data's order)
ids <- c("1", "150", "300")
rows <- d[d$id %in% ids, c("id", "item", "Gender", "resp")]
cond <- t(sapply(seq_len(nrow(rows)), function(i) {
  own <- d[d$id == rows$id[i], ]
  e <- eta_of(own); y <- as.integer(own$resp)
  lik <- function(u) sapply(u, function(v) prod(cat_prob(y, e, v))) * dnorm(u, 0, sd)
  norm <- INT(lik)
  ei <- eta_of(rows[i, ])
  sapply(1:3, function(k) INT(function(u) cat_prob(k, ei, u) * lik(u)) / norm)
}))
colnames(cond) <- levels(d$resp)
res <- list(software = sw(c("ordinal", "jsonlite")), R = rver(),
  data = list(file = "glmmix/data/verbagg_long.csv", rows = nrow(d),
    subset = "items S1WantCurse, S1WantScold, S1WantShout, S2WantCurse, S2WantScold, S2WantShout",
    coding = "resp ordered no < perhaps < yes; item and Gender treatment contrasts (alphabetical reference levels)"),
  newdata = list(item = as.character(new$item), Gender = as.character(new$Gender)),
  clm = list(call = 'clm(resp ~ item + Gender, data = d, link = "logit")', logLik = as.numeric(logLik(m0)),
             prob = mat2list(`rownames<-`(p0, seq_len(nrow(p0))))),
  clmm = list(call = 'clmm(resp ~ item + Gender + (1 | id), data = d, link = "logit", nAGQ = 15)',
              logLik = as.numeric(logLik(m)), beta = as.list(m$beta), alpha = as.list(m$alpha), sd_id = sd,
              marginal_prob = mat2list(`rownames<-`(marg, seq_len(nrow(marg)))),
              conditional = list(id = as.character(rows$id), item = as.character(rows$item),
                                 prob = mat2list(`rownames<-`(cond, seq_len(nrow(cond))))),
              method = "integrate() at clmm's estimates, rel.tol 1e-12",
              note = paste("clmm warns 'iteration limit reached / step factor reduced when updating the random",
                           "effects' during its search; the estimates and logLik equal clmm_verbagg.json's agq15")))
print(p0); print(marg); print(cond)
save_json(res, "predict_ordinal")
