"""Scores of random effects and factors per cluster (lme4's ``ranef``, mirt's ``fscores``).

* ``kind="eap"``: the posterior mean (expected a posteriori) and posterior SD of every
  random effect and factor given the cluster's data, at the estimates, computed on the
  model's own integration rule (the adapted nodes of adaptive quadrature, the fixed nodes
  otherwise): E[h(u) | y_g] = sum_q w_gq h(u_gq) with w_gq the cluster's posterior node
  weights (classes summed out). With Laplace integration (one node at the mode) the
  posterior is its normal approximation N(mode, H^-1).
* ``kind="map"``: conditional modes (lme4's ``ranef``), the maximum over u of
  log p(y_g | u) + log phi(u) (classes summed out), and the conditional SDs from the
  curvature at the mode (lme4's ``condVar``); effects and factors only (no membership
  scores).

What is scored, per random term (``random_effects.py``: effects b = L u, u ~ N(0, I)):

* ``(1 + x | g)``, ``(1 + x || g)``: the effects b, columns named by the term's columns
  (``Intercept``, ``x``);
* ``rr(expr | g, d)``: the d standardized factors u (``factor`` or ``factor1``, ...), the
  IRT ability scores;
* a random term in the class part: the random class logits, ``logit:class1`` ...; with one
  class variable also each cluster's membership scores P(C = c | u) (eq 29, 30, 34; for a
  GoM the person's grade of membership in each pure class), averaged over the cluster's
  units when the class part has unit-level covariates, as ``membership:class1`` ...

Class-specific random-effect covariances (``class_specific=["random"]``) make b depend on
the class: with classes at the cluster level (FMA, mixture GLMMs) the EAP averages over
the cluster's joint posterior of (class, node); with classes inside clusters only a
dependence on between-level classes is scored (otherwise NotImplementedError). With
classes at the cluster level the mode (``kind="map"``) is the global mode of the posterior
density of the effects b themselves, classes summed out,

    p(b | y_g)  propto  sum_c P(C = c) p(y_g | b, c) N(b; 0, Sigma_c),

(one mode per cluster, not one per class; factors and class-logit effects enter on their
own scale), with SDs from its curvature there. It needs every Sigma_c non-singular (an SD
of 0 gives no density: a GlmmixError); with equal covariances it is the usual conditional
mode. For between-level classes above the units it is not implemented (kind="eap" is).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from .mathutils import lse

from .exceptions import GlmmixError
from .likelihood import MixtureLikelihood
from .mathutils import log_softmax_ref
from .quadrature import Integration

KINDS = ("eap", "map")


def random_effects(lik, theta, kind: str = "eap") -> pd.DataFrame:
    """Scores per cluster: columns the quantities, then ``sd:`` + quantity (posterior SDs)."""
    if kind not in KINDS:
        raise GlmmixError(f"kind must be one of {KINDS}, not {kind!r}")
    d = lik.design
    if d.D == 0:
        raise GlmmixError("the model has no random effects or factors to score")
    if d.groupings is not None:
        return _crossed(lik, theta)
    if kind == "map":
        names, mean, sd = _modes(lik, theta)
    else:
        names, mean, sd = _eap(lik, theta)
    names = _unique(names)
    out = pd.DataFrame(np.concatenate([mean, sd], axis=1), columns=names + [f"sd:{n}" for n in names],
                       index=pd.Index(d.cluster_ids, name=d.cluster_name))
    return out


def _crossed(lik, theta) -> pd.DataFrame:
    """Random terms on several grouping columns: the effects of every level of every grouping
    under the normal approximation at the joint mode (Laplace: the conditional modes and
    SDs, as lme4's ``ranef`` with ``condVar``), indexed by (grouping, level)."""
    P = lik.layout.unpack(lik.layout.expand(theta))
    groups = [b.group for b, (nm, _, _) in zip(lik.design.re_out, _blocks(lik, P)) for _ in nm]
    frames = []
    for g, levels, m, C in lik.level_posteriors(theta):
        names, mean, sd = _normal(lik, P, m, C)
        keep = [i for i, gi in enumerate(groups) if gi == g]
        names = _unique([names[i] for i in keep])
        idx = pd.MultiIndex.from_arrays([[g] * len(levels), levels.astype(object)], names=["grouping", "level"])
        frames.append(pd.DataFrame(np.concatenate([mean[:, keep], sd[:, keep]], axis=1), index=idx,
                                   columns=names + [f"sd:{n}" for n in names]))
    out = pd.concat(frames)
    cols = [c for c in out.columns if not c.startswith("sd:")]
    return out[cols + [f"sd:{c}" for c in cols]]


def _unique(names):
    seen, out = set(), []
    for n, term in names:
        out.append(n if n not in seen else f"{term}:{n}")
        seen.add(out[-1])
    return out


def _blocks(lik, P):
    """(name, term, dims, factor matrices per state or None for factors) of every random term."""
    d = lik.design
    Lo, Lc = lik.factor_matrices(P)
    out = []
    for v, L in zip(lik.layout.re_out_terms, Lo):
        b, dims = v.term, v.dims
        if b.structure == "rr":
            out.append(([("factor" if b.d == 1 else f"factor{j + 1}", b.term) for j in range(b.d)], dims, None))
        else:
            out.append(([(n, b.term) for n in b.row_names(d.n_classes, d.class_name)], dims, L))
    for v, L in zip(lik.layout.re_cls_terms, Lc):
        b, dims = v.term, v.dims
        if b.structure == "rr":
            out.append(([("logit factor" if b.d == 1 else f"logit factor{j + 1}", b.term) for j in range(b.d)],
                        dims, None))
        else:
            out.append(([(f"logit:{n}", b.term) for n in b.row_names(d.n_classes, d.class_name)], dims, L[None]))
    return out


def _state_weights(lik, es, Lo):
    """Posterior weights of (cluster, state, node), (G, S, Q), and the state of each class
    for the outcome factor matrices (None when they do not depend on the class)."""
    d = lik.design
    G = d.n_clusters
    K = lik.K
    post_node = np.asarray(es.post_node)
    if all(np.array_equal(L[k], L[0]) for L in Lo for k in range(K)):
        return post_node[:, None, :], None
    rs = es.rs
    if d.form == "outside":  # units are clusters: the joint posterior of (class, node)
        return es.post_vq[rs.vinv], np.arange(K)
    cs = d.classes
    Kw = cs.Kw
    if es.post_bq is not None and all(np.array_equal(L[k], L[(k // Kw) * Kw]) for L in Lo for k in range(K)):
        return np.asarray(es.post_bq)[rs.ginv][:G], cs.bstates
    raise NotImplementedError(
        "random_effects() with class-specific random-effect covariances of classes inside clusters: the "
        "effect of a cluster differs between its units' classes; refit with the covariances invariant")


def _eap(lik, theta):
    d = lik.design
    es = lik.evaluate(theta, derivs=False, whole=True)
    P = es.parts
    Lo, _ = lik.factor_matrices(P)
    G = d.n_clusters
    if lik.laplace:  # one node at the mode: the normal approximation N(m, R R')
        R = lik.integ.R
        return _normal(lik, P, lik.integ.m, np.einsum("gij,gkj->gik", R, R))
    joint = lik.class_nodes  # each class's integral has its own nodes: (class, node) jointly
    if joint:
        U = es.nodes.reshape(G, lik.K, -1, d.D)  # (G, K, Q, D)
        W, states = es.post_vq[es.rs.vinv], np.arange(lik.K)
    else:
        U = np.broadcast_to(es.nodes, (G,) + es.nodes.shape[1:])[:, None]  # (G, 1, Q, D)
        W, states = _state_weights(lik, es, Lo)  # (G, S, Q)
    wq = W.sum(axis=1)
    names, means, sds = [], [], []
    for nm, dims, L in _blocks(lik, P):
        Ws = wq[:, None, :]
        if L is None:  # factors: standardized latents
            vals = U[..., dims]
        elif L.shape[0] == 1 or states is None:
            vals = np.einsum("gsqd,id->gsqi", U[..., dims], L[0])
        else:
            Us = np.broadcast_to(U, (G, states.size) + U.shape[2:])
            vals = np.einsum("gsqd,sid->gsqi", Us[..., dims], L[states])
            Ws = W
        if joint:
            Ws = W
        mean = np.einsum("gsq,gsqi->gi", Ws, vals)
        var = np.einsum("gsq,gsqi->gi", Ws, (vals - mean[:, None, None, :]) ** 2)
        names += nm
        means.append(mean)
        sds.append(np.sqrt(np.maximum(var, 0.0)))
    if d.re_cls and not d.multi:
        M = _membership(lik, es, P)  # (G, K, Q)
        mean = np.einsum("gq,gkq->gk", wq, M)
        var = np.einsum("gq,gkq->gk", wq, (M - mean[:, :, None]) ** 2)
        names += [(f"membership:{d.classes.state_name(k)}", "membership") for k in range(lik.K)]
        means.append(mean)
        sds.append(np.sqrt(np.maximum(var, 0.0)))
    return names, np.concatenate(means, axis=1), np.concatenate(sds, axis=1)


def _membership(lik, es, P):
    """P(C = c | z_u, u) at every node, averaged over each cluster's units: (G, K, Q)."""
    d = lik.design
    rs = es.rs
    _, Lc = lik.factor_matrices(P)
    nodes_v = es.nodes[:1] if lik.shared_nodes else np.asarray(es.nodes)[rs.cluster_of_v]
    re_lin = lik.class_re_lin(rs, Lc, nodes_v)  # (V, K-1, Q)
    lin = np.asarray(rs.Zv @ P["gamma"])[:, :, None] + re_lin
    p = np.exp(log_softmax_ref(lin))  # (V, K, Q)
    U = d.n_units
    cnt = sp.csr_matrix((np.ones(U), (d.cluster_of_unit, rs.vinv)), shape=(d.n_clusters, rs.V))
    n_g = np.asarray(cnt.sum(axis=1)).ravel()
    V, K, Q = p.shape
    return np.asarray(cnt @ p.reshape(V, -1)).reshape(-1, K, Q) / n_g[:, None, None]


def _modes(lik, theta):
    """Conditional modes of every cluster's latents and the inverse curvature there.

    The log posterior kernel log p(y_g | u) + log phi(u) of all clusters at once is the
    per-cluster log-likelihood under a one-point rule placed at u (with classes summed
    inside, so mixtures, GoM and FMA alike). Each cluster starts at its best node of the
    fitted rule (a multimodal posterior keeps its highest mode), then Newton's method with
    central-difference derivatives and step halving, per cluster. With class-specific
    factor matrices the mode is taken on the scale of the scores (:func:`_mixture_modes`).
    """
    d = lik.design
    G = d.n_clusters
    P = lik.layout.unpack(lik.layout.expand(theta))
    Lo, _ = lik.factor_matrices(P)
    point = Integration("agh", 1, d.D, True, np.zeros((1, d.D)), np.zeros(1))  # one node at m, weight phi
    point.reset(G)
    one = MixtureLikelihood(d, lik.layout, point)
    es = lik.evaluate(theta, derivs=False, whole=True)
    if lik.class_nodes:  # each class's integral has its own nodes: (G, K, Q, D)
        nodes = es.nodes.reshape(G, lik.K, -1, d.D)
    else:
        nodes = np.broadcast_to(es.nodes, (G,) + es.nodes.shape[1:])
    if any(not np.array_equal(L[k], L[0]) for v, L in zip(lik.layout.re_out_terms, Lo) if v.term.structure != "rr"
           for k in range(lik.K)):
        W, states = _state_weights(lik, es, Lo)  # refuses the cases the EAP refuses
        if d.form != "outside":
            raise NotImplementedError("kind='map' with class-specific random-effect covariances of between-level "
                                      "classes (classes of clusters above the units) is not implemented; use "
                                      "kind='eap'")
        return _mixture_modes(lik, one, theta, P, Lo, states, nodes, W)

    def f(u):
        one.integ.m = u
        return np.asarray(one.evaluate(theta, derivs=False).ll_units, float)

    u, C = _maximise(f, nodes.reshape(G, -1, d.D))
    return _normal(lik, P, u, C)


def _state_maps(lik, P, states):
    """T (S, D, D): the scored quantities x = T_s u in state s (class-specific factor
    matrices of the effects; factors and class-logit effects the same in every state)."""
    D = lik.design.D
    T = np.zeros((len(states), D, D))
    for _, dims, L in _blocks(lik, P):
        idx = np.arange(D)[dims]
        if L is None:
            T[:, idx, idx] = 1.0
            continue
        Ls = L[np.zeros(len(states), int)] if L.shape[0] == 1 else L[states]
        if Ls.shape[1] != idx.size:
            raise NotImplementedError("kind='map' with class-specific covariances of a term with more effects "
                                      "than latent dimensions; use kind='eap'")
        T[:, idx[:, None], idx] = Ls
    return T


def _mixture_modes(lik, one, theta, P, Lo, states, nodes, W, n_starts: int = 6):
    """Modes when the effects' covariance depends on the (cluster-level) class.

    The effects are b = L_s u in state s, so a mode in the standardized u would mean a
    different b in every class. The mode is taken of the posterior density of the scored
    quantities x themselves, classes summed out:

        p(x | y_g)  propto  sum_s P(s) p(y_g | x, s) phi(T_s^-1 x) / |det T_s|,

    the global mode of this class mixture (not a per-class mode), with SDs from its
    curvature there; with equal matrices it is the usual conditional mode. Each state's
    term is read at the one-point rule placed at u_s = T_s^-1 x: the rule's log-likelihood
    plus the log posterior probability of s there.
    """
    G = lik.design.n_clusters
    T = _state_maps(lik, P, states)
    sign, logdet = np.linalg.slogdet(T)
    if np.any(sign == 0):
        raise GlmmixError("kind='map': a class's random-effect covariance is singular (an SD of 0), so the "
                          "effects have no density in that class; use kind='eap'")
    Tinv = np.linalg.inv(T)

    def f(x):
        parts = []
        for s in range(len(states)):
            one.integ.m = np.ascontiguousarray(x @ Tinv[s].T)
            es = one.evaluate(theta, derivs=False, whole=True)
            W, _ = _state_weights(one, es, Lo)
            with np.errstate(divide="ignore"):
                parts.append(np.asarray(es.ll_units, float) + np.log(W[:, s, 0]) - logdet[s])
        return lse(np.stack(parts, axis=1), axis=1)

    # candidate starts: in every state, the fitted rule's nodes of highest posterior weight
    top = np.argsort(-W, axis=2)[:, :, :n_starts]  # (G, S, n)
    if nodes.ndim == 4:  # class-specific nodes: each state's own
        cand = nodes[np.arange(G)[:, None, None], np.arange(top.shape[1])[None, :, None], top]
    else:
        cand = nodes[np.arange(G)[:, None, None], top]  # (G, S, n, D)
    starts = np.einsum("sij,gsnj->gsni", T, cand).reshape(G, -1, T.shape[1])
    x, C = _maximise(f, starts)
    names, means, sds = [], [], []
    for nm, dims, _ in _blocks(lik, P):
        idx = np.arange(lik.design.D)[dims]
        names += nm
        means.append(x[:, idx])
        sds.append(np.sqrt(C[:, idx, idx]))
    return names, np.concatenate(means, axis=1), np.concatenate(sds, axis=1)


def _maximise(f, starts, h: float = 1e-4, max_iter: int = 100):
    """Per-cluster maximum of f ((G, D) -> (G,)) from the best of the candidate starts
    (G, C, D): Newton with central differences and step halving; (mode, inverse curvature)."""
    G, _, D = starts.shape
    vals = np.stack([f(np.ascontiguousarray(starts[:, c])) for c in range(starts.shape[1])], axis=1)
    best = vals.argmax(axis=1)
    u = starts[np.arange(G), best].copy()
    fu = vals[np.arange(G), best]
    E = np.eye(D) * h
    for _ in range(max_iter):
        fp = np.stack([f(u + E[i]) for i in range(D)], axis=1)
        fm = np.stack([f(u - E[i]) for i in range(D)], axis=1)
        g = (fp - fm) / (2 * h)
        H = np.zeros((G, D, D))
        H[:, np.arange(D), np.arange(D)] = (fp - 2 * fu[:, None] + fm) / h**2
        for i in range(D):
            for j in range(i):
                H[:, i, j] = H[:, j, i] = (f(u + E[i] + E[j]) - f(u + E[i] - E[j]) - f(u - E[i] + E[j])
                                           + f(u - E[i] - E[j])) / (4 * h * h)
        negH = -H
        ok = np.linalg.eigvalsh(negH)[:, 0] > 0
        step = np.where(ok[:, None], np.linalg.solve(np.where(ok[:, None, None], negH, np.eye(D)), g[:, :, None])[:, :, 0], g)
        if np.abs(step).max() < 1e-7:
            break
        t = np.ones(G)
        for _ in range(30):  # step halving per cluster
            new = f(u + t[:, None] * step)
            bad = new < fu - 1e-12
            if not bad.any():
                break
            t = np.where(bad, t / 2, t)
        u = u + t[:, None] * step
        fu = f(u)
    if not (np.linalg.eigvalsh(negH)[:, 0] > 0).all():
        raise GlmmixError("a cluster's posterior has no proper mode (the log posterior is not concave there)")
    return u, np.linalg.inv(negH)


def _normal(lik, P, m, C):
    """Scores of latents u ~ N(m_g, C_g) per cluster: means and SDs of every term."""
    D = lik.design.D
    names, means, sds = [], [], []
    for nm, dims, L in _blocks(lik, P):
        A = np.eye(D)[dims] if L is None else L[0] @ np.eye(D)[dims]
        means.append(m @ A.T)
        sds.append(np.sqrt(np.einsum("ij,gjk,ik->gi", A, C, A)))
        names += nm
    return names, np.concatenate(means, axis=1), np.concatenate(sds, axis=1)
