"""The command line, through main(argv) and as a separate process."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import glmmix as gm
from glmmix.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    wide = gm.datasets.load("carcinoma")
    wide.insert(0, "slide", range(1, len(wide) + 1))
    wide.to_csv(d / "wide.csv", index=False)
    wide.to_stata(d / "wide.dta", write_index=False)
    gm.wide_to_long(wide, id="slide").to_csv(d / "long.csv", index=False)
    (d / "bad.json").write_text('{"a": 1}')
    (d / "ragged.csv").write_text("a,b\n1,2,3\n4,5\n")
    (d / "ragged_later.csv").write_text("a,b\n1,2\n4,5,6\n")
    (d / "empty.csv").write_text("")
    return d


def run(*argv):
    """The installed command as a person runs it: a new process, output and exit status."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.run([sys.executable, "-m", "glmmix", *argv], capture_output=True, text=True, env=env, timeout=300)
    return p.returncode, p.stdout, p.stderr


def test_fit_wide_lca_writes_results_and_summary_reads_them(files, capsys):
    out = files / "res.json"
    # 2-class LCA of the carcinoma ratings: poLCA gives -317.2569 (tests/test_lca_reference.py)
    assert main(["fit", str(files / "wide.csv"), "--wide", "--id", "slide", "-k", "2", "--family", "bernoulli",
                 "--seed", "1", "--starts", "4,2", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "-317.2569" in text and "class(slide)" in text and "Class profiles" in text
    res = gm.load_results(out)
    assert res.llf == pytest.approx(-317.2569, abs=1e-3)
    assert main(["summary", str(out)]) == 0
    assert "-317.2569" in capsys.readouterr().out


def test_wide_items_named_y_and_item_get_other_long_names(files, capsys, tmp_path):
    """Without --formula the reshaped columns were 'y' and 'item' whatever the data: items with
    those names were refused with advice to change a formula the user had not written. The
    carcinoma 2-class LCA is -317.2569 whatever its items are called (poLCA)."""
    wide = pd.read_csv(files / "wide.csv").rename(columns={"A": "y", "B": "item"})
    wide.to_csv(tmp_path / "named.csv", index=False)
    assert main(["fit", str(tmp_path / "named.csv"), "--wide", "--id", "slide", "-k", "2", "--family", "bernoulli",
                 "--seed", "1", "--starts", "4,2"]) == 0
    text = capsys.readouterr().out
    assert "response ~ 0 + variable | class(slide) ~ 1" in text and "-317.2569" in text


def test_fit_long_and_stata_agree(files, capsys):
    f = "y ~ 0 + item | class(slide) ~ 1"
    assert main(["fit", str(files / "long.csv"), "-f", f, "-k", "2", "--family", "bernoulli", "--seed", "1",
                 "--starts", "4,2"]) == 0
    assert "-317.2569" in capsys.readouterr().out
    assert main(["fit", str(files / "wide.dta"), "--wide", "--id", "slide", "--items", "A,B,C,D,E,F,G",
                 "-k", "2", "--family", "bernoulli", "--seed", "1", "--starts", "4,2"]) == 0
    assert "-317.2569" in capsys.readouterr().out


def test_family_column_options(tmp_path, capsys):
    """--sigma-by (latent profile analysis: mclust's EEI on iris, tests/test_lpa.py) and --starts auto."""
    iris = pd.read_csv(ROOT / "tests" / "reference" / "data" / "iris.csv").iloc[:, :4]
    iris.to_csv(tmp_path / "iris.csv", index=False)
    assert main(["fit", str(tmp_path / "iris.csv"), "--wide", "-k", "2", "--family", "gaussian",
                 "--sigma-by", "item", "--seed", "1", "--starts", "auto"]) == 0
    text = capsys.readouterr().out
    assert "-488.9148" in text and "sigma[Petal.Length]" in text


def test_binary_items_without_family_warn_before_the_summary(files, capsys, monkeypatch):
    """A binary item table fitted without --family is a gaussian LPA: the warning that says so
    comes before the summary, not after it."""
    monkeypatch.setattr(sys, "stderr", sys.stdout)  # one stream: the order is what a terminal shows
    assert main(["fit", str(files / "wide.csv"), "--wide", "--id", "slide", "-k", "2", "--seed", "1",
                 "--starts", "4,2"]) == 0
    out = capsys.readouterr().out
    warned = out.find("warning: outcome 'y' holds only 0s and 1s")
    assert 0 <= warned < out.find("glmmix: latent profile analysis")


def test_parquet(files, capsys):
    pytest.importorskip("pyarrow")
    pd.read_csv(files / "wide.csv").to_parquet(files / "wide.parquet")
    assert main(["fit", str(files / "wide.parquet"), "--wide", "--id", "slide", "-k", "2",
                 "--family", "bernoulli", "--seed", "1", "--starts", "4,2"]) == 0
    assert "-317.2569" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["fit", "{d}/nope.csv", "-f", "y ~ x"], "no such file"),
        (["fit", "{d}/wide.csv", "-f", "y ~ x"], "'y'"),
        (["fit", "{d}/wide.csv"], "--formula is required"),
        (["fit", "{d}/wide.csv", "--id", "slide"], "add --wide"),
        (["fit", "{d}/wide.csv", "--wide", "--id", "pid"], "'pid' is not in the data"),
        (["fit", "{d}/wide.csv", "--wide", "-k", "two"], "invalid int value"),
        (["fit", "{d}/wide.csv", "--wide", "-k", "2", "--starts", "x"], "--starts"),
        (["fit", "{d}/wide.csv", "--wide", "-k", "2", "--family", "bernouli"], "unknown family"),
        (["fit", "{d}/wide.xlsx", "--wide"], "use a .csv"),
        (["fit", "{d}/long.csv", "-f", "y ~ 0 + item | class(slide) ~ 1 +", "-k", "2"], "empty term"),
        (["summary", "{d}/bad.json"], "not a glmmix results file"),
        (["summary", "{d}/wide.csv"], "not a glmmix results file"),
        (["example", "nosuch"], "no example named 'nosuch'"),
        (["bogus"], "invalid choice"),
        (["fit", "{d}/ragged.csv", "--wide"], "a row has more fields than the header"),
        (["fit", "{d}/ragged_later.csv", "--wide"], "Expected 2 fields"),
        (["fit", "{d}/empty.csv", "--wide"], "No columns to parse"),
        (["fit", "{d}/wide.csv", "--wide", "--items", ""], "--items names no column"),
        (["fit", "{d}/wide.csv", "--wide", "--items", " , "], "--items names no column"),
        (["fit", "{d}/wide.csv", "--wide", "--out", "{d}/no/such/folder/r.json"], "no folder"),
        (["fit", "{d}/long.csv", "-f", "y ~ 1", "--measured-by", "tme"], "--measured-by names column 'tme'"),
        (["datasets", "nope"], "no data set named 'nope'"),
        (["datasets", "--out", "{d}/x.csv"], "--out needs the name of a data set"),
        (["datasets", "lsat", "--out", "{d}/x.xlsx"], "use a .csv or .tsv file"),
        (["fit", "{d}/long.csv", "-f", "y ~ 1", "--measured-by", "item"],
         "--measured-by column 'item' holds text (A, B, C, D): give the values in the order"),
        (["fit", "{d}/long.csv", "-f", "y ~ 1", "--measured-by", "item=A,B"], "not listed: ['C', 'D', 'E', 'F', 'G']"),
    ],
)
def test_errors_are_one_line_with_status_2(files, capsys, argv, fragment):
    assert main([a.format(d=files) for a in argv]) == 2
    out, err = capsys.readouterr()
    assert err.startswith("glmmix: error: ") and fragment in err and out == ""  # nothing fitted first
    assert err.count("\n") == 1 and "Traceback" not in err


