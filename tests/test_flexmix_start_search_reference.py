"""The start-search benchmark's ability and VerbAgg LCA rows against flexmix's many-start runs.

tests/reference/values/flexmix_start_search.json: R flexmix 2.3.18 (``FLXMCmvbinary``, EM to
a relative tolerance of 1e-10) from many random starts per case, on the response patterns
with their counts as weights (``benchmarks/start_search_peers.R --json``): every start's
log-likelihood, the distinct maxima with how many starts reached each, and the best start's
estimates after EM continued from it to 1e-15. The data are built as
``benchmarks/start_search.py`` builds them (ability: the 1,248 complete cases).
"""

import warnings

import numpy as np
import pytest

import glmmix as gm
from benchmarks import start_search as bench
from conftest import load_reference

REF = load_reference("flexmix_start_search.json")
CASES = ["ability K=3", "ability K=4", "VerbAgg K=3", "VerbAgg K=4"]
#: logit of a probability flexmix puts at 0 or 1 (glmmix's likelihood there differs by < 1e-9)
EDGE = 30.0


def _long(case):
    return gm.wide_to_long(bench.load(bench.CASES[case][0]), id="id")


def flexmix_values(rec, K):
    """flexmix's best estimates as glmmix parameter values: item logits per class and class
    logits against the last class."""
    best = rec["best"]
    vals = {}
    for k in range(K):
        for item, p in best["prob_yes"][f"class{k + 1}"].items():
            with np.errstate(divide="ignore"):
                vals[f"class{k + 1}:item[{item}]"] = float(np.clip(np.log(p) - np.log1p(-p), -EDGE, EDGE))
    pri = np.asarray(best["class_proportions"])
    vals.update({f"logit:class{k + 1}:Intercept": float(np.log(pri[k] / pri[-1])) for k in range(K - 1)})
    return vals


def _fit(case, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return gm.fit(bench.LCA, _long(case), n_classes=bench.CASES[case][2], family="bernoulli", se="none", **kw)


def _array(values):
    return np.array([np.nan if v is None else v for v in values], float)


@pytest.mark.parametrize("key", list(REF))
def test_reference_records_its_search(key):
    # every recorded run, also those with flexmix's default control ("CASE (flexmix default
    # control)"), whose starts were each continued by EM to 1e-10
    rec = REF[key]
    st = rec["starts"]
    ll = _array(st["loglik"])
    assert len(ll) == st["n"] and np.count_nonzero(np.isfinite(ll)) == st["n_with_K_classes"]
    assert sum(st["maxima"]["n"]) == st["n_with_K_classes"]
    assert np.nanmax(ll) == pytest.approx(st["best_loglik"])
    assert np.count_nonzero(ll > st["best_loglik"] - st["same_maximum_within"]) == st["n_reaching_best"]
    if "starts_continued" in rec:
        cont = _array(rec["starts_continued"]["loglik"])
        assert np.array_equal(np.isnan(cont), np.isnan(ll)) and np.all(cont[np.isfinite(ll)] >= ll[np.isfinite(ll)])
        assert sum(rec["starts_continued"]["maxima"]["n"]) == st["n_with_K_classes"]
        # flexmix's defaults stop short of the maximum: the continued starts reach glmmix's best
        assert np.nanmax(cont) == pytest.approx(bench.BEST_KNOWN[key.split(" (")[0]][0], abs=1e-3)
    else:
        # EM continued from the best start moves less than the grouping tolerance
        assert rec["best"]["loglik"] == pytest.approx(st["best_loglik"], abs=st["same_maximum_within"])


@pytest.mark.parametrize("case", CASES)
def test_same_likelihood_at_flexmix_estimates(case):
    # every parameter fixed at flexmix's best estimates: glmmix's log-likelihood is flexmix's
    rec = REF[case]
    r = _fit(case, fix=flexmix_values(rec, bench.CASES[case][2]), starts=0)
    assert r.llf == pytest.approx(rec["best"]["loglik"], abs=1e-6)


def test_default_fit_reaches_flexmix_best_verbagg_four_classes():
    rec = REF["VerbAgg K=4"]
    r = _fit("VerbAgg K=4", seed=1)
    assert r.llf >= rec["best"]["loglik"] - 2e-4
    assert r.llf == pytest.approx(bench.BEST_KNOWN["VerbAgg K=4"][0], abs=1e-3) and r.search.best_replicated


@pytest.mark.slow
@pytest.mark.parametrize("case", ["ability K=3", "ability K=4", "VerbAgg K=3"])
def test_default_fit_reaches_flexmix_best(case):
    rec = REF[case]
    r = _fit(case, seed=1)
    assert r.llf >= rec["best"]["loglik"] - 2e-4
    assert r.llf == pytest.approx(bench.BEST_KNOWN[case][0], abs=1e-3) and r.search.best_replicated


def test_flexmix_given_glmmix_time():
    # benchmarks/flexmix_same_time.py: flexmix's recorded starts cut into blocks of as many
    # starts as fit in glmmix's CPU time, a block reaching the best when its best start does
    from benchmarks import flexmix_same_time as same

    ll = np.array([-1.0, 0.0, np.nan, -1.0, -1.0, np.nan, 0.0])
    assert same.blocks_reaching(ll, 3, 0.0) == (1, 2) and same.blocks_reaching(ll, 1, 0.0) == (2, 7)
    rec = REF["VerbAgg K=3"]
    per_start = float(np.median(rec["starts"]["cpu_seconds"]))
    row = same.same_time_row("VerbAgg K=3", rec, [10 * per_start + 1e-9] * 3, [-4028.6114, -4028.8038, -4028.6114])
    st = rec["starts"]
    assert row["n in glmmix's time"] == 10 and row["glmmix default"] == "2/3"
    assert row["flexmix starts reaching"] == row["as they stop"] == f"{st['n_reaching_best']}/{st['n']}"
    assert row["blocks of n reaching"].endswith(f"/{st['n'] // 10}")
