"""Saving and loading results as JSON data.

A results file is data, never code: the model is described structurally (class variables,
random terms, the encodings of its designs (:mod:`glmmix.encoding`: column names, levels,
codings, transform states, term structure), outcome categories, the full parameter vector,
the integration nodes, family and link names), and every field is checked on load. A
loaded result rebuilds a design skeleton (:class:`StoredModel`) from it, so it predicts
and classifies new rows as the fitted model does. The formula text is kept as a label for
the summary; nothing read from a file is evaluated.
A file that is not a glmmix result (truncated, binary, not a JSON object, missing or
malformed fields) raises one :class:`~glmmix.exceptions.ResultsFileError` saying so.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .encoding import Encoding, EncodingError
from .exceptions import GlmmixError, ResultsFileError

FORMAT = "glmmix-results"

_NUM = (int, float)


def _is_num_list(v, depth=0):
    """A list of numbers (None for non-finite), or of such lists (at most two levels)."""
    return isinstance(v, list) and all(
        (isinstance(x, _NUM) and not isinstance(x, bool)) or x is None
        or (depth == 0 and _is_num_list(x, 1)) for x in v)


def _is_str_list(v):
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


# field -> check of its JSON value
_REQUIRED = {
    "params": _is_num_list,
    "labels": _is_str_list,
    "theta": _is_num_list,
    "llf": lambda v: isinstance(v, _NUM),
    "nobs": lambda v: isinstance(v, int),
    "n_units": lambda v: isinstance(v, int),
    "n_classes": lambda v: isinstance(v, int) and v >= 1,
    "converged": lambda v: isinstance(v, bool),
    "se_type": lambda v: isinstance(v, str),
    "formula": lambda v: isinstance(v, str),
    "family": lambda v: isinstance(v, str),
    "link": lambda v: isinstance(v, str),
    "model_name": lambda v: isinstance(v, str),
    "class_name": lambda v: isinstance(v, str),
    "posterior": _is_num_list,
    "unit_ids": lambda v: isinstance(v, list),
    "class_prop": lambda v: isinstance(v, dict) and _is_num_list(v.get("value")) and _is_num_list(v.get("se")),
    "starts": lambda v: isinstance(v, list) and all(isinstance(r, dict) for r in v),
    "cov": lambda v: v is None or (isinstance(v, list) and all(_is_num_list(r) for r in v)),
    "label_blocks": _is_str_list,
    "n_clusters": lambda v: isinstance(v, int),
    "n_dropped": lambda v: isinstance(v, int),
    "beta_full": lambda v: isinstance(v, list),
    "extra_full": lambda v: isinstance(v, list),
    "gamma_full": lambda v: isinstance(v, list),
    "model": lambda v: isinstance(v, dict),
}

def _file(path, verb: str) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise ResultsFileError(f"the file to {verb} must be a path (str or os.PathLike), not {type(path).__name__}")
    return Path(path)


def save(res, path) -> None:
    """Write ``res`` to ``path`` as JSON."""
    p = _file(path, "write")
    text = json.dumps(_jsonable(_saved_state(res)), indent=1, allow_nan=False)
    try:
        p.write_text(text)
    except OSError as exc:
        raise ResultsFileError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None


def _saved_state(res) -> dict:
    """The state a file holds: the results' (:meth:`to_state`) with the model's structure; at
    an exact boundary limit the limiting model's results (``limit``) the same way."""
    state = dict(res.to_state())
    state.pop("outcome_rhs", None)
    state.pop("class_rhs", None)
    if res.model is not None:  # a loaded result keeps the structure it was read with
        state["model"] = _structure(res)
    if res.limit is not None:
        state["limit"] = _saved_state(res.limit)
    return state


def load(cls, path):
    """Read a results file written by :func:`save` (see the module docstring)."""
    p = _file(path, "read")
    what = f"{str(path)!r} is not a glmmix results file"
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ResultsFileError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ResultsFileError(f"{what}: it is binary, not JSON text") from None
    try:
        s = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        msg = getattr(exc, "msg", "too deeply nested")
        raise ResultsFileError(f"{what}: it is not valid JSON ({msg}; truncated?)") from None
    if not isinstance(s, dict):
        raise ResultsFileError(f"{what}: it holds a JSON {type(s).__name__}, not an object")
    return _from_state(cls, s, what)


