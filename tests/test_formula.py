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
        ("y ~ x + (1 | a/b)", r"nested grouping 'a/b' means .*\(1\|a\) \+ \(1\|a:b\).* write '\(1 \| a_b\)'"),
        ("y ~ x + (1 | a:b)", r"must be a single column: make one .*data\['a_b'\] = .* write '\(1 \| a_b\)'"),
        ("y ~ x + (1 | a*b)", "single column name"),
        ("y ~ rr(0 + item | person, 0)", "positive integer"),
        ("", "non-empty"),
        ("y ~ x | class ~ 1 | class ~ 1", "repeat"),
    ],
)
def test_formula_errors_name_the_culprit(text, fragment):
    with pytest.raises(FormulaError, match=fragment):
        parse_formula(text)
