"""Fitted values and conditional predictions of mixtures with random effects or factors:
E[y_r | the cluster's responses] = sum over states and nodes of p(state, u | y_g) mu_r(state, u).

References, none of them glmmix's own rule:

* brute force: the same posterior mean by a dense trapezoid rule written here with numpy
  (4,001 points on [-10, 10]; 121 x 121 on [-8, 8] for two latent dimensions), for a
  two-level LCA with random class intercepts, classes within clusters with a random outcome
  intercept (with a class covariate; with between-level classes too), between-level classes
  (binary and ordinal outcomes), a factor mixture (LSAT), an FMA-GoM, the 3PL and a two-level LTA
  (correlated random class intercepts, 121 x 121); units without responses in fitted
  clusters (new students, new rows of a person) too;
* the one-class model: a two-class model whose classes are equal (the one-class estimates
  in both) predicts what the one-class model does;
* the score equations: with a canonical link (logit, log) and a fixed part that spans an
  intercept in every class, the fitted values' sum equals the outcomes' sum at the MLE (for
  every item with item dummies; weighted by binomial trials or frequency weights), because
  the gradient of the class-specific item intercepts is
  sum_r sum_(state, node) p(state, node | y_g) (y_r - mu_r) (Fisher's identity).
"""

import copy
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

import glmmix as gm

U = np.linspace(-10, 10, 4001)  # the brute-force rule: trapezoid weights times phi(u)
WU = np.full(U.size, U[1] - U[0]) * stats.norm.pdf(U)
WU[[0, -1]] /= 2