def test_as_a_process(files):
    rc, out, err = run("--version")
    assert rc == 0 and out.strip() == f"glmmix {gm.__version__}"
    rc, out, err = run("example", "nosuch")
    assert rc == 2 and out == "" and err.strip() == ("glmmix: error: no example named 'nosuch'; examples are "
                                                      "lca, lsat (glmmix example list)")



def test_example_list(capsys):
    assert main(["example", "list"]) == 0
    assert "lca" in capsys.readouterr().out


def test_example_lca_boundary_note_once_and_no_zero_se_beside_nan(capsys):
    """The README's example: the boundary note is printed once (in the summary, not again
    as a warning), every line is at most 100 characters, and the boundary probabilities
    (0 or 1) have NaN standard errors, never 0.0000."""
    assert main(["example", "lca"]) == 0
    cap = capsys.readouterr()
    text = cap.out + cap.err
    assert text.count("ran to the boundary") == 1
    assert max(len(line) for line in cap.out.splitlines()) <= 100
    rows = cap.out.split("poLCA's probs):\n")[1].split("\n\n")[0].splitlines()[1:]
    ses = [v for row in rows for v in row.split()[4:]]
    assert len(ses) == 21 and ses.count("NaN") == 10 and "0.0000" not in ses


@pytest.mark.parametrize("module, option", [("joblib", "--jobs=2"), ("tqdm", "--progress")])
def test_missing_optional_package_is_a_one_line_error(files, capsys, monkeypatch, module, option):
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    monkeypatch.setitem(sys.modules, f"{module}.auto", None)
    assert main(["fit", str(files / "wide.csv"), "--wide", "--id", "slide", "-k", "2", "--family", "bernoulli",
                 "--starts", "2,1", option]) == 2
    err = capsys.readouterr().err
    assert err.startswith("glmmix: error: ") and f"pip install" in err and err.count("\n") == 1


