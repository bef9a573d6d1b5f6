## Unrestricted polytomous LCA (K = 2) of the 24 VerbAgg items with 3 categories
## (resp: no < perhaps < yes coded 1, 2, 3). poLCA is not packaged for Debian 12 (CRAN
## unreachable), so flexmix is used with one FLXMRmultinom(~ 1) model per item (flexmix
## treats the list of models as conditionally independent given the class), which is the
## same model as poLCA(cbind(items) ~ 1, nclass = 2). nnet's M-step is made (near) exact
## with reltol = 1e-12, maxit = 1000 (with nnet's defaults the EM never meets the tolerance).
source("tests/reference/scripts/common.R")
suppressPackageStartupMessages({library(flexmix)})
long <- read.csv("/work/shared/data/verbagg_long.csv", stringsAsFactors = FALSE)
items <- setdiff(names(read.csv("/work/shared/data/verbagg_wide.csv", nrows = 1, check.names = FALSE)), "id")
ids <- sort(unique(long$id))
cats <- c("no", "perhaps", "yes")
wide <- data.frame(id = ids)
for (it in items) { s <- long[long$item == it, ]; wide[[it]] <- match(s$resp[match(ids, s$id)], cats) }
stopifnot(!anyNA(wide), nrow(wide) == 316, all(sapply(wide[items], function(v) all(1:3 %in% v))))
write.csv(wide, "tests/reference/data/verbagg_wide_resp.csv", row.names = FALSE)

mk_models <- function() lapply(items, function(it)
  FLXMRmultinom(as.formula(paste0("factor(`", it, "`) ~ 1")), reltol = 1e-12, maxit = 1000))
K <- 2; NREP <- 30
ms <- multistart(function() flexmix(~ 1, data = wide, k = K, model = mk_models(), control = FLX_CONTROL),
                 NREP, seed = 42,
                 polish = function(post) flexmix(~ 1, data = wide, k = K, cluster = post,
                                                 model = mk_models(), control = FLX_POLISH))
m <- ms$best
pri <- prior(m); ord <- order(pri, decreasing = TRUE)
par <- parameters(m)   # list over items: 2 x K matrix of baseline-category logits (vs "no")
probs <- lapply(setNames(ord, paste0("class", seq_along(ord))), function(j)
  lapply(setNames(seq_along(items), items), function(i) {
    e <- c(1, exp(par[[i]][, j])); as.list(setNames(e / sum(e), cats)) }))
res <- list(software = sw(c("flexmix", "nnet", "jsonlite")), R = rver(),
  call = sprintf(paste("flexmix(~ 1, data = wide, k = 2, model = lapply(items, function(it)",
    "FLXMRmultinom(factor(<it>) ~ 1, reltol = 1e-12, maxit = 1000)),",
    "control = list(minprior = 0, iter.max = 20000, tolerance = 1e-10)); %d random starts",
    "(set.seed(42)), best kept, EM continued from its posterior with tolerance 1e-15"), NREP),
  data = list(file = "/work/shared/data/verbagg_long.csv",
    recoding = paste("one row per id (316); items as columns in the order of verbagg_wide.csv;",
      "value = resp coded no = 1, perhaps = 2, yes = 3; exported to tests/reference/data/verbagg_wide_resp.csv"),
    n = nrow(wide)),
  poLCA = "poLCA not available (not in Debian 12, CRAN unreachable): fitted with flexmix, same model.",
  loglik_note = "Full multinomial (categorical) log-likelihood sum_i log sum_k pi_k prod_j P_kj(resp_ij); no constants exist/dropped.",
  K2 = list(loglik = as.numeric(logLik(m)), npar = attr(logLik(m), "df"),
    npar_note = "24 items x 2 free category probabilities x 2 classes + 1 proportion",
    class_proportions = pri[ord],
    category_probs = probs,
    em_iterations = m@iter, converged = m@converged, polish = ms$polished,
    starts = list(n = NREP, n_ok = ms$n_ok, n_reaching_best = ms$n_best, tolerance_for_same = 1e-6,
                  all_logliks = sort(ms$ll, decreasing = TRUE)),
    original_component_order = ord))
cat("K = 2 loglik", format(res$K2$loglik, digits = 12), "npar", res$K2$npar, "best reached", ms$n_best, "/", NREP, "\n")
save_json(res, "lca_verbagg_ordinal")
