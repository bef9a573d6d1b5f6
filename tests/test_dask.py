"""monte_carlo (and random starts) on a local dask.distributed cluster, through joblib's Dask backend.

This is the path users take when one machine is not enough: start a ``distributed.Client`` on a
cluster, wrap the study in ``joblib.parallel_config(backend="dask")``, and call ``monte_carlo``
unchanged. The cluster here is in-process (threads), so it starts in well under a second and
needs no pickling of this module's functions into other processes.
"""

import numpy as np
import pandas as pd
import pytest

distributed = pytest.importorskip("distributed")
joblib = pytest.importorskip("joblib")

import glmmix as gm  # noqa: E402
from glmmix.mathutils import OnWorkers  # noqa: E402

FORMULA = "y ~ 0 + item | class(id) ~ 1"
N_PERSONS, N_ITEMS = 200, 5
DESIGN = pd.DataFrame({"id": np.repeat(np.arange(N_PERSONS), N_ITEMS),
                       "item": np.tile([f"u{j + 1}" for j in range(N_ITEMS)], N_PERSONS)})
TRUTH = {**{f"class1:item[u{j + 1}]": 1.5 for j in range(N_ITEMS)},
         **{f"class2:item[u{j + 1}]": -1.5 for j in range(N_ITEMS)},
         "logit:class1:Intercept": 0.4}
N_REP, SEED = 4, 11


def generate(rng):
    return gm.simulate(FORMULA, DESIGN, params=TRUTH, n_classes=2, family="bernoulli", seed=rng)


def rep_index(rng):
    """The replication number: monte_carlo seeds replication r with SeedSequence(seed).spawn(n_rep)[r]
    (recognised by the generator's fresh state)."""
    fresh = [np.random.default_rng(s).bit_generator.state for s in np.random.SeedSequence(SEED).spawn(N_REP)]
    return fresh.index(rng.bit_generator.state)


def generate_failing(rng):
    if rep_index(rng) == 2:
        raise RuntimeError("replication 2 fails on purpose")
    return generate(rng)


def fit(df):
    return gm.fit(FORMULA, df, n_classes=2, family="bernoulli", starts=(4, 2), seed=0)


def fit_on_worker(df):
    # Raises ValueError outside a Dask worker, which monte_carlo would record as a failure.
    distributed.get_worker()
    return fit(df)


def align(p, b):
    """Label switching: call the class with the higher item logits class 1."""
    items = [f"item[u{j + 1}]" for j in range(N_ITEMS)]
    if sum(p[f"class1:{i}"] for i in items) >= sum(p[f"class2:{i}"] for i in items):
        return p, b
    swap = {f"class{k}:{i}": f"class{3 - k}:{i}" for k in (1, 2) for i in items}
    p, b = p.rename(index=swap).loc[p.index], b.rename(index=swap).loc[b.index]
    p["logit:class1:Intercept"] = -p["logit:class1:Intercept"]
    return p, b


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                       dashboard_address=None)
    c = distributed.Client(cluster)
    try:
        yield c
    finally:
        c.close()
        cluster.close()


def test_monte_carlo_on_dask_matches_serial_run(client):
    with distributed.get_task_stream(client) as ts, joblib.parallel_config(backend="dask"):
        mc = gm.monte_carlo(generate, fit_on_worker, TRUTH, n_rep=N_REP, seed=SEED, n_jobs=2,
                            progress=False, align=align)
    assert mc.failures == []  # every replication ran inside a Dask worker (fit_on_worker)
    assert list(mc.estimates.index) == list(range(N_REP))

    # the tasks of this study ran on the cluster's workers
    ours = [t for t in ts.data if "_one" in str(t["key"])]
    assert ours, [t["key"] for t in ts.data]
    assert {t["worker"] for t in ours} <= set(client.scheduler_info()["workers"])

    tab = mc.table
    assert list(tab.index) == list(TRUTH)
    assert np.isfinite(tab[["mean", "bias", "MSE", "mean SE", "SD"]].to_numpy()).all()
    np.testing.assert_allclose(tab["true"], list(TRUTH.values()))

    # same seed, no Dask, one process: identical numbers (replications are seeded by SeedSequence)
    seq = gm.monte_carlo(generate, fit, TRUTH, n_rep=N_REP, seed=SEED, n_jobs=1, progress=False, align=align)
    pd.testing.assert_frame_equal(mc.estimates, seq.estimates)
    pd.testing.assert_frame_equal(mc.ses, seq.ses)
    pd.testing.assert_frame_equal(mc.table, seq.table)


