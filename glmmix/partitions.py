"""One model fitted on a dask DataFrame: designs and likelihood evaluations per partition.

Clusters (the top-level units: the random terms' grouping, else the class variable's level)
are independent, so the log-likelihood, the EM quantities, the gradient and the scores are
sums over clusters (``likelihood.block_sums``). With every cluster inside one partition, each
partition is one block (evaluated on its worker in blocks of bounded size, as in memory):

1. a global pass decides the encodings: the model is built on a prototype, the first
   partition plus one row of every level of every non-numeric column (rows with an observed
   outcome), so every categorical column's levels are those of the whole data; formulas whose
   encodings learn from the data otherwise (stateful transforms: centring, scaling, splines)
   are refused;
2. each worker builds its partition's design with those encodings (``build_design(...,
   fitted=prototype)``) and keeps it, with the partition's likelihood, for the whole fit;
3. every evaluation sends the parameters and the partition's adaptive nodes to its worker and
   brings back the block's sums (per cluster: its log-likelihood, and on request its node
   moments, unit posteriors or scores).

The client never holds the rows. Its design is the partitions' light designs joined
(:func:`light`): the encodings, the counts, the units' and clusters' labels and the units'
cluster numbers, with every array of one entry per row or unit (outcome, X, random-term and
class designs, family data, row maps) replaced by a :class:`~glmmix.mathutils.OnWorkers`
stand-in that keeps its shape and the column sums (rows, sums, sums of squares, nonzeros,
indicator rows) from which starting values, parameter scales and identification checks are
computed. A step that would read such an array's entries on the client (fitted values,
residuals, conditional predictions on the fitted data) raises NotImplementedError naming it.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import replace

import numpy as np
import pandas as pd

from .classes import ClassSystem
from .design import Design, build_design
from .exceptions import DesignError, plain
from .families import Family
from .likelihood import MixtureLikelihood, combine_sums
from .mathutils import OnWorkers
from .random_effects import with_parameterization


def is_dask(data) -> bool:
    """Whether ``data`` is a dask DataFrame (without importing dask)."""
    return type(data).__module__.split(".")[0] in ("dask", "dask_expr")


def _client():
    try:
        from distributed import get_client
    except ImportError as e:  # pragma: no cover - the dask extra is not installed
        raise DesignError("a fit on a dask DataFrame needs dask.distributed: pip install 'glmmix[dask]'") from e
    try:
        return get_client()
    except ValueError:
        raise DesignError("a fit on a dask DataFrame runs on a dask.distributed cluster: connect a Client "
                          "first (distributed.Client(...)); see docs/dask.md") from None


def _refuse(family: Family, kw: dict) -> None:
    """What cannot run per partition yet: settings computed from the whole data."""
    if type(family).extra_start is not Family.extra_start or family.has_residual_sd or family.thresholds:
        raise NotImplementedError(
            f"the {family.name} family on a dask DataFrame: its starting values (outcome SD, category "
            "frequencies, dispersion) come from the whole outcome, which is not summed over partitions yet; "
            "use a family without them (bernoulli, binomial, poisson) or data.compute()")
    for arg in ("weights", "cluster_weights", "freq_weights"):
        if kw.get(arg) is not None:
            raise NotImplementedError(f"{arg}= on a dask DataFrame: weights are not applied per partition yet "
                                      "(their scalings and totals are sums over the whole data); use data.compute()")


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """Text columns as pandas' object dtype (dask stores them as arrow strings)."""
    text = [c for c in df.columns if isinstance(df[c].dtype, pd.StringDtype)]
    return df.astype({c: object for c in text}) if text else df


def _prototype(ddf, outcome: str) -> pd.DataFrame:
    """The first non-empty partition and one row of every level of every non-numeric column
    (observed outcomes only), computed."""
    obs = ddf.dropna(subset=[outcome]) if outcome in ddf.columns else ddf
    lengths = obs.map_partitions(len).compute()
    first = int(np.flatnonzero(np.asarray(lengths) > 0)[0]) if np.any(np.asarray(lengths) > 0) else 0
    frames = [obs.get_partition(first).compute()]
    for c in ddf.columns:
        dt = ddf[c].dtype
        if pd.api.types.is_bool_dtype(dt) or not pd.api.types.is_numeric_dtype(dt):
            frames.append(obs.map_partitions(lambda p, c=c: p.drop_duplicates(subset=[c])).compute()
                          .drop_duplicates(subset=[c]))
    return _plain(pd.concat(frames, ignore_index=True).drop_duplicates())