def _from_state(cls, s: dict, what: str, nested: bool = False):
    """Results from a file's state ``s`` (a dict read from JSON), every field checked; the
    limiting model's results of a fit at a boundary limit (``limit``) the same way."""
    if s.get("format") != FORMAT:
        raise ResultsFileError(f"{what}: its 'format' field is {s.get('format')!r}, not {FORMAT!r}")
    missing = [k for k in _REQUIRED if k not in s]
    if missing:
        raise ResultsFileError(f"{what}: it lacks the field(s) {missing}")
    bad = [k for k, ok in _REQUIRED.items() if not ok(s[k])]
    if bad:
        raise ResultsFileError(f"{what}: the field(s) {bad} are malformed")
    n, K = len(s["labels"]), s["n_classes"]
    try:
        post = np.asarray(s["posterior"], float).reshape(-1)
    except ValueError:
        post = np.zeros(0)
    if len(s["params"]) != n or (s["cov"] is not None and (len(s["cov"]) != n or any(len(r) != n for r in s["cov"]))) \
            or post.size != len(s["unit_ids"]) * K or len(s["class_prop"]["value"]) != K:
        raise ResultsFileError(f"{what}: params, cov, posterior and class proportions do not agree in size")
    try:
        stored = _rebuild(s["model"], K, s["family"], s["link"])
    except (EncodingError, _Malformed, GlmmixError) as exc:
        raise ResultsFileError(f"{what}: {exc}") from None
    s["cov"] = None if s["cov"] is None else np.array([[np.nan if v is None else v for v in r] for r in s["cov"]], float)
    s["class_prop"]["se"] = [np.nan if v is None else v for v in s["class_prop"]["se"]]
    limit = s.pop("limit", None)
    if limit is not None and (nested or not isinstance(limit, dict)):
        raise ResultsFileError(f"{what}: the field 'limit' is malformed")
    if limit is not None:
        limit = _from_state(cls, limit, f"{what} (its boundary limit's results)", nested=True)
    try:
        res = cls(s, model=None)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ResultsFileError(f"{what}: a field is malformed ({type(exc).__name__}: {exc})") from None
    res.stored_model = stored
    if limit is not None:
        res.limit = limit
    return res


# ---------------------------------------------------------------------- the model's structure
def _structure(res) -> dict:
    """The fitted model as data: formula structure (names, levels, random terms), designs'
    encodings and names, family auxiliaries, full parameter vector and block shapes,
    integration nodes."""
    m = res.model
    d = m.design
    f = d.formula
    integ = m.likelihood.integ

    def terms(part):
        return ([{"expr": t.expr, "group": t.group, "correlated": bool(t.correlated)} for t in part.random]
                + [{"expr": t.expr, "group": t.group, "n_factors": int(t.n_factors)} for t in part.factors])

    def block(b):
        return {"part": b.part, "group": b.group, "structure": b.structure, "names": list(b.names), "d": int(b.d),
                "m": int(b.m), "term": b.term, "slots": b.slots, "slot_names": b.slot_names, "enc": b.enc.to_dict()}

    mb = d.measured_by
    return {
        "outcome": f.outcome,
        "outcome_terms": terms(f.outcome_part),
        "classes": [{"name": c.name, "level": c.level, "parents": list(c.parents), "terms": terms(c.part)}
                    for c in f.classes],
        "class_vars": [{"name": v.name, "K": int(v.K), "level": v.level, "between": bool(v.between),
                        "parents": [int(p) for p in v.parents], "z_names": list(v.z_names),
                        "z": None if v.z_spec is None else v.z_spec.to_dict()} for v in d.classes.vars],
        "single": bool(d.classes.single),
        "x": d.x_spec.to_dict(), "x_names": list(d.x_names), "x_terms": d.x_terms,
        "x_group": None if d.x_group is None else [int(g) for g in d.x_group],
        "mgroups": None if d.mgroups is None else [list(g) for g in d.mgroups],
        "z_names": list(d.z_names),
        "re_out": [block(b) for b in d.re_out], "re_cls": [block(b) for b in d.re_cls],
        "aux": {k: getattr(d.aux, k) for k in ("categories", "threshold_cats", "threshold_by")
                if getattr(d.aux, k) is not None},
        "trials": d.trials_arg,
        "measured_by": mb if mb is None or isinstance(mb, str) else {"not stored": "a row selector"},
        "meas_values": d.meas_values,
        "n_classes": int(d.n_classes), "class_name": d.class_name, "unit_name": d.unit_name,
        "cluster_name": d.cluster_name, "form": d.form,
        "phi": m.layout.expand(res.theta),
        "blocks": {n: [int(b.offset), [int(x) for x in b.shape]] for n, b in m.layout.blocks.items()},
        "integration": {"method": integ.method, "n_points": int(integ.n_points), "adaptive": bool(integ.adaptive),
                        "t": integ.t, "logw": integ.logw},
    }


