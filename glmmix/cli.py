"""The ``glmmix`` command line.

    glmmix fit DATA.csv --formula "y ~ 0 + item | class(id) ~ 1" --classes 3 --family bernoulli
    glmmix fit wide.csv --wide --id pid --classes 3 --out results.json   # LCA of every other column
    glmmix summary results.json
    glmmix example lca        # worked examples on shipped data (``glmmix example list``)
    glmmix datasets           # shipped data sets
    glmmix datasets carcinoma --out carcinoma.csv   # one of them as a CSV file
    glmmix --version

Data are read from CSV (``.csv``, ``.tsv``, ``.txt``) and, where pandas can read them,
Parquet (``.parquet``) and Stata (``.dta``) files. Errors print one line and exit with
status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

from .exceptions import DataWarning, GlmmixError


class CommandError(GlmmixError):
    """A problem with the command line's arguments or files."""


def _example_lca():
    import glmmix as gm

    wide = gm.datasets.load("carcinoma")
    long = gm.wide_to_long(wide, id=None, verbose=True)
    print('>>> gm.fit("y ~ 0 + item | class(id) ~ 1", long, n_classes=3, family="bernoulli", seed=1)\n')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = gm.fit("y ~ 0 + item | class(id) ~ 1", long, n_classes=3, family="bernoulli", seed=1)
    text = str(res.summary())
    print(text)
    print("\nItem-response probabilities P(y = 1 | class) (poLCA's probs):")
    print(res.profile().round(4).to_string())
    print(f"\nReference (poLCA, Agresti's carcinoma data): log-likelihood -293.705; glmmix: {res.llf:.4f}")
    _warn_once(caught, text)


def _warn_once(caught, text: str) -> None:
    """Print each caught warning once on stderr, unless the summary ``text`` already says it."""
    shown = "".join(text.split())
    for msg in dict.fromkeys(str(w.message) for w in caught):
        if "".join(msg.split()) not in shown:
            print(f"warning: {msg}", file=sys.stderr)


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

