"""Builds the optional C kernel of the profiling pass (autolik/analysis/profiling/_kernel.c).

Everything else is declared in pyproject.toml. The extension is optional: where no C compiler is
available the build continues without it and autolik uses the numpy implementation of the same
pass (slower; see autolik/analysis/profiling/kernel.py).
"""
import sys

from setuptools import Extension, setup

# -ffp-contract=off: the lattice test must round exactly as numpy does (no fused multiply-add);
# -fno-trapping-math lets the compiler vectorise the selects that skip NaN and inf.
ARGS = [] if sys.platform == "win32" else ["-O3", "-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math"]

setup(ext_modules=[Extension("autolik.analysis.profiling._kernel", ["autolik/analysis/profiling/_kernel.c"],
                             extra_compile_args=ARGS, optional=True)])