class _Malformed(Exception):
    pass


def _need(ok, field):
    if not ok:
        raise _Malformed(f"the stored model's {field!r} is malformed")


def _name(v, none=False):
    return (v is None and none) or (isinstance(v, str) and 0 < len(v) < 500)


def _scalars(v):
    return isinstance(v, list) and all(isinstance(x, (str, int, float, bool)) for x in v)


class StoredLayout:
    """The fitted full parameter vector by block (a loaded result estimates nothing)."""

    def __init__(self, phi, blocks, design):
        from .params import term_views

        self.phi = phi
        self.blocks = blocks
        self.re_terms = term_views(design)
        self.re_out_terms = [v for v in self.re_terms if v.block == "re_out"]
        self.re_cls_terms = [v for v in self.re_terms if v.block == "re_cls"]

    def expand(self, theta):
        return self.phi.copy()

    def unpack(self, phi):
        return {n: phi[o:o + int(np.prod(sh))].reshape(sh) for n, (o, sh) in self.blocks.items()}


class StoredModel:
    """What a loaded result needs to encode and classify new units: the design skeleton
    (encodings, names, levels; no data), the parameter blocks and the integration rule."""

    def __init__(self, design, layout, integ, note=None):
        self.design, self.layout, self.integ = design, layout, integ
        self.note = note  # why new rows cannot be used, if they cannot


def _terms(ts, field):
    from .terms import FactorTerm, RandomTerm

    _need(isinstance(ts, list), field)
    rand, fac = [], []
    for r in ts:
        _need(isinstance(r, dict) and _name(r.get("expr")) and _name(r.get("group")), field)
        if "n_factors" in r:
            _need(isinstance(r["n_factors"], int), field)
            fac.append(FactorTerm(r["expr"], r["group"], r["n_factors"]))
        else:
            _need(isinstance(r.get("correlated"), bool), field)
            rand.append(RandomTerm(r["expr"], r["group"], r["correlated"]))
    return tuple(rand), tuple(fac)


def _blocks(bs, field):
    from .random_effects import RandomBlock

    _need(isinstance(bs, list), field)
    out = []
    for b in bs:
        _need(isinstance(b, dict) and b.get("part") in ("outcome", "class") and _name(b.get("group"))
              and b.get("structure") in ("chol", "diag", "rr", "reg") and _strs(b.get("names"))
              and isinstance(b.get("d"), int) and isinstance(b.get("m"), int) and isinstance(b.get("term"), str)
              and (b.get("slots") is None or (isinstance(b["slots"], list) and all(isinstance(x, int) for x in b["slots"])))
              and (b.get("slot_names") is None or _strs(b["slot_names"])), field)
        enc = Encoding.from_dict(b.get("enc"), f"random term {b['term']}")
        out.append(RandomBlock(b["part"], b["group"], b["structure"], np.zeros((0, len(b["names"]))), b["names"],
                               b["d"], b["m"], b["term"], slots=b["slots"], slot_names=b["slot_names"], enc=enc))
    return out


_KEYS = ["outcome", "outcome_terms", "classes", "class_vars", "single", "x", "x_names", "x_terms", "x_group",
         "mgroups", "z_names", "re_out", "re_cls", "aux", "trials", "measured_by", "meas_values", "n_classes",
         "class_name", "unit_name", "cluster_name", "form", "phi", "blocks", "integration"]


