"""Several class variables: LTA (Sections 3-4) and C and D together (Section 6).

Every check here is against something independent of the engine's joint-state code:
brute-force enumeration of the classes (written out in numpy below, straight from eq 8-9
and 22-26), finite differences for the gradient, and recovery of simulated parameters.
"""

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, log_softmax

import glmmix as gm
from glmmix.design import build_design
from glmmix.exceptions import DesignError, FormulaError
from glmmix.families import get_family
from glmmix.formula import parse_formula
from glmmix.likelihood import MixtureLikelihood
from glmmix.model import MixtureModel
from glmmix.params import ParamLayout
from glmmix.reporting import derived, natural_params
from helpers import check_derivatives, labelled_point


def lik_of(formula, data, sizes, family="bernoulli", measured_by=None, thresholds_by=None, **kw):
    """The likelihood of a model with several class variables (adaptive Gauss-Hermite)."""
    return MixtureModel.from_formula(formula, data, sizes, family, measured_by=measured_by,
                                     thresholds_by=thresholds_by, integration="agh", **kw).likelihood


def lta_data(rng, n=40, items=3, times=3, rooms=None):
    rows = []
    for i in range(n):
        x = rng.normal()
        for t in range(1, times + 1):
            for j in range(items):
                rows.append((i, t, f"u{j}", x, float(rng.uniform() < 0.5)))
    df = pd.DataFrame(rows, columns=["id", "time", "item", "x", "y"])
    if rooms:
        df["room"] = df["id"] % rooms
    return df


# --------------------------------------------------------------------------- brute force
def test_lta_three_times_equals_enumeration(rng):
    """C1 ~ x, C2 ~ C1 + x, C3 ~ C1 + C2 (full recursive system, eq 8-9), 2/3/2 classes,
    item probabilities per time: the log-likelihood equals the sum over all class paths."""
    df = lta_data(rng)
    f = "y ~ 0 + item | c1(id) ~ 1 + x | c2(id) ~ 1 + c1 + x | c3(id) ~ 1 + c1 + c2"
    sizes = {"c1": 2, "c2": 3, "c3": 2}
    lik = lik_of(f, df, sizes, measured_by="time")
    theta, par = labelled_point(lik, rng)
    ll = 0.0
    for i, g in df.groupby("id"):
        x = g["x"].iloc[0]
        total = []
        for c1, c2, c3 in itertools.product(range(2), range(3), range(2)):
            l1 = log_softmax([par["logit:c1#1:Intercept"] + par["logit:c1#1:x"] * x, 0.0])[c1]
            lin2 = [par[f"logit:c2#{k}:Intercept"] + par[f"logit:c2#{k}:x"] * x
                    + (par[f"logit:c2#{k}:c1#1"] if c1 == 0 else 0.0) for k in (1, 2)]
            l2 = log_softmax(lin2 + [0.0])[c2]
            lin3 = par["logit:c3#1:Intercept"] + (par["logit:c3#1:c1#1"] if c1 == 0 else 0.0) \
                + {0: par["logit:c3#1:c2#1"], 1: par["logit:c3#1:c2#2"], 2: 0.0}[c2]
            l3 = log_softmax([lin3, 0.0])[c3]
            lf = 0.0
            for _, r in g.iterrows():
                c = (c1, c2, c3)[int(r.time) - 1]
                eta = par[f"c{int(r.time)}#{c + 1}:item[{r['item']}]"]
                lf += r.y * eta - np.logaddexp(0, eta)
            total.append(l1 + l2 + l3 + lf)
        ll += np.logaddexp.reduce(total)
    assert lik.loglik(theta) == pytest.approx(ll, abs=1e-9)


def test_lta_reported_quantities_equal_the_forward_algorithm(rng):
    """A fitted LTA with a covariate on the transition: the log-likelihood, the joint posteriors,
    the (marginal) transition matrix and the posterior of a new unit seen at time 1 only, against
    the forward algorithm written out in numpy at the reported estimates."""
    df = lta_data(rng, n=80, items=3, times=2)
    df["y"] = (rng.uniform(size=len(df)) < np.where(df.id % 3 == 0, 0.8, 0.25)).astype(float)
    f = "y ~ 0 + item | c1(id) ~ 1 | c2(id) ~ 1 + c1 + x"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = gm.fit(f, df, n_classes=2, family="bernoulli", measured_by="time", measurement_invariance=True,
                     seed=1, starts=(3, 1), se="none")
    p = res.params
    items = ["u0", "u1", "u2"]
    b = np.array([[p[f"c1,c2#{k}:item[{i}]"] for i in items] for k in (1, 2)])  # (class, item)

    def item_ll(g):  # (class,) log-likelihood of one unit's responses at one time
        y = g.set_index("item").y.reindex(items).to_numpy()
        return np.nansum(y * b - np.logaddexp(0, b), axis=1)

    units = df.groupby("id")
    x = units.x.first().to_numpy()
    l1 = np.array([item_ll(g[g.time == 1]) for _, g in units])
    l2 = np.array([item_ll(g[g.time == 2]) for _, g in units])
    prior1 = log_softmax([p["logit:c1#1:Intercept"], 0.0])
    lin = p["logit:c2#1:Intercept"] + p["logit:c2#1:x"] * x[:, None] + np.array([p["logit:c2#1:c1#1"], 0.0])
    trans = np.stack([-np.logaddexp(0, -lin), -np.logaddexp(0, lin)], axis=2)  # (unit, c1, c2) log P(c2 | c1, x)
    joint = prior1[None, :, None] + trans + l1[:, :, None] + l2[:, None, :]
    ll = np.logaddexp.reduce(joint.reshape(len(x), -1), axis=1)
    assert res.llf == pytest.approx(ll.sum(), abs=1e-8)
    post = np.exp(joint - ll[:, None, None])
    for c1, c2 in itertools.product(range(2), range(2)):
        assert np.allclose(res.posterior[f"c1#{c1 + 1}.c2#{c2 + 1}"], post[:, c1, c2], atol=1e-10)
    pj = (np.exp(prior1)[None, :, None] * np.exp(trans)).mean(axis=0)  # P(c1, c2) over the units
    assert np.allclose(res.transition_matrix("c2", "c1").to_numpy(), pj / pj.sum(axis=1, keepdims=True), atol=1e-10)
    # a new unit seen at time 1 only: its time-2 class from the transition alone
    new = df[(df.id == 0) & (df.time == 1)].assign(id=999)
    j0 = prior1[:, None] + trans[0] + l1[0][:, None]
    expect = np.exp(j0 - np.logaddexp.reduce(j0.ravel()))
    got = res.predict(new, which="posterior").loc[999]
    for c1, c2 in itertools.product(range(2), range(2)):
        assert got[f"c1#{c1 + 1}.c2#{c2 + 1}"] == pytest.approx(expect[c1, c2], abs=1e-10)


