"""Quantities implied by the class part: proportions, transitions, R^2 (Sections 3-4, 6).

All are functions of the parameters, so ``api`` reports them with delta-method SEs.
Formulas (documented in docs/DESIGN.md, "Derived quantities"):

* Joint state probabilities of a unit, P(s | z_u) = prod_t P(c_t | parents, z_u, u),
  integrated over random class logits with the standard-normal rule, averaged over units
  (within variables) and weighted by P(b | z_g) of the unit's cluster (between variables).
  Averages over units and clusters count each with its weight (frequency or sampling
  weights: ``weights.unit_weights``), as the log-likelihood does.
* Class proportions of every variable: marginals of the averaged joint distribution
  (between variables: averaged over clusters).
* Transition probabilities P(C_t = k | C_p = j) = P(c_t = k, c_p = j) / P(c_p = j) for each
  parent p of t, marginal over units and random effects (Section 4's "probability of
  switching").
* R^2 of a binary class variable's logit (eq 14 generalized): the variance of its linear
  predictor (covariates, parent classes, random intercepts) over units, parent states and
  random effects, divided by itself plus pi^2/3, the logistic residual variance.
  eq 14 itself is the case of one binary parent and no random effects.
* Decomposition (Section 4), for a binary C_t whose only parent is a binary C_p and whose
  random intercept alpha_t is correlated with alpha_p: with alpha_t = b alpha_p + e and
  m(alpha_p) = P(C_p = 1 | alpha_p), the logit is  b alpha_p + delta m(alpha_p)  +
  delta (I(C_p) - m(alpha_p))  +  e, three uncorrelated parts: the cluster effect alpha_p,
  the residual individual effect of C_p, and the residual cluster effect e. Each part's
  variance is divided by the total (all three plus pi^2/3).
"""

from __future__ import annotations

import numpy as np

from .likelihood import MixtureLikelihood
from .weights import unit_weights

#: variance of the standard logistic distribution: the latent-response variance of a class logit
LOGISTIC_VARIANCE = np.pi ** 2 / 3


def unit_mean(lik: MixtureLikelihood, a: np.ndarray) -> np.ndarray:
    """The mean of per-unit rows ``a`` (n_units, ...) over the units, each counted with its
    weight as the likelihood counts it (frequency weights: its copies; sampling weights: the
    population it stands for); a plain mean without weights."""
    w = unit_weights(lik.design)
    if w is None:
        return a.mean(axis=0)
    return np.tensordot(w / w.sum(), a, axes=1)


def _cluster_mean(lik: MixtureLikelihood, a: np.ndarray) -> np.ndarray:
    """The mean of per-cluster rows ``a`` over the clusters, with the clusters' weights."""
    w = lik.design.cluster_weight
    if w is None:
        return a.mean(axis=0)
    w = np.asarray(w, dtype=float)
    return np.tensordot(w / w.sum(), a, axes=1)


def _re_lin(lik: MixtureLikelihood, P, t):
    """Random parts of the class logits at standard nodes t (Q, D): (U, n_slots, Q)."""
    _, Lc = lik.factor_matrices(P)
    B = lik.class_logit_loadings([b.Z for b in lik.design.re_cls], Lc)
    return np.einsum("ucd,qd->ucq", B, t)


def _nodes(lik):
    if not lik.design.re_cls:
        return None, np.ones(1)
    t, logw = lik.integ.t, lik.integ.logw
    w = np.exp(logw - logw.max())
    return t, w / w.sum()


def _joint_by_node(lik: MixtureLikelihood, theta):
    """P(s | unit, node) (U, S, Qc) with between classes weighted by their cluster's
    probabilities; the node weights w (Qc,), the flat logits and the random logit parts."""
    cs = lik.cs
    d = lik.design
    P = lik.layout.unpack(lik.layout.expand(theta))
    gam = P["gamma"].ravel()
    t, w = _nodes(lik)
    re_lin = _re_lin(lik, P, t) if t is not None else None
    pj = np.exp(cs.logprior("within", gam, {k: cs.vars[k].Z for k in cs.within}, re_lin))
    if cs.betw:
        pb = np.exp(cs.logprior("between", gam, {k: cs.vars[k].Z for k in cs.betw}))[d.cluster_of_unit]
        pj = (pj.reshape(pj.shape[0], cs.Kb, cs.Kw, -1) * pb[:, :, None, None]).reshape(pj.shape)
    return pj, w, gam, re_lin


def joint_prior(lik: MixtureLikelihood, theta) -> np.ndarray:
    """P(s) of every unit, random class logits integrated out: (n_units, S)."""
    pj, w, _, _ = _joint_by_node(lik, theta)
    return (pj * w[None, None, :]).sum(axis=2)


def marginals(lik, theta, p=None) -> tuple[list, np.ndarray]:
    """Class proportions of every variable (names ``P(c1#1)``)."""
    cs = lik.cs
    p = joint_prior(lik, theta) if p is None else p
    names, vals = [], []
    for k, v in enumerate(cs.vars):
        if v.between:
            P = lik.layout.unpack(lik.layout.expand(theta))
            pb = np.exp(cs.logprior("between", P["gamma"].ravel(), {j: cs.vars[j].Z for j in cs.betw}))
            full = np.zeros((pb.shape[0], cs.S))
            full[:, cs.bstates] = pb
            pm = _cluster_mean(lik, full)
        else:
            pm = unit_mean(lik, p)
        for c in range(v.K):
            names.append(f"P({v.name}#{c + 1})")
            vals.append(pm[cs.digits[:, k] == c].sum())
    return names, np.array(vals)