def _quiet(f, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return f(*a, **k)


def two_level(seed=3, G=25, S=6, between=False):
    """Simulated rooms of students answering 4 binary items: the class is the student's with
    a room effect on its logit, or (``between``) the room's, with a room intercept."""
    rng = np.random.default_rng(seed)
    p = np.array([[0.85, 0.8, 0.75, 0.7], [0.2, 0.25, 0.3, 0.15]])
    rows = []
    for g in range(G):
        a = rng.normal()
        cg = int(rng.random() < 0.4)
        for s in range(S):
            c = cg if between else int(rng.random() < special.expit(0.3 + a))
            for i in range(4):
                pr = special.expit(special.logit(p[c, i]) + (0.6 * a if between else 0.0))
                rows.append((g, g * 100 + s, f"u{i + 1}", int(rng.random() < pr)))
    return pd.DataFrame(rows, columns=["room", "student", "item", "y"])


def _bern(y, eta):
    """Bernoulli densities at logits eta (broadcast)."""
    return np.where(y == 1, special.expit(eta), special.expit(-eta))


def _items(df, p, prefix):
    """The class-specific item intercepts (K, rows)."""
    return np.array([[p[f"class{k}:item[{i}]"] for i in df["item"]] for k in (1, 2)])


# ---------------------------------------------------------------------------------- brute force
@pytest.fixture(scope="module")
def rooms():
    return two_level()


def test_two_level_lca_matches_brute_force(rooms):
    """Student classes whose logit has a random room intercept: p(u | y_g) over the room,
    then each student's class posterior given u."""
    res = _quiet(gm.fit, "y ~ 0 + item | class(student) ~ 1 + (1 | room)", rooms, n_classes=2,
                 family="bernoulli", seed=1, se="none", n_points=41)  # 15 points: within 2.4e-5
    p = res.params
    beta = _items(rooms, p, "class")  # (2, rows)
    pi1 = special.expit(p["logit:class1:Intercept"] + p["sd(room:class1)"] * U)  # (nodes,)
    prior = np.stack([pi1, 1 - pi1])  # (2, nodes)
    want, new = np.empty(len(rooms)), np.empty(len(rooms))
    for g, rows in rooms.groupby("room").groups.items():
        sub = rooms.loc[rows]
        f = _bern(sub["y"].to_numpy()[None], beta[:, rooms.index.get_indexer(rows)])  # (2, rows)
        Ls = np.stack([np.prod(f[:, (sub["student"] == s).to_numpy()], axis=1) for s in sub["student"].unique()], 1)
        joint = prior[:, None, :] * Ls[:, :, None]  # (2, students, nodes)
        pu = WU * np.prod(joint.sum(axis=0), axis=0)
        pu /= pu.sum()
        pc = joint / joint.sum(axis=0)  # each student's class given u
        s_of = pd.Index(sub["student"].unique()).get_indexer(sub["student"])
        mu = special.expit(beta[:, rooms.index.get_indexer(rows)])  # (2, rows)
        want[rooms.index.get_indexer(rows)] = np.einsum("n,krn,kr->r", pu, pc[:, s_of], mu)
        new[rooms.index.get_indexer(rows)] = np.einsum("n,kn,kr->r", pu, prior, mu)  # class from its prior at u
    np.testing.assert_allclose(res.fittedvalues.to_numpy(), want, rtol=1e-7)
    np.testing.assert_allclose(res.resid.to_numpy(), rooms["y"] - want, atol=1e-7)
    # rows of new students of fitted rooms, conditioned on the rooms' fitted responses
    rows = rooms[rooms["room"].isin([2, 9])]
    got = res.predict(rows.drop(columns="y").assign(student=rows["student"] + 10_000), which="conditional")
    np.testing.assert_allclose(got.to_numpy(), pd.Series(new, rooms.index).loc[rows.index].to_numpy(), rtol=1e-7)
    # fitted students' rows without responses: from the rooms' posteriors (room column given)
    # or from the students' posteriors (no room column), alike
    fitted_rows = rows.drop(columns="y")
    np.testing.assert_allclose(res.predict(fitted_rows, which="conditional").to_numpy(),
                               pd.Series(want, rooms.index).loc[rows.index].to_numpy(), rtol=1e-7)
    np.testing.assert_allclose(res.predict(fitted_rows.drop(columns="room"), which="conditional").to_numpy(),
                               pd.Series(want, rooms.index).loc[rows.index].to_numpy(), rtol=1e-7)
    np.testing.assert_allclose(res.predict(fitted_rows.drop(columns="room")).to_numpy(),  # marginal
                               res.predict(fitted_rows).to_numpy(), rtol=1e-12)


def _inside_effect_reference(df, p, sd, ci=None):
    """Student classes (prior P(class1) = expit(gamma)) and a random room intercept sd * u in
    the outcome: E[y_r | room] by brute force."""
    beta = _items(df, p, "class")
    pi1 = special.expit(p["logit:class1:Intercept"])
    prior = np.array([pi1, 1 - pi1])
    want, new = np.empty(len(df)), np.empty(len(df))
    for g, rows in df.groupby("room").groups.items():
        at = df.index.get_indexer(rows)
        sub = df.loc[rows]
        eta = beta[:, at, None] + sd * U  # (2, rows, nodes)
        f = _bern(sub["y"].to_numpy()[None, :, None], eta)
        studs = sub["student"].unique()
        s_of = pd.Index(studs).get_indexer(sub["student"])
        Ls = np.stack([np.prod(f[:, s_of == j], axis=1) for j in range(len(studs))], 1)  # (2, students, nodes)
        joint = prior[:, None, None] * Ls
        pu = WU * np.prod(joint.sum(axis=0), axis=0)
        pu /= pu.sum()
        pc = joint / joint.sum(axis=0)
        want[at] = np.einsum("n,krn,krn->r", pu, pc[:, s_of], special.expit(eta))
        new[at] = np.einsum("n,k,krn->r", pu, prior, special.expit(eta))
    return want, new


def test_student_classes_with_a_room_intercept_match_brute_force(rooms):
    res = _quiet(gm.fit, "y ~ 0 + item + (1 | room) | class(student) ~ 1", rooms, n_classes=2,
                 family="bernoulli", seed=1, se="none")
    want, new = _inside_effect_reference(rooms, res.params, res.params["sd(room:Intercept)"])
    np.testing.assert_allclose(res.fittedvalues.to_numpy(), want, rtol=1e-6)
    np.testing.assert_allclose(res.predict(which="conditional").to_numpy(), want, rtol=1e-6)
    # the rows given as new data with their responses (responses="newdata"), or without them
    # (conditioned on the fitted responses): the same, in newdata's order
    sub = rooms[rooms["room"].isin([3, 7])].iloc[::-1]
    np.testing.assert_allclose(res.predict(sub, which="conditional").to_numpy(),
                               pd.Series(want, rooms.index).loc[sub.index].to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(res.predict(sub.drop(columns="y"), which="conditional").to_numpy(),
                               pd.Series(want, rooms.index).loc[sub.index].to_numpy(), rtol=1e-6)
    # new students of fitted rooms beside fitted ones: the room's posterior of its effect times
    # the class prior
    mixed = pd.concat([sub.head(5), sub.assign(student=sub["student"] + 10_000)]).drop(columns="y")
    np.testing.assert_allclose(res.predict(mixed, which="conditional").to_numpy(),
                               np.r_[pd.Series(want, rooms.index).loc[sub.index[:5]],
                                     pd.Series(new, rooms.index).loc[sub.index]], rtol=1e-6)
    with pytest.raises(gm.DesignError, match=r"1 unit\(s\) of newdata sit in another cluster.*'student' 300 in "
                       "'room' 7, fitted in 3"):
        res.predict(sub[sub["room"] == 7].drop(columns="y").assign(student=300), which="conditional")
    with pytest.raises(gm.DesignError, match="'room' in newdata were not fitted.*999"):
        res.predict(sub.drop(columns="y").assign(room=999), which="conditional")


def test_between_level_classes_match_brute_force():
    """Room classes outside the integral (eq 18): p(class, u | y_g), each class with its own
    adapted nodes in glmmix."""
    df = two_level(seed=5, G=30, between=True)
    res = _quiet(gm.fit, "y ~ 0 + item + (1 | room) | class(room) ~ 1", df, n_classes=2, family="bernoulli",
                 seed=1, se="none")
    p = res.params
    assert 0.1 < res.class_proportions.min()  # two real classes
    beta = _items(df, p, "class")
    sd = p["sd(room:Intercept)"]
    pi1 = special.expit(p["logit:class1:Intercept"])
    want = np.empty(len(df))
    marg = np.empty(len(df))
    for g, rows in df.groupby("room").groups.items():
        at = df.index.get_indexer(rows)
        eta = beta[:, at, None] + sd * U
        lj = np.log([pi1, 1 - pi1])[:, None] + np.log(_bern(df["y"].to_numpy()[at][None, :, None], eta)).sum(1)
        w = WU * np.exp(lj - lj.max())  # (2, nodes)
        w /= w.sum()
        want[at] = np.einsum("kn,krn->r", w, special.expit(eta))
        marg[at] = np.einsum("k,n,krn->r", [pi1, 1 - pi1], WU, special.expit(eta))
    np.testing.assert_allclose(res.fittedvalues.to_numpy(), want, rtol=1e-6)
    np.testing.assert_allclose(res.predict(which="marginal").to_numpy(), marg, rtol=1e-6)


@pytest.fixture(scope="module")
def lsat():
    return gm.wide_to_long(gm.datasets.load("lsat"))


@pytest.fixture(scope="module")
def fma(lsat):
    return _quiet(gm.fit, "y ~ 0 + item + rr(0 + item | id, 1) | class(id) ~ 1", lsat, n_classes=2,
                  family="bernoulli", seed=1, starts=(6, 2), se="none")


def test_factor_mixture_matches_brute_force(fma, lsat, tmp_path):
    p = fma.params
    beta = _items(lsat, p, "class")  # (2, rows)
    lam = np.array([p[f"loading(id:item[{i}])"] for i in lsat["item"]])
    pi1 = special.expit(p["logit:class1:Intercept"])
    ids = lsat["id"].to_numpy()
    order = np.argsort(ids, kind="stable")
    eta = beta[:, order, None] + lam[order, None] * U  # persons' rows together, 5 items each
    y = lsat["y"].to_numpy()[order]
    n = len(np.unique(ids))
    lf = np.log(_bern(y[None, :, None], eta)).reshape(2, n, 5, -1).sum(axis=2)  # (2, persons, nodes)
    lj = np.log([pi1, 1 - pi1])[:, None, None] + lf
    w = WU * np.exp(lj - lj.max(axis=(0, 2), keepdims=True))
    w /= w.sum(axis=(0, 2), keepdims=True)
    mu = special.expit(eta).reshape(2, n, 5, -1)
    want = np.empty(len(lsat))
    want[order] = np.einsum("kpn,kpin->pi", w, mu).ravel()
    np.testing.assert_allclose(fma.fittedvalues.to_numpy(), want, rtol=1e-6)
    marg = np.empty(len(lsat))
    marg[order] = np.einsum("k,n,kpin->pi", [pi1, 1 - pi1], WU, mu).ravel()
    np.testing.assert_allclose(fma.predict(which="marginal").to_numpy(), marg, rtol=1e-6)
    # a person's item not in the data, conditioned on the person's fitted responses: the same
    # weights on that item's means (here the fitted item, given without its response)
    rows = lsat[lsat["id"].isin([3, 500])]
    np.testing.assert_allclose(fma.predict(rows.drop(columns="y"), which="conditional").to_numpy(),
                               pd.Series(want, lsat.index).loc[rows.index].to_numpy(), rtol=1e-6)
    # a saved and loaded result conditions on newdata's responses alike
    fma.save(tmp_path / "fma.json")
    loaded = gm.load_results(tmp_path / "fma.json")
    np.testing.assert_allclose(loaded.predict(rows, which="conditional", responses="newdata").to_numpy(),
                               pd.Series(want, lsat.index).loc[rows.index].to_numpy(), rtol=1e-6)


def _at(res, values):
    """The result at parameters ``values`` (reported scale; the rest as fitted)."""
    out = copy.copy(res)
    out.theta = res.model.starting_values(start_params=res.theta, start_values=values)
    out.limit = None  # not the limiting model's predictions (a fit at a boundary reports its limit's)
    return out


def test_fma_gom_matches_brute_force(lsat):
    """Classes per response with a random class logit and a factor in the outcome (eq 38-41):
    two latent dimensions, a 121 x 121 trapezoid rule here; at chosen parameters (the MLE of
    a small sample is at a boundary: sd(id:class1) = 1000, a step in the class logit that no
    rule integrates)."""
    sub = lsat[lsat["id"] < 30]
    fit = _quiet(gm.fit, "y ~ 0 + item + rr(0 + item | id, 1) | class ~ 1 + (1 | id)", sub, n_classes=2,
                 family="bernoulli", seed=1, starts=(1, 1), se="none")
    values = {"logit:class1:Intercept": 0.3, "sd(id:class1)": 1.2}
    for j, (b1, b2, lam) in enumerate([(1.0, -1.0, 0.8), (0.5, -1.5, 1.1), (0.0, -0.5, 0.6), (-0.5, -2.0, 0.9),
                                       (1.5, 0.0, 1.3)]):
        values.update({f"class1:item[I{j + 1}]": b1, f"class2:item[I{j + 1}]": b2, f"loading(id:item[I{j + 1}])": lam})
    res = _at(fit, values)
    p = pd.Series(values)
    t = np.linspace(-8, 8, 121)
    wt = np.full(t.size, t[1] - t[0]) * stats.norm.pdf(t)
    wt[[0, -1]] /= 2
    beta = _items(sub, p, "class")
    lam = np.array([p[f"loading(id:item[{i}])"] for i in sub["item"]])
    pi1 = special.expit(p["logit:class1:Intercept"] + p["sd(id:class1)"] * t)  # (v,): the class logit's effect
    prior = np.stack([pi1, 1 - pi1])  # (2, v)
    want, marg, new = np.empty(len(sub)), np.empty(len(sub)), np.empty(len(sub))
    for _, rows in sub.groupby("id").groups.items():
        at = sub.index.get_indexer(rows)
        eta = beta[:, at, None] + lam[at, None] * t  # (2, rows, u)
        f = _bern(sub["y"].to_numpy()[at][None, :, None], eta)
        joint = prior[:, None, None, :] * f[..., None]  # (2, rows, u, v)
        puv = wt[:, None] * wt[None, :] * np.prod(joint.sum(axis=0), axis=0)
        puv /= puv.sum()
        pc = joint / joint.sum(axis=0)
        want[at] = np.einsum("uv,kruv,kru->r", puv, pc, special.expit(eta))
        marg[at] = np.einsum("kv,v,u,kru->r", prior, wt, wt, special.expit(eta))
        new[at] = np.einsum("uv,kv,kru->r", puv, prior, special.expit(eta))
    np.testing.assert_allclose(res.fittedvalues.to_numpy(), want, rtol=1e-6)  # glmmix: 31 x 31 points
    np.testing.assert_allclose(res.predict(which="marginal").to_numpy(), marg, rtol=1e-6)
    # a person's rows without their responses, conditioned on the fitted ones: one class per
    # row, so every row is a new unit, whose class has its prior given the person's effects
    rows = sub[sub["id"].isin([4, 17])]
    np.testing.assert_allclose(res.predict(rows.drop(columns="y"), which="conditional").to_numpy(),
                               pd.Series(new, sub.index).loc[rows.index].to_numpy(), rtol=1e-6)


# --------------------------------------------------------------------- equal classes, one class
def _at_equal_classes(two, one):
    """The two-class result at the one-class estimates in both classes."""
    out = copy.copy(two)
    out.theta = two.model.starting_values(start_from=one)
    out.limit = None
    P = two.model.layout.unpack(two.model.layout.expand(out.theta))
    np.testing.assert_array_equal(P["beta"][:, 0], P["beta"][:, 1])
    return out


@pytest.mark.parametrize("one_f, two_f", [
    ("y ~ 0 + item + (1 | room)", "y ~ 0 + item + (1 | room) | class(student) ~ 1"),  # classes inside
    ("y ~ 0 + item + (1 | room)", "y ~ 0 + item + (1 | room) | class(room) ~ 1"),  # classes outside
])
def test_equal_classes_predict_as_one_class(rooms, one_f, two_f):
    one = _quiet(gm.fit, one_f, rooms, family="bernoulli", se="none")
    two = _quiet(gm.fit, two_f, rooms, n_classes=2, family="bernoulli", seed=1, starts=(2, 1), se="none")
    eq = _at_equal_classes(two, one)
    np.testing.assert_allclose(eq.fittedvalues.to_numpy(), one.fittedvalues.to_numpy(), rtol=1e-7)
    np.testing.assert_allclose(eq.predict(which="marginal").to_numpy(), one.predict(which="marginal").to_numpy(),
                               rtol=1e-7)
    assert not np.allclose(two.fittedvalues.to_numpy(), one.fittedvalues.to_numpy(), rtol=1e-3)


def test_equal_classes_of_a_factor_mixture_predict_as_the_2pl(fma, lsat):
    twopl = _quiet(gm.fit, "y ~ 0 + item + rr(0 + item | id, 1)", lsat, family="bernoulli", se="none")
    eq = _at_equal_classes(fma, twopl)
    np.testing.assert_allclose(eq.fittedvalues.to_numpy(), twopl.fittedvalues.to_numpy(), rtol=1e-7)
    rows = lsat[lsat["id"] < 4]
    np.testing.assert_allclose(eq.predict(rows, which="conditional", responses="newdata").to_numpy(),
                               twopl.predict(rows, which="conditional", responses="newdata").to_numpy(), rtol=1e-7)


# -------------------------------------------------------------------------- score equations
def test_fitted_values_sum_to_the_outcomes_at_the_mle(fma, lsat, rooms):
    """Logit link, class-specific item intercepts: per item, sum of fitted = sum of y at the
    MLE (to the fit's gradient tolerance)."""
    for res, df in [(fma, lsat), (_quiet(gm.fit, "y ~ 0 + item + (1 | room) | class(student) ~ 1", rooms,
                                         n_classes=2, family="bernoulli", seed=1, se="none"), rooms)]:
        by_item = res.fittedvalues.groupby(df["item"]).mean()
        np.testing.assert_allclose(by_item.to_numpy(), df.groupby("item")["y"].mean().to_numpy(), atol=2e-6)


def test_poisson_between_classes_fitted_mean_is_the_data_mean():
    """Log link, class-specific intercepts: the mean of the fitted counts is the mean count."""
    cb = gm.datasets.load("cbpp")
    res = _quiet(gm.fit, "incidence ~ period + (1|herd) | class(herd) ~ 1", cb, n_classes=2, family="poisson",
                 seed=1, starts=(4, 2), se="none")
    assert res.fittedvalues.mean() == pytest.approx(cb["incidence"].mean(), rel=1e-6)
    np.testing.assert_allclose(res.resid.to_numpy(), (cb["incidence"] - res.fittedvalues).to_numpy(), rtol=1e-12)


def test_new_students_class_prior_uses_their_covariate(rooms):
    """Class membership regressed on a student covariate z: a new student of a fitted room
    gets sum_c P(c | z) int p(u | y_room) mu(c, u) du (brute force)."""
    df = rooms.assign(z=(rooms["student"] % 7 - 3) / 2.0)
    res = _quiet(gm.fit, "y ~ 0 + item + (1 | room) | class(student) ~ 1 + z", df, n_classes=2,
                 family="bernoulli", seed=1, se="none")
    p = res.params
    beta = _items(df, p, "class")
    sd = p["sd(room:Intercept)"]
    rows = df[df["room"] == 4]
    at = df.index.get_indexer(rows.index)
    eta = beta[:, at, None] + sd * U
    studs = rows["student"].unique()
    s_of = pd.Index(studs).get_indexer(rows["student"])
    pi1 = special.expit(p["logit:class1:Intercept"] + p["logit:class1:z"] * rows.groupby("student")["z"].first()
                        .loc[studs].to_numpy())
    prior = np.stack([pi1, 1 - pi1])  # (2, students)
    f = _bern(rows["y"].to_numpy()[None, :, None], eta)
    Ls = np.stack([np.prod(f[:, s_of == j], axis=1) for j in range(len(studs))], 1)
    pu = WU * np.prod((prior[:, :, None] * Ls).sum(axis=0), axis=0)
    pu /= pu.sum()
    znew = 1.7
    q1 = special.expit(p["logit:class1:Intercept"] + p["logit:class1:z"] * znew)
    want = np.einsum("n,k,krn->r", pu, [q1, 1 - q1], special.expit(eta))
    got = res.predict(rows.drop(columns="y").assign(student=-4, z=znew), which="conditional")
    np.testing.assert_allclose(got.to_numpy(), want, rtol=1e-6)


def test_within_and_between_classes_with_a_room_intercept_match_brute_force(rooms):
    """Student classes C regressed on room classes D (eq 22-26), a room intercept in the
    outcome, coefficients specific to (c, d): p(d, u | y_room) times each student's
    P(c | d, u, its responses); a new student of a fitted room gets P(c | d) instead. At
    chosen parameters (the MLE of these data is at a boundary)."""
    fit = _quiet(gm.fit, "y ~ 0 + item + (1 | room) | c(student) ~ 1 + d | d(room) ~ 1", rooms, n_classes=2,
                 family="bernoulli", seed=1, se="none", starts=(1, 1))
    rng = np.random.default_rng(0)
    b = rng.normal(0, 1.2, size=(2, 2, 4))  # (c, d, item)
    values = {f"c#{c + 1}.d#{d + 1}:item[u{i + 1}]": b[c, d, i] for c in range(2) for d in range(2) for i in range(4)}
    values.update({"logit:c#1:Intercept": -0.4, "logit:c#1:d#1": 1.5, "logit:d#1:Intercept": 0.3,
                   "sd(room:Intercept)": 0.9})
    res = _at(fit, values)
    pc1 = special.expit(-0.4 + 1.5 * np.array([1.0, 0.0]))  # P(c = 1 | d)
    pcd = np.stack([pc1, 1 - pc1])  # (c, d)
    pd_ = np.array([special.expit(0.3), 1 - special.expit(0.3)])
    item = rooms["item"].str[1:].astype(int).to_numpy() - 1
    want, new = np.empty(len(rooms)), np.empty(len(rooms))
    for _, rows in rooms.groupby("room").groups.items():
        at = rooms.index.get_indexer(rows)
        eta = b[:, :, item[at], None] + 0.9 * U  # (c, d, rows, nodes)
        f = _bern(rooms["y"].to_numpy()[at][None, None, :, None], eta)
        studs = rooms["student"].to_numpy()[at]
        s_of = pd.Index(pd.unique(studs)).get_indexer(studs)
        Ls = np.stack([np.prod(f[:, :, s_of == j], axis=2) for j in range(s_of.max() + 1)], 2)  # (c, d, s, n)
        joint = pcd[:, :, None, None] * Ls
        pdu = pd_[:, None] * WU * np.prod(joint.sum(axis=0), axis=1)  # (d, nodes)
        pdu /= pdu.sum()
        post_c = joint / joint.sum(axis=0)
        mu = special.expit(eta)
        want[at] = np.einsum("dn,cdrn,cdrn->r", pdu, post_c[:, :, s_of], mu)
        new[at] = np.einsum("dn,cd,cdrn->r", pdu, pcd, mu)
    np.testing.assert_allclose(res.fittedvalues.to_numpy(), want, rtol=1e-6)
    rows = rooms[rooms["room"].isin([1, 6])]
    got = res.predict(rows.drop(columns="y").assign(student=rows["student"] + 10_000), which="conditional")
    np.testing.assert_allclose(got.to_numpy(), pd.Series(new, rooms.index).loc[rows.index].to_numpy(), rtol=1e-6)


def test_ordinal_category_probabilities_of_cluster_classes_match_brute_force():
    """Cumulative logit, class-specific thresholds and slope, a cluster intercept, classes of
    the clusters: P(y_r = k | y_g) by brute force (type="prob"), and the expected index."""
    rng = np.random.default_rng(1)
    G, n = 40, 5
    df = pd.DataFrame({"g": np.repeat(np.arange(G), n), "x": rng.normal(size=G * n)})
    cls = rng.random(G) < 0.5
    lat = 0.8 * df["x"] + rng.normal(size=G)[df["g"]] + np.where(cls[df["g"]], 1.5, -1.0) + rng.logistic(size=G * n)
    df["y"] = np.digitize(lat, [-1, 1])
    res = _quiet(gm.fit, "y ~ x + (1|g) | class(g) ~ 1", df, family="ordinal", n_classes=2, seed=1, se="none")
    p = res.params
    sd, pi1 = p["sd(g:Intercept)"], special.expit(p["logit:class1:Intercept"])
    want = np.empty((len(df), 3))
    for g, rows in df.groupby("g").groups.items():
        at = df.index.get_indexer(rows)
        cum = []  # P(y <= k | class, u): (2, rows, nodes) for k = 0, 1
        for c in (1, 2):
            eta = p[f"class{c}:x"] * df["x"].to_numpy()[at, None] + sd * U
            cum.append([special.expit(p[f"class{c}:threshold[{k}]"] - eta) for k in (1, 2)])
        cum = np.array(cum)  # (class, k, rows, nodes)
        prob = np.stack([cum[:, 0], cum[:, 1] - cum[:, 0], 1 - cum[:, 1]], axis=1)  # (class, category, rows, nodes)
        y = df["y"].to_numpy()[at]
        lik = np.take_along_axis(prob, y[None, None, :, None], axis=1)[:, 0].prod(axis=1)  # (class, nodes)
        w = np.array([pi1, 1 - pi1])[:, None] * WU * lik
        w /= w.sum()
        want[at] = np.einsum("kn,kcrn->rc", w, prob)
    got = res.predict(which="conditional", type="prob")
    np.testing.assert_allclose(got.to_numpy(), want, rtol=1e-6)
    np.testing.assert_allclose(res.predict(which="conditional").to_numpy(), want @ np.arange(3), rtol=1e-6)
    with pytest.raises(gm.GlmmixError, match="ordinal"):
        res.fittedvalues


def test_weighted_sums_at_the_mle():
    """The score identity with weights: binomial proportions weighted by their trials (herd
    classes with a herd intercept), and frequency-weighted response patterns (LSAT's 30
    patterns, a factor mixture); unweighted sums differ."""
    cb = gm.datasets.load("cbpp")
    res = _quiet(gm.fit, "cbind(incidence, size - incidence) ~ period + (1|herd) | class(herd) ~ 1", cb,
                 n_classes=2, family="binomial", seed=1, se="none", starts=(4, 2))
    fv = res.fittedvalues.to_numpy()
    assert (fv * cb["size"]).sum() == pytest.approx(cb["incidence"].sum(), abs=1e-4)
    assert abs(fv.sum() - (cb["incidence"] / cb["size"]).sum()) > 0.05
    pats = gm.datasets.load("lsat").value_counts().reset_index(name="n")
    pats["pid"] = np.arange(len(pats))
    long = gm.wide_to_long(pats, items=[f"I{j}" for j in range(1, 6)], id="pid")
    res = _quiet(gm.fit, "y ~ 0 + item + rr(0 + item | pid, 1) | class(pid) ~ 1", long, n_classes=2,
                 family="bernoulli", seed=1, se="none", starts=(4, 2), freq_weights="n")
    gap = ((long["y"] - res.fittedvalues) * long["n"]).groupby(long["item"]).sum()
    np.testing.assert_allclose(gap.to_numpy(), 0.0, atol=1e-4)  # of 1,000 persons per item
    assert abs((long["y"] - res.fittedvalues).sum()) > 1.0


def test_two_level_lta_matches_brute_force():
    """Two-level latent transition analysis (eq 15): C1 and C2 of a student, their logits with
    correlated room intercepts (alpha_1, alpha_2), C2 regressed on C1, items measurement-
    invariant. Brute force on a 121 x 121 grid of (z1, z2), alpha = L z; new students of
    fitted rooms too. Data: glmmix's simulator at the toca_sim generator's values."""
    from test_multiclass import TWO_LEVEL, _two_level_lta_truth

    truth, items, _ = _two_level_lta_truth()
    base = pd.DataFrame([(r, r * 8 + i, t, it) for r in range(12) for i in range(8) for t in (1, 2) for it in items],
                        columns=["room", "id", "time", "item"])
    kw = dict(n_classes=2, family="bernoulli", measured_by="time", measurement_invariance=True)
    df = gm.simulate(TWO_LEVEL, base, params=truth, seed=3, **kw)
    res = _quiet(gm.fit, TWO_LEVEL, df, starts=0, start_values={k: v for k, v in truth.items() if "item" in k},
                 se="none", n_points=25, **kw)
    p = res.params
    s1, s2, rho = p["sd(room:c1#1)"], p["sd(room:c2#1)"], p["cor(room:c2#1,c1#1)"]
    t = np.linspace(-8, 8, 121)
    wt = np.full(t.size, t[1] - t[0]) * stats.norm.pdf(t)
    wt[[0, -1]] /= 2
    z1, z2 = np.meshgrid(t, t, indexing="ij")
    w2 = (wt[:, None] * wt[None, :]).ravel()
    a1, a2 = (s1 * z1).ravel(), (s2 * (rho * z1 + np.sqrt(1 - rho ** 2) * z2)).ravel()
    p1 = special.expit(p["logit:c1#1:Intercept"] + a1)  # P(c1 = 1 | alpha)
    p2 = [special.expit(p["logit:c2#1:Intercept"] + p["logit:c2#1:c1#1"] * (c1 == 0) + a2) for c1 in (0, 1)]
    prior = np.stack([np.stack([p1 * p2[0], p1 * (1 - p2[0])]), np.stack([(1 - p1) * p2[1], (1 - p1) * (1 - p2[1])])])
    beta = np.array([[p[f"c1,c2#{k}:item[{i}]"] for i in df["item"]] for k in (1, 2)])  # (class, rows)
    mu = special.expit(beta)
    f = _bern(df["y"].to_numpy()[None], beta)  # (class, rows)
    time = df["time"].to_numpy()
    want, new = np.empty(len(df)), np.empty(len(df))
    for _, rows in df.groupby("room").groups.items():
        at = df.index.get_indexer(rows)
        studs = pd.unique(df["id"].to_numpy()[at])
        s_of = pd.Index(studs).get_indexer(df["id"].to_numpy()[at])
        # each student's density given (c1, c2): (students, c1, c2)
        L = np.ones((len(studs), 2, 2))
        for j in range(len(studs)):
            r1 = at[(s_of == j) & (time[at] == 1)]
            r2 = at[(s_of == j) & (time[at] == 2)]
            L[j] = np.prod(f[:, r1], axis=1)[:, None] * np.prod(f[:, r2], axis=1)[None, :]
        joint = prior[None] * L[..., None]  # (students, c1, c2, nodes)
        pz = w2 * np.prod(joint.sum(axis=(1, 2)), axis=0)
        pz /= pz.sum()
        post = joint / joint.sum(axis=(1, 2), keepdims=True)
        # a row at time 1 has the mean of c1's class, at time 2 of c2's
        m = np.where(time[at][None, None, :] == 1, mu[:, at][:, None, :], mu[:, at][None, :, :])  # (c1, c2, rows)
        want[at] = np.einsum("n,rabn,abr->r", pz, post[s_of], m)
        new[at] = np.einsum("n,abn,abr->r", pz, prior, m)
    np.testing.assert_allclose(res.fittedvalues.to_numpy(), want, rtol=1e-7)  # 15 points: within 5.5e-6
    rows = df[df["room"].isin([2, 5])]
    got = res.predict(rows.drop(columns="y").assign(id=rows["id"] + 10_000), which="conditional")
    np.testing.assert_allclose(got.to_numpy(), pd.Series(new, df.index).loc[rows.index].to_numpy(), rtol=1e-7)


def test_three_pl_matches_brute_force(lsat):
    """The 3PL as a constrained FMA-GoM (eq 42-47): each response's class (guessing, P = expit(15);
    or the 2PL curve) has an item-specific prior; the person's ability is integrated. Fitted
    rows use the response's own class posterior, rows given without responses (from the
    person's fitted ones) the item's prior."""
    res = _quiet(gm.three_pl, lsat, seed=1)
    p, fixed = res.params, res.fixed_params
    u = np.linspace(-10, 10, 801)  # 5,000 rows x nodes: a coarser trapezoid rule (step 0.025)
    wu = np.full(u.size, u[1] - u[0]) * stats.norm.pdf(u)
    wu[[0, -1]] /= 2
    ids = lsat["id"].to_numpy()
    order = np.argsort(ids, kind="stable")
    its = lsat["item"].to_numpy()[order]
    g = special.expit(np.array([p[f"logit:class1:item[{i}]"] for i in its]))  # P(guessing class | item)
    mu1 = special.expit(np.array([fixed[f"class1:item[{i}]"] for i in its]))[:, None]
    mu2 = special.expit(np.array([p[f"class2:item[{i}]"] for i in its])[:, None]
                        + np.array([p[f"class2:loading(id:item[{i}])"] for i in its])[:, None] * u)
    y = lsat["y"].to_numpy()[order][:, None]
    f1, f2 = np.where(y == 1, mu1, 1 - mu1), np.where(y == 1, mu2, 1 - mu2)
    mix = g[:, None] * f1 + (1 - g[:, None]) * f2  # (rows, nodes)
    n = len(np.unique(ids))
    lp = np.log(mix).reshape(n, 5, -1).sum(axis=1)
    pu = wu * np.exp(lp - lp.max(axis=1, keepdims=True))
    pu /= pu.sum(axis=1, keepdims=True)
    pu = np.repeat(pu, 5, axis=0)  # each row its person's posterior of u
    fit_r = (g[:, None] * f1 * mu1 + (1 - g[:, None]) * f2 * mu2) / mix
    new_r = g[:, None] * mu1 + (1 - g[:, None]) * mu2
    want, new = np.empty(len(lsat)), np.empty(len(lsat))
    want[order] = (pu * fit_r).sum(axis=1)
    new[order] = (pu * new_r).sum(axis=1)
    np.testing.assert_allclose(res.fittedvalues.to_numpy(), want, rtol=1e-6)
    rows = lsat[lsat["id"].isin([7, 420])]
    np.testing.assert_allclose(res.predict(rows.drop(columns="y"), which="conditional").to_numpy(),
                               pd.Series(new, lsat.index).loc[rows.index].to_numpy(), rtol=1e-6)