def test_within_between_classes_equal_enumeration(rng):
    """C per student and D per school (eq 22-26), outcome parameters specific to (c, d),
    C regressed on D and on x, D on a school covariate w: enumeration over d and c."""
    G, n = 8, 5
    school = np.repeat(np.arange(G), n * 3)
    student = np.repeat(np.arange(G * n), 3)
    item = np.tile(["a", "b", "c"], G * n)
    w = rng.normal(size=G)[school]
    x = rng.normal(size=G * n)[student]
    df = pd.DataFrame({"school": school, "student": student, "item": item, "w": w, "x": x,
                       "y": (rng.uniform(size=school.size) < 0.5).astype(float)})
    lik = lik_of("y ~ 0 + item | c(student) ~ 1 + x + d | d(school) ~ 1 + w", df, {"c": 2, "d": 2})
    assert lik.design.classes.betw == [1] and lik.design.cluster_name == "school"
    theta, par = labelled_point(lik, rng)
    ll = 0.0
    for s, gs in df.groupby("school"):
        wv = gs["w"].iloc[0]
        terms = []
        for dcl in range(2):
            ld = log_softmax([par["logit:d#1:Intercept"] + par["logit:d#1:w"] * wv, 0.0])[dcl]
            lstud = 0.0
            for _, g in gs.groupby("student"):
                xv = g["x"].iloc[0]
                per = []
                for c in range(2):
                    lc = log_softmax([par["logit:c#1:Intercept"] + par["logit:c#1:x"] * xv
                                      + (par["logit:c#1:d#1"] if dcl == 0 else 0.0), 0.0])[c]
                    eta = np.array([par[f"c#{c + 1}.d#{dcl + 1}:item[{it}]"] for it in g["item"]])
                    per.append(lc + (g["y"].to_numpy() * eta - np.logaddexp(0, eta)).sum())
                lstud += np.logaddexp.reduce(per)
            terms.append(ld + lstud)
        ll += np.logaddexp.reduce(terms)
    assert lik.loglik(theta) == pytest.approx(ll, abs=1e-9)


def test_measurement_invariance_ties_item_parameters(rng):
    df = lta_data(rng, times=2)
    lik = lik_of("y ~ 0 + item | c1(id) ~ 1 | c2(id) ~ 1 + c1", df, {"c1": 2, "c2": 2},
                 measured_by="time", measurement_invariance=True)
    L = lik.layout
    assert L.n_free == 3 * 2 + 1 + 2  # items x classes, P(C1), C2's intercept and C1 effect
    assert "c1,c2#1:item[u0]" in L.labels
    P = L.unpack(L.expand(rng.normal(size=L.n_free)))
    d = lik.design
    for j, name in enumerate(d.x_names):  # time-1 copy of an item in class k == time-2 copy
        other = [i for i, n in enumerate(d.x_names) if n == name and i != j][0]
        np.testing.assert_array_equal(P["beta"][j, [0, 1]], P["beta"][other, [0, 2]][[0, 1]])


# --------------------------------------------------------------------------- gradients
GRAD_CASES = [
    ("y ~ 0 + item | c1(id) ~ 1 + x | c2(id) ~ 1 + c1 + x", {"c1": 2, "c2": 3}, "time", {}),
    ("y ~ 0 + item | c1(id) ~ 1 + (1 | room) | c2(id) ~ 1 + c1 + (1 | room)", {"c1": 2, "c2": 2}, "time",
     {"measurement_invariance": True}),
    ("y ~ 0 + item | c1(id) ~ 1 + (1 || room) | c2(id) ~ 1 + c1", {"c1": 3, "c2": 2}, "time", {}),
    ("y ~ 0 + item + (1 | room) | c(id) ~ 1 + d | d(room) ~ 1", {"c": 2, "d": 2}, None,
     {"class_specific": ["random"]}),
    ("y ~ 0 + item | c(id) ~ 1 + x + d | d(room) ~ 1", {"c": 2, "d": 3}, {"c": True}, {}),
]