def test_weights_and_measured_by_options(tmp_path, capsys):
    """A table of response patterns with their counts (--freq-weights), sampling weights
    (--weights, robust SEs by default) and an LTA (--measured-by), which the command line could
    not fit. The pattern table gives the 3-class carcinoma LCA's -293.70498 (flexmix 2.3.18,
    tests/reference/values/lca_carcinoma.json); the weights column is not taken for an item."""
    wide = gm.datasets.load("carcinoma")
    table = wide.groupby(list(wide.columns)).size().reset_index(name="n")
    table.to_csv(tmp_path / "patterns.csv", index=False)
    assert main(["fit", str(tmp_path / "patterns.csv"), "--wide", "--freq-weights", "n", "-k", "3",
                 "--family", "bernoulli", "--seed", "1"]) == 0
    text = capsys.readouterr().out
    assert "-293.7050" in text and "Frequency weights:" in text and "n (sum 118)" in text and "item[n]" not in text
    wide.assign(w=1.0 + (wide.index % 3)).to_csv(tmp_path / "weighted.csv", index=False)
    assert main(["fit", str(tmp_path / "weighted.csv"), "--wide", "--weights", "w", "-k", "2",
                 "--family", "bernoulli", "--seed", "1", "--starts", "4,2"]) == 0
    text = capsys.readouterr().out
    assert "Sampling weights:" in text and "robust (sandwich)" in text and "item[w]" not in text
    lta = gm.datasets.load("toca_sim").query("student <= 150")
    lta.to_csv(tmp_path / "lta.csv", index=False)
    f = "y ~ 0 + item | c1(student) ~ 1 | c2(student) ~ 1 + c1"
    assert main(["fit", str(tmp_path / "lta.csv"), "-f", f, "--measured-by", "time", "-k", "2",
                 "--family", "bernoulli", "--seed", "1", "--starts", "4,2", "--out", str(tmp_path / "lta.json")]) == 0
    assert "time: 1 -> c1, 2 -> c2" in capsys.readouterr().out
    res = gm.fit(f, lta, n_classes=2, family="bernoulli", measured_by="time", seed=1, starts=(4, 2))
    assert gm.load_results(tmp_path / "lta.json").llf == pytest.approx(res.llf, abs=1e-6)
    # text times in the order given: "post" does not come first for being first alphabetically
    lta.assign(time=lta.time.map({1: "pre", 2: "post"})).to_csv(tmp_path / "lta_text.csv", index=False)
    assert main(["fit", str(tmp_path / "lta_text.csv"), "-f", f, "--measured-by", "time=pre,post", "-k", "2",
                 "--family", "bernoulli", "--seed", "1", "--starts", "4,2", "--out", str(tmp_path / "t.json")]) == 0
    assert "time: pre -> c1, post -> c2" in capsys.readouterr().out
    back = gm.load_results(tmp_path / "t.json")
    assert back.llf == pytest.approx(res.llf, abs=1e-6)
    pd.testing.assert_frame_equal(back.transition_matrix("c2", "c1"), res.transition_matrix("c2", "c1"), atol=1e-6)


def test_a_closed_pipe_ends_quietly():
    """`glmmix datasets | head -1`: the reader closes the pipe before the output is written;
    this printed "glmmix: internal error (BrokenPipeError ...); please report it"."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.Popen([sys.executable, "-m", "glmmix", "datasets"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=env)
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait(timeout=300) == 141 and err == ""


def test_datasets_written_as_csv_fit_as_shipped(tmp_path, capsys):
    """The README's shell example needs carcinoma.csv coded 0/1; `glmmix datasets carcinoma --out`
    writes the data as gm.datasets.load gives them (the shipped file is poLCA's 1/2 coding), and
    its 3-class LCA gives flexmix's -293.70498 (tests/reference/values/lca_carcinoma.json)."""
    out = tmp_path / "carcinoma.csv"
    assert main(["datasets", "carcinoma", "--out", str(out)]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out), gm.datasets.load("carcinoma"), check_dtype=False)
    assert main(["datasets", "carcinoma"]) == 0
    assert "118 rows x 7 columns" in capsys.readouterr().out
    assert main(["fit", str(out), "--wide", "--classes", "3", "--family", "bernoulli", "--seed", "1"]) == 0
    assert "-293.7050" in capsys.readouterr().out