_READERS = {".csv": "csv", ".txt": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet", ".dta": "stata"}


def read_data(path: str):
    """Read a data file by its extension (CSV, TSV, Parquet, Stata) into a DataFrame."""
    import pandas as pd

    p = Path(path)
    kind = _READERS.get(p.suffix.lower())
    if kind is None:
        raise CommandError(f"cannot read {path!r}: use a .csv, .tsv, .parquet or .dta file")
    if not p.is_file():
        raise CommandError(f"no such file: {path!r}")
    try:
        if kind in ("csv", "tsv"):
            with warnings.catch_warnings():
                # a row longer than the header: pandas would take its first field as a row label
                # (index_col=False) or drop the extra fields with a warning; a wrong table either way
                warnings.simplefilter("error", pd.errors.ParserWarning)
                df = pd.read_csv(p, sep="\t" if kind == "tsv" else ",", index_col=False)
        elif kind == "parquet":
            df = pd.read_parquet(p)
        else:
            df = pd.read_stata(p)
    except ImportError:
        raise CommandError(f"cannot read {path!r}: pandas reads {kind} files only with an optional package "
                           "(pip install pyarrow)") from None
    except pd.errors.ParserWarning:
        raise CommandError(f"cannot read {path!r} as {kind}: a row has more fields than the header") from None
    except Exception as exc:  # parser errors of pandas and its engines
        raise CommandError(f"cannot read {path!r} as {kind}: {str(exc).splitlines()[0] if str(exc) else exc!r}") from None
    if df.shape[0] == 0:
        raise CommandError(f"{path!r} has no rows")
    return df


def _default_formula(data, id_column) -> str:
    """The LCA of wide data without --formula: the response and item columns the reshaping
    makes are named ``y`` and ``item`` unless the data already have such columns."""
    taken = {str(c) for c in data.columns}
    y = next(n for n in ("y", "response", "value", "y_") if n not in taken)
    item = next(n for n in ("item", "variable", "item_") if n not in taken)
    return f"{y} ~ 0 + {item} | class({id_column or 'id'}) ~ 1"


def _starts(text: str | None):
    if text is None:
        return None
    if text.strip() == "auto":
        return "auto"
    try:
        vals = [int(v) for v in text.split(",")]
    except ValueError:
        raise CommandError(f"--starts must be auto, N or N,FINAL (integers), not {text!r}") from None
    if len(vals) not in (1, 2):
        raise CommandError(f"--starts must be auto, N or N,FINAL, not {text!r}")
    return vals[0] if len(vals) == 1 else tuple(vals)


def _measured_by(text: str, data):
    """``--measured-by COL`` or ``COL=V1,V2,...`` (the column's values in the order of the
    class variables): the column name, and the data with a text column made an ordered
    categorical in the order given (text has no order of its own)."""
    import pandas as pd

    col, _, order = (part.strip() for part in text.partition("="))
    if col not in data.columns:
        raise CommandError(f"--measured-by names column {col!r}, which is not in the data; columns are "
                           f"{list(data.columns)}")
    values = pd.unique(data[col].dropna())
    if not order:
        if pd.api.types.is_numeric_dtype(data[col]) or len(values) < 2:
            return col, data
        raise CommandError(f"--measured-by column {col!r} holds text ({', '.join(map(str, values[:4]))}): give "
                           f"the values in the order of the class variables, --measured-by "
                           f"{col}={','.join(map(str, values[:2]))}")
    levels = [v.strip() for v in order.split(",") if v.strip()]
    seen = data[col].dropna().astype(str)
    unknown = sorted(set(seen) - set(levels))
    if unknown or len(set(levels)) != len(levels):
        raise CommandError(f"--measured-by {text!r} must list every value of {col!r} once; "
                           + (f"not listed: {unknown[:5]}" if unknown else "a value repeats"))
    out = data.copy()
    out[col] = pd.Categorical(data[col].astype(str).where(data[col].notna()), categories=levels, ordered=True)
    return col, out


def _fit(args) -> int:
    import glmmix as gm

    if args.out:  # before the fit, not after it
        folder = Path(args.out).resolve().parent
        if not folder.is_dir():
            raise CommandError(f"cannot write {args.out!r}: no folder {str(folder)!r}")
    data = read_data(args.data)
    if args.items is not None and not args.items.strip(", "):
        raise CommandError("--items names no column: give the item columns, comma separated (A,B,C)")
    items = [s.strip() for s in args.items.split(",") if s.strip()] if args.items else None
    kw = {}
    if args.measured_by:
        args.measured_by, data = _measured_by(args.measured_by, data)
    for arg in ("weights", "cluster_weights", "freq_weights", "measured_by"):
        if getattr(args, arg):
            kw[arg] = getattr(args, arg)
    if args.wide or items:
        if items is None:  # every column but the id and the columns other options name
            named = {args.id, args.weights, args.cluster_weights, args.freq_weights, args.measured_by}
            items = [c for c in data.columns if c not in named]
        kw.update(items=items, id=args.id)
        formula = args.formula or _default_formula(data, args.id)
    else:
        if args.id:
            raise CommandError("--id names the unit column of wide data: add --wide (or --items)")
        if not args.formula:
            raise CommandError("--formula is required for long data (or give --wide for an LCA of wide data)")
        formula = args.formula
    starts = _starts(args.starts)
    if starts is not None:
        kw["starts"] = starts
    if args.link:
        kw["link"] = args.link
    for arg in ("thresholds_by", "sigma_by", "trials"):
        if getattr(args, arg):
            kw[arg] = getattr(args, arg)
    if args.progress:
        kw["progress"] = True
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = gm.fit(formula, data, n_classes=args.classes, family=args.family, seed=args.seed,
                     n_jobs=args.jobs, se=args.se, **kw)
    # warnings about the data and the model asked for (a binary outcome fitted as gaussian
    # because no --family was given) come first: they change how the summary is to be read
    first = [w for w in caught if issubclass(w.category, DataWarning)]
    _warn_once(first, "")
    caught = [w for w in caught if w not in first]
    text = str(res.summary())
    print(text)
    if res.n_classes > 1:
        try:
            prof = res.profile()
        except GlmmixError:
            prof = None
        if prof is not None:
            what = "category probabilities" if gm.families.get_family(res.family).thresholds else "expected outcome"
            print(f"\nClass profiles ({what} by class; se: delta method):")
            print(prof.round(4).to_string())
    _warn_once(caught, text)
    if args.out:
        try:
            res.save(args.out)
        except OSError as exc:
            raise CommandError(f"cannot write {args.out!r}: {exc.strerror or exc}") from None
        print(f"\nresults written to {args.out} (read them back with: glmmix summary {args.out})")
    return 0


def _summary(args) -> int:
    from .results import MixtureResults

    p = Path(args.results)
    if not p.is_file():
        raise CommandError(f"no such file: {args.results!r}")
    try:
        res = MixtureResults.load(p)
    except GlmmixError:
        raise
    except Exception as exc:  # not JSON, or JSON of another kind
        raise CommandError(f"{args.results!r} is not a glmmix results file ({type(exc).__name__})") from None
    print(res.summary())
    return 0


def _example(args) -> int:
    if args.name == "list":
        for k, (d, _) in EXAMPLES.items():
            print(f"  {k:8s} {d}")
        return 0
    if args.name not in EXAMPLES:
        raise CommandError(f"no example named {args.name!r}; examples are {', '.join(EXAMPLES)} "
                           "(glmmix example list)")
    EXAMPLES[args.name][1]()
    return 0


def _datasets(args) -> int:
    from . import datasets

    if args.name is None:
        if args.out:
            raise CommandError("--out needs the name of a data set (glmmix datasets carcinoma --out carcinoma.csv)")
        for n in datasets.names():
            print(f"  {n:15s} {datasets.describe(n)}")
        return 0
    if args.name not in datasets.names():
        raise CommandError(f"no data set named {args.name!r}; data sets are {', '.join(datasets.names())}")
    df = datasets.load(args.name)
    if not args.out:
        print(f"{args.name}: {datasets.describe(args.name)}\n{df.shape[0]} rows x {df.shape[1]} columns\n")
        print(df.head(10).to_string(index=False))
        return 0
    out = Path(args.out)
    if out.suffix.lower() not in (".csv", ".tsv", ".txt"):
        raise CommandError(f"cannot write {args.out!r}: use a .csv or .tsv file")
    if not out.resolve().parent.is_dir():
        raise CommandError(f"cannot write {args.out!r}: no folder {str(out.resolve().parent)!r}")
    df.to_csv(out, sep="\t" if out.suffix.lower() == ".tsv" else ",", index=False)
    print(f"{args.name} ({df.shape[0]} rows x {df.shape[1]} columns, as gm.datasets.load gives it) written to "
          f"{args.out}")
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error raises instead of printing usage and exiting."""

    def error(self, message):
        raise CommandError(message)


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(prog="glmmix", description="Multilevel mixture models by maximum likelihood.")
    parser.add_argument("--version", action="version", version=f"glmmix {__version__}")
    sub = parser.add_subparsers(dest="cmd", parser_class=_Parser)
    f = sub.add_parser("fit", help="fit a model to a data file and print its summary",
                       description="Fit a model to a data file (CSV; Parquet, Stata where pandas reads them) "
                                   "and print its summary.")
    f.add_argument("data", help="data file: long (one row per response) or, with --wide, one row per unit")
    f.add_argument("--formula", "-f", help='glmmix formula, e.g. "y ~ 0 + item | class(id) ~ 1"')
    f.add_argument("--classes", "-k", type=int, default=1, help="number of latent classes (default 1)")
    f.add_argument("--family", default=None,
                   help="bernoulli, binomial, poisson, gaussian or ordinal (default gaussian; a warning "
                        "when the outcome holds only 0s and 1s)")
    f.add_argument("--link", help="logit, probit, log or identity (default: the family's)")
    f.add_argument("--wide", action="store_true",
                   help="wide data: reshape with wide_to_long; without --formula, an LCA of every column but --id")
    f.add_argument("--id", help="with --wide: the unit column (default: rows are units)")
    f.add_argument("--items", help="with wide data: item columns, comma separated (default: all but --id)")
    f.add_argument("--seed", type=int, help="seed of the random starts")
    f.add_argument("--starts", help="random starts: auto (default: the adaptive search), N or N,FINAL")
    f.add_argument("--thresholds-by", dest="thresholds_by",
                   help="ordinal family: a column whose levels get their own thresholds (e.g. item)")
    f.add_argument("--sigma-by", dest="sigma_by",
                   help="gaussian family: a column whose levels get their own residual SDs (e.g. item)")
    f.add_argument("--trials", help="binomial family: the column with the numbers of trials")
    f.add_argument("--weights", help="column of sampling weights (constant within units): pseudo-ML with "
                                     "robust SEs")
    f.add_argument("--cluster-weights", dest="cluster_weights",
                   help="column of sampling weights of the clusters of a two-level model")
    f.add_argument("--freq-weights", dest="freq_weights",
                   help="column of frequency weights: how many identical units each row stands for (a table "
                        "of response patterns with their counts)")
    f.add_argument("--measured-by", dest="measured_by",
                   help="several class variables (LTA): the column whose values say which rows measure which "
                        "class variable, numbers in increasing order (e.g. time), or COL=V1,V2 for text "
                        "values in the order of the class variables (time=pre,post)")
    f.add_argument("--jobs", type=int, default=1, help="parallel starts (-1: all cores)")
    f.add_argument("--se", default="auto", choices=["auto", "ml", "robust", "none"],
                   help="standard errors (default auto: robust with sampling weights, ml otherwise)")
    f.add_argument("--progress", action="store_true", help="show a progress bar over the starts")
    f.add_argument("--out", "-o", help="write the results to this JSON file")
    f.set_defaults(run=_fit)
    s = sub.add_parser("summary", help="print the summary of saved results")
    s.add_argument("results", help="a JSON file written by 'glmmix fit --out' or MixtureResults.save")
    s.set_defaults(run=_summary)
    ex = sub.add_parser("example", help="run a worked example on shipped data")
    ex.add_argument("name", help="example name, or 'list'")
    ex.set_defaults(run=_example)
    d = sub.add_parser("datasets", help="list the shipped data sets, show one or write it to a file")
    d.add_argument("name", nargs="?", help="a data set: show its first rows, or write it with --out")
    d.add_argument("--out", "-o", help="write the data set (as gm.datasets.load gives it) to this CSV file")
    d.set_defaults(run=_datasets)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 success, 2 error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.cmd is None:
            parser.print_help()
            return 0
        return args.run(args)
    except GlmmixError as exc:
        print(f"glmmix: error: {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:  # an optional package is missing: say which, as for a user mistake
        print(f"glmmix: error: {exc}", file=sys.stderr)
        return 2
    except NotImplementedError as exc:
        print(f"glmmix: not implemented: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else 0
    except BrokenPipeError:  # the reader of the output stopped (glmmix fit ... | head): no message
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        print("glmmix: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a defect: still one line, with what to report
        print(f"glmmix: internal error ({type(exc).__name__}: {exc}); please report it with the command line",
              file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
