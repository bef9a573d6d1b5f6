"""Predictions on new data with the fitted encoding, classification of new units, and
saved results that are data (validated on load, never evaluated)."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest

import glmmix as gm
from glmmix.exceptions import DesignError, GlmmixError, ResultsFileError

LCA = "y ~ 0 + item | class(id) ~ 1"


def _quiet(f, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return f(*a, **k)


@pytest.fixture(scope="module")
def items():
    """Bernoulli responses with item probabilities 0.2 (A), 0.5 (B), 0.8 (C)."""
    rng = np.random.default_rng(3)
    item = np.repeat(["A", "B", "C"], 200)
    p = {"A": 0.2, "B": 0.5, "C": 0.8}
    y = (rng.uniform(size=item.size) < np.vectorize(p.get)(item)).astype(float)
    return pd.DataFrame({"item": item, "y": y})


def test_string_factor_keeps_its_reference_level(items):
    """Predicting items B and C of 'y ~ 1 + item' gives B's and C's probabilities (the
    design is not rebuilt with B as the new reference)."""
    res = gm.fit("y ~ 1 + item", items, family="bernoulli")
    inside = res.predict()
    new = pd.DataFrame({"item": ["B", "C"]})
    np.testing.assert_allclose(res.predict(new), [inside[items["item"] == "B"].iloc[0],
                                                  inside[items["item"] == "C"].iloc[0]], rtol=1e-12)
    np.testing.assert_allclose(res.predict(new), items.groupby("item")["y"].mean()[["B", "C"]], rtol=1e-6)


def test_unknown_level_is_refused_by_name(items):
    res = gm.fit("y ~ 1 + item", items, family="bernoulli")
    with pytest.raises(DesignError, match=r"column 'item' has level\(s\) \['Z'\] not seen in fitting"):
        res.predict(pd.DataFrame({"item": ["B", "Z"]}))
    with pytest.raises(DesignError, match="'item'"):
        res.predict(pd.DataFrame({"other": ["B"]}))


@pytest.fixture(scope="module")
def transforms():
    rng = np.random.default_rng(5)
    n = 300
    df = pd.DataFrame({"x": rng.normal(3, 2, n), "w": rng.uniform(0, 4, n), "g": rng.choice(["a", "b", "c"], n)})
    df["y"] = 1 + 0.5 * df["x"] + np.sin(df["w"]) + (df["g"] == "b") + rng.normal(size=n)
    df["w 2"] = 2 * df["w"]
    return df


@pytest.mark.parametrize("rhs", ["scale(x)", "center(x) + g", "poly(w, 3) + C(g, contr.sum)",
                                 "bs(w, df=4) + x:g", "np.log(x + 10) + I(x ** 2) + scale(np.log(w + 1))",
                                 "0 + cr(w, df=4)", "C(g, contr.treatment('b')) + x:g", "g + center(`w 2`):g"])
def test_stateful_transforms_keep_their_fitted_state(transforms, rhs):
    """A subset of the fitted rows, predicted as new data, equals the in-sample predictions
    of those rows (the transforms are not re-estimated on the subset)."""
    res = gm.fit(f"y ~ {rhs}", transforms, family="gaussian", se="none")
    inside = res.predict()
    rows = transforms.index[[7, 3, 250, 11, 12]]
    sub = transforms.loc[rows, ["x", "w", "g", "w 2"]]
    np.testing.assert_allclose(res.predict(sub), inside.loc[rows], rtol=1e-10)


def test_predictions_come_back_in_the_order_given(transforms):
    res = gm.fit("y ~ scale(x) + g", transforms, family="gaussian", se="none")
    inside = res.predict()
    sub = transforms.iloc[[40, 2, 99, 2]].copy()
    sub.index = ["d", "a", "c", "b"]
    out = res.predict(sub)
    assert list(out.index) == ["d", "a", "c", "b"]
    np.testing.assert_allclose(out, inside.iloc[[40, 2, 99, 2]], rtol=1e-12)


@pytest.fixture(scope="module")
def lca_cov():
    """Two-class LCA with a class covariate on a standardized scale."""
    rng = np.random.default_rng(11)
    n, J = 300, 5
    x = rng.normal(50, 10, n)
    pc1 = 1 / (1 + np.exp(-(x - 50) / 10))
    c = (rng.uniform(size=n) < pc1).astype(int)
    probs = np.array([[0.85, 0.8, 0.75, 0.8, 0.7], [0.2, 0.25, 0.15, 0.3, 0.2]])
    y = (rng.uniform(size=(n, J)) < probs[c]).astype(float)
    long = pd.DataFrame({"id": np.repeat(np.arange(n), J), "item": np.tile([f"i{j}" for j in range(J)], n),
                         "x": np.repeat(x, J), "y": y.ravel()})
    res = _quiet(gm.fit, "y ~ 0 + item | class(id) ~ 1 + scale(x)", long, n_classes=2, family="bernoulli",
                 seed=2, starts=(6, 2))
    return long, res


def test_predict_after_load_is_identical(lca_cov, tmp_path):
    long, res = lca_cov
    new = pd.DataFrame({"item": ["i3", "i0", "i4"], "x": [31.0, 50.0, 77.5]}, index=[5, 1, 9])
    path = tmp_path / "fit.json"
    res.save(path)
    back = gm.load_results(path)
    for which in ("marginal", "by_class"):
        a, b = res.predict(new, which=which), back.predict(new, which=which)
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-13, atol=1e-15)
        assert list(a.index) == list(b.index) == [5, 1, 9]
    back.save(tmp_path / "again.json")  # a loaded result saves what it read
    np.testing.assert_allclose(gm.load_results(tmp_path / "again.json").predict(new), res.predict(new), rtol=1e-13)
    # the class covariate keeps its fitted scale: one unit's rows predicted alone agree
    unit = long[long["id"] == 17]
    np.testing.assert_allclose(back.predict(unit), res.predict().loc[unit.index], rtol=1e-10)


def _saved(res, tmp_path, edit):
    path = tmp_path / "crafted.json"
    res.save(path)
    s = json.loads(path.read_text())
    edit(s)
    path.write_text(json.dumps(s))
    return path


def test_crafted_file_runs_no_code(lca_cov, tmp_path):
    """Formula text in a results file is a label: code planted there, or in a factor of the
    stored encoding, is never run."""
    long, res = lca_cov
    marker = tmp_path / "marker"
    code = f"__import__('os').system('touch {marker}')"
    code2 = f"__import__('pathlib').Path({str(marker)!r}).touch()"

    def plant_formula(s):
        s["formula"] = f"y ~ 0 + {code} | class(id) ~ 1 + {code2}"
        s["outcome_rhs"] = f"0 + {code}"
        s["class_rhs"] = f"1 + {code2}"

    back = gm.load_results(_saved(res, tmp_path, plant_formula))
    new = pd.DataFrame({"item": ["i1"], "x": [45.0]})
    np.testing.assert_allclose(back.predict(new), res.predict(new), rtol=1e-13)
    str(back.summary())
    assert not marker.exists()

    def plant_factor(s):
        z = s["model"]["class_vars"][0]["z"]
        z["factors"][code] = z["factors"].pop("scale(x)")
        z["terms"][1]["parts"][0]["factors"][0][0] = code

    with pytest.raises(ResultsFileError, match="not a glmmix results file.*__import__"):
        gm.load_results(_saved(res, tmp_path, plant_factor))
    assert not marker.exists()

    def plant_lookup(s):  # a 'column name' factor is looked up, never parsed
        x = s["model"]["x"]
        x["factors"][code2] = x["factors"].pop("item")
        x["terms"][0]["parts"][0]["factors"][0][0] = code2

    back = gm.load_results(_saved(res, tmp_path, plant_lookup))
    with pytest.raises(DesignError, match="not in the data"):
        back.predict(new)
    assert not marker.exists()

    def plant_outcome(s):  # an outcome spelled as code is never evaluated either
        s["model"]["outcome"] = f"cbind({code}, y)"

    back = gm.load_results(_saved(res, tmp_path, plant_outcome))
    with pytest.raises(GlmmixError):
        back.predict(new)
    with pytest.raises(GlmmixError):
        back.predict(long.assign(__import__=1, os=1, system=1), which="posterior")
    assert not marker.exists()


def test_incomplete_transform_state_is_refused(lca_cov, tmp_path):
    """A stored transform without its fitted state would be re-estimated on the new rows:
    refused instead."""
    long, res = lca_cov

    def drop_state(s):
        s["model"]["class_vars"][0]["z"]["factors"]["scale(x)"]["states"] = {"scale(x)": {"ddof": 1}}

    back = gm.load_results(_saved(res, tmp_path, drop_state))
    with pytest.raises(GlmmixError, match="state of 'scale\\(x\\)'.*incomplete"):
        back.predict(pd.DataFrame({"item": ["i1"], "x": [45.0]}))


@pytest.mark.parametrize("kind, match", [
    ("truncated", "not valid JSON"),
    ("binary", "binary"),
    ("list", "JSON list, not an object"),
    ("missing", r"lacks the field\(s\) \['params'\]"),
    ("format", "'format' field"),
    ("malformed", r"\['llf'\] are malformed"),
    ("sizes", "do not agree in size"),
])
def test_load_refuses_what_is_not_a_result(lca_cov, tmp_path, kind, match):
    long, res = lca_cov
    path = tmp_path / "r.json"
    res.save(path)
    text = path.read_text()
    s = json.loads(text)
    if kind == "truncated":
        path.write_text(text[: len(text) // 2])
    elif kind == "binary":
        path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe" + bytes(range(256)))
    elif kind == "list":
        path.write_text("[1, 2, 3]")
    elif kind == "missing":
        del s["params"]
        path.write_text(json.dumps(s))
    elif kind == "format":
        s["format"] = "something-else"
        path.write_text(json.dumps(s))
    elif kind == "malformed":
        s["llf"] = "high"
        path.write_text(json.dumps(s))
    else:
        s["params"] = s["params"][:-1]
        path.write_text(json.dumps(s))
    with pytest.raises(ResultsFileError, match="not a glmmix results file") as e:
        gm.load_results(path)
    assert e.match(match)


# --------------------------------------------------------------------------- classification
@pytest.fixture(scope="module")
def carcinoma():
    long = gm.wide_to_long(gm.datasets.load("carcinoma"))
    res = _quiet(gm.fit, LCA, long, n_classes=3, family="bernoulli", seed=1, starts=(10, 3))
    return long, res


def _brute_posterior(res, rows):
    """P(c | observed responses) by enumeration from the item probabilities and class shares."""
    prof = res.profile()
    cols = list(res.posterior.columns)
    logp = np.log(res.class_proportions.to_numpy())
    for _, r in rows.iterrows():
        p = prof.loc[f"item[{r['item']}]", cols].to_numpy()
        logp = logp + (np.log(p) if r["y"] == 1 else np.log1p(-p))
    w = np.exp(logp - logp.max())
    return w / w.sum()


def test_posterior_of_new_units(carcinoma, tmp_path):
    long, res = carcinoma
    again = res.predict(long, which="posterior")
    np.testing.assert_allclose(again.to_numpy(), res.posterior.loc[again.index].to_numpy(), rtol=0, atol=1e-10)
    # a new rater pattern with partial responses (items B, E missing), given in shuffled order
    new = pd.DataFrame({"id": ["n1"] * 5 + ["n2"] * 7, "item": list("GACDF") + list("ABCDEFG"),
                        "y": [1, 1, 0, 0, 0] + [0, 0, 0, 0, 0, 0, 0]})
    post = res.predict(new, which="posterior")
    assert list(post.index) == ["n1", "n2"] and list(post.columns) == list(res.posterior.columns)
    np.testing.assert_allclose(post.loc["n1"], _brute_posterior(res, new[new["id"] == "n1"]), atol=1e-10)
    np.testing.assert_allclose(post.loc["n2"], _brute_posterior(res, new[new["id"] == "n2"]), atol=1e-10)
    cls = res.predict(new, which="class")
    assert list(cls) == [post.columns[np.argmax(post.loc[u])] for u in ["n1", "n2"]]
    # a missing response is skipped, as in the fit
    with_na = pd.concat([new, pd.DataFrame({"id": ["n1"], "item": ["B"], "y": [np.nan]})])
    np.testing.assert_allclose(res.predict(with_na, which="posterior"), post, atol=1e-12)
    # conditional expected responses: for every row, missing responses included
    cond = res.predict(with_na, which="conditional")
    assert len(cond) == len(with_na)
    byc = res.predict(with_na, which="by_class").to_numpy()
    w = post.loc[with_na["id"]].to_numpy()
    np.testing.assert_allclose(cond.to_numpy(), (w * byc).sum(axis=1), rtol=1e-12)
    # a unit without any observed response gets its prior (here the class proportions)
    silent = pd.DataFrame({"id": ["n3", "n3"], "item": ["A", "B"], "y": [np.nan, np.nan]})
    post3 = res.predict(pd.concat([silent, new]), which="posterior")
    assert list(post3.index) == ["n3", "n1", "n2"]
    np.testing.assert_allclose(post3.loc["n3"], res.class_proportions, atol=1e-12)
    np.testing.assert_allclose(post3.loc[["n1", "n2"]], post, atol=1e-12)
    with pytest.raises(DesignError, match="outcome column"):
        res.predict(new.drop(columns="y"), which="posterior")
    res.save(tmp_path / "c.json")  # a loaded result classifies alike
    back = gm.load_results(tmp_path / "c.json")
    np.testing.assert_allclose(back.predict(new, which="posterior"), post, atol=1e-14)
    # new units' conditional predictions alike; fitted units' rows with outcomes need responses=
    # (a loaded result has not the fitted responses to compare them with)
    np.testing.assert_allclose(back.predict(with_na, which="conditional"), cond, rtol=1e-12)
    with pytest.raises(DesignError, match="loaded result cannot check.*responses='newdata'"):
        back.predict(long.head(3), which="conditional")
    np.testing.assert_allclose(back.predict(long, which="conditional", responses="newdata"),
                               res.predict(long, which="conditional"), rtol=1e-10)


def test_modal_class_table_and_entropy_by_class(carcinoma):
    long, res = carcinoma
    p = res.posterior.to_numpy()
    mc = res.modal_class
    assert (mc.to_numpy() == res.posterior.columns[p.argmax(axis=1)]).all()
    assert mc.equals(res.predict(which="class"))
    tab = res.classification_table()
    for k, c in enumerate(res.posterior.columns):
        rows = p[p.argmax(axis=1) == k]
        np.testing.assert_allclose(tab.loc[c, list(res.posterior.columns)], rows.mean(axis=0), rtol=1e-12)
        assert tab.loc[c, "n"] == len(rows)
    ent = res.entropy_by_class()
    # the overall relative entropy is the n-weighted mean of the per-class ones
    assert np.dot(ent, tab["n"]) / tab["n"].sum() == pytest.approx(res.entropy, rel=1e-12)
    txt = str(res.summary())
    assert "Classification (mean posterior by modal class)" in txt and "entropy" in txt


def test_posterior_with_random_effects_integrates_them(tmp_path):
    """Classes within clusters with a random intercept: new data equal to the fitted data
    give the in-sample posteriors (the rule re-adapted to the same clusters); a cluster of
    new units is classified with its cluster's effect integrated out."""
    rng = np.random.default_rng(8)
    G, n, J = 40, 6, 4
    u = rng.normal(0, 1.0, G)
    rows = []
    for g in range(G):
        for i in range(n):
            c = rng.uniform() < 0.5
            for j in range(J):
                eta = (1.5 if c else -1.5) + u[g]
                rows.append((g, g * n + i, f"i{j}", float(rng.uniform() < 1 / (1 + np.exp(-eta)))))
    df = pd.DataFrame(rows, columns=["g", "id", "item", "y"])
    f = "y ~ 0 + item + (1 | g) | class(id) ~ 1"
    res = _quiet(gm.fit, f, df, n_classes=2, family="bernoulli", invariant=[], seed=3, starts=(4, 2),
                 se="none")
    again = res.predict(df, which="posterior")
    np.testing.assert_allclose(again.to_numpy(), res.posterior.loc[again.index].to_numpy(), atol=1e-6)
    # one new cluster of one unit: brute-force integration over the cluster effect
    new = pd.DataFrame({"g": [99] * 4, "id": [999] * 4, "item": ["i0", "i1", "i2", "i3"], "y": [1, 1, 0, 1.0]})
    post = res.predict(new, which="posterior").loc[999].to_numpy()
    P = res.params
    sd = P["sd(g:Intercept)"]
    t, w = np.polynomial.hermite_e.hermegauss(80)
    w = w / w.sum()
    prior = res.class_proportions.to_numpy()
    y = new["y"].to_numpy()[:, None]
    joint = np.zeros(2)
    for k in range(2):  # one unit in the cluster: P(c | y) is prior_c times the integral over u
        eta = np.array([P[f"class{k + 1}:item[i{j}]"] for j in range(4)])[:, None] + sd * t[None, :]
        joint[k] = prior[k] * (w * np.exp((y * eta - np.logaddexp(0, eta)).sum(axis=0))).sum()
    np.testing.assert_allclose(post, joint / joint.sum(), atol=1e-6)
    res.save(tmp_path / "re.json")
    back = gm.load_results(tmp_path / "re.json")
    np.testing.assert_allclose(back.predict(new, which="posterior").to_numpy(), post[None, :], atol=1e-12)


