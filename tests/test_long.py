import numpy as np
import pandas as pd
import pytest

import glmmix as gm
from glmmix import DesignError


def test_wide_to_long_roundtrip_and_missing():
    wide = pd.DataFrame({"pid": [3, 1, 2], "u1": [1, 0, np.nan], "u2": [0, np.nan, 1], "x": [0.5, 1.5, 2.5]})
    long = gm.wide_to_long(wide, items=["u1", "u2"], id="pid")
    assert list(long.columns) == ["pid", "item", "y", "x"]
    assert long.attrs["n_missing"] == 2 and len(long) == 4
    assert list(long["item"].cat.categories) == ["u1", "u2"]
    # units stay in their wide order, items in item order; covariates carried along
    assert long["pid"].tolist() == [3, 3, 1, 2]
    back = long.pivot(index="pid", columns="item", values="y").reindex([3, 1, 2])
    np.testing.assert_array_equal(back.to_numpy(), wide[["u1", "u2"]].to_numpy())
    assert long.loc[long.pid == 2, "x"].iloc[0] == 2.5


def test_wide_to_long_dummies_and_default_id():
    wide = pd.DataFrame({"a": [1, 0], "b": [0, 1]})
    long = gm.wide_to_long(wide, dummies=True)
    assert {"id", "item_a", "item_b"} <= set(long.columns)
    assert (long["item_a"] + long["item_b"] == 1).all()


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"items": ["zz"], "id": "pid"}, "zz"),
        ({"items": ["u1"], "id": "nope"}, "nope"),
        ({"items": ["pid", "u1"], "id": "pid"}, "id column 'pid' is also listed among the items"),
        # a string was read letter by letter: "u1" as columns 'u' and '1'
        ({"items": "u1", "id": "pid"}, r"items must be a list of column names, not 'u1' \(a string is read letter"),
        ({"keep": "pid"}, r"keep must be a list of column names, not 'pid'"),
    ],
)
def test_wide_to_long_errors(kwargs, fragment):
    wide = pd.DataFrame({"pid": [1, 2], "u1": [1, 0]})
    with pytest.raises(DesignError, match=fragment):
        gm.wide_to_long(wide, **kwargs)


def test_wide_to_long_item_types():
    """bool items join numeric ones as 0/1 (a numeric outcome, fitted as the 0/1 data are);
    a text column among numeric items (an id left out of id=) is refused by name."""
    rng = np.random.default_rng(2)
    num = pd.DataFrame(rng.integers(0, 2, size=(60, 4)), columns=["a", "b", "c", "d"]).astype(float)
    num.iloc[3, 1] = np.nan
    mixed = num.assign(a=num["a"].astype(bool))
    long = gm.wide_to_long(mixed)
    assert pd.api.types.is_float_dtype(long["y"]) and set(long["y"]) == {0.0, 1.0}
    pd.testing.assert_frame_equal(long, gm.wide_to_long(num))
    with pytest.raises(DesignError, match=r"item column\(s\) \['pid'\] are not numeric.*pass id='pid'"):
        gm.wide_to_long(num.assign(pid=[f"p{i}" for i in range(60)]))
    with pytest.raises(DesignError, match=r"\['pid'\] are not numeric.*keep="):
        gm.wide_to_long(num.assign(pid=[f"p{i}" for i in range(60)], k=range(60)), id="k")
    # text-only items stay as they are (the outcome check of fit() names them)
    text = pd.DataFrame({"q1": ["yes", "no"], "q2": ["no", "no"]})
    assert gm.wide_to_long(text)["y"].tolist() == ["yes", "no", "no", "no"]


def test_default_ids_are_the_row_labels():
    """Without id= the units are the wide data's rows, identified by their index labels, so that
    per-unit results join back by the index. They were numbered 1..n: ``wide.join(posterior)``
    then put each unit's posterior on another row (every row, with the default 0..n-1 index)."""
    wide = pd.DataFrame({"a": [1, 0, 1], "b": [0, 1, 1]}, index=[7, 3, 5])
    long = gm.wide_to_long(wide)
    assert long["id"].tolist() == [7, 7, 3, 3, 5, 5]
    with pytest.raises(DesignError, match=r"index repeats labels \(e.g. 7\).*pass id="):
        gm.wide_to_long(wide.set_axis([7, 3, 7]))
    with pytest.raises(DesignError, match="index has 2 levels"):
        gm.wide_to_long(wide.set_axis(pd.MultiIndex.from_tuples([(1, 1), (1, 2), (2, 1)])))
    with pytest.raises(DesignError, match="index has missing labels"):
        gm.wide_to_long(wide.set_axis([1.0, np.nan, 2.0]))


def test_wide_fit_results_join_back_by_index():
    """A wide fit without id=: posteriors line up with the rows of a shuffled, subsetted frame
    (checked against the same fit with the row labels given as an id column), and three_step
    finds the units in the index."""
    wide = gm.datasets.load("carcinoma").sample(frac=1, random_state=0).iloc[:100]
    items = list("ABCDEFG")
    kw = dict(n_classes=2, family="bernoulli", seed=1, starts=(4, 2), se="none")
    res = gm.fit("y ~ 0 + item | class(id) ~ 1", wide, items=items, **kw)
    ref = gm.fit("y ~ 0 + item | class(unit) ~ 1", wide.assign(unit=wide.index), items=items, id="unit", **kw)
    assert res.llf == pytest.approx(ref.llf, abs=1e-9)
    joined = wide.join(res.posterior)
    expected = ref.posterior.loc[wide.index]
    np.testing.assert_allclose(joined[list(res.posterior.columns)].to_numpy(), expected.to_numpy(), atol=1e-12)
    z = np.random.default_rng(0).normal(size=len(wide))
    a = gm.three_step(res, wide.assign(z=z), "z ~ 1")
    b = gm.three_step(ref, wide.assign(z=z, unit=wide.index), "z ~ 1")
    np.testing.assert_allclose(np.asarray(a.params, float), np.asarray(b.params, float), atol=1e-10)


