"""Every figure renders to PNG (Agg backend) and shows what it claims."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import glmmix as gm

mpl = pytest.importorskip("matplotlib")
mpl.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from glmmix import plots  # noqa: E402

F = "y ~ 0 + item | class(id) ~ 1"


@pytest.fixture(scope="module")
def lca3(carcinoma_long):
    return gm.fit(F, carcinoma_long, n_classes=3, family="bernoulli", seed=1, starts=(6, 3))


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def png(fig, tmp_path, name):
    path = tmp_path / f"{name}.png"
    fig.savefig(path, dpi=60)
    assert path.stat().st_size > 2000
    return path


def test_profile_and_proportions(lca3, tmp_path):
    fig = plots.profile(lca3)
    png(fig, tmp_path, "profile")
    ax = fig.axes[0]
    prof = lca3.profile()
    lines = [ln for ln in ax.get_lines() if len(ln.get_ydata()) == len(prof)]
    assert len(lines) == 3
    np.testing.assert_allclose(np.sort([ln.get_ydata() for ln in lines], axis=0),
                               np.sort(prof[["class1", "class2", "class3"]].to_numpy().T, axis=0))
    assert [t.get_text() for t in ax.get_legend().get_texts()][0].startswith("class1 (")
    fig = plots.class_proportions(lca3)
    png(fig, tmp_path, "props")
    heights = [p.get_height() for p in fig.axes[0].patches]
    np.testing.assert_allclose(heights, lca3.class_proportions.to_numpy())


def test_posterior_histogram_counts_every_unit(lca3, tmp_path):
    fig = plots.posterior_histogram(lca3)
    png(fig, tmp_path, "posterior")
    assert sum(p.get_height() for p in fig.axes[0].patches) == pytest.approx(lca3.posterior.shape[0])
    assert f"{lca3.entropy:.3f}" in fig.axes[0].get_title()


def test_posterior_histogram_counts_weighted_units(lsat_long, tmp_path):
    """LSAT's 30 response patterns with their counts as frequency weights: the histogram counts
    the 1,000 persons, as the entropy in its title does (Mplus's frequency weights)."""
    wide = lsat_long.pivot(index="id", columns="item", values="y")
    table = wide.groupby(list(wide.columns)).size().rename("count").reset_index()
    table["id"] = np.arange(len(table))
    res = gm.fit("y ~ 0 + item | class(id) ~ 1", table, items=list(wide.columns), id="id", n_classes=2,
                 family="bernoulli", freq_weights="count", seed=1, se="none")
    fig = plots.posterior_histogram(res)
    png(fig, tmp_path, "posterior_weighted")
    assert sum(p.get_height() for p in fig.axes[0].patches) == pytest.approx(1000)
    assert f"{res.entropy:.3f}" in fig.axes[0].get_title()
    n = res.classification_table()["n"]
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [f"{c} (n = {v})" for c, v in n.items()]


def test_item_curves_rasch_and_fma(lsat_long, tmp_path):
    ras = gm.fit("y ~ 0 + item + (1|id)", lsat_long, family="bernoulli", se="none")
    fig = plots.item_curves(ras)
    png(fig, tmp_path, "icc")
    th, p = fig.axes[0].get_lines()[1].get_data()
    P = ras.params
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-(P["item[I2]"] + P["sd(id:Intercept)"] * th))))
    fma = gm.fit("y ~ 0 + item + rr(0 + item | id, 1) | class(id) ~ 1", lsat_long.query("id <= 300"), n_classes=2,
                 family="bernoulli", se="none", starts=0, seed=1, n_points=5)
    fig = plots.item_curves(fma)
    png(fig, tmp_path, "icc_fma")
    assert len(fig.axes) == 2 and fig.axes[1].get_title() == "class2"
    th, p = fig.axes[1].get_lines()[2].get_data()
    P = fma.params
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-(P["class2:item[I3]"] + P["loading(id:item[I3])"] * th))))
    lca = gm.fit(F, lsat_long, n_classes=2, family="bernoulli", seed=1, se="none", starts=(2, 1))
    with pytest.raises(gm.GlmmixError, match="needs an IRT model"):
        plots.item_curves(lca)


