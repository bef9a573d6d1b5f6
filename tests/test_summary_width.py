"""Summaries of every kind of model the README and the vignettes fit stay within 100
characters per line (terminals, papers, the documentation site)."""

import warnings

import numpy as np
import pandas as pd
import pytest

import glmmix as gm

WIDTH = 100


def _quiet(fun, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fun(*args, **kw)


def fits() -> dict:
    """Small versions of the models of the README and the vignettes."""
    lsat = gm.wide_to_long(gm.datasets.load("lsat"))
    lsat = lsat[lsat["id"] < 120]
    carc = gm.wide_to_long(gm.datasets.load("carcinoma"))
    st = dict(seed=1, starts=(2, 1), n_points=5, verbose=False)
    out = {}
    lca = _quiet(gm.fit, "y ~ 0 + item | class(id) ~ 1", carc, n_classes=3, family="bernoulli", seed=1)
    out["LCA"] = lca
    out["GoM"] = _quiet(gm.gom, lsat, 2, **st)
    out["FMA"] = _quiet(gm.fma, lsat, 2, **st)
    out["3PL"] = _quiet(gm.three_pl, lsat, **{**st, "seed": 3})
    contra = gm.datasets.load("contraception")
    out["GLMM"] = _quiet(gm.fit, "y ~ age + I(age**2) + urban + livch + (1 + urban | district)", contra,
                         family="bernoulli", n_points=3)
    va = gm.datasets.load("verbagg_long")
    d = va[va["item"].isin(["S1WantCurse", "S1WantScold", "S1WantShout"])].copy()
    d["resp"] = pd.Categorical(d["resp"], categories=["no", "perhaps", "yes"], ordered=True)
    out["ordinal"] = _quiet(gm.fit, "resp ~ item + Gender + (1 | id)", d, family="ordinal", n_points=5)
    toca = gm.datasets.load("toca_sim")
    toca = toca[toca["classroom"] <= 8]
    out["two-level LCA"] = _quiet(gm.fit, "y ~ 0 + item | class(student) ~ 1 + (1 | classroom)",
                                  toca[toca["time"] == toca["time"].min()], n_classes=2, family="bernoulli",
                                  seed=1, starts=(4, 2), n_points=5)
    out["LTA"] = _quiet(gm.fit, "y ~ 0 + item | c1(student) ~ 1 + (1 | classroom) "
                        "| c2(student) ~ 1 + c1 + (1 | classroom)", toca, n_classes=2, family="bernoulli",
                        measured_by="time", measurement_invariance=True, seed=1, starts=(2, 1), n_points=5)
    rng = np.random.default_rng(19)
    g = np.repeat(np.arange(30), 8)
    x = rng.standard_normal(g.size)
    cls = (rng.uniform(size=30) < 0.5)[g]
    y = np.where(cls, 1 + 0.2 * x, 0.8 * x) + rng.standard_normal(g.size)
    bw = pd.DataFrame({"g": g, "x": x, "y": y})
    out["between classes"] = _quiet(gm.fit, "y ~ 1 + x + (1 + x || g) | class(g) ~ 1", bw, n_classes=2,
                                    seed=1, starts=(4, 2), n_points=5)
    wl = carc.assign(w=1.0 + (carc["id"].astype(int) % 3))
    out["weighted"] = _quiet(gm.fit, "y ~ 0 + item | class(id) ~ 1", wl, n_classes=2, family="bernoulli",
                             weights="w", seed=1, starts=(4, 2))
    z = carc.groupby("id")["y"].transform("sum") + rng.standard_normal(carc["id"].nunique())[carc["id"].astype(int) - 1]
    out["three-step"] = _quiet(gm.three_step, lca, carc.assign(z=z), "z ~ 1", method="bch")
    return out


@pytest.fixture(scope="module")
def summaries():
    return {k: str(v.summary()) for k, v in fits().items()}


def test_summary_lines_at_most_100_characters(summaries):
    for name, text in summaries.items():
        wide = [ln for ln in text.splitlines() if len(ln) > WIDTH]
        assert not wide, f"{name}: {len(wide)} line(s) wider than {WIDTH}: {wide[0]!r}"


if __name__ == "__main__":  # print them all: python tests/test_summary_width.py
    for name, res in fits().items():
        text = str(res.summary())
        print(f"\n##### {name} (widest line {max(map(len, text.splitlines()))})\n{text}")


def test_summary_marks_improper_maxima():
    """A value where the integration fails (random-effect parameters beyond what a rule resolves)
    is listed among the starts' maxima as improper, not as a rival maximum."""
    from types import SimpleNamespace

    from statsmodels.iolib.summary2 import Summary

    from glmmix.summary import _add_maxima

    maxima = [{"loglik": -2421.17, "starts": 1, "converged": 1, "origins": ["random"], "improper": True},
              {"loglik": -2466.6491, "starts": 4, "converged": 4, "origins": ["2PL"], "improper": False}]
    smry = Summary()
    _add_maxima(smry, SimpleNamespace(search=SimpleNamespace(maxima=maxima)))
    text = smry.as_text()
    assert "-2421.1700 (improper)" in text and "-2466.6491 (improper)" not in text and "-2466.6491" in text