GRAD_CASES += [
    ("y ~ 0 + x | c1(id) ~ 1 | c2(id) ~ 1 + c1", {"c1": 2, "c2": 2}, "time",
     {"family": "ordinal", "thresholds_by": "item", "measurement_invariance": True}),
    ("y ~ 0 + x | c1(id) ~ 1 | c2(id) ~ 1 + c1", {"c1": 2, "c2": 3}, "time", {"family": "ordinal"}),
]


@pytest.mark.parametrize("formula, sizes, measured_by, kw", GRAD_CASES)
def test_multiclass_gradient_matches_finite_differences(formula, sizes, measured_by, kw, rng):
    times = 2 if measured_by == "time" else 1
    df = lta_data(rng, n=30, times=times, rooms=6)
    if kw.get("family") == "ordinal":
        df["y"] = rng.integers(0, 3, size=len(df)).astype(float)
    lik = lik_of(formula, df, sizes, measured_by=measured_by, **kw)
    check_derivatives(lik, 0.5 * rng.standard_normal(lik.layout.n_free), symmetric=True)


# --------------------------------------------------------------------------- errors
def test_bad_multiclass_input_gives_clear_errors(rng):
    df = lta_data(rng, times=2)
    lta = "y ~ 0 + item | c1(id) ~ 1 | c2(id) ~ 1 + c1"
    with pytest.raises(DesignError, match="measured_by"):
        gm.fit(lta, df, n_classes=2, family="bernoulli")
    with pytest.raises(DesignError, match=r"3 distinct value\(s\) \[1, 2, 3\] but the formula has 2"):
        gm.fit(lta, pd.concat([df, df[df.time == 2].assign(time=3)]), n_classes=2, family="bernoulli",
               measured_by="time")
    with pytest.raises(DesignError, match="1 distinct value"):
        gm.fit(lta, df.assign(time=1), n_classes=2, family="bernoulli", measured_by="time")
    with pytest.raises(DesignError, match="measured by no class variable"):
        gm.fit(lta, df, n_classes=2, family="bernoulli", measured_by={"c1": "time == 1"})
    with pytest.raises(FormulaError, match="cycle"):
        gm.fit("y ~ 0 + item | c1(id) ~ 1 + c2 | c2(id) ~ 1 + c1", df, n_classes=2, family="bernoulli",
               measured_by="time")
    with pytest.raises(DesignError, match="not class variables"):
        gm.fit(lta, df, n_classes={"c1": 2, "c3": 2}, family="bernoulli", measured_by="time")
    with pytest.raises(DesignError, match="measurement_invariance"):
        gm.fit(lta, df, n_classes={"c1": 2, "c2": 3}, family="bernoulli", measured_by="time",
               measurement_invariance=True)
    # a selector giving values, not True/False, was read as "nonzero": measured_by={"c1": "time"}
    # made every row (time 1 or 2) measure c1
    with pytest.raises(DesignError, match=r"measured_by\['c1'\] = 'time' must give True or False for each row"):
        gm.fit(lta, df, n_classes=2, family="bernoulli", measured_by={"c1": "time", "c2": "time == 2"})
    with pytest.raises(DesignError, match=r"measured_by\['c2'\] must give True or False .* values such as 0\.5"):
        gm.fit(lta, df, n_classes=2, family="bernoulli",
               measured_by={"c1": "time == 1", "c2": np.where(df.time == 2, 1.0, 0.5)})
    zero_one = gm.fit(lta, df, n_classes=2, family="bernoulli", seed=1, starts=(2, 1), se="none",
                      measured_by={"c1": (df.time == 1).astype(int).to_numpy(), "c2": df.time == 2})
    assert zero_one.llf == pytest.approx(gm.fit(lta, df, n_classes=2, family="bernoulli", seed=1, starts=(2, 1),
                                                se="none", measured_by="time").llf, abs=1e-8)
    # a parent without an intercept would hold the logit of its last class at 0 (R's ~ 0 + f
    # codes every level instead); it was fitted as that constrained model without a word
    for no_intercept in ("0 + c1", "c1 - 1"):
        with pytest.raises(FormulaError, match=r"class part of 'c2' .* \(c1\) but no intercept.*'c2 ~ 1 \+ c1'"):
            gm.fit(f"y ~ 0 + item | c1(id) ~ 1 | c2(id) ~ {no_intercept}", df, n_classes=2, family="bernoulli",
                   measured_by="time")
    df["room"] = df["id"] % 5
    with pytest.raises(FormulaError, match="cannot be predicted by within-level"):
        gm.fit("y ~ 0 + item | c(id) ~ 1 | d(room) ~ 1 + c", df, n_classes=2, family="bernoulli")
    with pytest.raises(DesignError, match="varies within 'room'"):
        gm.fit("y ~ 0 + item | c(id) ~ 1 | d(room) ~ 1 + x", df, n_classes=2, family="bernoulli")


def test_parameters_in_a_null_direction_of_the_information_get_no_se(rng):
    # items invariant across classes at both times: the class logits are not identified (the
    # likelihood is that of one class whatever they are); the pseudo-inverse gave them SEs of ~0
    df = lta_data(rng, n=60, items=3, times=2)
    with pytest.warns(gm.SingularInformationWarning):
        res = gm.fit("y ~ 0 + item | c1(id) ~ 1 | c2(id) ~ 1 + c1", df, n_classes=2, family="bernoulli",
                     measured_by="time", invariant=["item"], seed=1, starts=(2, 1))
    logits = res.bse.filter(like="logit:")
    assert logits.size == 3 and logits.isna().all()
    items = res.bse.drop(logits.index)
    assert np.isfinite(items).all() and (items > 0.1).all()  # 60 binary responses per item and time


