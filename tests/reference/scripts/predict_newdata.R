## Conditional predictions for new rows of fitted clusters: lme4's predict(newdata) with the
## fitted random effects (re.form = NULL, the default), type = "response".
## (1) lmer ML on sleepstudy: Reaction ~ Days + (Days | Subject), later days of fitted subjects.
## (2) glmer Laplace on cbpp: cbind(incidence, size - incidence) ~ period + (1 | herd), herds
##     at periods other than their own rows (and at their own), probabilities.
source("tests/reference/scripts/common.R")
suppressPackageStartupMessages(library(lme4))
s <- read.csv("tests/reference/data/sleepstudy.csv")
s$Subject <- factor(s$Subject)
m1 <- lmer(Reaction ~ Days + (Days | Subject), data = s, REML = FALSE,
           control = lmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5)))
new1 <- data.frame(Subject = factor(c(308, 308, 309, 330, 372), levels = levels(s$Subject)),
                   Days = c(10, 11, 12, 0, 15.5))
d <- read.csv("/work/shared/data/cbpp.csv")
d$herd <- factor(d$herd, levels = sort(unique(d$herd)))
d$period <- factor(d$period, levels = c("1", "2", "3", "4"))
m2 <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = d, family = binomial,
            nAGQ = 1, control = GLMER_CTRL)
new2 <- data.frame(herd = factor(c(1, 1, 5, 15, 8), levels = levels(d$herd)),
                   period = factor(c(4, 1, 1, 2, 3), levels = levels(d$period)))
res <- list(software = sw(c("lme4", "Matrix", "jsonlite")), R = rver(),
  lmer = list(call = 'lmer(Reaction ~ Days + (Days | Subject), data = s, REML = FALSE, control = lmerControl(optimizer = "bobyqa"))',
              logLik = as.numeric(logLik(m1)), Subject = as.integer(as.character(new1$Subject)), Days = new1$Days,
              predict = as.numeric(predict(m1, newdata = new1))),
  glmer = list(call = 'glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = d, family = binomial, nAGQ = 1, control = GLMER_CTRL)',
               logLik = as.numeric(logLik(m2)), herd = as.integer(as.character(new2$herd)),
               period = as.integer(as.character(new2$period)),
               predict_response = as.numeric(predict(m2, newdata = new2, type = "response"))))
print(res$lmer$predict, digits = 12); print(res$glmer$predict_response, digits = 12)
save_json(res, "predict_newdata")
