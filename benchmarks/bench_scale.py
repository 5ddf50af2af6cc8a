"""Benchmark: how autolik scales across processes. Analyser part: the profile of a memory-mapped
float32 .npy with 1 and 2 worker processes. (Training part, DDP with torchrun: a marked place below.)

Usage::

    python benchmarks/bench_scale.py [--mb 400 [1200 ...]] [--repeats 3] [--dir DIR]

For each size, writes a float32 .npy of about that many MB into a temporary directory (rows x 1,000 columns: 400
Gaussian, 300 Poisson counts stored as floats, 150 uniform [0,1], 150 on the 1/255 grid, as
bench_inspect.py), profiles it (``autolik.analysis.profiling.profile.profile``: the streaming statistics,
without the support classes and the recommendation) in this one process, alternating:

* 1 process, 1 thread (``workers=1, threads=1``);
* 1 process, its default threads (``workers=1``: the usable cores, up to 2);
* 2 processes of 1 thread each (``workers=2``: this one and one started worker; the default
  threads shared out), timed with the worker's start ('spawn') and the merge of the shards.

Each is timed ``--repeats`` times after one warm-up run (the file is in the page cache, as it is
right after it was written); the best run counts, and its CPU seconds (this process and its
workers) are reported beside it. Speed-ups are ratios against the 1-process runs measured in the
same process. Each file is deleted afterwards. Results go to benchmarks/results/bench_scale.md;
a section from the training part, when present, is kept.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_inspect  # noqa: E402  (the same generated file as the one-process benchmark)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's autolik, whatever else is installed

RESULTS = REPO / "benchmarks" / "results" / "bench_scale.md"
N_FEATURES = 1000
RUNS = (  # (label, workers, threads); threads None: the default for that many workers
    ("1 process, 1 thread", 1, 1),
    ("1 process, default threads", 1, None),
    ("2 processes, 1 thread each", 2, None),
)
TRAINING_MARK = "## Training part"
TRAINING_PLACEHOLDER = f"""{TRAINING_MARK}: DDP with torchrun (to be added)

Not measured yet. This section is kept when the analyser part is rerun: the training benchmark
(throughput of `autolik fit` under `torchrun --nproc_per_node N`, against one process) writes
here, with its command and the cores it used.
"""


def make_file(path: Path, mb: float, seed: int = 0) -> tuple[int, int]:
    """bench_inspect's float32 (n, 1000) .npy (Gaussian, Poisson, uniform and 1/255-grid columns) of
    about ``mb`` MB; returns its shape."""
    n = max(2, int(mb * 1e6 / (N_FEATURES * 4)))
    bench_inspect.make_file(path, (n + 0.5) * N_FEATURES * 4 / 1e9, seed)  # n rows (int() rounds down)
    return n, N_FEATURES


def cpu_seconds() -> float:
    """User + system CPU time of this process and of its finished workers."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def time_profile(path: Path, workers: int, threads: int | None) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one profile of ``path``; the CPU seconds of a started
    worker count once it has exited (profile() does not wait for it: this does, untimed)."""
    import multiprocessing

    from autolik.analysis.profiling.profile import profile

    c0, t0 = cpu_seconds(), time.perf_counter()
    prof = profile(path, workers=workers, threads=threads)
    seconds = time.perf_counter() - t0
    while multiprocessing.active_children():  # joins the workers that have exited
        time.sleep(0.01)
    assert prof.n_features == N_FEATURES
    return seconds, cpu_seconds() - c0


def analyser_part(path: Path, repeats: int) -> dict:
    """Per run kind, the (wall, CPU) seconds of each repeat (after one warm-up each), kinds alternated."""
    for _, w, t in RUNS:
        time_profile(path, w, t)  # warm-up: page cache, imports, the first spawn
    times = {label: [] for label, _, _ in RUNS}
    for _ in range(repeats):
        for label, w, t in RUNS:
            times[label].append(time_profile(path, w, t))
    return times


def _burn(seconds: float) -> tuple[float, float]:
    """Spin for ``seconds`` of CPU time; the wall clock at start and end."""
    t0, c0 = time.time(), time.process_time()
    while time.process_time() - c0 < seconds:
        pass
    return t0, time.time()


def cores_available(seconds: float = 0.5) -> float:
    """Cores two CPU-bound processes obtain together right now (2.0 on an idle 2-core machine):
    their CPU seconds over the wall time from the first start to the last end."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(_burn, [0.01, 0.01])  # started
        spans = pool.map(_burn, [seconds, seconds])
    return 2 * seconds / (max(e for _, e in spans) - min(s for s, _ in spans))


