"""Public data sets shipped with glmmix (see ``glmmix/data/README.md`` for sources)."""

from __future__ import annotations

from importlib import resources

import pandas as pd

from .exceptions import GlmmixError

_DESCRIPTIONS = {
    "carcinoma": "7 pathologists' ratings (0 = no, 1 = yes) of 118 slides (Agresti; R poLCA).",
    "lsat": "LSAT section 6: 5 binary items, 1000 examinees (Bock & Lieberman 1970; R ltm).",
    "verbagg_long": "Verbal aggression, long form: 316 persons x 24 items (De Boeck & Wilson 2004; R lme4).",
    "verbagg_wide": "Verbal aggression, wide form: 316 persons x 24 binary items.",
    "ability": "ICAR ability items: 1525 persons x 16 binary items with missing values (R psychTools).",
    "contraception": "Bangladesh Fertility Survey 1989: 1934 women in 60 districts (R mlmRev).",
    "cbpp": "Contagious bovine pleuropneumonia: 56 herd-periods in 15 herds (R lme4).",
    "apistrat": "California schools' Academic Performance Index, stratified sample of 200 with sampling "
                "weights pw (R survey's apistrat).",
    "iris": "Fisher's (Anderson's) iris: 4 measurements of 150 flowers of 3 species (R datasets).",
    "sleepstudy": "Reaction times of 18 subjects over 10 days of sleep deprivation (Belenky et al. 2003; R lme4).",
    "pastes": "Paste strength: 60 assays, 2 per cask, 3 casks in each of 10 batches (Davies & Goldsmith 1972; "
              "R lme4's Pastes).",
    "toca_sim": "Simulated two-level LTA data mimicking the TOCA example (Asparouhov & Muthen 2006, "
                "Section 4, Table 1): 1200 students in 60 classrooms, 10 binary items, fall and spring.",
}


def generator(name: str) -> dict:
    """Generating parameters of a simulated data set (``toca_sim``), from its JSON file."""
    import json

    _check(name)
    path = resources.files("glmmix").joinpath("data", f"{name}.json")
    if not path.is_file():
        raise GlmmixError(f"data set {name!r} is not simulated: it has no generator parameters")
    with path.open("r") as fh:
        return json.load(fh)


def names() -> list[str]:
    """Names of the shipped data sets."""
    return sorted(_DESCRIPTIONS)


def describe(name: str) -> str:
    """One-line description and source of a data set."""
    _check(name)
    return _DESCRIPTIONS[name]


def _check(name):
    if name not in _DESCRIPTIONS:
        raise GlmmixError(f"unknown data set {name!r}; available: {names()}")


def load(name: str) -> pd.DataFrame:
    """Load a shipped data set as a DataFrame.

    ``carcinoma`` is recoded from poLCA's 1/2 coding to 0/1 (1 = carcinoma present).
    """
    _check(name)
    with resources.files("glmmix").joinpath("data", f"{name}.csv").open("r") as fh:
        df = pd.read_csv(fh)
    if name == "carcinoma":
        df = df - 1
    if name in ("verbagg_long", "verbagg_wide"):
        df["id"] = df["id"].astype(int)
    if name == "cbpp":  # factors in R's lme4::cbpp
        df["period"] = pd.Categorical(df["period"].astype(str), categories=["1", "2", "3", "4"])
        df["herd"] = df["herd"].astype(str)
    df.attrs["source"] = _DESCRIPTIONS[name]
    return df