def test_default_items_refuse_a_covariate_left_among_them():
    """Without items= every column but the id is an item: a covariate left in the wide data
    became part of the outcome without a word. Numeric columns unlike the others are refused."""
    rng = np.random.default_rng(1)
    w = pd.DataFrame(rng.integers(0, 2, (50, 4)).astype(float), columns=list("abcd"))
    with pytest.raises(DesignError, match=r"\['x'\] hold non-integer values.*keep="):
        gm.wide_to_long(w.assign(x=rng.normal(size=50)))
    with pytest.raises(DesignError, match=r"\['age'\] hold 10 or more distinct values"):
        gm.wide_to_long(w.assign(age=rng.integers(18, 80, 50)))
    assert gm.wide_to_long(w.assign(x=rng.normal(size=50)), keep=["x"]).shape == (200, 4)
    assert gm.wide_to_long(w.assign(x=rng.normal(size=50)), items=list("abcdx")).shape == (250, 3)
    # items of one kind pass: Likert 1..5, continuous (a latent profile analysis), 0/1
    assert len(gm.wide_to_long(pd.DataFrame(rng.integers(1, 6, (50, 4))))) == 200
    assert len(gm.wide_to_long(pd.DataFrame(rng.normal(size=(50, 4))))) == 200


def test_wide_to_long_duplicate_ids():
    with pytest.raises(DesignError, match="repeats"):
        gm.wide_to_long(pd.DataFrame({"pid": [1, 1], "u1": [1, 0]}), items=["u1"], id="pid")


def test_fit_reshapes_wide_data_in_one_call(carcinoma_long):
    # the same model from wide data (items=) and from wide_to_long's long data: same fit
    wide = gm.datasets.load("carcinoma")
    wide.iloc[0, 2] = np.nan
    wide.insert(0, "pid", np.arange(100, 100 + len(wide)))
    wide["x"] = np.linspace(-1, 1, len(wide))
    items = [c for c in wide.columns if c not in ("pid", "x")]
    res_w = gm.fit("resp ~ 0 + rater | class(pid) ~ 1 + x", wide, n_classes=2, family="bernoulli",
                   items=items, id="pid", seed=3, starts=(4, 2))
    long = gm.wide_to_long(wide, items=items, id="pid", item_name="rater", value_name="resp")
    res_l = gm.fit("resp ~ 0 + rater | class(pid) ~ 1 + x", long, n_classes=2, family="bernoulli",
                   seed=3, starts=(4, 2))
    assert res_w.llf == pytest.approx(res_l.llf, abs=1e-8)
    assert list(res_w.params.index) == list(res_l.params.index)
    assert "class2:rater[B]" in res_w.params.index and "logit:class1:x" in res_w.params.index
    assert res_w.n_missing_wide == 1 and res_w.nobs == len(wide) * len(items) - 1
    assert "Responses missing in wide data:" in str(res_w.summary())


def test_helpers_take_wide_data():
    wide = gm.datasets.load("lsat")
    res = gm.lca(wide, 2, items=list(wide.columns), seed=1, verbose=False, starts=(4, 2))
    # flexmix / StepMix reference for LSAT, 2 classes (tests/test_lca_reference.py)
    assert res.llf == pytest.approx(-2467.4055, abs=1e-3)


@pytest.mark.parametrize(
    "formula, kwargs, fragment",
    [
        ("I1 ~ 0 + item | class(id) ~ 1", {}, "outcome 'I1' is a column of the wide data"),
        ("y ~ 0 + item + z | class(id) ~ 1", {}, "['item', 'z'] of the formula are neither in the data"),
        ("y ~ 0 + item | class(id) ~ 1", {"items": "I1"}, "items must be a list"),
        ("y ~ 0 + item | class(nope) ~ 1", {"id": "nope"}, "'nope' is not in the data"),
        ("y ~ 0 + item | class(id) ~ 1", {"items": None, "id": "id"}, "needs items="),
        # the unit named in the formula is not the id column
        ("y ~ 0 + item | class(person) ~ 1", {"id": "pid"}, "['person'] name(s) the units in the formula"),
        ("y ~ 0 + item | class(person) ~ 1", {"id": "pid"}, "id='pid': write 'pid' in the formula"),
        ("y ~ 0 + item | class ~ 1 + (1 | person)", {}, "a new column 'id' (or pass id=)"),
        ("y ~ 0 + item | class(id) ~ 1", {"items": ["I1", "I2", "txt"]}, "item column(s) ['txt'] hold text"),
    ],
)
def test_fit_wide_errors(formula, kwargs, fragment):
    wide = gm.datasets.load("lsat")
    wide["pid"] = np.arange(len(wide))
    wide["txt"] = np.where(wide["I3"] == 1, "yes", "no")
    kw = {"items": ["I1", "I2", "I3", "I4", "I5"], **kwargs}
    with pytest.raises(DesignError) as e:
        gm.fit(formula, wide, n_classes=2, family="bernoulli", **kw)
    assert fragment in str(e.value)
