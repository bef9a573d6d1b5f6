## A Heywood case: one-factor model of iris's four measurements (ML, mean structure, factor
## variance 1). Petal.Length's residual variance runs to 0: lavaan with bounds = "pos.var"
## (variances >= 0) ends there; without bounds the estimate is negative (a log-likelihood
## above the bounded supremum, which no model with SDs can reach). The log-likelihood is
## also computed directly from the multivariate normal density at the bounded estimates.
source("tests/reference/scripts/common.R")
suppressPackageStartupMessages(library(lavaan))
d <- read.csv("tests/reference/data/iris.csv")
items <- c("Sepal.Length", "Sepal.Width", "Petal.Length", "Petal.Width")
names(d)[match(items, names(d))] <- c("SL", "SW", "PL", "PW")
model <- "f =~ SL + SW + PL + PW"
fb <- cfa(model, data = d, std.lv = TRUE, meanstructure = TRUE, estimator = "ML", bounds = "pos.var")
fu <- cfa(model, data = d, std.lv = TRUE, meanstructure = TRUE, estimator = "ML")
pe <- parameterEstimates(fb)
get <- function(op, lhs = NULL, rhs = NULL) {
  r <- pe[pe$op == op & (is.null(lhs) | pe$lhs %in% lhs) & (is.null(rhs) | pe$rhs %in% rhs), ]
  setNames(as.list(r$est), if (op == "=~") r$rhs else r$lhs)
}
lam <- unlist(get("=~", "f")); psi <- unlist(get("~~", c("SL", "SW", "PL", "PW")))[c("SL", "SW", "PL", "PW")]
psi <- psi[names(psi) %in% c("SL", "SW", "PL", "PW")]
mu <- unlist(get("~1", c("SL", "SW", "PL", "PW")))
X <- as.matrix(d[, c("SL", "SW", "PL", "PW")])
Sig <- tcrossprod(lam) + diag(pmax(psi, 0))
ll_direct <- sum(mvtnorm_free <- apply(X, 1, function(x) {
  r <- x - mu; -0.5 * (4 * log(2 * pi) + determinant(Sig)$modulus + drop(t(r) %*% solve(Sig, r)))
}))
res <- list(software = sw(c("lavaan", "jsonlite")), R = rver(),
  data = list(file = "tests/reference/data/iris.csv", items = items, n = nrow(d)),
  bounded = list(call = 'cfa("f =~ SL + SW + PL + PW", data = d, std.lv = TRUE, meanstructure = TRUE, estimator = "ML", bounds = "pos.var")',
                 logLik = as.numeric(logLik(fb)), logLik_direct = ll_direct,
                 loadings = setNames(as.list(lam), items), residual_variances = setNames(as.list(psi), items),
                 means = setNames(as.list(mu), items)),
  unbounded = list(call = 'cfa("f =~ SL + SW + PL + PW", data = d, std.lv = TRUE, meanstructure = TRUE, estimator = "ML")',
                   logLik = as.numeric(logLik(fu)),
                   residual_variance_PL = parameterEstimates(fu)[with(parameterEstimates(fu), op == "~~" & lhs == "PL" & rhs == "PL"), "est"]))
print(res$bounded); print(res$unbounded)
save_json(res, "heywood_iris")
