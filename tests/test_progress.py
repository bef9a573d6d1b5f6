"""Progress bars and stage messages (progress=, verbose=)."""

import pytest

import glmmix as gm
from glmmix.progress import interactive, run_jobs

F = "y ~ 0 + item | class(id) ~ 1"


def test_verbose_prints_the_stages(carcinoma_long, capsys):
    res = gm.fit(F, carcinoma_long, n_classes=2, family="bernoulli", seed=1, starts=(6, 2), verbose=True)
    out = capsys.readouterr().out
    for stage in ("starts: 6 starting sets", "stage one: best log-likelihood", "EM:", "BFGS:",
                  f"best log-likelihood {res.llf:.4f}, reached by", "standard errors: ml"):
        assert stage in out
    # FitOptions.verbose does the same
    gm.fit(F, carcinoma_long, n_classes=2, family="bernoulli",
           options=gm.FitOptions(n_starts=3, n_final=1, seed=1, verbose=True))
    assert "starts: 3 starting sets" in capsys.readouterr().out
    # the default search fits the 2-class model for its split starts, says so once, quietly
    gm.fit(F, carcinoma_long, n_classes=3, family="bernoulli", seed=1, se="none", verbose=True)
    out = capsys.readouterr().out
    assert ("simpler model for structured starts, one class fewer: y ~ 0 + item | class(id) ~ 1, 2 class(es) "
            "(fitted quietly)") in out
    assert out.count("model: ") == 1  # the simpler model's own stages are not printed


def test_verbose_reports_node_adaptation(capsys):
    d = gm.datasets.load("cbpp")
    gm.fit("incidence ~ period + (1 | herd)", d, family="binomial", trials="size", verbose=True)
    assert "nodes adapted (round 1)" in capsys.readouterr().out


def test_progress_bar_only_when_asked(carcinoma_long, capsys):
    pytest.importorskip("tqdm")
    assert not interactive()  # pytest is not an interactive session
    gm.fit(F, carcinoma_long, n_classes=2, family="bernoulli", seed=1, starts=(6, 2))
    cap = capsys.readouterr()
    assert cap.out == "" and "starts" not in cap.err
    gm.fit(F, carcinoma_long, n_classes=2, family="bernoulli", seed=1, starts=(6, 2), progress=True)
    err = capsys.readouterr().err
    assert "starts:" in err and "/6 " in err and "completing starts:" in err


def test_run_jobs_keeps_order_in_parallel(capsys):
    pytest.importorskip("joblib")
    assert run_jobs(pow, [(i, 2) for i in range(6)], n_jobs=2, progress=False) == [i * i for i in range(6)]
    assert capsys.readouterr().err == ""
    # the bar counts the jobs finished by the workers (blrt, enumerate_classes, monte_carlo)
    assert run_jobs(pow, [(i, 2) for i in range(6)], n_jobs=2, progress=True, desc="squares") == [i * i for i in range(6)]
    err = capsys.readouterr().err
    assert "squares" in err and "/6 [" in err


def _pid_after(seconds):
    import os
    import time

    time.sleep(seconds)
    return os.getpid()


def test_cheap_jobs_stay_in_this_process(monkeypatch):
    """Dispatching a job of a few milliseconds to a worker process costs more than the job
    (an LCA's starts took 5x longer with n_jobs=2): jobs faster than PARALLEL_MIN_SECONDS
    run here; slower ones, after the first, in the workers."""
    import os

    pytest.importorskip("joblib")
    import glmmix.progress as prog

    assert run_jobs(_pid_after, [(0.0,)] * 4, n_jobs=2, progress=False) == [os.getpid()] * 4
    monkeypatch.setattr(prog, "PARALLEL_MIN_SECONDS", 0.0)
    pids = run_jobs(_pid_after, [(0.0,)] * 4, n_jobs=2, progress=False)
    assert pids[0] == os.getpid() and os.getpid() not in pids[1:]


def test_bad_progress_and_verbose_values_refused(carcinoma_long):
    with pytest.raises(gm.DesignError, match="progress must be True, False or None"):
        gm.fit(F, carcinoma_long, n_classes=2, family="bernoulli", progress="yes")
    for bad in ("yes", 2, None):  # verbose= of fit() too, not only FitOptions.verbose
        with pytest.raises(gm.DesignError, match="verbose must be True or False"):
            gm.fit(F, carcinoma_long, n_classes=2, family="bernoulli", verbose=bad)
    with pytest.raises(gm.DesignError, match="options.verbose must be True or False"):
        gm.fit(F, carcinoma_long, n_classes=2, family="bernoulli", options=gm.FitOptions(verbose=2))
