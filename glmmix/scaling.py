"""Scale equivariance: a diagonal linear reparameterization between optimizer and likelihood.

Rescaling a gaussian outcome by s (or a covariate by c) rescales the maximum-likelihood
estimates exactly (coefficients by s / c, residual and random-effect SDs by s) and shifts
the log-likelihood by -n log s. The likelihood itself is evaluated in double precision at
any such scale; what is not scale-free is the optimization around it: the trust region of
the EM steps, the ridge of the scoring solve, quasi-Newton's first steps, the gradient
tolerance and the finite-difference steps of the information matrix are all in units of
the parameters. So the optimizer and the information matrix work on internal coordinates

    theta = a * u + b          (elementwise, per free parameter)

in which every parameter is of unit size whatever the units of the data:

* outcome coefficient of column j: a = s_y / s_j (s_y: SD of a gaussian outcome with the
  identity link, else 1; s_j: SD of the design column, or its RMS if constant);
* log residual SD of a gaussian outcome: b = log s_y;
* random-effect factor entries (row i of the term's design): a = s_y / s_i, and for the
  slopes of the regression parameterization s_j / s_i;
* class-logit coefficients and random class-logit entries: a = 1 / s_j.

Every scale is rounded to a power of two (so u <-> theta is exact in floating point) and
left at 1 within a factor of 8 of unit scale, where the optimizer needs no help. Tied
parameters of different scales (an ``equal=`` across columns of different spread) keep
a = 1, b = 0. Fixed values, ties and starting values stay on the original scale: the map
acts on the free vector only, inside :func:`glmmix.estimation.estimate` and
:func:`glmmix.inference.covariance`; results, labels and ``theta`` are on the original
scale.
"""

from __future__ import annotations

import numpy as np

from .mathutils import column_sums

#: scales within this factor of 1 are left alone (log2)
_DEAD_ZONE = 3.0


def column_scale(X) -> np.ndarray:
    """Spread of each column: its SD, or its RMS where the column is constant (intercepts)."""
    n, s, sq, _ = column_sums(X)  # dense, sparse, or a dask design's column sums (OnWorkers)
    if n == 0:
        return np.ones(X.shape[1])
    mean, msq = s / n, sq / n
    var = np.maximum(msq - mean * mean, 0.0)
    sd = np.sqrt(var)
    rms = np.sqrt(msq)
    return np.where(sd > 1e-12 * rms, sd, rms)


def _pow2(s) -> np.ndarray:
    s = np.asarray(s, float)
    ok = np.isfinite(s) & (s > 0)
    k = np.round(np.log2(np.where(ok, s, 1.0)))
    k = np.where(np.abs(np.log2(np.where(ok, s, 1.0))) > _DEAD_ZONE, k, 0.0)
    return np.exp2(k)


def _re_entry_scales(block, row_scale, y_scale) -> np.ndarray:
    """Scale of each free entry (i, j) of a random term's factor matrix."""
    out = []
    for i, j in block.free_positions():
        if block.structure == "reg" and i != j:
            out.append(row_scale[j] / row_scale[i])  # slope of effect i on effect j
        else:
            out.append(y_scale / row_scale[i])
    return np.array(out, float)


