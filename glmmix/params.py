"""Parameter layout: named blocks, constraints, and the map between free and full vectors.

The *full* vector phi holds every model parameter on its unconstrained scale, block after
block:

* ``beta``  (p, K): outcome coefficients, class-specific by default (eq 2's nu_c, eq 32's tau_qc);
* ``extra`` (K, E): family parameters (log residual SD, ordinal thresholds in increment form);
* ``gamma`` (q, K-1): class-logit coefficients, the last class the reference (eq 4, alpha_L = 0).

The *free* vector theta is what optimizers see. Every full entry is either free (mapped to
one free index; several full entries may share one, which is how class-invariant terms and
user equality constraints work) or fixed to a value. ``phi = expand(theta)``; gradients are
pulled back by summing over tied entries.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .exceptions import DesignError, plain
from .terms import OFFSET_TERM, offset_columns


@dataclass
class Block:
    name: str
    shape: tuple
    offset: int
    labels: list  # one label per entry, C order

    @property
    def size(self):
        # math.prod, not np.prod: read in every evaluation (np.prod's dispatch was 10% of a small LCA fit)
        return int(math.prod(self.shape)) if self.shape else 0

    @property
    def slice(self):
        return slice(self.offset, self.offset + self.size)


@dataclass(frozen=True)
class TermView:
    """One random term's place in the parameters.

    Attributes
    ----------
    term : RandomBlock
        The random term (random_effects.py).
    block : {"re_out", "re_cls"}
        The parameter block holding its free factor-matrix entries.
    pos : ndarray of shape (n, 2)
        (row, column) in the factor matrix L of each entry, in ``free_positions`` order.
    cols : slice
        Its entries along the block's last axis (``layout.unpack(phi)[block][..., cols]``).
    dims : slice
        Its latent dimensions in the vector u of all random effects.
    """

    term: object
    block: str
    pos: np.ndarray
    cols: slice
    dims: slice

    def entries(self, parts: dict) -> np.ndarray:
        """Its entries in unpacked blocks (per class for outcome terms: (K, n); else (n,))."""
        return parts[self.block][..., self.cols]


def term_views(design) -> list[TermView]:
    """The :class:`TermView` of every random term of a design, outcome terms first."""
    views = []
    dim = 0
    for name, terms in (("re_out", design.re_out), ("re_cls", design.re_cls)):
        col = 0
        for b in terms:
            pos = np.array(b.free_positions()).reshape(-1, 2)
            views.append(TermView(b, name, pos, slice(col, col + len(pos)), slice(dim, dim + b.d)))
            col += len(pos)
            dim += b.d
    return views


def _union_find(n):
    """find/union over n entries; a group's root is its smallest member."""
    parent = np.arange(n)

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i, j):
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)

    return find, union


def _multi_invariant_columns(design, invariant, class_specific) -> set:
    """Several class variables: check ``class_specific`` and ``invariant``; the outcome
    design's columns that are invariant across classes."""
    for t in class_specific:
        if t == "sigma":
            raise NotImplementedError("class-specific residual SDs with several class variables are not supported yet")
        if t not in ("random",):
            raise DesignError(f"class_specific accepts 'random' with several class variables; got {t!r}")
    inv_cols = set()
    for term in invariant:
        if term in design.x_terms:
            inv_cols.update(design.x_terms[term])
        elif term in design.x_names:
            inv_cols.update(j for j, n in enumerate(design.x_names) if n == term)
        elif term == "thresholds" and design.family.thresholds:
            continue
        else:
            raise DesignError(
                f"invariant term {term!r} is not a term of the outcome part; terms are "
                f"{list(design.x_terms)} (columns {sorted(set(design.x_names))})")
    return inv_cols


def _with_offsets(x_names, fix) -> dict:
    """``fix`` with every offset column's coefficient fixed at 1 (in every class)."""
    offsets = offset_columns(x_names)
    for lab, val in (fix or {}).items():
        name = lab.rpartition(":")[2] if ":" in lab and not OFFSET_TERM.fullmatch(lab) else lab
        if name in offsets and val != 1:
            raise DesignError(f"{name!r} is an offset: its coefficient is 1 (write the term without offset() "
                              f"to estimate or fix it), not fix[{lab!r}] = {val!r}")
    return {**dict.fromkeys(offsets, 1.0), **(fix or {})}


