"""Memory of a fit relative to the long data frame (the full study: benchmarks/scaling.py).

The peak of what a fit allocates (tracemalloc: numpy's and pandas' arrays) is compared with
the size of the frame. An LCA on item dummies once added 26 times the frame (dense float64
dummy matrices, coordinate-format copies, hash tables sized by the rows); the benchmark
measures 6.1x at 10^5 units. At the 20,000 units used here fixed costs weigh more
(6.6x measured), hence the bound of 7.5.
"""

import sys
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import scaling  # noqa: E402


def test_lca_fit_memory_is_a_small_multiple_of_the_frame():
    data = scaling.lca_data(20_000)
    frame = data.memory_usage(deep=True).sum()
    tracemalloc.start()
    try:
        res = scaling.fit("lca", data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert np.isfinite(res.llf)
    assert peak / frame < 7.5, peak / frame
    d = res.model.design
    assert sp.issparse(d.X) and d.X.format == "csr"  # item dummies are never dense
    assert not d.aux.trials.flags.owndata  # one trial per row: a view of a constant


def test_sparse_design_matches_dense_on_large_frames():
    """Above the sampling threshold the model matrix is built sparse; the estimates agree with a
    frame small enough to be built dense (same data, rows repeated: the same MLE)."""
    small = scaling.lca_data(300, seed=3)
    big = small.assign(id=small["id"]).iloc[np.tile(np.arange(len(small)), 20)].reset_index(drop=True)
    big["id"] = big["id"] + np.repeat(np.arange(20), len(small)) * 300
    big = big.sort_values(["id"], kind="stable").reset_index(drop=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r1 = scaling.fit("lca", small)
        r2 = scaling.fit("lca", big)
    assert len(big) > 4000  # sparse build
    np.testing.assert_allclose(20 * r1.llf, r2.llf, rtol=1e-6)


def test_design_and_row_sets_hold_no_arrays_of_constants():
    """Intercept columns (the class logit's, a random intercept's) are one row seen n times,
    unit and cluster numbers are 32-bit, an unweighted fit's counts and multiplicities hold no
    array, and another rule's likelihood shares the row set (no second copy)."""
    from glmmix.model import MixtureModel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        glmm = MixtureModel.from_formula("y ~ x1 + x2 + (1 | g)", scaling.glmm_data(300), family="bernoulli",
                                         integration="agh", n_points=7)
        gom = MixtureModel.from_formula("y ~ 0 + item | class ~ 1 + (1 | id)", scaling.gom_data(300), n_classes=2,
                                        family="bernoulli")
    d = glmm.design
    assert d.Z.strides[0] == 0 and d.re_out[0].Z.strides[0] == 0 and np.all(d.re_out[0].Z == 1.0)
    assert d.unit_of_row.dtype == np.int32 and d.cluster_of_unit.dtype == np.int32
    rs = glmm.likelihood.pat
    assert rs.count.strides[0] == 0 and rs.mult.strides[0] == 0 and rs.count.size == d.n_rows
    g = gom.design
    assert g.re_cls[0].Z.strides[0] == 0 and g.Z.strides[0] == 0
    lik = gom.likelihood
    assert lik.shards is None and lik.with_integration(lik.integ.refined()).pat is lik.pat
    # the clusters x unit-patterns counts, rebuilt on demand, count every unit once
    assert lik.pat.Gv.sum() == g.n_units


def test_large_model_matrices_built_by_chunks_equal_the_whole_build(monkeypatch):
    """Above encoding.CHUNK_ROWS rows a model matrix is built a chunk at a time with the encoding
    learnt on a sample holding every level; it must equal formulaic's whole build, and formulas
    whose encoding learns from the rows (centring, levels of a numeric column) are built whole."""
    from formulaic import Formula

    from glmmix import encoding

    monkeypatch.setattr(encoding, "CHUNK_ROWS", 700)
    df = scaling.lca_data(400, seed=5)
    rng = np.random.default_rng(5)
    df["s"] = rng.choice(["u", "v", "w"], len(df))  # text levels, the last one seen late
    df.loc[len(df) - 1, "s"] = "z"
    df["x"] = rng.standard_normal(len(df))
    for rhs, output in [("0 + item", "sparse"), ("0 + item + s + x", "sparse"), ("item:x + s", "sparse"),
                        ("1 + x + s", "numpy"), ("1", "numpy")]:
        X, spec = encoding.matrix_by_chunks(rhs, df, output)
        whole = Formula(rhs).get_model_matrix(df, output=output)
        assert list(spec.column_names) == list(whole.model_spec.column_names)
        if output == "sparse":
            assert sp.isspmatrix_csr(X) and abs(X - sp.csr_matrix(whole)).max() == 0
        else:
            np.testing.assert_array_equal(X, np.asarray(whole))
    assert encoding.matrix_by_chunks("center(x) + item", df) is None
    assert encoding.matrix_by_chunks("C(id) + item", df, "sparse") is None
    assert encoding.matrix_by_chunks("0 + item", df.iloc[:1000], "sparse") is None  # small: whole


def test_simpler_model_shares_the_outcome_arrays():
    """The simpler model of structured starts (GoM -> LCA: the same rows in the same order)
    holds the fitted model's outcome arrays, not a second copy, and fits as a model built alone;
    rows in another order (or another outcome part) are not shared."""
    from glmmix.design import sharing
    from glmmix.model import MixtureModel

    data = scaling.gom_data(400, seed=2)
    kw = dict(n_classes=2, family="bernoulli")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gom = MixtureModel.from_formula("y ~ 0 + item | class ~ 1 + (1 | id)", data, **kw)
        with sharing(gom.design):
            lca = MixtureModel.from_formula("y ~ 0 + item | class(id) ~ 1", data, **kw)
            other = MixtureModel.from_formula("y ~ 1 + item | class(id) ~ 1", data, **kw)
            shuffled = MixtureModel.from_formula("y ~ 0 + item | class(id) ~ 1", data.iloc[::-1], **kw)
        alone = MixtureModel.from_formula("y ~ 0 + item | class(id) ~ 1", data, **kw)
        r1, r2 = (m.fit(starts=(2, 1), seed=3, se="none") for m in (lca, alone))
    d = lca.design
    assert d.X is gom.design.X and d.y is gom.design.y and d.aux is gom.design.aux
    assert d.unit_of_row is gom.design.cluster_of_unit  # the LCA's units are the GoM's clusters
    assert other.design.X is not gom.design.X and shuffled.design.y is not gom.design.y
    assert d.n_units == 400 and d.n_rows == gom.design.n_rows
    assert r1.llf == r2.llf
    np.testing.assert_array_equal(r1.params.to_numpy(), r2.params.to_numpy())


def test_run_patterns_group_equal_runs_whatever_their_order():
    """Units (runs of rows) with the same multiset of row patterns and the same extra rows are
    one pattern, whatever the order of their rows; any difference keeps them apart."""
    from glmmix.likelihood import run_patterns

    # units: [0 1 2], [2 1 0], [0 1], [0 1 2] with another extra row, [1 0]
    codes = np.array([0, 1, 2, 2, 1, 0, 0, 1, 0, 1, 2, 1, 0], np.int32)
    starts = np.array([0, 3, 6, 8, 11])
    extra = np.array([[1.0], [1.0], [1.0], [2.0], [1.0]])
    first, inv, M = run_patterns(starts, codes.size, codes, 3, [extra])
    np.testing.assert_array_equal(inv, [0, 0, 1, 2, 1])
    np.testing.assert_array_equal(first, [0, 2, 3])
    np.testing.assert_array_equal(M.toarray(), [[1, 1, 1], [1, 1, 0], [1, 1, 1]])
    w = np.arange(1.0, 14.0)  # weighted members: sums of weights per code
    _, inv_w, Mw = run_patterns(starts, codes.size, codes, 3, weights=w)
    assert len(set(inv_w.tolist())) == 5
    np.testing.assert_array_equal(Mw.toarray()[0], [1, 2, 3])


def test_units_in_several_clusters_are_refused_by_name():
    import pandas as pd
    import pytest

    import glmmix as gm
    from glmmix.exceptions import DesignError

    df = pd.DataFrame({"g": np.repeat(np.arange(20), 10), "u": np.repeat(np.arange(100), 2),
                       "y": np.tile([0, 1], 100), "item": np.tile(["a", "b"], 100)})
    df.loc[5, "g"] = 7  # unit 2 has a row in cluster 0 and one in cluster 7
    with pytest.raises(DesignError, match="'u' is not nested in 'g': u = 2 appears"):
        gm.fit("y ~ 0 + item | class(u) ~ 1 + (1 | g)", df, n_classes=2, family="bernoulli", starts=(1, 1))


def test_shared_search_rule_is_not_built_when_the_rows_cannot_merge(monkeypatch):
    """An adaptive 1-d model searches on a shared trapezoid rule only when its rows merge into
    few patterns there; a GLMM with a continuous covariate cannot (benchmarks/scaling.py's GLMM
    at 10^5 clusters peaked at 12.3 times its frame building that rule's patterns only to
    discard them; 4.3 without). Its rule is refused before it is built; dense designs of a few
    values are not."""
    import glmmix as gm
    from glmmix import estimation
    from glmmix.likelihood import MixtureLikelihood

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        glmm = gm.fit("y ~ x1 + x2 + (1 | g)", scaling.glmm_data(300), family="bernoulli", integration="agh",
                      n_points=7, starts=(1, 1), se="none", seed=1)
        binary = gm.fit("y ~ Gender + btype + (1 | id)", gm.datasets.load("verbagg_long"), family="bernoulli",
                        starts=(1, 1), se="none", seed=1)
    built = []
    real = MixtureLikelihood.with_integration
    monkeypatch.setattr(MixtureLikelihood, "with_integration", lambda self, integ: built.append(1) or real(self, integ))
    assert estimation._shared_search(glmm.model.likelihood) is None and not built
    assert not isinstance(binary.model.likelihood.design.X, sp.spmatrix)  # dense, few values: the rule is built
    estimation._shared_search(binary.model.likelihood)
    assert built