def idle_fraction(seconds: float = 1.0) -> float:
    """The machine's idle CPU fraction over ``seconds`` (from /proc/stat; NaN elsewhere)."""
    def read():
        with open("/proc/stat") as fh:
            v = [int(t) for t in fh.readline().split()[1:]]
        return v[3] + v[4], sum(v)
    try:
        i0, t0 = read()
        time.sleep(seconds)
        i1, t1 = read()
    except OSError:
        return float("nan")
    return (i1 - i0) / max(1, t1 - t0)


def header(args, loads: list[float], idle: list[float], cores: list[float]) -> list[str]:
    from autolik.analysis.profiling.kernel import backend
    from autolik.analysis.profiling.shards import usable_cores

    sizes = " ".join(f"{mb:g}" for mb in args.mb)
    return [
        "# bench_scale", "",
        "## Analyser part: the profile across processes", "",
        f"`python benchmarks/bench_scale.py --mb {sizes} --repeats {args.repeats}` on a machine with "
        f"{os.cpu_count()} CPU(s), {usable_cores(os.cpu_count() or 1)} usable by this process, shared with other "
        f"work (1-minute load average {min(loads):.1f}-{max(loads):.1f} while it ran; the machine's CPUs "
        f"{min(idle):.0%}-{max(idle):.0%} idle in the second before each size's runs, and two CPU-bound "
        f"processes started then obtained {min(cores):.2f}-{max(cores):.2f} cores together: the most a 2-process "
        "run could use). A float32 file of 1,000 "
        "columns per size, memory-mapped and in the page cache; `profile()` only (statistics, row sample, one-hot "
        f"check; no support classes or recommendation); {backend()} kernel. Best of {args.repeats} runs after a "
        "warm-up, the kinds alternated in one process. The 2-process runs are this process and one started "
        "worker ('spawn', started while this process reads the first chunk); their time includes the start "
        "and the merge, their CPU seconds the worker's. Cores obtained = CPU seconds / wall seconds: what "
        "the run actually got of the machine.", "",
        "| file | run | processes x threads | seconds | CPU s | cores obtained (CPU s / s) | rows/s | MB/s "
        "| speed-up vs 1 process, 1 thread | vs 1 process, default threads |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]


def rows_of_table(times: dict, n: int, d: int, size_mb: float) -> list[str]:
    from autolik.analysis.profiling.shards import thread_count

    best = {k: min(v) for k, v in times.items()}
    one_thread, one_default = best[RUNS[0][0]][0], best[RUNS[1][0]][0]
    lines = []
    from autolik.analysis.profiling.profile import CHUNK_BYTES, MIN_SHARED_CHUNKS
    from autolik.analysis.profiling.shards import chunk_grid

    shared = len(chunk_grid(n, CHUNK_BYTES // (d * 4))) - 2 >= MIN_SHARED_CHUNKS
    for label, w, t in RUNS:
        s, cpu = best[label]
        if w > 1 and not shared:
            label += " asked (too small to share: one process ran)"
        lines.append(f"| {n:,} x {d:,} ({size_mb:,.0f} MB) | {label} | {w} x {thread_count(t, w)} | {s:.2f} | "
                     f"{cpu:.2f} | {cpu / s:.2f} | {n / s:,.0f} | {size_mb / s:,.0f} | {one_thread / s:.2f}x | "
                     f"{one_default / s:.2f}x |")
    return lines


def footer(all_times: dict) -> list[str]:
    lines = ["", "All runs (wall seconds):"]
    for size, times in all_times.items():
        lines.append(f"* {size}: " + "; ".join(f"{k}: " + ", ".join(f"{s:.2f}" for s, _ in v) for k, v in times.items()))
    return lines + [""]


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
    ap.add_argument("--mb", type=float, nargs="+", default=[400.0], help="sizes of the generated .npy files (MB)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dir", default=None, help="where to write the temporary files (default: the system's temp dir)")
    args = ap.parse_args(argv)
    table, all_times, loads, idle, cores = [], {}, [], [], []
    for mb in args.mb:
        tmp = Path(tempfile.mkdtemp(prefix="autolik_bench_scale_", dir=args.dir))
        try:
            path = tmp / "scale.npy"
            print(f"writing ~{mb:g} MB ...", file=sys.stderr)
            n, d = make_file(path, mb)
            size_mb = path.stat().st_size / 1e6
            loads.append(os.getloadavg()[0])
            idle.append(idle_fraction())
            cores.append(cores_available())
            times = analyser_part(path, args.repeats)
            loads.append(os.getloadavg()[0])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        table += rows_of_table(times, n, d, size_mb)
        all_times[f"{size_mb:,.0f} MB"] = times
    lines = header(args, loads, idle, cores) + table + footer(all_times)
    write_results(lines, training_part(args))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
