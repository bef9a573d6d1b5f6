## Correlated random slopes on columns far from zero: the same models as on the centred
## columns, with the random intercept's SD and correlation mapped to the raw column's zero.
## (1) lmer ML on sleepstudy with Days + 1e4 (lmer fits it on the raw column), and the
##     centred fit (I(Days - 10004.5)) mapped by hand: Sigma_raw = A Sigma_c A', A = [1 -c; 0 1];
## (2) glmer (Laplace) on the contraception data, y ~ age + urban + (age | district) with
##     age + 2000 (age is centred in the file, SD 9.0), fitted on the centred column and
##     mapped by hand (glmer on the raw column, attempted too, is recorded as it ends).
## Run from the repository root: Rscript tests/reference/scripts/far_slopes.R
source("tests/reference/scripts/common.R")
suppressPackageStartupMessages(library(lme4))
ss <- read.csv("tests/reference/data/sleepstudy.csv")
ss$Subject <- factor(ss$Subject)
vc_list <- function(S) list(sd = sqrt(diag(S)), cor = S[2, 1] / sqrt(S[1, 1] * S[2, 2]))
mapped <- function(S, c) { A <- matrix(c(1, 0, -c, 1), 2); A %*% S %*% t(A) }
summ <- function(m, c = 0, centred = FALSE) {
  S <- as.matrix(VarCorr(m)[[1]])
  fe <- fixef(m)
  V <- as.matrix(vcov(m))
  if (centred) {               # the centred fit's numbers on the raw column
    S <- mapped(S, c)
    B <- diag(length(fe)); B[1, 2] <- -c
    fe <- drop(B %*% fe)
    V <- B %*% V %*% t(B)
  }
  re <- ranef(m, condVar = TRUE)[[1]]
  pv <- attr(re, "postVar")
  b0 <- re[, 1]; b1 <- re[, 2]
  v0 <- pv[1, 1, ]; v01 <- pv[1, 2, ]; v1 <- pv[2, 2, ]
  if (centred) { b0 <- b0 - c * b1; v0 <- v0 - 2 * c * v01 + c^2 * v1 }
  list(logLik = as.numeric(logLik(m)), fixef = unname(fe), fixef_se = sqrt(diag(V)), singular = isSingular(m),
       re = vc_list(S), ranef_intercept = b0, ranef_slope = b1,
       ranef_intercept_sd = sqrt(v0), ranef_slope_sd = sqrt(v1), levels = rownames(re))
}
ss$Days_far <- ss$Days + 1e4
c1 <- mean(ss$Days_far)
m_raw <- lmer(Reaction ~ Days_far + (Days_far | Subject), ss, REML = FALSE)
ss$Days_c <- ss$Days_far - c1
m_c <- lmer(Reaction ~ Days_c + (Days_c | Subject), ss, REML = FALSE)
co <- read.csv("glmmix/data/contraception.csv")
co$district <- factor(co$district)
co$urban <- factor(co$urban, levels = c("N", "Y"))
co$age_far <- co$age + 2000
c2 <- mean(co$age_far)
co$age_c <- co$age_far - c2
g_c <- glmer(y ~ age_c + urban + (age_c | district), co, family = binomial, control = GLMER_CTRL)
g_raw <- try(glmer(y ~ age_far + urban + (age_far | district), co, family = binomial, control = GLMER_CTRL))
raw_note <- if (inherits(g_raw, "try-error")) as.character(g_raw) else
  list(logLik = as.numeric(logLik(g_raw)), messages = g_raw@optinfo$conv$lme4$messages)
save_json(list(R = rver(), versions = sw(c("lme4", "Matrix", "jsonlite")),
               sleep_raw = c(list(formula = "Reaction ~ Days_far + (Days_far | Subject), Days_far = Days + 1e4"),
                             summ(m_raw)),
               sleep_centred = c(list(formula = "Reaction ~ Days_c + (Days_c | Subject), mapped to Days_far", centre = c1),
                                 summ(m_c, c1, TRUE)),
               contraception_centred = c(list(formula = "y ~ age_c + urban + (age_c | district) (Laplace), mapped to age + 2000",
                                              centre = c2, call_control = GLMER_CTRL_STR, urbanY = unname(fixef(g_c)[3])),
                                         summ(g_c, c2, TRUE)),
               contraception_raw_glmer = raw_note), "far_slopes")
