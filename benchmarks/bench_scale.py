"""Benchmark: how autolik scales across processes. Analyser part: the profile of a memory-mapped
float32 .npy with 1 and 2 worker processes. (Training part, DDP with torchrun: a marked place below.)

Usage::

    python benchmarks/bench_scale.py [--mb 400] [--repeats 3] [--dir DIR]

Writes a float32 .npy of about --mb MB into a temporary directory (rows x 1,000 columns: 400
Gaussian, 300 Poisson counts stored as floats, 150 uniform [0,1], 150 on the 1/255 grid, as
bench_inspect.py), profiles it (``autolik.analysis.profile.profile``: the streaming statistics,
without the support classes and the recommendation) in this one process, alternating:

* 1 process, 1 thread (``workers=1, threads=1``);
* 1 process, its default threads (``workers=1``: the usable cores, up to 2);
* 2 worker processes of 1 thread each (``workers=2``: the default threads shared out), timed
  with their start ('spawn') and the merge of their shards.

Each is timed ``--repeats`` times after one warm-up run (the file is in the page cache, as it is
right after it was written); the best run counts. Speed-ups are ratios against the 1-process runs
measured in the same process. The file is deleted afterwards. Results go to
benchmarks/results/bench_scale.md; a section from the training part, when present, is kept.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's autolik, whatever else is installed

RESULTS = REPO / "benchmarks" / "results" / "bench_scale.md"
N_FEATURES = 1000
RUNS = (  # (label, workers, threads); threads None: the default for that many workers
    ("1 process, 1 thread", 1, 1),
    ("1 process, default threads", 1, None),
    ("2 worker processes, 1 thread each", 2, None),
)
TRAINING_MARK = "## Training part"
TRAINING_PLACEHOLDER = f"""{TRAINING_MARK}: DDP with torchrun (to be added)

Not measured yet. This section is kept when the analyser part is rerun: the training benchmark
(throughput of `autolik fit` under `torchrun --nproc_per_node N`, against one process) writes
here, with its command and the cores it used.
"""


def make_file(path: Path, mb: float, seed: int = 0) -> tuple[int, int]:
    """A float32 (n, 1000) .npy of about ``mb`` MB, written 20,000 rows at a time."""
    n = max(2, int(mb * 1e6 / (N_FEATURES * 4)))
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, N_FEATURES))
    rng = np.random.default_rng(seed)
    rates = np.linspace(0.5, 40, 300)
    for r in range(0, n, 20000):
        m = min(20000, n - r)
        out[r:r + m, :400] = rng.standard_normal((m, 400), dtype=np.float32) * 3 + 10
        out[r:r + m, 400:700] = rng.poisson(rates, (m, 300))
        out[r:r + m, 700:850] = rng.random((m, 150), dtype=np.float32)
        out[r:r + m, 850:] = rng.integers(0, 256, (m, 150)) / np.float32(255)
    out.flush()
    del out
    return n, N_FEATURES


def time_profile(path: Path, workers: int, threads: int | None) -> float:
    from autolik.analysis.profile import profile

    t0 = time.perf_counter()
    prof = profile(path, workers=workers, threads=threads)
    seconds = time.perf_counter() - t0
    assert prof.n_features == N_FEATURES
    return seconds


def analyser_part(path: Path, repeats: int) -> dict:
    """Best seconds per run kind (after one warm-up each), runs alternated."""
    for _, w, t in RUNS:
        time_profile(path, w, t)  # warm-up: page cache, imports, the first spawn
    times = {label: [] for label, _, _ in RUNS}
    for _ in range(repeats):
        for label, w, t in RUNS:
            times[label].append(time_profile(path, w, t))
    return times


def report(times: dict, n: int, d: int, size_mb: float, args) -> list[str]:
    from autolik.analysis.kernel import backend
    from autolik.analysis.shards import thread_count, usable_cores

    best = {k: min(v) for k, v in times.items()}
    one_thread, one_default, two = (best[label] for label, _, _ in RUNS)
    cores = usable_cores(os.cpu_count() or 1)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        "# bench_scale", "",
        "## Analyser part: the profile across processes", "",
        f"`python benchmarks/bench_scale.py --mb {args.mb:g} --repeats {args.repeats}` on a machine with "
        f"{os.cpu_count()} CPU(s), {cores} usable by this process, shared with other work (1-minute load "
        f"average {load:.1f} when the table was written). File: {n:,} x {d:,} float32 = {size_mb:.0f} MB, "
        f"memory-mapped and in the page cache; `profile()` only (statistics, row sample, one-hot check; no "
        f"support classes or recommendation); {backend()} kernel. Best of {args.repeats} runs after a warm-up, "
        "the kinds alternated in one process; the 2-process time includes starting the workers ('spawn') "
        "and merging their shards.", "",
        "| run | processes x threads | seconds | rows/s | MB/s | speed-up vs 1 process, 1 thread "
        "| vs 1 process, default threads |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, w, t in RUNS:
        s = best[label]
        threads = thread_count(t, w)
        lines.append(f"| {label} | {w} x {threads} | {s:.2f} | {n / s:,.0f} | {size_mb / s:,.0f} | "
                     f"{one_thread / s:.2f}x | {one_default / s:.2f}x |")
    lines += ["", f"Speed-up of 2 worker processes: **{one_thread / two:.2f}x** against one process on one "
              f"thread (1 core -> 2 cores), **{one_default / two:.2f}x** against one process with its default "
              f"{thread_count(None, 1)} threads (2 cores either way: the fused pass is already split between "
              "threads; the processes also split the per-chunk work the threads leave to one thread: central "
              "moments, monotonicity, distinct sets).", "",
              "All runs (seconds): " + "; ".join(f"{k}: " + ", ".join(f"{s:.2f}" for s in v) for k, v in times.items()),
              ""]
    return lines


# ----------------------------------------------------------------------------------------------
# TRAINING PART (DDP with torchrun): to be added by the training work, not implemented here.
# It should time `autolik fit` under `torchrun --nproc_per_node N` against one process, and return
# the lines of its section (starting with TRAINING_MARK); main() writes them after the analyser's.
# ----------------------------------------------------------------------------------------------
def training_part(args) -> list[str] | None:
    return None


def write_results(analyser: list[str], training: list[str] | None) -> None:
    """The analyser's section, then the training section: new, else the one already in the file, else a placeholder."""
    kept = TRAINING_PLACEHOLDER
    if RESULTS.exists():
        old = RESULTS.read_text()
        if TRAINING_MARK in old:
            kept = old[old.index(TRAINING_MARK):]
    text = "\n".join(analyser) + "\n" + ("\n".join(training) + "\n" if training else kept)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=400.0, help="size of the generated .npy (MB)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dir", default=None, help="where to write the temporary file (default: the system's temp dir)")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="autolik_bench_scale_", dir=args.dir))
    try:
        path = tmp / "scale.npy"
        print(f"writing ~{args.mb:g} MB ...", file=sys.stderr)
        n, d = make_file(path, args.mb)
        size_mb = path.stat().st_size / 1e6
        times = analyser_part(path, args.repeats)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    lines = report(times, n, d, size_mb, args)
    write_results(lines, training_part(args))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