def transitions(lik, theta, p=None) -> tuple[list, np.ndarray]:
    """P(C_t = k | C_p = j) for every parent p of every variable t (names ``P(c2#1|c1#2)``)."""
    cs = lik.cs
    pm = unit_mean(lik, joint_prior(lik, theta) if p is None else p)
    names, vals = [], []
    for t, v in enumerate(cs.vars):
        for p in v.parents:
            for j in range(cs.Ks[p]):
                den = pm[cs.digits[:, p] == j].sum()
                for k in range(v.K):
                    num = pm[(cs.digits[:, p] == j) & (cs.digits[:, t] == k)].sum()
                    names.append(f"P({v.name}#{k + 1}|{cs.vars[p].name}#{j + 1})")
                    vals.append(num / max(den, 1e-300))
    return names, np.array(vals)


def r_squared(lik, theta) -> tuple[list, np.ndarray]:
    """R^2 of each binary within variable's logit (eq 14 generalized; see module docstring)."""
    cs = lik.cs
    # joint distribution of the states per unit and node, to weigh the parents' states
    pj, w, gam, re_lin = _joint_by_node(lik, theta)
    uw = unit_weights(lik.design)
    uw = np.full(pj.shape[0], 1.0 / pj.shape[0]) if uw is None else uw / uw.sum()
    wt = pj * w[None, None, :] * uw[:, None, None]  # weights over (unit, state, node), sum 1
    names, vals = [], []
    for k in cs.within:
        v = cs.vars[k]
        if v.K != 2 or (not v.parents and re_lin is None and v.Z.shape[1] == 1):
            continue
        lin = cs.logits(k, gam, v.Z, re_lin)[:, :, 0, :]  # (U, ncfg, Qc)
        val = lin[:, cs.cfg[k], :]  # (U, S, Qc)
        m1 = (wt * val).sum()
        var = (wt * val ** 2).sum() - m1 ** 2
        names.append(f"r2({v.name})")
        vals.append(var / (var + LOGISTIC_VARIANCE))
        for p in v.parents:  # eq 14 exactly: the parent alone, at its marginal proportion
            if cs.Ks[p] != 2:
                continue
            G = gam[cs.gslices[k]].reshape(cs.gshapes[k])
            row = v.Z.shape[1] + sum(int(cs.Ks[q]) - 1 for q in v.parents[: v.parents.index(p)])
            g = G[row, 0]
            pp = (wt.sum(axis=(0, 2))[cs.digits[:, p] == 0]).sum()
            e = g * g * pp * (1 - pp)
            names.append(f"r2_eq14({v.name} on {cs.vars[p].name})")
            vals.append(e / (e + LOGISTIC_VARIANCE))
    return names, np.array(vals)


def decomposition(lik, theta) -> tuple[list, np.ndarray]:
    """Section 4's split of a binary C_t's explained variance (see the module docstring)."""
    cs = lik.cs
    d = lik.design
    names, vals = [], []
    if not d.re_cls:
        return names, np.array(vals)
    P = lik.layout.unpack(lik.layout.expand(theta))
    gam = P["gamma"].ravel()
    _, Lc = lik.factor_matrices(P)
    for k in cs.within:
        v = cs.vars[k]
        if v.K != 2 or len(v.parents) != 1 or v.Z.shape[1] != 1:
            continue
        p = v.parents[0]
        vp = cs.vars[p]
        if cs.Ks[p] != 2 or vp.Z.shape[1] != 1 or vp.parents:
            continue
        blk = [(b, L) for b, L in zip(d.re_cls, Lc)
               if b.names == ["Intercept"] and cs.slots[k][0] in b.slots and cs.slots[p][0] in b.slots]
        if not blk:
            continue
        b, L = blk[0]
        S = L @ L.T
        i, j = b.slots.index(cs.slots[p][0]), b.slots.index(cs.slots[k][0])
        vp_, cov, vt = S[i, i], S[i, j], S[j, j]
        beta = cov / vp_ if vp_ > 0 else 0.0
        ve = max(vt - beta * cov, 0.0)
        Gp = gam[cs.gslices[p]].reshape(cs.gshapes[p])
        Gt = gam[cs.gslices[k]].reshape(cs.gshapes[k])
        a_p, delta = Gp[0, 0], Gt[1, 0]
        x, wx = np.polynomial.hermite_e.hermegauss(60)
        wx = wx / wx.sum()
        ap = np.sqrt(vp_) * x
        m = 1.0 / (1.0 + np.exp(-(a_p + ap)))
        f = beta * ap + delta * m
        v_between = wx @ f ** 2 - (wx @ f) ** 2
        v_indiv = delta ** 2 * (wx @ (m * (1 - m)))
        tot = v_between + v_indiv + ve + LOGISTIC_VARIANCE
        pn, tn = vp.name, v.name
        names += [f"share({tn}: {b.group} effect on {pn})", f"share({tn}: residual {pn})",
                  f"share({tn}: residual {b.group} effect)", f"share({tn}: total)"]
        vals += [v_between / tot, v_indiv / tot, ve / tot, (v_between + v_indiv + ve) / tot]
    return names, np.array(vals)


def derived_multi(lik, theta) -> tuple[list, np.ndarray]:
    names, vals = [], []
    p = joint_prior(lik, theta)
    for f in (lambda lk, th: marginals(lk, th, p), lambda lk, th: transitions(lk, th, p), r_squared,
              decomposition):
        n, v = f(lik, theta)
        names += n
        vals += list(v)
    return names, np.array(vals)