# --------------------------------------------------------------------------- recovery
def test_lta_with_covariate_recovers_parameters(tmp_path):
    """Simulate a single-level LTA (C1 ~ x, C2 ~ C1 + x, invariant items) and refit."""
    rng = np.random.default_rng(11)
    n, items = 1500, 6
    base = pd.DataFrame([(i, t, f"u{j}") for i in range(n) for t in (1, 2) for j in range(items)],
                        columns=["id", "time", "item"])
    base["x"] = rng.normal(size=n)[base["id"]]
    f = "y ~ 0 + item | c1(id) ~ 1 + x | c2(id) ~ 1 + c1 + x"
    truth = {f"c1,c2#1:item[u{j}]": 1.5 for j in range(items)}
    truth.update({f"c1,c2#2:item[u{j}]": -1.5 for j in range(items)})
    truth.update({"logit:c1#1:Intercept": 0.2, "logit:c1#1:x": 0.8, "logit:c2#1:Intercept": -1.5,
                  "logit:c2#1:c1#1": 3.0, "logit:c2#1:x": 0.5})
    df = gm.simulate(f, base, params=truth, n_classes=2, family="bernoulli", seed=4, measured_by="time",
                     measurement_invariance=True)
    assert set(df["true_c1"]) == {1, 2}
    res = gm.fit(f, df, n_classes=2, family="bernoulli", measured_by="time", measurement_invariance=True,
                 seed=2, starts=(10, 3), start_values={k: v for k, v in truth.items() if "item" in k})
    est, se = res.params, res.bse
    for lab, v in truth.items():
        assert abs(est[lab] - v) < 4 * se[lab] + 0.05, (lab, est[lab], v, se[lab])
    # derived transition probabilities are consistent with the parameters
    d = res.derived()
    assert d.loc["P(c2#1|c1#1)", "value"] + d.loc["P(c2#2|c1#1)", "value"] == pytest.approx(1.0)
    assert "c1: 2, c2: 2 (4 joint states)" in str(res.summary())
    res.save(tmp_path / "lta.json")
    back = gm.MixtureResults.load(tmp_path / "lta.json")
    pd.testing.assert_frame_equal(back.transition_matrix("c2", "c1"), res.transition_matrix("c2", "c1"))
    assert list(back.posterior.columns) == ["c1#1.c2#1", "c1#2.c2#1", "c1#1.c2#2", "c1#2.c2#2"]