def _rebuild(t, K, family, link) -> StoredModel:
    """Check the stored structure field by field and build the skeleton from it."""
    from .design import Design
    from .families import get_family

    _need(isinstance(t, dict), "model")
    missing = [k for k in _KEYS if k not in t]
    if missing:
        raise _Malformed(f"the stored model lacks {missing}")
    formula = _stored_formula(t)
    x = _stored_names(t, K)
    cvars, system = _stored_class_vars(t, K)
    re_out, re_cls = _blocks(t["re_out"], "re_out"), _blocks(t["re_cls"], "re_cls")
    aux = _stored_aux(t["aux"])
    mb = t["measured_by"]
    _stored_measurement(t)
    phi, bl = _stored_parameters(t, K)
    integ = _stored_integration(t["integration"], sum(b.d for b in re_out + re_cls))
    design = Design(
        formula=formula, family=get_family(family, link), aux=aux, y=np.zeros(0),
        X=np.zeros((0, len(t["x_names"]))), x_names=t["x_names"], x_terms=t["x_terms"], x_spec=x,
        unit_of_row=np.zeros(0, np.intp), unit_starts=np.zeros(0, np.intp), unit_ids=pd.Index([]),
        unit_name=t["unit_name"], Z=np.zeros((0, len(t["z_names"]))), z_names=t["z_names"],
        z_spec=cvars[0].z_spec if t["single"] else None, n_classes=K, class_name=t["class_name"],
        row_index=pd.Index([]), cluster_name=t["cluster_name"], form=t["form"], re_out=re_out, re_cls=re_cls,
        classes=system, x_group=None if t["x_group"] is None else np.asarray(t["x_group"], np.intp),
        mgroups=None if t["mgroups"] is None else [tuple(g) for g in t["mgroups"]],
        measured_by=None if isinstance(mb, dict) else mb, meas_values=t["meas_values"],
        trials_arg=t["trials"], stored=True)
    note = None
    if isinstance(mb, dict):
        note = ("the model was fitted with measured_by row selectors, which a results file does not keep "
                "(fit with measured_by='a column' to use new rows after loading)")
    return StoredModel(design, StoredLayout(phi, bl, design), integ, note)


def _stored_formula(t):
    """The parsed formula's structure (outcome, random terms, class parts; no text)."""
    from .terms import ClassPart, ParsedFormula, Part

    _need(_name(t["outcome"]), "outcome")
    ro, fo = _terms(t["outcome_terms"], "outcome_terms")
    _need(isinstance(t["classes"], list), "classes")
    classes = []
    for c in t["classes"]:
        _need(isinstance(c, dict) and _name(c.get("name")) and _name(c.get("level"), none=True)
              and isinstance(c.get("parents"), list) and all(_name(p) for p in c["parents"]), "classes")
        r, fa = _terms(c.get("terms"), "classes")
        classes.append(ClassPart(c["name"], c["level"], Part("", r, fa), tuple(c["parents"])))
    return ParsedFormula(t["outcome"], t["outcome"], Part("", ro, fo), tuple(classes))


def _stored_names(t, K) -> Encoding:
    """Check the sizes, level names and design names; returns the outcome part's encoding."""
    _need(isinstance(t["n_classes"], int) and t["n_classes"] == K, "n_classes")
    for k in ("unit_name", "cluster_name", "trials"):
        _need(_name(t[k], none=True), k)
    _need(_name(t["class_name"]), "class_name")
    _need(t["form"] in ("none", "inside", "outside", "crossed"), "form")
    _need(_strs(t["x_names"]) and _strs(t["z_names"]), "x_names")
    _need(isinstance(t["x_terms"], dict) and all(isinstance(v, list) and all(isinstance(i, int) for i in v)
                                                 for v in t["x_terms"].values()), "x_terms")
    return Encoding.from_dict(t["x"], "outcome part")


