"""Builds catmem_example, a CPython extension module that vendors catmem (runtime backend).

    cd examples/python && /usr/bin/python3 setup.py build_ext --inplace

catmem.h, core/ and backends/ are used straight from the repository, two directories up.
"""
import glob
import os

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))

setup(
    name="catmem_example",
    version="0.1",
    description="A web framework's C core on catmem: an arena per App, a region per request",
    ext_modules=[
        Extension(
            "catmem_example",
            sources=["catmem_example.c"],
            include_dirs=[REPO],
            depends=[os.path.join(REPO, "catmem.h")]
            + glob.glob(os.path.join(REPO, "core", "*.h"))
            + glob.glob(os.path.join(REPO, "backends", "**", "*.h"), recursive=True),
            # Hidden: catmem's own symbols stay private to the module, so another extension
            # that vendors catmem too cannot bind to this copy (PyInit_ stays visible).
            extra_compile_args=["-std=c11", "-fvisibility=hidden", "-Wall", "-Wextra"],
            libraries=["dl", "pthread"],
        )
    ],
    py_modules=[],
)