def _stateful(proto: Design) -> list[str]:
    """The factors whose encoding learnt a state from the rows (centre, scale, knots)."""
    encs = [proto.x_spec] + [v.z_spec for v in proto.classes.vars] + [b.enc for b in proto.re_out + proto.re_cls]
    return sorted({expr for enc in encs if enc is not None and hasattr(enc, "factors")
                   for expr, f in enc.factors.items() if f.get("states")})


def check_partitions(ddf, column: str) -> None:
    """Every value of ``column`` (the top-level units) in one partition only."""
    per = ddf[column].map_partitions(lambda s: s.drop_duplicates()).compute()
    dup = per[per.duplicated()]
    if len(dup):
        raise DesignError(
            f"the dask DataFrame splits units of {column!r} across partitions (e.g. {plain(dup.iloc[0])!r}): a fit "
            f"evaluates each partition alone, so every {column!r} must sit in one partition; sort or "
            f"partition the data by {column!r} (ddf.set_index({column!r}) or ddf.shuffle({column!r}))")


def _partition_design(part: pd.DataFrame, parsed, K, family, kw, proto, re_parameterization):
    design = build_design(parsed, _plain(part), K, family, fitted=proto, **kw)
    return with_parameterization(design, re_parameterization)


def light(design: Design) -> Design:
    """The design for the client: every array with one entry per row or per unit replaced by
    an :class:`OnWorkers` stand-in (its shape and column sums); the encodings, the counts,
    the units' and clusters' labels, the units' cluster numbers (the results report them)
    and the cluster-level class designs as they are."""
    of = OnWorkers.of
    cs = design.classes
    classes = None if cs is None else ClassSystem(
        [v if v.between else replace(v, Z=of(f"class design of {v.name!r}", v.Z)) for v in cs.vars], cs.single)
    aux = replace(design.aux, **{f: of(f"family data {f!r}", getattr(design.aux, f))
                                 for f in design.aux.ROW_FIELDS if getattr(design.aux, f) is not None})
    return replace(
        design, y=of("outcome", design.y), X=of("outcome design X", design.X), aux=aux,
        unit_of_row=of("unit of every row", design.unit_of_row), unit_starts=of("first row of every unit",
                                                                                 design.unit_starts),
        Z=of("class design Z", design.Z),
        row_index=of("row labels", design.row_index), classes=classes,
        re_out=[replace(b, Z=of(f"design of the random term {b.term}", b.Z)) for b in design.re_out],
        re_cls=[replace(b, Z=of(f"design of the random term {b.term}", b.Z)) for b in design.re_cls])


def dask_design(parsed, ddf, K, family, kw: dict, re_parameterization: str):
    """The design of a dask DataFrame's rows, built per partition on the workers with the
    encodings of a global pass, and the partitions' designs kept there: (design, [(first
    cluster, end, future of the partition's design)])."""
    _refuse(family, kw)
    client = _client()
    proto = build_design(parsed, _prototype(ddf, parsed.outcome), K, family, **kw)
    bad = _stateful(proto)
    if bad:
        raise NotImplementedError(
            f"{', '.join(repr(b) for b in bad)} on a dask DataFrame: a transform that learns from the rows "
            "(centring, scaling, spline knots) would learn from the prototype, not the whole data; compute "
            "the column beforehand or use data.compute()")
    top = proto.cluster_name or proto.unit_name
    if top is not None:
        check_partitions(ddf, top)
    sizes = np.asarray(ddf.map_partitions(len).compute())
    parts = [p for p, n in zip(client.compute(ddf.to_delayed()), sizes) if n > 0]
    futs = client.map(_partition_design, parts, parsed=parsed, K=K, family=family, kw=kw, proto=proto,
                      re_parameterization=re_parameterization, pure=False)
    # only the partitions' light designs travel: shapes, column sums, labels and encodings
    designs = client.gather(client.map(light, futs, pure=False))
    design = with_parameterization(Design.concat(designs), re_parameterization)
    ends = np.cumsum([d.n_clusters for d in designs])
    return design, [(int(a), int(b), f) for a, b, f in zip(np.r_[0, ends[:-1]], ends, futs)]


