"""Latent class variables and their joint distribution (eq 4, 8-9, 17, 24, 26).

A model has one or more latent class variables C_1, ..., C_T. The likelihood engine works
on their *joint state* s = (c_1, ..., c_T), enumerated in mixed radix with the first
variable fastest; between-level variables (one class per cluster, Section 5-6) come last,
so that s = w + K_w * b splits into a within part w and a between part b.

Every variable has a multinomial logit (last class the reference) on its own covariates Z_t
and on earlier class variables (eq 9, 24): one dummy per non-reference class of each parent.
The joint prior factorizes into the recursive system (Agresti 1996)

    log P(s | z, u) = sum_t log softmax_k( Z_t gamma_t + I(parents(s)) delta_t + R_t u )[c_t(s)],

where R_t u is the random part of the logits (eq 15, 30). A single class variable is the
case T = 1, and the code below is the one the engine always uses.

All of a variable's logit coefficients live in one flat vector: rows are its covariates
followed by one row per parent dummy, columns its K_t - 1 logits (C order). The gradient
with respect to them is, by Fisher's identity, the posterior expectation of
(1{c_t = k} - P(c_t = k | parents, z, u)) times the row's feature.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .mathutils import column_sums, log_softmax_ref


@dataclass
class ClassVar:
    """One latent class variable after materialization.

    Z has one row per unit (within variables) or per cluster (between variables).
    ``parents`` are indices of earlier variables in the system that enter its logit.
    """

    name: str
    K: int
    level: str | None
    between: bool
    Z: np.ndarray
    z_names: list
    z_spec: object = None
    parents: list = field(default_factory=list)


class ClassSystem:
    """The joint class state of several class variables, its prior and the prior's gradient."""

    def __init__(self, variables: list[ClassVar], single: bool = True):
        self.vars = list(variables)
        self.single = single
        self.T = len(self.vars)
        Ks = np.array([v.K for v in self.vars], dtype=np.intp)
        self.Ks = Ks
        self.S = int(np.prod(Ks))
        strides = np.cumprod(np.r_[1, Ks[:-1]]).astype(np.intp)
        s = np.arange(self.S)
        self.digits = (s[:, None] // strides[None, :]) % Ks[None, :]  # (S, T)
        self.within = [t for t, v in enumerate(self.vars) if not v.between]
        self.betw = [t for t, v in enumerate(self.vars) if v.between]
        self.Kb = int(np.prod([Ks[t] for t in self.betw])) if self.betw else 1
        self.Kw = self.S // self.Kb
        # flat layout of the logit coefficients, and slots (logits) for random terms
        self.gslices, self.gshapes, self.slots = [], [], []
        off = slot = 0
        for v in self.vars:
            rows = v.Z.shape[1] + sum(int(Ks[p]) - 1 for p in v.parents)
            self.gshapes.append((rows, v.K - 1))
            self.gslices.append(slice(off, off + rows * (v.K - 1)))
            off += rows * (v.K - 1)
            self.slots.append(list(range(slot, slot + v.K - 1)))
            slot += 0 if v.between else v.K - 1
        self.n_gamma = off
        self.n_slots = slot
        # parent configurations: cfg index of every state, and the dummy rows of each cfg
        self.cfg, self._ind, self._onehot = [], [], []
        for t, v in enumerate(self.vars):
            cfg = np.zeros(self.S, np.intp)
            mult = 1
            for p in v.parents:
                cfg = cfg + mult * self.digits[:, p]
                mult *= int(Ks[p])
            ncfg = mult
            ind = np.zeros((ncfg, sum(int(Ks[p]) - 1 for p in v.parents)))
            c = np.arange(ncfg)
            col = 0
            m = 1
            for p in v.parents:
                dig = (c // m) % Ks[p]
                for j in range(Ks[p] - 1):
                    ind[:, col] = dig == j
                    col += 1
                m *= int(Ks[p])
            self.cfg.append(cfg)
            self._ind.append(ind)
            oh = np.zeros((self.S, ncfg * v.K))
            oh[s, cfg * v.K + self.digits[:, t]] = 1.0
            self._onehot.append(oh)
        # between states as full states (within digits 0)
        self.bstates = self.Kw * np.arange(self.Kb)

    # ------------------------------------------------------------------ labels
    def state_name(self, s: int, variables=None) -> str:
        vs = range(self.T) if variables is None else variables
        if self.single:
            return f"{self.vars[0].name}{self.digits[s, 0] + 1}"
        return ".".join(f"{self.vars[t].name}#{self.digits[s, t] + 1}" for t in vs)

    def gamma_labels(self) -> list:
        out = []
        for t, v in enumerate(self.vars):
            rows = list(v.z_names)
            for p in v.parents:
                rows += [f"{self.vars[p].name}#{j + 1}" for j in range(self.Ks[p] - 1)]
            for r in rows:
                for k in range(v.K - 1):
                    cls = f"{v.name}{k + 1}" if self.single else f"{v.name}#{k + 1}"
                    out.append(f"logit:{cls}:{r}")
        return out

    def gamma_scale(self) -> np.ndarray:
        """Spread of every logit coefficient's feature (RMS of its covariate; 1 for parents)."""
        out = np.ones(self.n_gamma)
        for t, v in enumerate(self.vars):
            n, _, sq, _ = column_sums(v.Z)
            zs = np.sqrt(sq / max(n, 1))
            rows = np.r_[np.where(zs > 0, zs, 1.0), np.ones(self.gshapes[t][0] - zs.size)]
            out[self.gslices[t]] = np.repeat(rows, v.K - 1)
        return out

    # ------------------------------------------------------------------ prior
    def logits(self, t, gamma, Z, re_lin):
        """Logits of variable t: (n, ncfg, K_t - 1, Qc)."""
        v = self.vars[t]
        G = gamma[self.gslices[t]].reshape(self.gshapes[t])
        q = v.Z.shape[1]
        base = Z @ G[:q]  # (n, K-1)
        par = self._ind[t] @ G[q:]  # (ncfg, K-1)
        lin = base[:, None, :, None] + par[None, :, :, None]
        if re_lin is not None and self.slots[t] and not v.between:
            lin = lin + re_lin[:, None, self.slots[t], :]
        return lin

    def _logsoftmax(self, lin):
        if lin.shape[2] == 1:  # two classes: log-sigmoid, no max/exp/sum pass
            sp_ = np.log1p(np.exp(-np.abs(lin))) + np.maximum(lin, 0.0)  # log(1 + e^lin)
            return np.concatenate([lin - sp_, -sp_], axis=2)
        return log_softmax_ref(lin, axis=2)

    def logprior(self, which, gamma, Zs, re_lin=None):
        """log P of every state over the variables ``which`` ("within" or "between").

        Zs : {t: covariate rows} for those variables (units or clusters, same n).
        Returns (n, S, Qc) for "within" (all joint states; between digits act as parents)
        and (n, Kb) for "between".
        """
        ts = self.within if which == "within" else self.betw
        states = np.arange(self.S) if which == "within" else self.bstates
        n = next(iter(Zs.values())).shape[0]
        Qc = 1 if (re_lin is None or which == "between") else re_lin.shape[2]
        out = np.zeros((n, states.size, Qc))
        for t in ts:
            lsm = self._logsoftmax(self.logits(t, gamma, Zs[t], re_lin if which == "within" else None))
            out += lsm[:, self.cfg[t][states], self.digits[states, t], :]
        return out if which == "within" else out[:, :, 0]

    def _weights(self, which, W):
        """The variables of ``which`` and posterior weights as (n, S, Qc) (between: (n, Kb)
        placed on the between states)."""
        if which == "within":
            return self.within, W
        Wf = np.zeros((W.shape[0], self.S, 1))
        Wf[:, self.bstates, 0] = W
        return self.betw, Wf

    def gradient(self, which, gamma, Zs, W, re_lin=None, per_unit=False):
        """Fisher-identity gradient of sum W * log P with respect to the flat logit vector.

        W : (n, S, Qc) posterior weights of (unit, state, node) for "within", (n, Kb) for
        "between". Returns (g (n_gamma,) or (n, n_gamma) if per_unit, slot residuals
        (n, n_slots, Qc) for the random logits, or None).
        """
        ts, W = self._weights(which, W)
        n, Qc = W.shape[0], W.shape[2]
        g = np.zeros((n, self.n_gamma)) if per_unit else np.zeros(self.n_gamma)
        resid = np.zeros((n, self.n_slots, Qc)) if (which == "within" and self.n_slots) else None
        for t in ts:
            v = self.vars[t]
            K = v.K
            lin = self.logits(t, gamma, Zs[t], re_lin if which == "within" else None)
            P = np.exp(self._logsoftmax(lin))  # (n, ncfg, K, Qc)
            ncfg = P.shape[1]
            Wc = np.einsum("nsq,sc->ncq", W, self._onehot[t]).reshape(n, ncfg, K, Qc)
            tot = Wc.sum(axis=2)
            R = Wc[:, :, : K - 1] - P[:, :, : K - 1] * tot[:, :, None]  # (n, ncfg, K-1, Qc)
            Rq = R.sum(axis=3)
            Z = Zs[t]
            if per_unit:
                gz = (Z[:, :, None] * Rq.sum(axis=1)[:, None, :]).reshape(n, -1)
                gp = np.einsum("ncj,cp->npj", Rq, self._ind[t]).reshape(n, -1)
                g[:, self.gslices[t]] = np.concatenate([gz, gp], axis=1)
            else:
                gz = Z.T @ Rq.sum(axis=1)
                gp = self._ind[t].T @ Rq.sum(axis=0)
                g[self.gslices[t]] = np.concatenate([gz, gp], axis=0).ravel()
            if resid is not None and self.slots[t]:
                resid[:, self.slots[t], :] = R.sum(axis=1)
        return g, resid

    def information(self, which, gamma, Zs, W, re_lin=None):
        """Expected complete-data information of the logit coefficients (n_gamma, n_gamma),
        block-diagonal over variables, and the per-slot variances (n, n_slots, Qc) that the
        EM metric of random logits uses."""
        ts, W = self._weights(which, W)
        n, Qc = W.shape[0], W.shape[2]
        H = np.zeros((self.n_gamma, self.n_gamma))
        var = np.zeros((n, self.n_slots, Qc)) if (which == "within" and self.n_slots) else None
        for t in ts:
            v = self.vars[t]
            K = v.K
            lin = self.logits(t, gamma, Zs[t], re_lin if which == "within" else None)
            P = np.exp(self._logsoftmax(lin))[:, :, : K - 1]  # (n, ncfg, K-1, Qc)
            ncfg = P.shape[1]
            tot = np.einsum("nsq,sc->ncq", W, self._onehot[t]).reshape(n, ncfg, K, Qc).sum(axis=2)
            A = np.einsum("ncq,nciq,ncjq->ncij", tot, P, P)
            A = -A
            ii = np.arange(K - 1)
            A[:, :, ii, ii] += np.einsum("ncq,nciq->nci", tot, P)
            Z = Zs[t]
            X = np.concatenate([np.broadcast_to(Z[:, None, :], (n, ncfg, Z.shape[1])),
                                np.broadcast_to(self._ind[t][None], (n, ncfg, self._ind[t].shape[1]))], axis=2)
            Ht = np.einsum("nca,ncb,ncij->aibj", X, X, A).reshape(X.shape[2] * (K - 1), -1)
            sl = self.gslices[t]
            H[sl, sl] += Ht
            if var is not None and self.slots[t]:
                var[:, self.slots[t], :] = np.einsum("ncq,nciq->niq", tot, P * (1 - P))
        return H, var