def _invariant_measurement(design) -> str:
    """measurement_invariance=True: check that every row is measured by one of several
    within-level variables with equal numbers of classes; their joint name ("c1,c2")."""
    cs = design.classes
    single = [g for g, m in enumerate(design.mgroups) if len(m) == 1 and m[0] in cs.within]
    Ks = {cs.vars[design.mgroups[g][0]].K for g in single}
    if len(single) < 2 or len(Ks) != 1 or len(single) != len(design.mgroups):
        raise DesignError(
            "measurement_invariance=True needs every row measured by one within-level class "
            "variable, at least two such variables, and the same number of classes for each")
    return ",".join(cs.vars[design.mgroups[g][0]].name for g in single)


def check_class_specific(parsed, family, class_specific, invariant) -> None:
    """``class_specific`` and ``invariant`` words that name nothing in this model are refused
    (a residual SD of a family without one, random effects of a model without them): they
    would change nothing while the caller believes they did. (``glmmix.fit`` calls it; the
    simpler models of the start search inherit the words and are not refused.)"""
    from .random_effects import random_terms

    part = parsed.outcome_part
    words = {"sigma": family.has_residual_sd, "thresholds": bool(family.thresholds),
             "random": bool(random_terms(part))}
    for arg, given in (("class_specific", class_specific), ("invariant", invariant)):
        for t in given or ():
            if t in words and not words[t] and not (arg == "invariant" and t == "random"):
                what = {"sigma": f"family {family.name!r} has no residual SD",
                        "thresholds": f"family {family.name!r} has no thresholds",
                        "random": "the outcome part has no random effects or factors"}[t]
                raise DesignError(f"{arg}={list(given)!r} names {t!r}, but {what}: it would change nothing")


