#!/usr/bin/env bash
# Builds the catmem_example extension module with Debian's python3 and setuptools into a
# temporary directory (nothing is written to the source tree) and runs its pytest suite with the
# same interpreter. Debian packages: python3-dev python3-setuptools python3-pytest.
# Exit status: pytest's (non-zero on any failure).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

# Debian's interpreter, not whichever python3 comes first in PATH (pyenv, a virtualenv): the
# module is built against its headers, and pytest comes from its packages.
python=/usr/bin/python3
work="$(mktemp -d "${TMPDIR:-/tmp}/catmem_example.XXXXXX")"
trap 'rm -rf "${work}"' EXIT

# -Werror here rather than in setup.py: users building the example keep going on a warning.
CFLAGS="-Werror" "${python}" setup.py --quiet build_ext \
  --build-lib "${work}/lib" --build-temp "${work}/build"

# The tests decide about LD_PRELOAD themselves (each scenario runs with and without jemalloc);
# this process runs without it. -p no:cacheprovider: no .pytest_cache in the tree.
env -u LD_PRELOAD PYTHONPATH="${work}/lib" PYTHONDONTWRITEBYTECODE=1 \
  "${python}" -m pytest -p no:cacheprovider -q "$@" test_catmem_example.py
