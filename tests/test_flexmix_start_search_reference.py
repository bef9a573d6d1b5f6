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


@pytest.mark.parametrize("case", CASES)
def test_reference_records_its_search(case):
    rec = REF[case]
    st = rec["starts"]
    ll = np.array([np.nan if v is None else v for v in st["loglik"]])
    assert len(ll) == st["n"] and np.count_nonzero(np.isfinite(ll)) == st["n_with_K_classes"]
    assert sum(st["maxima"]["n"]) == st["n_with_K_classes"]
    assert np.nanmax(ll) == pytest.approx(st["best_loglik"])
    assert np.count_nonzero(ll > st["best_loglik"] - st["same_maximum_within"]) == st["n_reaching_best"]
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
