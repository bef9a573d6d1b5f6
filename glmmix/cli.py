"""The ``glmmix`` command: worked examples on shipped data.

    glmmix example lca        # 3-class LCA of the carcinoma ratings (Agresti; poLCA)
    glmmix example list       # what examples exist
    glmmix datasets           # shipped data sets
"""

from __future__ import annotations

import argparse
import sys
import warnings


def _example_lca():
    import glmmix as gm

    wide = gm.datasets.load("carcinoma")
    long = gm.wide_to_long(wide, id=None, verbose=True)
    print('>>> gm.fit("y ~ 0 + item | class(id) ~ 1", long, n_classes=3, family="bernoulli", seed=1)\n')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = gm.fit("y ~ 0 + item | class(id) ~ 1", long, n_classes=3, family="bernoulli", seed=1)
    print(res.summary())
    print("\nItem-response probabilities P(y = 1 | class) (poLCA's probs):")
    print(res.profile().round(4).to_string())
    print(f"\nReference (poLCA, Agresti's carcinoma data): log-likelihood -293.705; glmmix: {res.llf:.4f}")
    for w in caught:
        print(f"{w.category.__name__}: {w.message}")


def _example_lsat():
    import glmmix as gm

    long = gm.wide_to_long(gm.datasets.load("lsat"), id=None, verbose=True)
    res = gm.fit("y ~ 0 + item | class(id) ~ 1", long, n_classes=2, family="bernoulli", seed=1)
    print(res.summary())
    print(f"\nReference (flexmix / StepMix): log-likelihood -2467.4055; glmmix: {res.llf:.4f}")


EXAMPLES = {
    "lca": ("3-class latent class analysis of the carcinoma ratings", _example_lca),
    "lsat": ("2-class latent class analysis of LSAT section 6", _example_lsat),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="glmmix", description="Multilevel mixture models by maximum likelihood.")
    sub = parser.add_subparsers(dest="cmd")
    ex = sub.add_parser("example", help="run a worked example on shipped data")
    ex.add_argument("name", help="example name, or 'list'")
    sub.add_parser("datasets", help="list the shipped data sets")
    args = parser.parse_args(argv)
    if args.cmd == "example":
        if args.name == "list" or args.name not in EXAMPLES:
            for k, (d, _) in EXAMPLES.items():
                print(f"  {k:8s} {d}")
            return 0 if args.name == "list" else 2
        EXAMPLES[args.name][1]()
        return 0
    if args.cmd == "datasets":
        import glmmix as gm

        for n in gm.datasets.names():
            print(f"  {n:15s} {gm.datasets.describe(n)}")
        return 0
    parser.print_help()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
