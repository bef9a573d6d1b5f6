## 2- (and 3-) class LCA of the 24 binary VerbAgg items with class membership regressed on
## Anger. poLCA is not packaged for Debian 12 (CRAN unreachable), so flexmix is used:
## FLXMCmvbinary items + FLXPmultinom(~ Anger) concomitant model, which is the same model as
## poLCA(cbind(items) ~ Anger): log(P(class k | x) / P(class 1 | x)) = b0k + b1k * Anger.
source("tests/reference/scripts/common.R")
suppressPackageStartupMessages({library(flexmix); library(numDeriv)})
long <- read.csv("/work/shared/data/verbagg_long.csv", stringsAsFactors = FALSE)
items <- setdiff(names(read.csv("/work/shared/data/verbagg_wide.csv", nrows = 1, check.names = FALSE)), "id")
ids <- sort(unique(long$id))
stopifnot(length(ids) == 316, length(items) == 24)
persons <- long[!duplicated(long$id), c("id", "Anger", "Gender")]
persons <- persons[match(ids, persons$id), ]
wide <- persons
for (it in items) { s <- long[long$item == it, ]; wide[[it]] <- s$y[match(ids, s$id)] }
stopifnot(!anyNA(wide))
## consistency with the shared wide file
w0 <- read.csv("/work/shared/data/verbagg_wide.csv", check.names = FALSE)
stopifnot(all(as.matrix(w0[match(ids, w0$id), items]) == as.matrix(wide[, items])))
write.csv(wide, "tests/reference/data/verbagg_wide_anger.csv", row.names = FALSE)

df <- data.frame(id = wide$id, Anger = wide$Anger)
df$Y <- as.matrix(wide[, items])
NREP <- 30
res <- list(software = sw(c("flexmix", "nnet", "numDeriv", "jsonlite")), R = rver(),
  data = list(file = "/work/shared/data/verbagg_long.csv",
    recoding = paste("one row per id (316), Anger and Gender taken from each person's rows;",
      "items as columns in the order of verbagg_wide.csv, values y (1 = perhaps/yes, 0 = no);",
      "exported to tests/reference/data/verbagg_wide_anger.csv (id, Anger, Gender, items)"),
    n = nrow(df)),
  loglik_note = "Full Bernoulli log-likelihood sum_i log sum_k pi_k(Anger_i) prod_j p_kj^y_ij (1-p_kj)^(1-y_ij); no constants exist/dropped.",
  poLCA = "poLCA not available (not in Debian 12, CRAN unreachable): fitted with flexmix, same model.")

for (K in 2:3) {
  ms <- multistart(function() flexmix(Y ~ 1, data = df, k = K, model = FLXMCmvbinary(),
                                      concomitant = FLXPmultinom(~ Anger), control = FLX_CONTROL),
                   NREP, seed = 10 + K,
                   polish = function(post) flexmix(Y ~ 1, data = df, k = K, cluster = post,
                      model = FLXMCmvbinary(), concomitant = FLXPmultinom(~ Anger), control = FLX_POLISH))
  r <- lca_summary(ms, items, with_se = TRUE, concomitant = TRUE)
  m <- ms$best
  ord <- r$original_component_order
  names(r)[names(r) == "class_proportions"] <- "class_proportions_mean_posterior_prior"
  r$class_proportions_note <- "prior(m): mean over persons of the fitted P(class k | Anger_i); classes sorted by it, largest first"
  ## concomitant coefficients: flexmix reference = its component 1; re-express with the
  ## sorted class 1 (largest) as reference: beta_c - beta_ref, vcov by the linear map.
  s <- flx_hessian_se(m)
  cn <- grep("^concomitant_", names(s$par), value = TRUE)
  B <- matrix(0, 2, K, dimnames = list(c("(Intercept)", "Anger"), paste0("Comp.", 1:K)))
  for (j in 2:K) B[, j] <- s$par[grep(paste0("^concomitant_Comp.", j, "\\."), names(s$par))]
  ## vector theta = c(B[,2], ..., B[,K]) ; map to sorted contrasts
  A <- matrix(0, 2 * (K - 1), 2 * (K - 1))
  Bfull_index <- function(j, row) if (j == 1) NA else (j - 2) * 2 + row
  newcoef <- list(); rows <- 0
  A <- NULL; est <- c()
  for (c in 2:K) for (row in 1:2) {
    a <- rep(0, 2 * (K - 1))
    i1 <- Bfull_index(ord[c], row); i0 <- Bfull_index(ord[1], row)
    if (!is.na(i1)) a[i1] <- a[i1] + 1
    if (!is.na(i0)) a[i0] <- a[i0] - 1
    A <- rbind(A, a); est <- c(est, B[row, ord[c]] - B[row, ord[1]])
  }
  Vc <- s$vcov[cn, cn]
  Vn <- A %*% Vc %*% t(A)
  logit <- list()
  for (c in 2:K) {
    ii <- (c - 2) * 2 + 1:2
    logit[[paste0("class", c, "_vs_class1")]] <- list(
      coef = as.list(setNames(est[ii], c("(Intercept)", "Anger"))),
      se = as.list(setNames(sqrt(diag(Vn))[ii], c("(Intercept)", "Anger"))))
  }
  r$membership_logit <- logit
  r$membership_logit_note <- paste("log(P(class c | Anger) / P(class 1 | Anger)) = b0 + b1 * Anger, classes",
    "numbered after sorting (class1 = largest mean proportion) and class1 is the reference,",
    "which is poLCA's parametrization log(P(class k)/P(class 1)) with poLCA's class 1 = our class1.",
    "SEs: observed information (numDeriv Hessian of flexmix's log-likelihood, boundary item",
    "probabilities held fixed), not poLCA's.")
  r$flexmix_raw_concomitant <- as.list(s$par[cn])
  rf <- try(refit(m), silent = TRUE)
  r$flexmix_refit_concomitant <- if (inherits(rf, "try-error")) paste("refit() failed:", as.character(rf)) else {
    cc <- rf@concomitant; list(coef = as.list(rf@coef[cn]), se = as.list(sqrt(diag(rf@vcov))[cn])) }
  r$call <- sprintf(paste("flexmix(Y ~ 1, data = df, k = %d, model = FLXMCmvbinary(), concomitant = FLXPmultinom(~ Anger),",
    "control = list(minprior = 0, iter.max = 20000, tolerance = 1e-10)), Y = 316 x 24 item matrix;",
    "%d random starts (set.seed(%d)), best kept, EM continued with tolerance 1e-15"), K, NREP, 10 + K)
  res[[paste0("K", K)]] <- r
  cat("K =", K, "loglik", format(r$loglik, digits = 12), "npar", r$npar, "best reached", r$starts$n_reaching_best, "/", NREP, "\n")
  print(logit)
}
save_json(res, "lca_verbagg_cov")
