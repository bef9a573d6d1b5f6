"""glmmix: multilevel mixture models by maximum likelihood, from formulas.

    >>> import glmmix as gm
    >>> long = gm.wide_to_long(gm.datasets.load("lsat"), id=None)
    >>> res = gm.fit("y ~ 0 + item | class(id) ~ 1", long, n_classes=2, family="bernoulli", seed=1)
    >>> print(res.summary())
"""

__version__ = "0.1.0"

from . import datasets, families, plots  # noqa: E402
from .api import fit  # noqa: E402
from .estimation import FitOptions  # noqa: E402
from .exceptions import (  # noqa: E402
    BoundaryWarning,
    ConvergenceWarning,
    DataWarning,
    DegenerateLikelihoodWarning,
    DesignError,
    EstimationError,
    FormulaError,
    GlmmixError,
    IdentificationError,
    IntegrationAccuracyWarning,
    LabelSwitchingWarning,
    SingularInformationWarning,
)
from .formula import parse_formula  # noqa: E402
from .long import wide_to_long  # noqa: E402
from .model import MixtureModel  # noqa: E402
from .results import MixtureResults  # noqa: E402
from .simulate import monte_carlo, simulate  # noqa: E402
from .irt import irt_parameters, item_curves  # noqa: E402
from .selection import blrt, enumerate_classes, lmr_test  # noqa: E402
from .threestep import three_step  # noqa: E402
from .special import compare, fma, fma_gom, gom, lca, lrtest, plot_profiles, three_pl  # noqa: E402

load_results = MixtureResults.load

__all__ = [
    "fit", "MixtureModel", "wide_to_long", "datasets", "families", "plots", "FitOptions", "MixtureResults", "load_results",
    "parse_formula", "GlmmixError", "FormulaError", "DesignError", "IdentificationError", "EstimationError",
    "ConvergenceWarning", "BoundaryWarning", "DegenerateLikelihoodWarning", "LabelSwitchingWarning", "SingularInformationWarning",
    "IntegrationAccuracyWarning", "DataWarning",
    "lca", "gom", "fma", "fma_gom", "three_pl", "irt_parameters", "item_curves", "compare", "plot_profiles", "lrtest", "enumerate_classes", "lmr_test", "blrt", "three_step", "simulate", "monte_carlo",
]