def _partition_likelihood(design, layout, integ):
    """A partition's likelihood, evaluated in blocks of clusters of bounded size as in memory
    (a whole partition's (rows x nodes) arrays would be far larger than the cache)."""
    return MixtureLikelihood(design, layout, integ)


def _counts(lik):
    return lik.n_patterns, lik.n_cluster_patterns


#: integration rules (a partition's rule with its clusters' adaptation) this worker process
#: holds, by the digest of their content: an evaluation sends a rule only when it changed
_RULES: dict = {}
#: rules kept per worker process (the oldest is dropped first)
_MAX_RULES = 32


class RuleNotHeld(KeyError):
    """The worker does not hold the rule an evaluation names (a new or restarted worker)."""


def rule_key(integ) -> str:
    """The digest of an integration rule's content: its kind, nodes, weights and adaptation."""
    h = hashlib.blake2b(repr((integ.method, integ.n_points, integ.D, integ.adaptive)).encode(), digest_size=16)
    for a in (integ.t, integ.logw, integ.m, integ.R):
        if a is not None:
            h.update(np.ascontiguousarray(a, dtype=float).data)
    return h.hexdigest()


def _partition_sums(lik, integ, key, theta, what, homogeneous):
    """The partition's block sums at ``theta`` on the rule ``integ`` (None: the rule of digest
    ``key`` already sent to this worker). Per-cluster log-likelihoods travel only on request."""
    if integ is None:
        integ = _RULES.get(key)
        if integ is None:
            raise RuleNotHeld(key)
    else:
        _RULES[key] = integ
        while len(_RULES) > _MAX_RULES:
            _RULES.pop(next(iter(_RULES)))
    one = copy.copy(lik)  # the partition's own nodes: the current rule at its clusters' adaptation
    one.integ = integ
    out = one.block_sums(theta, what, homogeneous)  # in blocks of bounded size, as in memory
    if "ll_units" not in what:
        out.pop("ll_units", None)
    return out


class PartitionedLikelihood(MixtureLikelihood):
    """A :class:`MixtureLikelihood` whose blocks of clusters are the partitions of a dask
    DataFrame, each evaluated on the worker that holds it (see the module docstring)."""

    def __init__(self, design: Design, layout, integration, partitions):
        self._partitions = partitions  # [(first cluster, end, future of the partition's design)]
        self.held_rules = {}  # partition -> digest of the rule its worker was last sent
        super().__init__(design, layout, integration)

    def _make_shards(self, max_cells):
        if self.laplace:
            raise NotImplementedError("integration='laplace' on a dask DataFrame: the modes are not found per "
                                      "partition yet; use 'agh'")
        client = _client()
        k = self.K if self.class_nodes else 1
        m, R = self.integ.m, self.integ.R
        futs = [client.submit(_partition_likelihood, f, self.layout,
                              self.integ.with_adaptation((m[a * k:b * k], R[a * k:b * k])), pure=False)
                for a, b, f in self._partitions]
        return [(a, b, f) for (a, b, _), f in zip(self._partitions, futs)]

    def _pattern_counts(self) -> tuple[int, int]:
        counts = _client().gather(_client().map(_counts, [f for _, _, f in self.shards], pure=False))
        return tuple(int(v) for v in np.sum(counts, axis=0))

    def with_integration(self, integration) -> "PartitionedLikelihood":
        return PartitionedLikelihood(self.design, self.layout, integration, self._partitions)

    def _shard_sums(self, theta, what: frozenset, homogeneous: bool = False, state=None) -> dict:
        client = _client()
        m, R = state if state is not None else (self.integ.m, self.integ.R)
        k = self.K if self.class_nodes else 1
        theta = np.asarray(theta, float)
        rules = [replace(self.integ, m=m[a * k:b * k], R=R[a * k:b * k]) for a, b, _ in self.shards]
        keys = [rule_key(r) for r in rules]
        held = self.held_rules

        def submit(send_all: bool):  # one task per partition; a rule travels only when it changed
            return [client.submit(_partition_sums, f, r if send_all or held.get(i) != key else None, key, theta, what,
                                  homogeneous, pure=False)
                    for i, ((_, _, f), r, key) in enumerate(zip(self.shards, rules, keys))]

        try:
            outs = client.gather(submit(False))
        except RuleNotHeld:  # a worker lost it (restarted): send every rule again
            outs = client.gather(submit(True))
        self.held_rules = dict(enumerate(keys))
        return combine_sums(outs)
