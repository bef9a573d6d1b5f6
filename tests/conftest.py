import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

import glmmix as gm

REF = Path(__file__).parent / "reference" / "values"
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the smoke tests import the benchmarks' modules
    sys.path.insert(0, str(ROOT))


def load_reference(name):
    """Stored reference values produced by the scripts in tests/reference/scripts."""
    return json.loads((REF / name).read_text())


@pytest.fixture
def rng():
    return np.random.default_rng(int(os.environ.get("GLMMIX_TEST_SEED", "12345")))


@pytest.fixture(scope="session")
def carcinoma_long():
    return gm.wide_to_long(gm.datasets.load("carcinoma"))


@pytest.fixture(scope="session")
def lsat_long():
    return gm.wide_to_long(gm.datasets.load("lsat"))
