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
    ],
)
def test_wide_to_long_errors(kwargs, fragment):
    wide = pd.DataFrame({"pid": [1, 2], "u1": [1, 0]})
    with pytest.raises(DesignError, match=fragment):
        gm.wide_to_long(wide, **kwargs)


def test_wide_to_long_duplicate_ids():
    with pytest.raises(DesignError, match="repeats"):
        gm.wide_to_long(pd.DataFrame({"pid": [1, 1], "u1": [1, 0]}), items=["u1"], id="pid")