def test_item_curves_many_items_keep_the_axes(tmp_path):
    """24 items: the legend takes columns beside the axes instead of squashing them."""
    va = gm.datasets.load("verbagg_long")
    res = gm.fit("y ~ 0 + item + (1|id)", va[va.id.astype(int) <= 60], family="bernoulli", se="none")
    fig = plots.item_curves(res)
    png(fig, tmp_path, "icc_many")
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    ax, legend, whole = fig.axes[0], fig.axes[0].get_legend(), fig.get_window_extent(r)
    assert len(legend.get_texts()) == 24
    assert ax.get_window_extent(r).height > 0.6 * whole.height
    box = legend.get_window_extent(r)
    assert box.y0 >= whole.y0 and box.y1 <= whole.y1 and box.x1 <= whole.x1  # not clipped


def test_caterpillar(tmp_path):
    res = gm.fit("incidence ~ period + (1 | herd)", gm.datasets.load("cbpp"), family="binomial", trials="size")
    fig = plots.caterpillar(res)
    png(fig, tmp_path, "caterpillar")
    ln = fig.axes[0].get_lines()[0]
    scores = res.random_effects()
    np.testing.assert_allclose(ln.get_xdata(), np.sort(scores["Intercept"].to_numpy()))
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()][-1] == str(scores["Intercept"].idxmax())
    with pytest.raises(gm.GlmmixError, match="not one of the random effects"):
        plots.caterpillar(res, effect="slope")
    # 15 herds labelled; with more clusters than labels, the axis says how many and lines thin out
    fig = plots.caterpillar(res, max_labels=10)
    png(fig, tmp_path, "caterpillar_unlabelled")
    assert fig.axes[0].get_ylabel() == "herd (15, sorted by EAP)" and not fig.axes[0].get_yticks().size


def test_transition_diagram(tmp_path):
    rng = np.random.default_rng(3)
    base = pd.DataFrame([(i, t, f"u{j}") for i in range(200) for t in (1, 2) for j in range(4)],
                        columns=["id", "time", "item"])
    f = "y ~ 0 + item | c1(id) ~ 1 | c2(id) ~ 1 + c1"
    truth = {f"c1,c2#1:item[u{j}]": 2.0 for j in range(4)}
    truth.update({f"c1,c2#2:item[u{j}]": -2.0 for j in range(4)})
    truth.update({"logit:c1#1:Intercept": 0.0, "logit:c2#1:Intercept": -1.5, "logit:c2#1:c1#1": 3.0})
    df = gm.simulate(f, base, params=truth, n_classes=2, family="bernoulli", seed=int(rng.integers(100)),
                     measured_by="time", measurement_invariance=True)
    lta = gm.fit(f, df, n_classes=2, family="bernoulli", measured_by="time", measurement_invariance=True,
                 seed=2, starts=(4, 2), se="none")
    fig = plots.transition_diagram(lta)
    png(fig, tmp_path, "lta")
    T = lta.transition_matrix("c2", "c1")
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert {f"{v:.2f}" for v in T.to_numpy().ravel()} <= texts
    with pytest.raises(gm.GlmmixError, match="no transition"):
        plots.transition_diagram(lta, to="c1", given="c2")


def test_bic_by_k_marks_minimum(tmp_path):
    tab = pd.DataFrame({"llf": [-10.0, -5.0, -4.0], "AIC": [22.0, 16.0, 18.0], "BIC": [23.0, 19.0, 24.0],
                        "SABIC": [22.5, 17.0, 20.0]}, index=pd.Index([1, 2, 3], name="K"))
    fig = plots.bic_by_k(tab)
    png(fig, tmp_path, "bic")
    title = fig.axes[0].title.get_window_extent(fig.canvas.get_renderer())
    box = fig.bbox
    assert box.x0 <= title.x0 and title.x1 <= box.x1 and title.y1 <= box.y1  # the title is not cut off
    marks = [ln for ln in fig.axes[0].get_lines() if len(ln.get_xdata()) == 1]
    assert [float(m.get_xdata()[0]) for m in marks] == [2.0, 2.0, 2.0]
    with pytest.raises(gm.GlmmixError, match="none of the columns"):
        plots.bic_by_k(tab[["llf"]])


def test_plot_profiles_labels_do_not_overlap(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0.3, 0.5, 25), rng.uniform(0.3, 0.5, 25)
    x[:3], y[:3] = [0.0, 1.0, 1.0], [0.0, 1.0, 0.0]  # corners: labels must stay inside
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.scatter(x, y)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    anns = plots.place_labels(ax, x, y, [f"item{i}" for i in range(25)])
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    boxes = [mpl.text.Text.get_window_extent(a, r) for a in anns]  # the text, without its leader line
    for i in range(len(boxes)):
        assert ax.get_window_extent(r).contains(boxes[i].x0, boxes[i].y0)
        assert ax.get_window_extent(r).contains(boxes[i].x1, boxes[i].y1)
        for j in range(i):
            assert not boxes[i].overlaps(boxes[j]), (i, j)
    png(fig, tmp_path, "labels")


