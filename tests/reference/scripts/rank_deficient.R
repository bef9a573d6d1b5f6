## A fixed-effect design without full rank: Orthodont (nlme) with age as a factor crossed with
## Sex, the girls' age-14 measurements removed (an empty cell of agef x Sex). lm and lmer drop
## the aliased column (its coefficient NA) and fit the rest: the logLik of the model the data
## identify. The data (all 108 rows) are written to tests/reference/data/orthodont.csv.
source("tests/reference/scripts/common.R")
suppressPackageStartupMessages(library(lme4))
o <- as.data.frame(nlme::Orthodont)
o <- data.frame(distance = o$distance, age = o$age, Subject = as.character(o$Subject), Sex = as.character(o$Sex))
write.csv(o, "tests/reference/data/orthodont.csv", row.names = FALSE)
d <- o[!(o$age == 14 & o$Sex == "Female"), ]
d$agef <- factor(d$age)
m <- lmer(distance ~ agef * Sex + (1 | Subject), data = d, REML = FALSE)
l <- lm(distance ~ agef * Sex, data = d)
res <- list(software = sw(c("lme4", "jsonlite")), R = rver(),
  data = list(source = "nlme::Orthodont", rows = nrow(d), removed = "age == 14 & Sex == 'Female' (16 rows)"),
  lmer = list(call = "lmer(distance ~ factor(age) * Sex + (1 | Subject), REML = FALSE)",
              logLik = as.numeric(logLik(m)), df = attr(logLik(m), "df"),
              dropped = setdiff(colnames(model.matrix(~ agef * Sex, d)), names(fixef(m))),
              message = "fixed-effect model matrix is rank deficient so dropping 1 column / coefficient"),
  lm = list(call = "lm(distance ~ factor(age) * Sex)", logLik = as.numeric(logLik(l)), df = attr(logLik(l), "df"),
            aliased = names(coef(l))[is.na(coef(l))]))
cat("lmer", format(res$lmer$logLik, digits = 12), "dropped", res$lmer$dropped, "lm", format(res$lm$logLik, digits = 12),
    "aliased", res$lm$aliased, "\n")
save_json(res, "rank_deficient")
