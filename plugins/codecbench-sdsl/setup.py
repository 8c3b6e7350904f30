"""Builds ``codecbench_sdsl._sdsl``, the pybind11 extension over the system's sdsl-lite.

Needs sdsl-lite 2.1.x headers and library (Debian/Ubuntu: ``apt-get install libsdsl-dev g++``;
it pulls libdivsufsort) and a C++17 compiler. ``SDSL_PREFIX`` points at another installation
(``$SDSL_PREFIX/include/sdsl``, ``$SDSL_PREFIX/lib/libsdsl.so``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pybind11.setup_helpers import Pybind11Extension, build_ext
from setuptools import setup

prefix = os.environ.get("SDSL_PREFIX")
include_dirs = [os.path.join(prefix, "include")] if prefix else []
library_dirs = [os.path.join(prefix, "lib")] if prefix else []
candidates = [Path(d) for d in include_dirs] + [Path("/usr/include"), Path("/usr/local/include")]
if not any((d / "sdsl" / "wavelet_trees.hpp").is_file() for d in candidates):
    sys.exit(
        "codecbench-sdsl: sdsl-lite headers not found (sdsl/wavelet_trees.hpp); install them first, "
        "e.g. `apt-get install libsdsl-dev g++`, or set SDSL_PREFIX"
    )

ext = Pybind11Extension(
    "codecbench_sdsl._sdsl",
    ["src/_sdsl.cpp"],
    cxx_std=17,
    include_dirs=include_dirs,
    library_dirs=library_dirs,
    runtime_library_dirs=library_dirs,
    libraries=["sdsl", "divsufsort", "divsufsort64"],
    extra_compile_args=["-O3", "-DNDEBUG", "-Wno-deprecated-declarations"],
)

setup(ext_modules=[ext], cmdclass={"build_ext": build_ext})