def test_lta_predictions(tmp_path):
    """Several class variables: expected outcomes in and out of sample, posteriors of new
    units over the joint states."""
    n, items = 150, 3
    base = pd.DataFrame([(i, t, f"u{j}") for i in range(n) for t in (1, 2) for j in range(items)],
                        columns=["id", "time", "item"])
    f = "y ~ 0 + item | c1(id) ~ 1 | c2(id) ~ 1 + c1"
    truth = {f"c1,c2#1:item[u{j}]": 1.5 for j in range(items)}
    truth.update({f"c1,c2#2:item[u{j}]": -1.5 for j in range(items)})
    truth.update({"logit:c1#1:Intercept": 0.2, "logit:c2#1:Intercept": -1.5, "logit:c2#1:c1#1": 3.0})
    df = gm.simulate(f, base, params=truth, n_classes=2, family="bernoulli", seed=4, measured_by="time",
                     measurement_invariance=True)
    res = _quiet(gm.fit, f, df, n_classes=2, family="bernoulli", measured_by="time", measurement_invariance=True,
                 seed=2, starts=(4, 2), se="none")
    inside = res.predict()
    assert len(inside) == len(df) and inside.between(0, 1).all()
    sub = df.iloc[[13, 2, 7]]
    np.testing.assert_allclose(res.predict(sub), inside.loc[sub.index], rtol=1e-12)
    assert list(res.predict(sub).index) == list(sub.index)
    assert res.predict(sub, which="by_class").shape == (3, 4)
    again = res.predict(df, which="posterior")
    np.testing.assert_allclose(again.to_numpy(), res.posterior.loc[again.index].to_numpy(), atol=1e-10)
    assert res.classification_table().shape == (4, 5)
    res.save(tmp_path / "lta.json")
    back = gm.load_results(tmp_path / "lta.json")
    np.testing.assert_allclose(back.predict(sub), res.predict(sub), rtol=1e-13)
    new = df[df["id"].isin([5, 3])]
    np.testing.assert_allclose(back.predict(new, which="posterior"), res.predict(new, which="posterior"), atol=1e-14)