class ParamLayout:
    """Blocks, labels, ties and fixed values of a model's parameters."""

    def __init__(self, design, invariant=(), class_specific=(), fix=None, equal=None,
                 measurement_invariance=False):
        K = design.n_classes
        fam = design.family
        p = len(design.x_names)
        fix = _with_offsets(design.x_names, fix)
        E = fam.n_extra(design.aux)
        q = design.Z.shape[1]
        self.n_classes = K
        self.class_name = design.class_name
        self.multi = design.multi
        self.blocks, self.n_full, self.full_labels = {}, 0, []
        #: the unit-scale map of the free parameters (scaling.Rescaling), made on first use
        self.rescaling = None
        #: several class variables: one set of measurement parameters for all times (eq 11)
        self.measurement_invariance = False
        cls = self._class_label
        if self.multi:
            return self._init_multi(design, invariant, class_specific, fix, equal, measurement_invariance)
        if measurement_invariance:
            raise DesignError("measurement_invariance applies to models with several class variables (LTA)")
        # Step 1: blocks and full labels.
        add = self._add_block

        add("beta", (p, K), [f"{cls(k)}{x}" for x in design.x_names for k in range(K)])
        enames = fam.extra_names(design.aux)
        add("extra", (K, E), [f"{cls(k)}{e}" for k in range(K) for e in enames])
        zn = design.z_names
        add("gamma", (q, K - 1), [f"logit:{self.class_name}{k + 1}:{z}" for z in zn for k in range(K - 1)])
        # random terms: the free entries of each factor matrix L (see random_effects.py);
        # outcome-part ones per class (tied across classes unless class_specific=["random"])
        R = self._re_labels(design, K)
        add("re_out", (K, R), [f"{cls(k)}{lab}" for k in range(K) for lab in self.re_out_labels])
        add("re_cls", (len(self.re_cls_labels),), list(self.re_cls_labels))
        self._check_unique_labels()

        # Step 2: ties. Class-invariant terms tie beta across classes; sigma is invariant
        # unless asked otherwise; ordinal thresholds are class-specific unless asked.
        find, union = _union_find(self.n_full)

        inv_cols = set()
        for term in invariant:
            if term in design.x_terms:
                inv_cols.update(design.x_terms[term])
            elif term in design.x_names:
                inv_cols.add(design.x_names.index(term))
            elif term in enames or term in ("sigma", "thresholds"):
                continue
            else:
                raise DesignError(
                    f"invariant term {term!r} is not a term of the outcome part; terms are "
                    f"{list(design.x_terms)} (columns {design.x_names})"
                )
        bb = self.blocks["beta"]
        for j in inv_cols:
            for k in range(1, K):
                union(bb.offset + j * K, bb.offset + j * K + k)
        eb = self.blocks["extra"]
        extra_invariant = fam.extra_invariant and "sigma" not in class_specific
        extra_invariant |= "thresholds" in invariant or "sigma" in invariant
        for t in class_specific:
            if t not in ("sigma", "thresholds", "random"):
                raise DesignError(
                    f"class_specific accepts 'sigma' (gaussian residual SD) and 'random' (random-effect "
                    f"covariances and loadings); got {t!r}")
        rb = self.blocks["re_out"]
        if "random" not in class_specific:
            for e in range(R):
                for k in range(1, K):
                    union(rb.offset + e, rb.offset + k * R + e)
        if extra_invariant:
            for e in range(E):
                for k in range(1, K):
                    union(eb.offset + e, eb.offset + k * E + e)

        self._finish(find, union, fix, equal, fam, K)

    def check_classes_differ(self, invariant=(), fix=None, equal=None) -> None:
        """Refuse a mixture with one class variable whose classes share every outcome
        parameter: they cannot be told apart, so the class logits are not identified (any
        proportions give the one-class likelihood) and their information is singular.
        (``glmmix.fit`` calls it; the simpler models of the start search are not refused.)"""
        K = self.n_classes
        if K < 2 or self.multi:
            return

        def token(i):
            return ("free", int(self.free_idx[i])) if self.free_idx[i] >= 0 else ("fixed", float(self.fixed_val[i]))

        for name in ("beta", "extra", "re_out"):
            b = self.blocks[name]
            if not b.size:
                continue
            idx = np.arange(b.offset, b.offset + b.size).reshape(b.shape)
            by_class = idx if name == "beta" else idx.T  # (entries, K)
            if any(token(i) != token(row[0]) for row in by_class for i in row[1:]):
                return
        given = ", ".join(f"{n}={v!r}" for n, v in (("invariant", invariant), ("fix", fix), ("equal", equal)) if v)
        raise DesignError(
            f"no outcome parameter differs across the {K} classes ({given or 'as specified'}), so the classes "
            "cannot be told apart and their proportions are not identified: leave some term class-specific, or "
            "fit one class")

    def _check_unique_labels(self):
        """A column named like a label glmmix gives ('Intercept', 'sigma') would give two
        parameters one label."""
        seen = set()
        for lab in self.full_labels:
            if lab in seen:
                raise DesignError(
                    f"two parameters have the label {lab!r}: a column of the data is named like a label that "
                    "glmmix gives (Intercept, sigma, threshold[k], ...), so results, fix= and equal= could not "
                    "tell them apart; rename the column")
            seen.add(lab)

    def _finish(self, find, union, fix, equal, fam, K):
        # Step 3: user equalities and fixed values (by full or free label).
        fixed_val = np.full(self.n_full, np.nan)
        for group in equal or []:
            idx = [i for lab in group for i in self._resolve(lab, find)]
            for i in idx[1:]:
                union(idx[0], i)
        for lab, value in (fix or {}).items():
            for i in self._resolve(lab, find):
                val = value
                blk = self.block_of(i)
                if blk == "extra" and not fam.extra_fixable:
                    raise NotImplementedError("fixing ordinal thresholds is not supported yet")
                if blk in ("re_out", "re_cls") and self._strip_class_any(self.full_labels[i]) not in self._fixable_re:
                    raise NotImplementedError(
                        f"fixing {lab!r} is not supported yet: only SDs of a term's first effect (or of "
                        "uncorrelated terms) and loadings can be fixed"
                        + ("; for a correlation of 0 write the term with || (uncorrelated effects, lme4's "
                           "(x || g))" if "cor(" in lab and value == 0 else
                           "; re_parameterization='regression' makes the effects' regressions on each other "
                           "fixable parameters" if "cor(" in lab else ""))
                if blk == "extra":
                    val = fam.fixed_extra(val, lab)
                bare = self._strip_class_any(self.full_labels[i])
                if blk in ("re_out", "re_cls") and (bare.startswith("sd(") or bare.startswith("residual sd(")) \
                        and isinstance(val, (int, float, np.number)) and val < 0:
                    raise DesignError(f"fix[{lab!r}] = {plain(val)!r}: a standard deviation must be >= 0")
                if not np.isfinite(val):  # NaN marks a free parameter below: never let one through
                    raise DesignError(f"fix[{lab!r}] must be a finite number, not {val!r}")
                fixed_val[i] = val
        roots = np.array([find(i) for i in range(self.n_full)])
        # a tie group is fixed when any member is
        for r in np.unique(roots):
            members = roots == r
            vals = fixed_val[members]
            given = vals[np.isfinite(vals)]
            if given.size and np.any(given != given[0]):
                labs = [self.full_labels[i] for i in np.flatnonzero(members & np.isfinite(fixed_val))]
                raise DesignError(
                    "fix gives parameters that are equal in the model different values: "
                    + ", ".join(f"{a} = {plain(v)}" for a, v in zip(labs, given))
                    + " (tied by equal= or because the term is the same in every class); fix them to one "
                    "value, or untie them (class_specific=, or leave them out of equal=)")
            if given.size:
                fixed_val[members] = given[0]
        free_roots = [r for r in np.unique(roots) if not np.isfinite(fixed_val[r])]
        rmap = {r: i for i, r in enumerate(free_roots)}
        self.free_idx = np.array([rmap.get(r, -1) for r in roots], dtype=np.intp)
        self.fixed_val = np.where(self.free_idx < 0, fixed_val, 0.0)
        self.n_free = len(free_roots)
        # Free labels: the full label, without the class prefix when all classes share it.
        self.labels = []
        for r in free_roots:
            members = np.flatnonzero(roots == r)
            lab = self.full_labels[r]
            if not self.multi and len(members) == K and K > 1 and self._is_class_tie(members):
                lab = self._strip_class(lab)
            self.labels.append(lab)
        self._first_full = np.array([np.flatnonzero(self.free_idx == i)[0] for i in range(self.n_free)], dtype=np.intp)

    def _init_multi(self, design, invariant, class_specific, fix, equal, measurement_invariance):
        """Several class variables: the class axis is the joint state (classes.py).

        Full entries are per joint state; entries whose labels agree are tied. A row's
        coefficients depend only on the classes of the variables that measure it (its
        measurement group), so the label of beta[j, s] names those classes only; class-
        invariant terms name the group's variables without classes; measurement invariance
        (eq 11) gives equal-structure groups one name.
        """
        cs = design.classes
        self._cs = cs
        self._has_re_cls = bool(design.re_cls)
        S = cs.S
        fam = design.family
        E = fam.n_extra(design.aux)
        inv_cols = _multi_invariant_columns(design, invariant, class_specific)
        gname = {g: [cs.vars[t].name for t in members] for g, members in enumerate(design.mgroups)}
        joint = _invariant_measurement(design) if measurement_invariance else None
        self.measurement_invariance = bool(measurement_invariance)

        def prefix(g, s):
            members = design.mgroups[g]
            if joint is not None:
                return f"{joint}#{cs.digits[s, members[0]] + 1}:"
            return cs.state_name(s, members) + ":"

        add = self._add_block
        bl = []
        for j, x in enumerate(design.x_names):
            g = design.x_group[j]
            for s in range(S):
                if j in inv_cols:
                    bl.append(f"{','.join(gname[g])}:{x}")
                else:
                    bl.append(prefix(g, s) + x)
        add("beta", (len(design.x_names), S), bl)
        enames = fam.extra_names(design.aux)
        emg = design.aux.threshold_mgroup  # ordinal: measurement group of each threshold
        if emg is not None:
            m = design.aux.n_cat - 1
            egroup = np.repeat(emg, m)
            inv_thr = "thresholds" in invariant
            el = [(f"{','.join(gname[egroup[e]])}:" if inv_thr else prefix(egroup[e], s)) + enames[e]
                  for s in range(S) for e in range(E)]
        else:
            el = [e for _ in range(S) for e in enames]
        add("extra", (S, E), el)
        add("gamma", (cs.n_gamma,), cs.gamma_labels())
        R = self._re_labels(design, S)
        if "random" in class_specific:
            if not cs.betw:
                raise NotImplementedError(
                    "class-specific random-effect distributions with several class variables are "
                    "supported for between-level class variables (eq 25); this model has none")
            rl = [cs.state_name(s, cs.betw) + ":" + lab for s in range(S) for lab in self.re_out_labels]
        else:
            rl = [lab for _ in range(S) for lab in self.re_out_labels]
        add("re_out", (S, R), rl)
        add("re_cls", (len(self.re_cls_labels),), list(self.re_cls_labels))
        find, union = _union_find(self.n_full)
        for name in ("beta", "extra", "re_out"):
            b = self.blocks[name]
            first = {}
            for i in range(b.offset, b.offset + b.size):
                lab = self.full_labels[i]
                if lab in first:
                    union(first[lab], i)
                else:
                    first[lab] = i
        self._finish(find, union, fix, equal, fam, S)

    def _add_block(self, name, shape, labels):
        """Append a named block of full parameters (C order) with one label per entry."""
        b = Block(name, shape, self.n_full, list(labels))
        self.blocks[name] = b
        self.n_full += b.size
        self.full_labels += b.labels

    def _re_labels(self, design, K):
        """Labels of the random terms' free entries (outcome and class part); which of them
        can be fixed (an SD equals one entry of L when that row of L has a single free entry).
        Returns the number of outcome-part entries."""
        self.re_terms = term_views(design)
        self.re_out_terms = [v for v in self.re_terms if v.block == "re_out"]
        self.re_cls_terms = [v for v in self.re_terms if v.block == "re_cls"]
        self.re_out_labels = [lab for b in design.re_out for lab in b.labels(K, self.class_name)]
        self.re_cls_labels = [lab for b in design.re_cls for lab in b.labels(K, self.class_name)]
        self._fixable_re = set()
        for b in list(design.re_out) + list(design.re_cls):
            pos = b.free_positions()
            for (i, _), lab in zip(pos, b.labels(K, self.class_name)):
                if b.structure in ("rr", "reg") or sum(1 for (a, _) in pos if a == i) == 1:
                    self._fixable_re.add(lab)
        return len(self.re_out_labels)

    # ---- labels
    def _class_label(self, k):
        return f"{self.class_name}{k + 1}:" if self.n_classes > 1 else ""

    def _strip_class(self, lab):
        pre = f"{self.class_name}1:"
        return lab[len(pre):] if lab.startswith(pre) else lab

    def _is_class_tie(self, members):
        blocks = {self.block_of(i) for i in members}
        return len(blocks) == 1 and blocks <= {"beta", "extra", "re_out"}

    def _resolve(self, lab, find):
        hits = [i for i, l in enumerate(self.full_labels) if l == lab]
        if not hits:  # a class-free label names every class's copy
            hits = [i for i, l in enumerate(self.full_labels) if self._strip_class_any(l) == lab]
        if not hits:
            raise DesignError(f"unknown parameter {lab!r}; parameters are {self.full_labels}")
        return hits

    def strip_class(self, lab: str) -> str:
        """A full label without its class prefix (``class1:x`` -> ``x``)."""
        return self._strip_class_any(lab)

    def _strip_class_any(self, lab):
        if self.multi:
            head, _, rest = lab.partition(":")
            return rest if ("#" in head and rest and not head.startswith(("sd(", "cor(", "loading"))) else lab
        for k in range(self.n_classes):
            pre = f"{self.class_name}{k + 1}:"
            if lab.startswith(pre):
                return lab[len(pre):]
        return lab

    @property
    def first_full(self) -> np.ndarray:
        """The full index of every free parameter (the first member of its tie group)."""
        return self._first_full

    def resolve(self, label: str) -> list[int]:
        """Full indices named by a label (a full label, or a label without its class prefix,
        which names every class's copy)."""
        return self._resolve(label, None)

    def class_free_label(self, label: str) -> str:
        """A full label without its class prefix (``class2:item[u1]`` -> ``item[u1]``)."""
        return self._strip_class_any(label)

    def free_in_blocks(self, names: tuple) -> np.ndarray:
        """Whether each free parameter (its first full entry) lies in one of the blocks
        ``names``: a boolean mask, computed once per layout (read at every quasi-Newton
        iteration, ``estimation.unresolved_params``)."""
        cache = self.__dict__.setdefault("_block_masks", {})
        hit = cache.get(names)
        if hit is None or hit[0] is not self._first_full:
            hit = cache[names] = (self._first_full, np.array([self.block_of(i) in names for i in self._first_full], bool))
        return hit[1]

    def block_of(self, i):
        for b in self.blocks.values():
            if b.offset <= i < b.offset + b.size:
                return b.name
        raise IndexError(i)

    # ---- maps
    def expand(self, theta: np.ndarray) -> np.ndarray:
        """Free vector -> full vector (fixed entries filled in)."""
        phi = self.fixed_val.copy()
        m = self.free_idx >= 0
        phi[m] = theta[self.free_idx[m]]
        return phi

    def reduce(self, g_full: np.ndarray) -> np.ndarray:
        """Pull a gradient (last axis = full parameters) back to the free parameters."""
        m = self.free_idx >= 0
        if g_full.ndim == 1:
            return np.bincount(self.free_idx[m], weights=g_full[m], minlength=self.n_free)
        out = np.zeros(g_full.shape[:-1] + (self.n_free,))
        np.add.at(out, (..., self.free_idx[m]), g_full[..., m])
        return out

    def from_full(self, phi: np.ndarray) -> np.ndarray:
        """Full vector -> free vector (first member of each tie group)."""
        return phi[self._first_full].copy()

    def unpack(self, phi: np.ndarray) -> dict:
        """Full vector -> dict of block arrays (views)."""
        return {n: phi[b.slice].reshape(b.shape) for n, b in self.blocks.items()}

    def pack(self, parts: dict) -> np.ndarray:
        """Dict of block arrays -> full vector; empty blocks may be left out."""
        phi = np.zeros(self.n_full)
        for n, b in self.blocks.items():
            if n not in parts:
                if b.size:
                    raise KeyError(f"block {n!r} missing")
                continue
            phi[b.slice] = np.asarray(parts[n], float).reshape(-1)
        return phi

    # ---- classes
    def permute_full(self, phi: np.ndarray, perm) -> np.ndarray:
        """Relabel classes: new class k is old class perm[k]. The likelihood is unchanged.

        Class logits are re-expressed against the new last class (eq 4's alpha_L = 0).
        """
        if self.multi:
            return self._permute_multi(phi, perm)
        perm = np.asarray(perm)
        P = self.unpack(phi)
        K = self.n_classes
        beta = P["beta"][:, perm]
        extra = P["extra"][perm]
        g = np.concatenate([P["gamma"], np.zeros((P["gamma"].shape[0], 1))], axis=1)[:, perm]
        gamma = (g - g[:, -1:])[:, : K - 1]
        return self.pack({"beta": beta, "extra": extra, "gamma": gamma, "re_out": P["re_out"][perm],
                          "re_cls": P["re_cls"]})

    def permutation_allowed(self, perm) -> bool:
        """True when relabelling classes maps the constraint structure onto itself."""
        if self.multi:
            return self._multi_permutation_allowed(perm)
        if np.array_equal(perm, np.arange(self.n_classes)):
            return True
        idx = self.permute_full(np.arange(self.n_full, dtype=float) + 1.0, perm)
        # gamma entries mix under permutation; they carry no ties or fixes by default
        gb = self.blocks["gamma"]
        if (self.free_idx[gb.slice] < 0).any() or len(np.unique(self.free_idx[gb.slice])) != gb.size:
            return False
        if self.blocks["re_cls"].size:  # random class logits are tied to the reference class
            return False
        return self._ties_preserved(idx)

    def _ties_preserved(self, idx):
        """True when moving every full entry to where a relabelling sends it (idx: the
        permuted 1-based positions) keeps the tie groups and fixed values; the class logits,
        which mix under relabelling, are left out."""
        gb = self.blocks["gamma"]
        src = np.round(idx).astype(int) - 1
        nong = np.ones(self.n_full, bool)
        nong[gb.slice] = False
        s = src[nong]
        fi, fv = self.free_idx[nong], self.fixed_val[nong]
        fs, fvs = self.free_idx[s], self.fixed_val[s]
        # same partition into tie groups and same fixed values
        if not np.array_equal(fi < 0, fs < 0) or not np.allclose(fv, fvs):
            return False
        pairs = {}
        for a, b in zip(fi, fs):
            if a >= 0 and pairs.setdefault(a, b) != b:
                return False
        return True

    # ---- relabelling with several class variables
    def _permute_multi(self, phi, perms):
        """Relabel each class variable t by perms[t] (new class k is old class perms[t][k]).

        Joint states map digit-wise; every variable's logits are re-expressed against its new
        reference class and its parents' new reference classes (the shifts move into the
        intercept, so a variable with parents needs an intercept). The likelihood is unchanged.
        """
        cs = self._cs
        perms = [np.asarray(p) for p in perms]
        old_digits = np.stack([perms[t][cs.digits[:, t]] for t in range(cs.T)], axis=1)
        strides = np.cumprod(np.r_[1, cs.Ks[:-1]])
        old_state = old_digits @ strides  # new state s' is old state old_state[s']
        P = self.unpack(phi)
        gam = P["gamma"].copy()
        for t, v in enumerate(cs.vars):
            G = gam[cs.gslices[t]].reshape(cs.gshapes[t])
            q = v.Z.shape[1]
            pt = perms[t]
            full = np.concatenate([G, np.zeros((G.shape[0], 1))], axis=1)[:, pt]
            full = full - full[:, -1:]  # new reference class
            new = full[:, :-1].copy()
            row = q
            for p in v.parents:
                Kp = int(cs.Ks[p])
                D = np.concatenate([new[row:row + Kp - 1], np.zeros((1, v.K - 1))], axis=0)[perms[p]]
                shift = D[-1].copy()  # effect of the new reference class of the parent
                new[row:row + Kp - 1] = (D - shift)[:-1]
                if np.any(shift != 0):
                    if "Intercept" not in v.z_names:
                        raise ValueError("relabelling a parent needs an intercept in the child's logit")
                    new[v.z_names.index("Intercept")] += shift
                row += Kp - 1
            gam[cs.gslices[t]] = new.ravel()
        return self.pack({"beta": P["beta"][:, old_state], "extra": P["extra"][old_state], "gamma": gam,
                          "re_out": P["re_out"][old_state], "re_cls": P["re_cls"]})

    def _multi_permutation_allowed(self, perms) -> bool:
        cs = self._cs
        if all(np.array_equal(p, np.arange(len(p))) for p in perms):
            return True
        if self._has_re_cls:  # random logits are tied to the reference classes
            return False
        gb = self.blocks["gamma"]
        if (self.free_idx[gb.slice] < 0).any() or len(np.unique(self.free_idx[gb.slice])) != gb.size:
            return False
        for v in cs.vars:  # moving a parent's reference class shifts the child's intercept
            if "Intercept" not in v.z_names and any(
                    not np.array_equal(perms[p], np.arange(cs.Ks[p])) for p in v.parents):
                return False
        return self._ties_preserved(self._permute_multi(np.arange(self.n_full, dtype=float) + 1.0, perms))