def test_within_between_recovery_and_class_specific_random_effects():
    """C within, D between (Section 6): D shifts C's logit and has its own random-intercept SD."""
    G, n, items = 120, 12, 5
    base = pd.DataFrame([(g, g * n + i, f"u{j}") for g in range(G) for i in range(n) for j in range(items)],
                        columns=["school", "student", "item"])
    f = "y ~ 0 + item + (1 | school) | c(student) ~ 1 + d | d(school) ~ 1"
    truth = {f"c#1:item[u{j}]": 1.5 for j in range(items)}
    truth.update({f"c#2:item[u{j}]": -1.5 for j in range(items)})
    # class 1 the larger of each variable (P(c#1) = 0.64, P(d#1) = 0.62): fits report classes by size
    truth.update({"logit:c#1:Intercept": -0.5, "logit:c#1:d#1": 2.0, "logit:d#1:Intercept": 0.5,
                  "d#1:sd(school:Intercept)": 1.0, "d#2:sd(school:Intercept)": 0.3})
    kw = dict(n_classes=2, family="bernoulli", measured_by={"c": True}, class_specific=["random"])
    df = gm.simulate(f, base, params=truth, seed=3, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = gm.fit(f, df, seed=1, starts=(8, 2), start_values={k: v for k, v in truth.items() if "item" in k},
                     **kw)
    for lab, v in truth.items():
        if "sd(" in lab:
            continue
        assert abs(res.params[lab] - v) < 4 * res.bse[lab] + 0.05, (lab, res.params[lab], v)
    sd1, sd2 = res.params["d#1:sd(school:Intercept)"], res.params["d#2:sd(school:Intercept)"]
    assert sd1 > sd2 and abs(sd1 - 1.0) < 4 * res.bse["d#1:sd(school:Intercept)"] + 0.05


# --------------------------------------------------------------------------- reference
def test_lta_on_toca_matches_independent_r_implementation():
    """Single-level LTA on toca_sim against tests/reference/values/lta_toca.json: an
    independent R implementation (forward sum over the 4 joint states, EM from 100 starts,
    BFGS polish; R 4.2.2), cross-checked with R's msm 1.7 (hidden Markov model) to 1e-9.
    Class 1 = the disruptive class (the start values label it, as in the vignette)."""
    import json
    from pathlib import Path

    ref = json.loads((Path(__file__).parent / "reference" / "values" / "lta_toca.json").read_text())
    df = gm.datasets.load("toca_sim")
    items = ref["data"]["items"]
    label = {f"c1,c2#{k}:item[{it}]": (1.0 if k == 1 else -1.0) for it in items for k in (1, 2)}
    kw = dict(n_classes=2, family="bernoulli", measured_by="time")
    res = gm.fit("y ~ 0 + item | c1(student) ~ 1 | c2(student) ~ 1 + c1", df, measurement_invariance=True,
                 starts=0, start_values=label, **kw)
    assert res.llf == pytest.approx(ref["loglik"], abs=1e-4)
    assert res.df_model == ref["n_params"]
    der = res.derived()["value"]
    assert der["P(c1#1)"] == pytest.approx(ref["p_c1"][0], abs=1e-4)
    tm = res.transition_matrix("c2", "c1").to_numpy()
    np.testing.assert_allclose(tm, ref["transition"], atol=1e-4)
    prof = res.profile()
    for it in items:
        np.testing.assert_allclose(prof.loc[f"c1:item[{it}]", ["class1", "class2"]], ref["items"][it], atol=1e-4)
    se_ref = ref["invariant"]["p_c1_se"][0]
    assert res.derived()["se"]["P(c1#1)"] == pytest.approx(se_ref, rel=0.02)
    # without measurement invariance (43 parameters)
    label2 = {f"c{t}#{k}:item[{it}]": (1.0 if k == 1 else -1.0) for it in items for k in (1, 2) for t in (1, 2)}
    res2 = gm.fit("y ~ 0 + item | c1(student) ~ 1 | c2(student) ~ 1 + c1", df, starts=0, start_values=label2, **kw)
    assert res2.llf == pytest.approx(ref["loglik_noninvariant"], abs=1e-4)
    assert res2.df_model == ref["n_params_noninvariant"]
    lr = gm.lrtest(res, res2)
    assert float(lr["statistic"]) == pytest.approx(ref["lr_test_invariance"]["statistic"], abs=1e-3)


def test_two_level_lta_integration_rules_agree():
    """The two-level LTA's log-likelihood at one parameter vector: adaptive Gauss-Hermite
    (the default here) against a fine trapezoid rule."""
    from glmmix.quadrature import Integration

    df = gm.datasets.load("toca_sim")
    df = df[df.classroom <= 12]
    f = "y ~ 0 + item | c1(student) ~ 1 + (1 | classroom) | c2(student) ~ 1 + c1 + (1 | classroom)"
    d = build_design(parse_formula(f), df, 2, get_family("bernoulli"), measured_by="time",
                     class_sizes={"c1": 2, "c2": 2})
    L = ParamLayout(d, measurement_invariance=True)
    par = {lab: 0.0 for lab in L.labels}
    par.update({lab: (1.5 if "#1:" in lab else -1.5) for lab in L.labels if "item" in lab})
    par.update({"logit:c2#1:c1#1": 3.5, "logit:c2#1:Intercept": -1.5, "sd(classroom:c1#1)": 1.4,
                "sd(classroom:c2#1)": 0.9, "cor(classroom:c2#1,c1#1)": 0.6})
    lls = {}
    for method, n in (("agh", 9), ("agh", 15), ("trapezoid", 61)):
        lik = MixtureLikelihood(d, L, Integration.make(method, n, d.D, d.n_clusters))
        from glmmix.simulate import from_natural

        theta = from_natural(lik, np.array([par[lab] for lab in L.labels]))
        lls[(method, n)] = lik.adapt(theta)
    assert lls[("agh", 9)] == pytest.approx(lls[("trapezoid", 61)], abs=2e-3)
    assert lls[("agh", 15)] == pytest.approx(lls[("trapezoid", 61)], abs=2e-3)


# --------------------------------------------------------------------------- two-level LTA study
def _two_level_lta_truth():
    """The toca_sim generator's values (glmmix/data/toca_sim.json) on glmmix's scale:
    alpha_1 = mu1 + s1 z, alpha_2 = mu2 + beta alpha_1 + e, so C2's intercept is
    mu2 + beta mu1 and (alpha_1, alpha_2) have SDs s1, sqrt(beta^2 s1^2 + s2^2)."""
    g = gm.datasets.generator("toca_sim")
    p = g["parameters"]
    sd2 = np.sqrt(p["beta"] ** 2 * p["s1"] ** 2 + p["s2"] ** 2)
    truth = {"logit:c1#1:Intercept": p["mu1"], "logit:c2#1:Intercept": p["mu2"] + p["beta"] * p["mu1"],
             "logit:c2#1:c1#1": p["gamma"], "sd(room:c1#1)": p["s1"], "sd(room:c2#1)": sd2,
             "cor(room:c2#1,c1#1)": p["beta"] * p["s1"] / sd2}
    items = list(g["pi"])[:6]
    for it in items:
        for k in (0, 1):
            pi = g["pi"][it][k]
            truth[f"c1,c2#{k + 1}:item[{it}]"] = float(np.log(pi / (1 - pi)))
    return truth, items, p


TWO_LEVEL = "y ~ 0 + item | c1(id) ~ 1 + (1 | room) | c2(id) ~ 1 + c1 + (1 | room)"


def _two_level_study(n_rep, n_rooms, room_size, seed):
    truth, items, p = _two_level_lta_truth()
    base = pd.DataFrame([(r, r * room_size + i, t, it) for r in range(n_rooms) for i in range(room_size)
                         for t in (1, 2) for it in items], columns=["room", "id", "time", "item"])
    kw = dict(n_classes=2, family="bernoulli", measured_by="time", measurement_invariance=True)
    label = {k: v for k, v in truth.items() if "item" in k}

    def generate(rng):
        return gm.simulate(TWO_LEVEL, base, params=truth, seed=rng, **kw)

    def fit(df):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return gm.fit(TWO_LEVEL, df, starts=0, start_values=label, **kw)

    return gm.monte_carlo(generate, fit, truth, n_rep=n_rep, seed=seed), truth, p


def test_two_level_lta_recovers_generating_values():
    """One replication of the study below at a modest size: every parameter within 4 SEs,
    the derived beta of eq 15 too."""
    mc, truth, p = _two_level_study(n_rep=1, n_rooms=50, room_size=20, seed=7)
    assert not mc.failures
    tab = mc.table
    for lab in truth:
        est, se = tab.loc[lab, "mean"], tab.loc[lab, "mean SE"]
        assert abs(est - truth[lab]) < 4 * se + 0.05, (lab, est, truth[lab], se)


@pytest.mark.slow
def test_two_level_lta_monte_carlo():
    """50 replications of 60 classrooms x 20 students: small bias and 95% coverage near
    nominal for the structural parameters (eq 12-15). About 10 minutes.

    The correlation of alpha_1 and alpha_2 (true 0.75) is nearly unbiased (0.759 on seed
    11), but its Wald interval undercovers at 60 clusters (0.82; SE/SD 0.78), as Wald
    intervals of a bounded parameter with a skewed sampling distribution do; only its bias
    is checked."""
    mc, truth, p = _two_level_study(n_rep=50, n_rooms=60, room_size=20, seed=11)
    tab = mc.table
    print(tab.to_string())
    for lab in ("logit:c2#1:c1#1", "sd(room:c1#1)", "logit:c1#1:Intercept", "cor(room:c2#1,c1#1)"):
        assert abs(tab.loc[lab, "bias"]) < 0.25 * abs(truth[lab]) + 0.05, tab.loc[lab]
        if not lab.startswith("cor("):
            assert 0.85 <= tab.loc[lab, "coverage"] <= 1.0, tab.loc[lab]


def test_markov_lta_is_nested_in_the_full_recursive_system():
    """Three times; data from a first-order Markov chain (C3 depends on C2 only). The full
    recursive system (C3 ~ C1 + C2) adds one parameter and fits no worse; the LR statistic
    is small, and the Markov model has no C1 -> C3 effect."""
    rng = np.random.default_rng(8)
    n, items = 800, 5
    base = pd.DataFrame([(i, t, f"u{j}") for i in range(n) for t in (1, 2, 3) for j in range(items)],
                        columns=["id", "time", "item"])
    markov = "y ~ 0 + item | c1(id) ~ 1 | c2(id) ~ 1 + c1 | c3(id) ~ 1 + c2"
    full = "y ~ 0 + item | c1(id) ~ 1 | c2(id) ~ 1 + c1 | c3(id) ~ 1 + c1 + c2"
    truth = {f"c1,c2,c3#{k}:item[u{j}]": (1.5 if k == 1 else -1.5) for j in range(items) for k in (1, 2)}
    truth.update({"logit:c1#1:Intercept": 0.0, "logit:c2#1:Intercept": -1.5, "logit:c2#1:c1#1": 3.0,
                  "logit:c3#1:Intercept": -1.5, "logit:c3#1:c2#1": 3.0})
    kw = dict(n_classes=2, family="bernoulli", measured_by="time", measurement_invariance=True)
    df = gm.simulate(markov, base, params=truth, seed=rng, **kw)
    label = {k: v for k, v in truth.items() if "item" in k}
    m = gm.fit(markov, df, starts=0, start_values=label, **kw)
    f = gm.fit(full, df, starts=0, start_values=label, **kw)
    assert "logit:c3#1:c1#1" not in m.params.index and "logit:c3#1:c1#1" in f.params.index
    assert f.df_model == m.df_model + 1
    assert f.llf >= m.llf - 1e-6
    assert 2 * (f.llf - m.llf) < 10.8  # chi2(1) 0.999 quantile
    for lab in ("logit:c2#1:c1#1", "logit:c3#1:c2#1"):
        assert abs(m.params[lab] - truth[lab]) < 4 * m.bse[lab]
    assert m.transition_matrix("c3", "c2").shape == (2, 2)


def test_ordinal_lta_thresholds_follow_their_class_variable(rng):
    """Ordinal items (cumulative logit): thresholds per item are class-specific and, with
    measurement invariance, equal across time; the likelihood equals enumeration."""
    df = lta_data(rng, n=25, items=2, times=2)
    df["y"] = rng.integers(0, 3, size=len(df)).astype(float)
    f = "y ~ 0 + x | c1(id) ~ 1 | c2(id) ~ 1 + c1"
    lik = lik_of(f, df, {"c1": 2, "c2": 2}, family="ordinal", measured_by="time", thresholds_by="item",
                 measurement_invariance=True)
    L = lik.layout
    assert "c1,c2#1:threshold[u0:1]" in L.labels and "c1,c2#2:threshold[u1:2]" in L.labels
    assert L.n_free == 2 * (2 * 2 + 1) + 1 + 2  # classes x (items x 2 thresholds + x), logits
    theta = 0.5 * rng.normal(size=L.n_free)
    nat = dict(zip(L.labels, natural_params(lik, theta)))
    ll = 0.0
    for _, g in df.groupby("id"):
        tot = []
        for c1, c2 in itertools.product(range(2), range(2)):
            lp = log_softmax([nat["logit:c1#1:Intercept"], 0.0])[c1]
            lp += log_softmax([nat["logit:c2#1:Intercept"] + (nat["logit:c2#1:c1#1"] if c1 == 0 else 0.0), 0.0])[c2]
            for _, r in g.iterrows():
                c = (c1, c2)[int(r.time) - 1]
                eta = nat[f"c1,c2#{c + 1}:x"] * r.x
                cut = [-np.inf] + [nat[f"c1,c2#{c + 1}:threshold[{r['item']}:{k}]"] for k in (1, 2)] + [np.inf]
                k = int(r.y)
                lp += np.log(expit(cut[k + 1] - eta) - expit(cut[k] - eta))
            tot.append(lp)
        ll += np.logaddexp.reduce(tot)
    assert lik.loglik(theta) == pytest.approx(ll, abs=1e-8)


def test_relabelling_joint_states_keeps_the_likelihood(rng):
    """Relabelling each class variable (logits re-expressed against new reference classes,
    parents' shifts moved into intercepts) leaves the log-likelihood unchanged; fits report
    every variable's classes in decreasing size (one order for measurement-invariant items)."""
    df = lta_data(rng, n=40, times=3)
    f = "y ~ 0 + item | c1(id) ~ 1 + x | c2(id) ~ 1 + c1 + x | c3(id) ~ 1 + c1 + c2"
    lik = lik_of(f, df, {"c1": 2, "c2": 3, "c3": 2}, measured_by="time")
    L = lik.layout
    theta = rng.normal(size=L.n_free)
    for perms in ([[1, 0], [2, 0, 1], [0, 1]], [[0, 1], [1, 2, 0], [1, 0]], [[1, 0], [0, 1, 2], [1, 0]]):
        assert L.permutation_allowed(perms)
        th2 = L.from_full(L.permute_full(L.expand(theta), perms))
        assert lik.loglik(th2) == pytest.approx(lik.loglik(theta), abs=1e-9)
    # invariant items: only a common relabelling keeps the ties
    lik2 = lik_of("y ~ 0 + item | c1(id) ~ 1 | c2(id) ~ 1 + c1", lta_data(rng, times=2), {"c1": 2, "c2": 2},
                  measured_by="time", measurement_invariance=True)
    assert lik2.layout.permutation_allowed([[1, 0], [1, 0]])
    assert not lik2.layout.permutation_allowed([[1, 0], [0, 1]])
    df = gm.datasets.load("toca_sim")
    res = gm.fit("y ~ 0 + item | c1(student) ~ 1 | c2(student) ~ 1 + c1", df, n_classes=2, family="bernoulli",
                 measured_by="time", measurement_invariance=True, seed=5, starts=(6, 2))
    der = res.derived()["value"]
    assert der["P(c1#1)"] >= der["P(c1#2)"]
    assert res.llf == pytest.approx(-11242.8222, abs=1e-3)


def test_between_regressions_are_reported_per_class_when_class_specific(rng):
    """eq 25: [eta_j | D_j = d] has its own covariance per d, so the between-level regression
    of the random slope on the random intercept is reported for each class."""
    df = lta_data(rng, n=30, times=1, rooms=6)
    lik = lik_of("y ~ 0 + item + (1 + x | room) | c(id) ~ 1 + d | d(room) ~ 1", df, {"c": 2, "d": 2},
                 class_specific=["random"])
    theta = rng.normal(size=lik.layout.n_free)
    nat = dict(zip(lik.layout.labels, natural_params(lik, theta)))
    names, vals = derived(lik, theta)
    der = dict(zip(names, vals))
    for k in (1, 2):
        slope = nat[f"d#{k}:cor(room:x,Intercept)"] * nat[f"d#{k}:sd(room:x)"] / nat[f"d#{k}:sd(room:Intercept)"]
        assert der[f"d#{k}:regression(room:x on Intercept)"] == pytest.approx(slope, rel=1e-9)


# --------------------------------------------------------------------------- regressions (eq 15)
@pytest.mark.parametrize("formula, sizes, measured_by", [
    ("y ~ 0 + item | c1(id) ~ 1 + (1 | room) | c2(id) ~ 1 + c1 + (1 | room)", {"c1": 2, "c2": 2}, "time"),
    ("y ~ 0 + item + (1 + x | room) | c(id) ~ 1", {"c": 2}, None),
])
def test_regression_parameterization_gradient(formula, sizes, measured_by, rng):
    df = lta_data(rng, n=30, times=2 if measured_by else 1, rooms=6)
    n_classes = 2 if len(sizes) == 1 else sizes
    lik = MixtureModel.from_formula(formula, df, n_classes, "bernoulli", measured_by=measured_by,
                                    re_parameterization="regression", integration="agh").likelihood
    assert any(lab.startswith("regression(room:") for lab in lik.layout.labels)
    check_derivatives(lik, 0.5 * rng.standard_normal(lik.layout.n_free))


def test_regression_parameterization_is_the_same_model_and_can_be_constrained():
    """alpha_2 = beta alpha_1 + e as parameters (eq 15): the same maximum as the Cholesky
    form, beta equal to the derived regression, and beta fixed at 0 equals independent
    random intercepts (||)."""
    df = gm.datasets.load("toca_sim")
    df = df[df.classroom <= 30]
    f = "y ~ 0 + item | c1(student) ~ 1 + (1 | classroom) | c2(student) ~ 1 + c1 + (1 | classroom)"
    kw = dict(n_classes=2, family="bernoulli", measured_by="time", measurement_invariance=True, starts=0)
    chol = gm.fit(f, df, **kw)
    reg = gm.fit(f, df, re_parameterization="regression", start_from=chol, **kw)
    assert reg.llf == pytest.approx(chol.llf, abs=1e-4)
    b = "regression(classroom:c2#1 on c1#1)"
    assert reg.params[b] == pytest.approx(chol.derived().loc[b, "value"], abs=2e-3)
    assert reg.bse[b] == pytest.approx(chol.derived().loc[b, "se"], rel=0.05)
    assert reg.params["residual sd(classroom:c2#1)"] == pytest.approx(
        chol.derived().loc["residual sd(classroom:c2#1)", "value"], abs=2e-3)
    zero = gm.fit(f, df, re_parameterization="regression", fix={b: 0.0}, start_from=chol, **kw)
    assert zero.llf < reg.llf
    # beta = 0 is the model with independent intercepts (||): equal likelihoods at equal values
    from glmmix.simulate import from_natural

    ind = gm.fit(f.replace("(1 | classroom)", "(1 || classroom)"), df, start_from=chol, se="none", **kw)
    alias = {"sd(classroom:c2#1)": "residual sd(classroom:c2#1)"}
    vals = np.array([zero.params[alias.get(lab, lab)] for lab in ind.params.index])
    assert ind.model.adapt(from_natural(ind.model.likelihood, vals)) == pytest.approx(zero.llf, abs=1e-4)


def test_measured_by_text_order_is_refused_and_categories_keep_their_order():
    """measured_by='time' with time = "pre"/"post": the values were sorted alphabetically, so
    "post" measured c1 and "pre" c2 and the transitions ran backwards without a word (on this
    simulation P(c1 = A) came out 0.53 instead of the true 0.82). Text is now refused; an
    ordered categorical maps its values in category order and gives the fit of the numeric
    coding; the summary says which value measures which variable. Truth: the simulation's
    P(C1 = A) = logistic(1.5) = 0.818, P(C2 = A | C1 = A) = logistic(0.5) = 0.622,
    P(C2 = A | C1 = B) = logistic(-2) = 0.119."""
    n, items = 800, 5
    base = pd.DataFrame([(i, t, f"u{j}") for i in range(n) for t in (1, 2) for j in range(items)],
                        columns=["id", "time", "item"])
    f = "y ~ 0 + item | c1(id) ~ 1 | c2(id) ~ 1 + c1"
    truth = {f"c1,c2#1:item[u{j}]": 2.0 for j in range(items)}
    truth.update({f"c1,c2#2:item[u{j}]": -2.0 for j in range(items)})
    truth.update({"logit:c1#1:Intercept": 1.5, "logit:c2#1:Intercept": -2.0, "logit:c2#1:c1#1": 2.5})
    kw = dict(n_classes=2, family="bernoulli", measurement_invariance=True)
    df = gm.simulate(f, base, params=truth, seed=5, measured_by="time", **kw)
    fit_kw = dict(kw, seed=1, starts=(4, 2), measured_by="time")
    num = gm.fit(f, df, **fit_kw)
    text = df.assign(time=df.time.map({1: "pre", 2: "post"}))
    with pytest.raises(DesignError, match=r"measured_by column 'time' holds text \('pre', 'post'\).*ordered categorical"):
        gm.fit(f, text, **fit_kw)
    cat = gm.fit(f, text.assign(time=pd.Categorical(text.time, categories=["pre", "post"], ordered=True)), **fit_kw)
    assert cat.llf == pytest.approx(num.llf, abs=1e-6)
    tm = cat.transition_matrix("c2", "c1")
    pd.testing.assert_frame_equal(tm, num.transition_matrix("c2", "c1"), atol=1e-5)
    a = int(cat.params["c1,c2#1:item[u0]"] < 0)  # the class with high item probabilities (A)
    pa = cat.derived().loc[f"P(c1#{a + 1})", "value"]
    assert pa == pytest.approx(0.818, abs=0.04)
    assert tm.iloc[a, a] == pytest.approx(0.622, abs=0.06)
    assert tm.iloc[1 - a, a] == pytest.approx(0.119, abs=0.05)
    assert "Measured by:     time: pre -> c1, post -> c2" in str(cat.summary())
    assert "time: 1 -> c1, 2 -> c2" in str(num.summary())


def test_measured_by_dates_survive_save_and_load(tmp_path):
    """A measured_by column of dates: a results file keeps them as ISO text, and a loaded
    result refused new rows' dates as unseen ("not seen in fitting"); the posterior of a new
    unit is now the fitted result's, and the summary shows the dates as dates."""
    df = gm.datasets.load("toca_sim").query("student <= 120")
    df = df.assign(time=pd.to_datetime(df.time.map({1: "2020-09-01", 2: "2021-05-01"})))
    f = "y ~ 0 + item | c1(student) ~ 1 | c2(student) ~ 1 + c1"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = gm.fit(f, df, n_classes=2, family="bernoulli", measured_by="time", seed=1, starts=(3, 1))
    res.save(tmp_path / "dates.json")
    back = gm.load_results(tmp_path / "dates.json")
    new = df[df.student == 3].assign(student=999)
    pd.testing.assert_frame_equal(back.predict(new, which="posterior"), res.predict(new, which="posterior"))
    assert "time: 2020-09-01 -> c1, 2021-05-01 -> c2" in str(res.summary())
    assert str(back.summary()) == str(res.summary())
