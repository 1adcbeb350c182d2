#!/usr/bin/env bash
# Checks that catmem works as an external repository: builds and runs a tiny
# program in a fresh consumer workspace that depends on @catmem//:catmem
# through local_repository, then removes the workspace and its Bazel output.
#
# Usage: tools/check_consumer.sh [CATMEM_DIR [MAIN_C]]
#   CATMEM_DIR  catmem checkout to consume (default: this one)
#   MAIN_C      C file to build as the consumer's main (default: a program
#               that includes "catmem.h" and prints "consumer ok")
set -euo pipefail

catmem="$(cd "${1:-$(dirname "${BASH_SOURCE[0]}")/..}" && pwd)"
main_c="${2:-}"
consumer="$(mktemp -d "${TMPDIR:-/tmp}/catmem-consumer.XXXXXX")"
bazel="${catmem}/tools/bazel"

cleanup() {
  # --expunge drops this throwaway workspace's output base and stops its
  # server, so repeated checks leave nothing behind.
  (cd "${consumer}" && "${bazel}" clean --expunge >/dev/null 2>&1) || true
  rm -rf "${consumer}"
}
trap cleanup EXIT

cat >"${consumer}/WORKSPACE" <<EOF
workspace(name = "catmem_consumer")

local_repository(
    name = "catmem",
    path = "${catmem}",
)
EOF

# Bazel reads only the consumer's own .bazelrc, never catmem's, so the
# consumer imports the offline rc that catmem's tools/bazel writes (with
# absolute paths, hence usable from any workspace). A consumer with network
# and a newer Bazel needs none of this; try-import is then a no-op.
cat >"${consumer}/.bazelrc" <<EOF
try-import ${catmem}/tools/offline/offline.bazelrc
EOF

cat >"${consumer}/BUILD.bazel" <<'EOF'
cc_binary(
    name = "consumer",
    srcs = ["main.c"],
    deps = ["@catmem//:catmem"],
)
EOF

if [[ -n "${main_c}" ]]; then
  cp "${main_c}" "${consumer}/main.c"
else
  cat >"${consumer}/main.c" <<'EOF'
#include <stdio.h>

#include "catmem.h"

int main(void) {
    char *s;
    if (catmem_init() != 0) return 1;
    s = catmem_strdup(catmem_arena_get(CATMEM_REQUEST), "consumer ok");
    if (s == NULL) return 1;
    printf("%s (%s)\n", s, catmem_backend_name());
    catmem_arena_reset(catmem_arena_get(CATMEM_REQUEST));
    catmem_shutdown();
    return 0;
}
EOF
fi

# catmem's wrapper, run from the consumer directory: it installs missing
# packages and (re)writes the offline rc, then runs Bazel in the consumer.
cd "${consumer}"
"${bazel}" build //:consumer
out="$("${bazel}" run //:consumer)"
echo "${out}"
if [[ -z "${main_c}" && "${out}" != *"consumer ok (jemalloc)"* ]]; then
  echo "check_consumer: unexpected output" >&2
  exit 1
fi
echo "check_consumer: OK (${catmem})"
