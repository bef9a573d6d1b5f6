"""Progress bars and stage messages for long computations.

``progress=None`` (the default everywhere) shows a tqdm bar only in interactive sessions
(the Python prompt, IPython, Jupyter); ``True`` always (tqdm needed), ``False`` never.
"""

from __future__ import annotations

import importlib.util
import sys
import time


def interactive() -> bool:
    """True at the Python prompt, in IPython and in Jupyter."""
    if hasattr(sys, "ps1") or sys.flags.interactive:
        return True
    ip = sys.modules.get("IPython")
    return bool(ip is not None and getattr(ip, "get_ipython", lambda: None)() is not None)


def progress_bar(iterable, total: int, desc: str, progress: bool | None):
    """``iterable`` wrapped in a tqdm bar when ``progress`` asks for one (see the module doc)."""
    if progress is None:
        progress = interactive()
        if progress:
            if importlib.util.find_spec("tqdm") is None:
                return iterable
    if not progress:
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:
        raise ImportError("progress=True needs tqdm: pip install tqdm") from None
    return tqdm(iterable, total=total, desc=desc, leave=False)


#: parallel jobs that take less than this (seconds; the first job is timed) run one after
#: another instead: sending a job and its data to a worker process costs more than such a job
#: (an LCA start of a few milliseconds took 5x longer with two workers than without)
PARALLEL_MIN_SECONDS = 0.25


def run_jobs(fn, args_list: list, n_jobs: int = 1, desc: str = "", progress: bool | None = None) -> list:
    """``[fn(*a) for a in args_list]``, in parallel with joblib when ``n_jobs != 1`` and the
    jobs are not too cheap for it (:data:`PARALLEL_MIN_SECONDS`), in order, with a progress bar
    over the finished jobs. Every job computes the same whether it runs here or in a worker."""
    if n_jobs == 1 or len(args_list) <= 1:
        return [fn(*a) for a in progress_bar(args_list, len(args_list), desc, progress)]
    try:
        from joblib import Parallel, delayed
    except ImportError as exc:  # pragma: no cover - optional dependency
        raise ImportError("parallel runs need joblib: pip install 'glmmix[parallel]'") from exc

    def parallel(items):
        return Parallel(n_jobs=n_jobs, return_as="generator")(delayed(fn)(*a) for a in items)

    def timed_first():  # the first job here; the rest in the workers only if it was not cheap
        t0 = time.perf_counter()
        yield fn(*args_list[0])
        rest = args_list[1:]
        yield from ((fn(*a) for a in rest) if time.perf_counter() - t0 < PARALLEL_MIN_SECONDS else parallel(rest))

    # threads, or a cluster asked for (parallel_config(backend="dask")): every job there
    gen = timed_first() if _process_backend() else parallel(args_list)
    return list(progress_bar(gen, len(args_list), desc, progress))


def _process_backend() -> bool:
    """Whether joblib's active backend runs jobs in local worker processes (loky, the default,
    or multiprocessing), where cheap jobs do not pay for their dispatch."""
    from joblib.parallel import LokyBackend, MultiprocessingBackend, get_active_backend

    return isinstance(get_active_backend()[0], (LokyBackend, MultiprocessingBackend))


def say(verbose: bool, text: str) -> None:
    """Print one stage message when ``verbose``."""
    if verbose:
        print(f"glmmix: {text}", flush=True)
