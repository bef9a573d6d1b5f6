import pytest

from glmmix import FormulaError, parse_formula


def test_lca_formula():
    f = parse_formula("y ~ 0 + item | class(person) ~ 1 + x")
    assert f.outcome == "y"
    assert f.outcome_part.fixed == "0 + item"
    (c,) = f.classes
    assert (c.name, c.level, c.part.fixed) == ("class", "person", "1 + x")
    assert not f.has_random


def test_random_and_factor_terms_are_split_off():
    f = parse_formula("y ~ 0 + item + rr(0 + item | person, 2) | class ~ 1 + (1 | person)")
    assert f.outcome_part.fixed == "0 + item"
    (rr,) = f.outcome_part.factors
    assert (rr.expr, rr.group, rr.n_factors) == ("0 + item", "person", 2)
    (r,) = f.classes[0].part.random
    assert (r.expr, r.group, r.correlated) == ("1", "person", True)
    assert f.classes[0].level is None
    assert f.has_random


def test_uncorrelated_and_intercept_default():
    f = parse_formula("y ~ (1 + x || g)")
    (r,) = f.outcome_part.random
    assert not r.correlated and r.expr == "1 + x"
    assert f.outcome_part.fixed == "1"
    assert parse_formula("y ~ x - 1 + (1|g)").outcome_part.fixed == "x - 1"


def test_class_part_without_rhs():
    f = parse_formula("y ~ x | class(person)")
    assert f.classes[0].part.fixed == "1"


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("0 + item | class(person) ~ 1", "no outcome"),
        ("~ x", "no outcome"),
        ("y ~ (1 | g", "unbalanced"),
        ("y ~ x | class(a b) ~ 1", "class part"),
        ("y ~ x + (1 | a//b)", "must be a column name, a combination of columns 'a:b', or lme4's nesting"),
        ("y ~ x + (1 | a*b)", "must be a column name"),
        ("y ~ rr(0 + item | person, 0)", "positive integer"),
        # glmmTMB 1.1.5 reads rr(0 + item | person) as 2 factors (7 theta for 4 items,
        # glmmTMB(..., doFit = FALSE)$parameters$theta); it was fitted here with 1, silently
        ("y ~ 0 + item + rr(0 + item | person)", r"needs its number of factors: write 'rr\(0 \+ item \| person, 1\)'"),
        ("", "non-empty"),
        ("y ~ x | class ~ 1 | class ~ 1", "repeat"),
    ],
)
def test_formula_errors_name_the_culprit(text, fragment):
    with pytest.raises(FormulaError, match=fragment):
        parse_formula(text)


def test_nested_grouping_fits_the_nested_model():
    """lme4's '(1|a/b)' is '(1|a) + (1|a:b)', b's groups within a's (b's labels repeat across
    a): for a Gaussian outcome its log-likelihood is the exact multivariate normal one."""
    import numpy as np
    import pandas as pd
    from scipy.stats import multivariate_normal

    import glmmix as gm

    rng = np.random.default_rng(3)
    n_a, n_b, m = 12, 3, 4
    a = np.repeat(np.arange(n_a), n_b * m)
    b = np.tile(np.repeat(np.arange(n_b), m), n_a)
    y = rng.normal(size=a.size) + rng.normal(size=n_a)[a] + 0.7 * rng.normal(size=n_a * n_b)[a * n_b + b]
    d = pd.DataFrame({"y": y, "a": a, "b": b, "x": rng.normal(size=a.size)})
    res = gm.fit("y ~ x + (1|a/b)", d, se="none")
    p = res.params
    ll = 0.0
    for g in range(n_a):
        rows = d[d.a == g]
        same_b = (rows.b.to_numpy()[:, None] == rows.b.to_numpy()[None, :])
        cov = (p["sd(a:Intercept)"] ** 2 + p["sd(a:b:Intercept)"] ** 2 * same_b
               + p["sigma"] ** 2 * np.eye(len(rows)))
        mean = p["Intercept"] + p["x"] * rows.x.to_numpy()
        ll += multivariate_normal(mean, cov).logpdf(rows.y.to_numpy())
    assert res.llf == pytest.approx(ll, abs=1e-6)
    text = str(res.summary())
    # a gaussian model's Laplace integral is exact, and the summary says so (not "1 nodes")
    assert "Integration:" in text and "exact (normal)" in text and "1 nodes" not in text