def test_failed_replication_on_dask_is_recorded_not_raised(client):
    with joblib.parallel_config(backend="dask"):
        mc = gm.monte_carlo(generate_failing, fit_on_worker, TRUTH, n_rep=N_REP, seed=SEED, n_jobs=-1,
                            progress=False, align=align)
    assert mc.failures == [(2, "RuntimeError: replication 2 fails on purpose")]
    assert list(mc.estimates.index) == [0, 1, 3]
    assert np.isfinite(mc.table["bias"]).all()
    assert "1 failed" in repr(mc)


def test_random_starts_on_dask_match_serial_fit(client):
    df = generate(np.random.default_rng(5))
    with joblib.parallel_config(backend="dask"):
        par = gm.fit(FORMULA, df, n_classes=2, family="bernoulli", starts=(4, 2), seed=0, n_jobs=2)
    ser = gm.fit(FORMULA, df, n_classes=2, family="bernoulli", starts=(4, 2), seed=0)
    pd.testing.assert_series_equal(par.params, ser.params)


def _split(df, col, n=2):
    """A dask DataFrame whose partitions hold whole units of ``col`` (sorted by it)."""
    dd = pytest.importorskip("dask.dataframe")
    cuts = np.quantile(df[col].unique(), np.linspace(0, 1, n + 1)[1:-1])
    bins = np.searchsorted(cuts, df[col].to_numpy(), side="right")
    return dd.concat([dd.from_pandas(df[bins == i], npartitions=1) for i in range(n)])


def glmm_data(rng, G=80, n=6):
    g = np.repeat(np.arange(G), n)
    x = rng.standard_normal(G * n)
    eta = -0.3 + 0.8 * x + rng.standard_normal(G)[g]
    item = np.tile([f"t{j % 3}" for j in range(n)], G)
    return pd.DataFrame({"g": g, "x": x, "item": item, "y": (rng.uniform(size=G * n) < 1 / (1 + np.exp(-eta))) * 1})


@pytest.mark.parametrize("model", ["lca", "glmm"])
def test_fit_on_a_dask_dataframe_gives_the_in_memory_estimates(client, model):
    if model == "lca":
        df, col = generate(np.random.default_rng(5)), "id"
        args = dict(formula=FORMULA, n_classes=2, family="bernoulli", starts=(4, 2), seed=0)
    else:
        df, col = glmm_data(np.random.default_rng(2)), "g"
        args = dict(formula="y ~ x + item + (1 | g)", family="bernoulli", se="robust")
    ref = gm.fit(data=df, **args)
    with distributed.get_task_stream(client) as ts:
        res = gm.fit(data=_split(df, col), **args)
    assert any("_partition_sums" in str(t["key"]) for t in ts.data)  # evaluated on the workers
    assert res.llf == pytest.approx(ref.llf, abs=1e-8)
    np.testing.assert_allclose(res.params, ref.params, atol=1e-8)
    np.testing.assert_allclose(res.bse, ref.bse, atol=1e-6)
    assert list(res.params.index) == list(ref.params.index)
    assert res.nobs == ref.nobs
    # the client never held the rows: its design has their shapes and column sums only
    d = res.model.design
    assert all(isinstance(a, OnWorkers) for a in (d.y, d.X, d.unit_of_row, d.unit_starts, d.row_index, d.Z))
    assert d.n_rows == len(df) and d.X.shape == res.model.design.X.shape
    np.testing.assert_allclose(d.x_scale, ref.model.design.x_scale, rtol=1e-12)
    if model == "lca":  # fitted values read every row: refused, naming the array
        with pytest.raises(NotImplementedError, match="outcome design X.*stays on the workers.*data.compute"):
            res.fittedvalues


