"""Correlated random slopes on columns far from zero: fitted on centred columns, reported raw.

A correlated term ``(1 + x | g)`` describes its clusters' effects at x = 0: for a calendar
year (mean 2004, SD 3) that is 700 SDs outside the data, where the random intercept's SD is
in the thousands and its correlation with the slope -0.99999.... The model is the same
whatever the origin of x, but no optimizer finds its maximum on such a ridge. So the fit
works on the centred column x_c = x - c (c: the column's mean, in units of the term's
intercept column) and maps the estimates back exactly. With b = (b0, b1) the effects on
(1, x), x b1 + b0 = x_c b1 + (b0 + c b1), so the effects on the raw column are

    b_raw = A b_c,    A = I - sum_j c_j e_0 e_j'    (intercept row 0, far columns j),

and their covariance Sigma_raw = A Sigma_c A'. The factor A L_c of Sigma_raw is brought
back to the term's own parameterization (a lower-triangular Cholesky factor, or the
regression form's (I - B)^-1 diag(psi)) by a QR decomposition, without forming Sigma_raw
(whose Cholesky factor would lose the small conditional SDs to cancellation).

Everything the results report is then on the raw columns, by evaluating the raw model at
the mapped estimates: SDs and correlations, predictions, random-effect modes and their
SDs; standard errors by the delta method through the map (the Jacobian of the reported
parameters with respect to the centred fit's). Starting values (``start_values``,
``start_params``, ``start_from``) are on the raw scale and are mapped to the centred one.
``fix=`` and ``equal=`` hold entries of the term's factor matrix, which the map mixes;
they are refused on such a term's parameters (except the ties of a class-invariant term
across classes, which the map keeps).

The fixed part needs none of this: it is location-equivariant already
(:mod:`glmmix.scaling` centres its columns inside the optimizer).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .exceptions import DesignError
from .inference import delta_cov
from .random_effects import factor

#: a column of a correlated term more than this many SDs from zero (with a random intercept
#: beside it) is centred inside the fit (as the fixed part's, scaling._centring)
CENTRE_LIMIT = 8.0
#: beyond this many SDs a fit on the raw column fails (sleepstudy's Days + 300, 100 SDs
#: away, ended 1.1 below lmer's maximum): a constraint the map cannot carry is refused there
RAW_LIMIT = 50.0


@dataclass(frozen=True)
class Shift:
    """The far columns of one correlated outcome term."""

    index: int  # the term's place in design.re_out
    term: str
    i0: int  # its intercept's column
    cols: np.ndarray  # its far columns
    centres: np.ndarray  # c_j: the column is x_c + c_j * (intercept column)
    distance: np.ndarray  # |mean| / SD of each far column
    m: int  # the term's number of effects

    def matrix(self, sign: float) -> np.ndarray:
        """A (sign = 1: centred -> raw effects) or its inverse (sign = -1)."""
        A = np.eye(self.m)
        A[self.i0, self.cols] = -sign * self.centres
        return A


def far_slopes(design, limit: float = CENTRE_LIMIT) -> list[Shift]:
    """The correlated outcome terms with a random intercept and a column more than ``limit``
    SDs from zero."""
    out = []
    for t, b in enumerate(design.re_out):
        if b.structure not in ("chol", "reg") or not isinstance(b.Z, np.ndarray) or b.Z.shape[0] < 2:
            continue
        Z = b.Z
        const = np.flatnonzero(np.all(Z == Z[:1], axis=0))
        if const.size != 1:
            continue
        i0 = int(const[0])
        v = float(Z[0, i0])
        mean = Z.mean(axis=0)
        sd = np.sqrt(np.mean((Z - mean) ** 2, axis=0))
        dist = np.abs(mean) / np.maximum(sd, 1e-300)
        far = np.flatnonzero((np.arange(Z.shape[1]) != i0) & (dist > limit))
        if far.size and v != 0:
            out.append(Shift(t, b.term, i0, far, mean[far] / v, dist[far], Z.shape[1]))
    return out


def centred_design(design, shifts: list[Shift]):
    """The design with the far columns of its correlated terms centred: x_c = x - c v (v: the
    intercept column's value)."""
    re_out = list(design.re_out)
    for s in shifts:
        b = re_out[s.index]
        Z = np.array(b.Z, float, copy=True)
        Z[:, s.cols] -= np.outer(Z[:, s.i0], s.centres)
        re_out[s.index] = replace(b, Z=Z)
    return replace(design, re_out=re_out)


def unmappable(layout, shifts: list[Shift]) -> str | None:
    """The label of a fixed or tied parameter of a far term that the map cannot carry, or None.

    Fixed entries are refused (the map changes every entry of the term's factor); ties are
    kept only between the same entry of the term in different classes (a class-invariant
    term), which the map moves alike."""
    idx = _term_indices(layout, shifts)
    fi = layout.free_idx
    for s, I in zip(shifts, idx):
        for col in range(I.shape[1]):
            own = set(I[:, col].tolist())
            for i in I[:, col]:
                if fi[i] < 0 or not set(np.flatnonzero(fi == fi[i]).tolist()) <= own:
                    return layout.full_labels[i]
    return None


def _term_indices(layout, shifts):
    """Full-vector indices of each far term's entries, (classes, entries)."""
    P = layout.unpack(np.arange(layout.n_full, dtype=float))
    views = layout.re_out_terms
    return [np.atleast_2d(views[s.index].entries(P)).astype(int) for s in shifts]


def _refactor(block, entries, pos, A):
    """The free entries, in ``block``'s parameterization, of the factor A L (L: the factor of
    ``entries``): the triangular factor of A L L' A' from a QR decomposition of (A L)'."""
    F = A @ factor(block, entries, pos)
    R = np.linalg.qr(F.T, mode="r")
    sign = np.where(np.diag(R) < 0, -1.0, 1.0)
    Lnew = R.T * sign[None, :]
    if block.structure != "reg":
        return Lnew[pos[:, 0], pos[:, 1]]
    psi = np.diag(Lnew).copy()
    M = Lnew / np.where(psi > 0, psi, 1.0)[None, :]
    M[:, psi <= 0] = np.eye(block.m)[:, psi <= 0]
    B = np.eye(block.m) - np.linalg.inv(M)
    diag = pos[:, 0] == pos[:, 1]
    return np.where(diag, psi[pos[:, 0]], B[pos[:, 0], pos[:, 1]])


class Centring:
    """A model whose correlated terms' far columns are centred inside the fit.

    ``model``: the model on the centred design (same labels, constraints and rule);
    :meth:`to_raw` / :meth:`to_centred` map free vectors between the two."""

    def __init__(self, raw_layout, model, shifts: list[Shift]):
        self.layout = raw_layout
        self.model = model
        self.shifts = shifts

    def _map(self, theta, sign):
        L = self.layout
        P = L.unpack(L.expand(np.asarray(theta, float)).copy())
        views = L.re_out_terms
        for s in self.shifts:
            v = views[s.index]
            ent = v.entries(P)
            A = s.matrix(sign)
            for k in range(ent.shape[0]):
                ent[k] = _refactor(v.term, ent[k], v.pos, A)
        return L.from_full(L.pack(P))

    def to_raw(self, theta_c):
        """Free parameters of the centred fit -> those of the raw model (the same likelihood)."""
        return self._map(theta_c, 1.0)

    def to_centred(self, theta):
        """The inverse of :meth:`to_raw`."""
        return self._map(theta, -1.0)

    def note(self, design) -> str:
        """What the summary says of the centring (the reported covariance is at the column's
        zero, far from the data)."""
        parts = []
        for s in self.shifts:
            b = design.re_out[s.index]
            cols = ", ".join(f"{b.names[j]!r} at {c:.6g} ({d:.0f} SDs from zero)"
                             for j, c, d in zip(s.cols, s.centres, s.distance))
            parts.append(f"random term {s.term!r}: column {cols} was centred inside the fit and the estimates "
                         f"mapped back exactly, so the random intercept's SD and correlations describe the clusters "
                         f"at {b.names[s.cols[0]]} = 0; the same model with the column centred in the formula "
                         f"(I({b.names[s.cols[0]]} - {np.round(s.centres[0]):.0f})) reports them where the data are.")
        return " ".join(parts)

    def raw_covariance(self, theta_c, cov_c):
        """The covariance of the raw free parameters (delta method through the map)."""
        if cov_c is None:
            return None
        return delta_cov(self.to_raw, theta_c, cov_c)

    def reported_covariance(self, natural, theta_c, cov_c):
        """The covariance of the reported parameters ``natural(theta_raw)``, differentiated on
        the centred fit's coordinates (well conditioned, unlike the raw factor's)."""
        if cov_c is None:
            return None
        return delta_cov(lambda t: natural(self.to_raw(t)), theta_c, cov_c)


def plan(design, layout, make_model):
    """The :class:`Centring` of a design, or None when no correlated term has a far column.

    ``make_model(design)`` builds the centred model. A fixed or tied parameter of a far term
    (which the map cannot carry) keeps the fit on the raw column up to :data:`RAW_LIMIT` SDs
    and is refused beyond it."""
    shifts = far_slopes(design)
    if not shifts:
        return None
    bad = unmappable(layout, shifts)
    if bad is not None:
        far = [s for s in shifts if np.any(s.distance > RAW_LIMIT)]
        if not far:
            return None
        s = far[0]
        j = int(np.argmax(s.distance))
        b = design.re_out[s.index]
        name, c = b.names[s.cols[j]], s.centres[j]
        raise DesignError(
            f"random term {s.term!r}: column {name!r} is {s.distance[j]:.0f} SDs from zero, so the term is fitted "
            f"on the centred column and mapped back, and a constraint on {bad!r} (fix= or equal=) cannot be carried "
            "through that map (it mixes every entry of the term's covariance factor); centre the column yourself "
            f"(I({name} - {np.round(c):.0f}) in the formula) and constrain that model, whose parameters describe "
            "the clusters at the centre")
    return Centring(layout, make_model(centred_design(design, shifts)), shifts)
