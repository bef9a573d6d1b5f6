## Latent profile analyses on data the iris reference does not use, fitted by mclust:
##   faithful: R's datasets::faithful (272 eruptions of Old Faithful: eruption time in
##             minutes, waiting time in minutes; two items on very different scales);
##   usarrests: R's datasets::USArrests (50 states, 4 variables) standardized with
##             scale() (sd with n - 1); the fits read the CSVs back.
## Models (diagonal covariance matrices):
##   EII: one variance for every item and class   (glmmix gaussian default)
##   VII: one variance per class, shared by items  (class_specific = ["sigma"])
##   EEI: item variances equal across classes      (sigma_by = "item")
##   VVI: item variances free in each class        (sigma_by = "item", class_specific = ["sigma"])
## mclust's default start (hierarchical agglomeration) plus 100 random hard partitions, EM to a
## relative tolerance of 1e-12; the best log-likelihood is kept (classes by size, largest first),
## with how many of the starts reached it (within 1e-6).
## Run from the repository root: Rscript tests/reference/scripts/lpa_mclust_more.R
source("tests/reference/scripts/common.R")
suppressPackageStartupMessages(library(mclust))
ua <- as.data.frame(scale(USArrests))
ua$state <- rownames(USArrests)
write.csv(ua, "tests/reference/data/usarrests_scaled.csv", row.names = FALSE)
write.csv(faithful, "tests/reference/data/faithful.csv", row.names = FALSE)
data_sets <- list(
  faithful = read.csv("tests/reference/data/faithful.csv"),
  usarrests = read.csv("tests/reference/data/usarrests_scaled.csv")[, c("Murder", "Assault", "UrbanPop", "Rape")])
ctl <- emControl(tol = c(1e-12, sqrt(.Machine$double.eps)),
                 itmax = c(.Machine$integer.max, .Machine$integer.max))
out <- list(software = sw(c("mclust")), R = rver(),
            data = list(faithful = "datasets::faithful -> tests/reference/data/faithful.csv",
                        usarrests = "scale(datasets::USArrests) -> tests/reference/data/usarrests_scaled.csv"))
for (dn in names(data_sets)) {
  X <- data_sets[[dn]]
  for (mod in c("EII", "VII", "EEI", "VVI")) for (K in 2:3) {
    best <- Mclust(X, G = K, modelNames = mod, verbose = FALSE, control = ctl)
    fit <- list(loglik = if (is.null(best)) -Inf else best$loglik,
                parameters = if (is.null(best)) NULL else best$parameters)
    lls <- fit$loglik
    set.seed(1)
    for (r in 1:100) {
      z <- unmap(sample(1:K, nrow(X), replace = TRUE))
      e <- tryCatch(me(X, modelName = mod, z = z, control = ctl), error = function(e) NULL)
      if (is.null(e) || !is.finite(e$loglik)) next
      lls <- c(lls, e$loglik)
      if (e$loglik > fit$loglik + 1e-9) fit <- e
    }
    p <- fit$parameters
    o <- order(-p$pro)
    sds <- sqrt(matrix(apply(p$variance$sigma, 3, diag), ncol(X), dimnames = list(colnames(X), NULL)))
    out[[dn]][[paste0(mod, "_K", K)]] <- list(
      loglik = fit$loglik,
      n_starts_ok = length(lls), n_reaching_best = sum(abs(lls - fit$loglik) < 1e-6),
      df = nMclustParams(mod, ncol(X), K),
      bic_mclust = 2 * fit$loglik - nMclustParams(mod, ncol(X), K) * log(nrow(X)),
      proportions = p$pro[o],
      means = mat2list(t(p$mean[, o, drop = FALSE])),
      sds = mat2list(t(sds[, o, drop = FALSE])))
    cat(dn, mod, K, sprintf("%.8f", fit$loglik), sum(abs(lls - fit$loglik) < 1e-6), "/", length(lls), "\n")
  }
}
save_json(out, "lpa_mclust_more")
