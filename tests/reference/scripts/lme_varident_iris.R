## A gaussian random-intercept model with item-specific residual SDs on iris in long form
## (150 flowers x 4 measurements): nlme::lme with weights = varIdent(form = ~ 1 | item), ML.
## glmmix: gm.fit("y ~ 0 + item + (1|id)", long, family="gaussian", sigma_by="item").
source("tests/reference/scripts/common.R")
suppressPackageStartupMessages(library(nlme))
iris <- read.csv("tests/reference/data/iris.csv")
iris$id <- seq_len(nrow(iris))
items <- c("Sepal.Length", "Sepal.Width", "Petal.Length", "Petal.Width")
long <- reshape(iris[, c("id", items)], direction = "long", varying = list(items), v.names = "y",
                timevar = "item", times = items, idvar = "id")
long$item <- factor(long$item, levels = items)
m <- lme(y ~ 0 + item, random = ~ 1 | id, weights = varIdent(form = ~ 1 | item), data = long,
         method = "ML", control = lmeControl(tolerance = 1e-10, msMaxIter = 500, niterEM = 100))
ratio <- coef(m$modelStruct$varStruct, unconstrained = FALSE, allCoef = TRUE)  # SD ratios by level
sig <- m$sigma * ratio
fe <- fixef(m)
names(fe) <- sub("^item", "", names(fe))
out <- list(software = sw(c("nlme")), R = rver(), loglik = as.numeric(logLik(m)), fixef = nl(fe),
            sigma = nl(sig[items]), sd_id = as.numeric(sqrt(getVarCov(m)[1, 1])))
print(out)
save_json(out, "lme_varident_iris")