def test_dask_dataframe_with_units_split_across_partitions_is_refused(client):
    dd = pytest.importorskip("dask.dataframe")
    df = generate(np.random.default_rng(1))
    ddf = dd.concat([dd.from_pandas(df.iloc[:7], npartitions=1), dd.from_pandas(df.iloc[7:], npartitions=1)])
    with pytest.raises(gm.GlmmixError, match="'id'.*partition"):
        gm.fit(FORMULA, ddf, n_classes=2, family="bernoulli")


def test_dask_dataframe_refusals_name_what_is_missing(client):
    df = glmm_data(np.random.default_rng(3))
    df["yg"] = df["x"] + np.random.default_rng(0).standard_normal(len(df))
    with pytest.raises(NotImplementedError, match="gaussian family on a dask DataFrame"):
        gm.fit("yg ~ x + (1 | g)", _split(df, "g"), family="gaussian")
    with pytest.raises(NotImplementedError, match="center.*dask DataFrame"):
        gm.fit("y ~ center(x) + (1 | g)", _split(df, "g"), family="bernoulli")
    with pytest.raises(NotImplementedError, match="dask DataFrame.*compute"):
        gm.simulate(FORMULA, _split(df, "g"), params=TRUTH, n_classes=2, family="bernoulli", seed=1)


def test_partition_evaluations_send_a_rule_only_when_it_changed(client, monkeypatch):
    """An evaluation sends each partition's adaptive nodes only when they changed since the last
    one; a worker that lost them (restarted) is sent them again; the numbers are the in-memory
    ones either way, and per-cluster log-likelihoods do not travel unless asked for. Partitions
    larger than a block are evaluated in blocks of clusters on their workers, as in memory."""
    from glmmix import likelihood, partitions
    from glmmix.model import MixtureModel

    monkeypatch.setattr(likelihood, "SHARD_CELLS", 400)  # blocks of a few clusters (threads: one process)

    df = glmm_data(np.random.default_rng(4))
    args = dict(family="bernoulli", integration="agh", n_points=5)
    mem = MixtureModel.from_formula("y ~ x + (1 | g)", df, **args)
    dsk = MixtureModel.from_formula("y ~ x + (1 | g)", _split(df, "g"), **args)
    theta = mem.start_params()
    for m in (mem, dsk):
        m.adapt(theta)
    lik = dsk.likelihood
    assert all(client.gather(client.map(lambda lk: lk.shards is not None and len(lk.shards) > 1,
                                        [f for _, _, f in lik.shards], pure=False)))
    sent = []
    submit = client.submit

    def spy(fn, *a, **kw):
        if fn is partitions._partition_sums:
            sent.append(a[1] is not None)  # the rule travels with the task
        return submit(fn, *a, **kw)

    client.submit = spy
    try:
        lik.held_rules = {}  # as after the nodes moved: every rule is sent
        out = [lik.loglik_and_grad(theta + d) for d in (0.0, 0.01)]
        assert sent == [True, True, False, False]  # the second evaluation reuses the held rules
        partitions._RULES.clear()  # the workers lost them
        sent.clear()
        again = lik.loglik_and_grad(theta + 0.01)
        assert sent == [False, False, True, True]
    finally:
        del client.submit
    for (ll, g, es), d in zip(out, (0.0, 0.01)):
        ll0, g0, _ = mem.likelihood.loglik_and_grad(theta + d)
        assert ll == pytest.approx(ll0, abs=1e-9) and np.allclose(g, g0, atol=1e-8)
        assert es.ll_units is None
    assert again[0] == out[1][0]


def test_dask_dataframe_with_dependent_columns_is_refused(client):
    """The partitions' X'X reach the client: linearly dependent columns are refused there too
    (they were fitted, the check needing the design's entries)."""
    df = glmm_data(np.random.default_rng(3))
    with pytest.raises(gm.IdentificationError, match=r"'x2' equals a combination of \['Intercept', 'x'\]"):
        gm.fit("y ~ x + x2 + (1 | g)", _split(df.assign(x2=3 * df["x"] - 1), "g"), family="bernoulli")