def test_ordinal_with_thresholds_by_in_session_and_loaded(tmp_path):
    """Ordinal LCA with thresholds per item: new rows use the fitted categories and
    threshold groups; expected categories and posteriors agree in and out of sample."""
    from helpers import mixed_data

    df = mixed_data(np.random.default_rng(2), n_units=60, family="ordinal")
    res = _quiet(gm.fit, "y ~ 0 + x | class(unit) ~ 1 + z", df, n_classes=2, family="ordinal", thresholds_by="item",
                 seed=1, starts=(3, 1), se="none")
    inside = res.predict()
    sub = df.iloc[[9, 0, 33]]
    np.testing.assert_allclose(res.predict(sub), inside.loc[sub.index], rtol=1e-10)
    res.save(tmp_path / "o.json")
    back = gm.load_results(tmp_path / "o.json")
    np.testing.assert_allclose(back.predict(sub), res.predict(sub), rtol=1e-13)
    with pytest.raises(DesignError, match=r"'item'.*\['i9'\]"):
        back.predict(sub.assign(item="i9"))
    again = res.predict(df, which="posterior")
    np.testing.assert_allclose(again.to_numpy(), res.posterior.loc[again.index].to_numpy(), atol=1e-10)
    with pytest.raises(DesignError, match="categories"):
        res.predict(df.assign(y=df["y"] + 10), which="posterior")


