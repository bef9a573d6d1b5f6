"""Fast version of benchmarks/table3_model6.py (the full run has 100 clusters and the default starts).

The time bound is on the CPU time of this process (the elapsed time also counts whatever else
the machine runs): it fails for a real slowdown, not for load."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import table3_model6  # noqa: E402
import pytest  # noqa: E402
from helpers import cpu_seconds  # noqa: E402


def test_model6_benchmark_quick(capsys):
    res, cpu = cpu_seconds(table3_model6.main, ["--quick"])
    out = capsys.readouterr().out
    assert "ratio Model 6 / Model 5" in out and "new / old: fit" in out
    # new: the starts ran to the between limit and were finished in Model 5, so Model 6's
    # maximum is Model 5's, exact; old: they ran on to a class-logit SD beyond HUGE_RE, where
    # the quadrature's value is not the model's (on 20 clusters it was 0.18 above the limit)
    assert res["llf_new"] == pytest.approx(res["llf_m5"], abs=1e-6)
    assert "ran to the boundary limit between limit" in out and "Model 6 new: log-likelihood" in out
    assert cpu < 120, f"{cpu:.1f} s of CPU time"


def test_structured_starts_at_one_limit_cut_the_random_completions():
    """Model 6's default search on 12 clusters: the six structured starts (from Model 5, the
    model without random effects, one class) all run to the between limit and are finished
    in Model 5, so round one completes the best LIMIT_ROUND_RANDOM (2) stage-one starts
    instead of n_final (5); they reach the limit too, and the search stops replicated."""
    import warnings

    import glmmix as gm
    from glmmix.estimation import LIMIT_ROUND_RANDOM

    df = table3_model6.data(12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m5 = gm.fit(table3_model6.M5, df, n_classes=2, family="gaussian", seed=1)
        m6 = gm.fit(table3_model6.M6, df, n_classes=2, family="gaussian", seed=1)
    done = m6.starts[m6.starts["ll_final"].notna()]
    structured = done[~done["origin"].str.startswith(("around", "random", "perturbed"))]
    assert len(structured) == 6 and len(done) == 6 + LIMIT_ROUND_RANDOM == m6.search.completed
    assert m6.search.maxima[0]["limit_starts"] == len(done)  # every completed start ran to the limit
    assert m6.search.best_replicated
    assert m6.llf == pytest.approx(m5.llf, abs=1e-6)


def test_old_round_one_still_runs(monkeypatch):
    """``LIMIT_ROUND_RANDOM = None`` (the benchmark's ``old`` variant: round one completes
    n_final random starts whatever the structured starts reached) fits Model 6 on 12 clusters
    to the same maximum (it raised a TypeError once costly models completed starts in pairs)."""
    import warnings

    import glmmix as gm
    import glmmix.estimation as estmod

    df = table3_model6.data(12)
    monkeypatch.setattr(estmod, "LIMIT_ROUND_RANDOM", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m5 = gm.fit(table3_model6.M5, df, n_classes=2, family="gaussian", seed=1)
        m6 = gm.fit(table3_model6.M6, df, n_classes=2, family="gaussian", seed=1)
    assert m6.llf == pytest.approx(m5.llf, abs=1e-6)
