## Latent profile analysis of Fisher's iris measurements (R's datasets::iris, 4 variables,
## 150 flowers): gaussian mixtures with diagonal covariance matrices, fitted by mclust.
##   EII: one variance for every item and class (glmmix's gaussian default: one sigma)
##   EEI: item-specific variances equal across classes (Mplus's default LPA;
##        glmmix sigma_by = "item")
##   VVI: item-specific variances free in each class (StepMix's gaussian_diag;
##        glmmix sigma_by = "item", class_specific = ["sigma"])
## mclust's default start (model-based hierarchical agglomeration) plus 50 random hard
## partitions, EM run to a relative tolerance of 1e-12; the best log-likelihood is kept,
## with the means and SDs of that solution (classes ordered by size, largest first).
source("tests/reference/scripts/common.R")
suppressPackageStartupMessages(library(mclust))
X <- iris[, 1:4]
write.csv(iris, "tests/reference/data/iris.csv", row.names = FALSE)
ctl <- emControl(tol = c(1e-12, sqrt(.Machine$double.eps)),
                 itmax = c(.Machine$integer.max, .Machine$integer.max))
out <- list(software = sw(c("mclust")), R = rver())
for (mod in c("EII", "EEI", "VVI")) for (K in 2:3) {
  best <- Mclust(X, G = K, modelNames = mod, verbose = FALSE, control = ctl)
  fit <- list(loglik = best$loglik, parameters = best$parameters)
  set.seed(1)
  for (r in 1:50) {
    z <- unmap(sample(1:K, nrow(X), replace = TRUE))
    e <- tryCatch(me(X, modelName = mod, z = z, control = ctl), error = function(e) NULL)
    if (!is.null(e) && is.finite(e$loglik) && e$loglik > fit$loglik + 1e-9) fit <- e
  }
  p <- fit$parameters
  o <- order(-p$pro)
  sds <- sqrt(matrix(apply(p$variance$sigma, 3, diag), ncol(X), dimnames = list(colnames(X), NULL)))
  out[[paste0(mod, "_K", K)]] <- list(
    loglik = fit$loglik,
    proportions = p$pro[o],
    means = mat2list(t(p$mean[, o, drop = FALSE])),
    sds = mat2list(t(sds[, o, drop = FALSE])))
  cat(mod, K, sprintf("%.8f", fit$loglik), "\n")
}
save_json(out, "lpa_iris")