def test_binomial_counts_in_session_and_loaded(tmp_path):
    """cbind(successes, failures) outcomes: new rows need neither outcome (expected values)
    and a loaded result computes the failures expression with its interpreter."""
    d = gm.datasets.load("cbpp")
    res = gm.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)", d, family="binomial", se="none")
    sub = d.iloc[[5, 0, 17]]
    np.testing.assert_allclose(res.predict(sub.drop(columns=["incidence", "size"])), res.predict().loc[sub.index],
                               rtol=1e-12)
    res.save(tmp_path / "b.json")
    back = gm.load_results(tmp_path / "b.json")
    np.testing.assert_allclose(back.predict(sub), res.predict(sub), rtol=1e-13)
    # conditional on the rows' own responses (their herds' random effects' posteriors): alike after
    # loading; in the session, rows of fitted herds with outcomes must say whose responses count
    np.testing.assert_allclose(back.predict(sub, which="conditional"),
                               res.predict(sub, which="conditional", responses="newdata"), rtol=1e-10)
    with pytest.raises(gm.GlmmixError, match="say which is meant"):
        res.predict(sub, which="conditional")


def test_ordinal_outcome_of_new_rows_given_as_codes_is_refused_plainly():
    """An ordinal outcome fitted as text categories and given to predict() as their codes: the
    refusal listed numpy reprs ("[np.int8(0), np.int8(2)]"); it now lists plain values and says
    the outcome came as numbers."""
    rng = np.random.default_rng(2)
    cats = pd.CategoricalDtype(["no", "perhaps", "yes"], ordered=True)
    df = pd.DataFrame({"id": np.repeat(np.arange(60), 4), "item": np.tile(list("abcd"), 60)})
    df["resp"] = pd.Categorical.from_codes(rng.integers(0, 3, len(df)), dtype=cats)
    res = _quiet(gm.fit, "resp ~ item + (1 | id)", df, family="ordinal")
    new = df[df.id == 0].assign(resp=lambda d: d.resp.cat.codes)
    with pytest.raises(DesignError, match=r"categories \[\d, \d.*\] not seen in fitting \(the fitted categories "
                                          r"are \['no', 'perhaps', 'yes'\]\): the outcome is given as numbers"):
        res.predict(new, which="conditional", responses="newdata")