def _stored_class_vars(t, K):
    """The class variables (their logit designs' encodings; no rows) and their system."""
    from .classes import ClassSystem, ClassVar

    _need(isinstance(t["class_vars"], list) and len(t["class_vars"]) >= 1 and isinstance(t["single"], bool),
          "class_vars")
    cvars = []
    for i, v in enumerate(t["class_vars"]):
        _need(isinstance(v, dict) and _name(v.get("name")) and isinstance(v.get("K"), int) and v["K"] >= 1
              and _name(v.get("level"), none=True) and isinstance(v.get("between"), bool)
              and isinstance(v.get("parents"), list) and all(isinstance(p, int) and 0 <= p < i for p in v["parents"])
              and _strs(v.get("z_names")), "class_vars")
        z = None if v.get("z") is None else Encoding.from_dict(v["z"], f"class part of {v['name']!r}")
        cvars.append(ClassVar(v["name"], v["K"], v["level"], v["between"], np.zeros((0, len(v["z_names"]))),
                              v["z_names"], z, v["parents"]))
    system = ClassSystem(cvars, single=t["single"])
    _need(system.S == K, "class_vars")
    return cvars, system


def _stored_aux(aux):
    """The family's data that new rows need: outcome categories and threshold levels."""
    from .families import FamilyData

    _need(isinstance(aux, dict) and set(aux) <= {"categories", "threshold_cats", "threshold_by"}
          and all(_scalars(aux.get(k, [])) for k in ("categories", "threshold_cats"))
          and _name(aux.get("threshold_by"), none=True), "aux")
    aux = FamilyData(**aux)
    if aux.categories is not None:
        aux.n_cat = len(aux.categories)
    if aux.threshold_cats is not None:
        aux.threshold_levels = [str(c) for c in aux.threshold_cats]
    return aux


def _stored_measurement(t) -> None:
    """Check measured_by, its values, and the measurement groups of the outcome design."""
    mb = t["measured_by"]
    _need(mb is None or _name(mb) or isinstance(mb, dict), "measured_by")
    _need(t["meas_values"] is None or _scalars(t["meas_values"]), "meas_values")
    _need(t["x_group"] is None or (isinstance(t["x_group"], list) and all(isinstance(g, int) for g in t["x_group"])),
          "x_group")
    _need(t["mgroups"] is None or (isinstance(t["mgroups"], list) and all(
        isinstance(g, list) and all(isinstance(i, int) for i in g) for g in t["mgroups"])), "mgroups")


def _stored_parameters(t, K):
    """The full parameter vector and its blocks (offset, shape)."""
    try:
        phi = np.asarray(t["phi"], dtype=float)
    except (TypeError, ValueError):
        raise _Malformed("the stored model's 'phi' is malformed") from None
    _need(phi.ndim == 1 and np.isfinite(phi).all(), "phi")
    _need(isinstance(t["blocks"], dict), "blocks")
    bl = {}
    for n, v in t["blocks"].items():
        _need(n in ("beta", "extra", "gamma", "re_out", "re_cls") and isinstance(v, list) and len(v) == 2
              and isinstance(v[0], int) and isinstance(v[1], list) and all(isinstance(x, int) and x >= 0 for x in v[1])
              and 0 <= v[0] and v[0] + int(np.prod(v[1])) <= phi.size, "blocks")
        bl[n] = (v[0], tuple(v[1]))
    _need("beta" in bl and bl["beta"][1] == (len(t["x_names"]), K), "blocks")
    return phi, bl


def _stored_integration(it, D):
    """The integration rule (its nodes and log-weights, in ``D`` dimensions)."""
    from .quadrature import Integration

    _need(isinstance(it, dict) and isinstance(it.get("method"), str) and isinstance(it.get("n_points"), int)
          and isinstance(it.get("adaptive"), bool), "integration")
    try:
        tt, lw = np.asarray(it.get("t"), float), np.asarray(it.get("logw"), float)
    except (TypeError, ValueError):
        raise _Malformed("the stored model's 'integration' is malformed") from None
    _need(tt.ndim == 2 and tt.shape[1] == D and lw.shape == (tt.shape[0],), "integration")
    return Integration(it["method"], it["n_points"], D, it["adaptive"], tt, lw)


def _strs(x) -> bool:
    return isinstance(x, list) and all(isinstance(v, str) for v in x)


def _jsonable(o):
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if isinstance(o, (np.ndarray, pd.Index)):
        return _jsonable(o.tolist())
    if isinstance(o, (np.floating, float)):
        return None if not np.isfinite(o) else float(o)
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.bool_,)):
        return bool(o)
    if isinstance(o, (str, int, bool)) or o is None:
        return o
    return str(o)


__all__ = ["save", "load"]