class Rescaling:
    """The map theta = a * u + b on the free parameters (see the module docstring)."""

    def __init__(self, a: np.ndarray, b: np.ndarray):
        self.a = np.asarray(a, float)
        self.b = np.asarray(b, float)
        self.identity = bool(np.all(self.a == 1.0) and np.all(self.b == 0.0))

    @classmethod
    def of(cls, lik) -> "Rescaling":
        """The map for a likelihood's design and layout (computed once per layout)."""
        L = lik.layout
        cached = L.rescaling
        if cached is not None:
            return cached
        d = lik.design
        fam = d.family
        a_full = np.ones(L.n_full)
        b_full = np.zeros(L.n_full)
        y_sd = 1.0
        if fam.has_residual_sd:
            y = np.asarray(d.y, float)
            y_sd = float(_pow2(np.std(y))) if y.size > 1 else 1.0
        y_lin = y_sd if fam.has_residual_sd else 1.0  # identity link: coefficients in y's units
        xs = _pow2(column_scale(d.X))
        blk = L.blocks
        bb = blk["beta"]
        if bb.size:
            a_full[bb.slice] = np.repeat(y_lin / xs, bb.shape[1])
        eb = blk["extra"]
        if eb.size and fam.has_residual_sd:
            b_full[eb.slice] = np.log(y_sd)
        gb = blk["gamma"]
        if gb.size:
            a_full[gb.slice] = 1.0 / _gamma_scales(d)
        rb = blk["re_out"]
        if rb.size:
            per = np.concatenate([_re_entry_scales(b, _pow2(column_scale(b.Z)), y_lin) for b in d.re_out])
            a_full[rb.slice] = np.tile(per, rb.shape[0])
        cb = blk["re_cls"]
        if cb.size:
            parts = []
            for b in d.re_cls:
                zs = _pow2(column_scale(b.Z))
                parts.append(_re_entry_scales(b, np.tile(zs, b.m // zs.size), 1.0))
            a_full[cb.slice] = np.concatenate(parts)
        # one value per free parameter; tie groups whose members disagree are left unscaled
        a = np.ones(L.n_free)
        b = np.zeros(L.n_free)
        m = L.free_idx >= 0
        fi = L.free_idx[m]
        first = L.first_full
        a[:] = a_full[first]
        b[:] = b_full[first]
        bad = np.zeros(L.n_free, bool)
        np.logical_or.at(bad, fi, (a_full[m] != a[fi]) | (b_full[m] != b[fi]))
        a[bad], b[bad] = 1.0, 0.0
        out = cls(a, b)
        out.a_full = a_full
        L.rescaling = out
        return out

    def to_internal(self, theta):
        return (np.asarray(theta, float) - self.b) / self.a

    def to_external(self, u):
        return self.a * np.asarray(u, float) + self.b

    def cov_to_external(self, cov):
        return None if cov is None else self.a[:, None] * cov * self.a[None, :]


def _gamma_scales(d) -> np.ndarray:
    """Scales of the class-logit coefficients, in the layout's order (as ``gamma_scale``)."""
    cs = d.classes
    out = np.ones(cs.n_gamma)
    for t, v in enumerate(cs.vars):
        zs = _pow2(column_scale(v.Z))
        rows = np.r_[zs, np.ones(cs.gshapes[t][0] - zs.size)]
        out[cs.gslices[t]] = np.repeat(rows, v.K - 1)
    return out


class _ScaledLayout:
    """A layout whose free vector is the internal u (full vectors are unchanged)."""

    def __init__(self, layout, rescaling: Rescaling):
        self._base = layout
        self._rs = rescaling

    def __getattr__(self, name):
        if name.startswith("__") or "_base" not in self.__dict__:
            raise AttributeError(name)
        return getattr(self._base, name)

    def expand(self, u):
        return self._base.expand(self._rs.to_external(u))

    def from_full(self, phi):
        return self._rs.to_internal(self._base.from_full(phi))

    def reduce(self, g_full):
        return self._base.reduce(g_full) * self._rs.a


class ScaledLikelihood:
    """A :class:`~glmmix.likelihood.MixtureLikelihood` seen through a :class:`Rescaling`:
    every method taking or returning a free vector works on u; the rest passes through
    (so the adaptive-quadrature state is the wrapped likelihood's)."""

    def __init__(self, lik, rescaling: Rescaling):
        self._base = lik
        self._rs = rescaling
        self.layout = _ScaledLayout(lik.layout, rescaling)

    def __getattr__(self, name):
        if name.startswith("__") or "_base" not in self.__dict__:
            raise AttributeError(name)
        return getattr(self._base, name)

    def evaluate(self, u, *args, **kw):
        return self._base.evaluate(self._rs.to_external(u), *args, **kw)

    def loglik(self, u):
        return self._base.loglik(self._rs.to_external(u))

    def loglik_and_grad(self, u):
        if self._base.laplace and not self._base.laplace_exact:  # differences: take them on u
            from .likelihood import central_gradient

            es = self._base.evaluate(self._rs.to_external(u))
            g = central_gradient(self.loglik, np.asarray(u, float))
            self._base.find_mode(self._rs.to_external(u))
            return es.ll, g, es
        ll, g, es = self._base.loglik_and_grad(self._rs.to_external(u))
        return ll, g * self._rs.a, es

    def gradient(self, u):
        return self.loglik_and_grad(u)[1]

    def unit_scores(self, u):
        return self._base.unit_scores(self._rs.to_external(u)) * self._rs.a

    def q_information(self, es):
        a = self._rs.a
        return a[:, None] * self._base.q_information(es) * a[None, :]

    def adapt(self, u, *args, **kw):
        return self._base.adapt(self._rs.to_external(u), *args, **kw)

    def posterior_moments(self, u):
        return self._base.posterior_moments(self._rs.to_external(u))

    @property
    def base(self):
        """The likelihood on the parameters' own scale."""
        return self._base

    @property
    def rescaling(self):
        """The map between internal and external coordinates."""
        return self._rs

    def find_mode(self, u, *args, **kw):
        return self._base.find_mode(self._rs.to_external(u), *args, **kw)

    def coarse(self, *args, **kw):
        base = self._base.coarse(*args, **kw)
        return self if base is self._base else ScaledLikelihood(base, self._rs)


def internal(lik):
    """(likelihood on internal coordinates, rescaling); the likelihood itself when the
    map is the identity."""
    if isinstance(lik, ScaledLikelihood):
        return lik, Rescaling(np.ones(lik.layout.n_free), np.zeros(lik.layout.n_free))
    rs = Rescaling.of(lik)
    return (lik if rs.identity else ScaledLikelihood(lik, rs)), rs