def test_gm_plot_profiles_names_models(lsat_long, tmp_path):
    a = gm.fit(F, lsat_long, n_classes=2, family="bernoulli", seed=1, starts=(2, 1), se="none")
    b = gm.fit(F, lsat_long, n_classes=3, family="bernoulli", seed=1, starts=(2, 1), se="none")
    ax = gm.plot_profiles(a, b, 1, 2, names=("LCA, K = 2", "LCA, K = 3"))
    assert ax.get_xlabel() == "LCA, K = 2: class 1" and ax.get_ylabel() == "LCA, K = 3: class 2"
    assert not any(c.get_clip_on() for c in ax.collections)
    png(ax.figure, tmp_path, "fig4")
    plt.close(ax.figure)
    ax = gm.plot_profiles(a, b, 1, 2)  # two models of one kind: the axes say which is which
    assert ax.get_xlabel() == "latent class analysis (LCA), 2 classes: class 1"
    assert ax.get_ylabel() == "latent class analysis (LCA), 3 classes: class 2"


def test_profile_turns_item_labels_only_when_they_would_overlap():
    """Upright labels for short item names; turned labels when upright ones would collide
    (measured on the drawn figure, after the legend has taken its room)."""
    rng = np.random.default_rng(0)
    n = 120
    c = rng.integers(0, 2, n)
    for names, turned in ((["A", "B", "C", "D"], False),
                          (["Sepal.Length", "Sepal.Width", "Petal.Length", "Petal.Width"], True)):
        wide = pd.DataFrame(rng.normal(size=(n, 4)) + 2.0 * c[:, None], columns=names)
        res = gm.lca(wide, 2, family="gaussian", items=names, seed=1, verbose=False, starts=(4, 2))
        fig = gm.plots.profile(res)
        fig.canvas.draw()
        labels = fig.axes[0].get_xticklabels()
        assert {t.get_rotation() for t in labels} == ({45.0} if turned else {0.0})
        boxes = [t.get_window_extent() for t in labels]
        assert all(a.x1 <= b.x0 + 1 for a, b in zip(boxes, boxes[1:])) or turned
        plt.close(fig)


def test_caterpillar_draws_every_effect_and_every_grouping(tmp_path):
    """(Days | Subject): an intercept and a slope panel, subjects on the same rows (sorted by the
    intercept), as lme4's dotplot(ranef); crossed terms: one panel per grouping, labelled as
    conditional modes (Laplace), never one panel mixing the groupings' levels."""
    res = gm.fit("Reaction ~ Days + (Days|Subject)", gm.datasets.load("sleepstudy"), se="none")
    fig = plots.caterpillar(res)
    png(fig, tmp_path, "caterpillar_slopes")
    a, b = fig.axes
    scores = res.random_effects()
    order = np.argsort(scores["Intercept"].to_numpy(), kind="stable")
    np.testing.assert_allclose(b.get_lines()[0].get_xdata(), scores["Days"].to_numpy()[order])
    assert "Days: EAP" in b.get_xlabel()
    with pytest.raises(gm.GlmmixError, match="ax= draws one panel.*effect="):
        plots.caterpillar(res, ax=a)
    g = pd.read_csv(Path(__file__).parent / "reference" / "data" / "grouseticks.csv").astype({"YEAR": str})
    crossed = gm.fit("TICKS ~ YEAR + cHEIGHT + (1|BROOD) + (1|LOCATION)", g, family="poisson", se="none")
    fig = plots.caterpillar(crossed)
    png(fig, tmp_path, "caterpillar_crossed")
    assert [ax.get_ylabel() for ax in fig.axes] == ["BROOD (118, sorted by mode)", "LOCATION (63, sorted by mode)"]
    assert all("conditional mode" in ax.get_xlabel() for ax in fig.axes)
    loc = crossed.random_effects().xs("LOCATION", level="grouping")
    fig = plots.caterpillar(crossed, grouping="LOCATION", max_labels=100)
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_xdata(), np.sort(loc["Intercept"].to_numpy()))
    with pytest.raises(gm.GlmmixError, match="not one of the model's grouping columns"):
        plots.caterpillar(crossed, grouping="INDEX")
