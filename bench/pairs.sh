#!/usr/bin/env bash
# bench/pairs.sh - instructions a free + allocation pair of catmem's inline paths
# (bench/pairs.c), by free (catmem_free, _free_sized, _free_any), backend and CATMEM_SECURE
# level, under callgrind (exact, so one run each). Prints a markdown table.
#
# Usage: bench/pairs.sh [BACKENDS [LEVELS]]   default: "jemalloc system" "0 1 2"
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/.." && pwd)"
backends="${1:-jemalloc system}"
levels="${2:-0 1 2}"
pairs=150000
work="$(mktemp -d "${TMPDIR:-/tmp}/catmem-pairs.XXXXXX")"
trap 'rm -rf "${work}"' EXIT

header="| backend | free |"
rule="|---|---|"
for l in ${levels}; do header+=" CATMEM_SECURE ${l} |"; rule+="---:|"; done
echo "${header}"
echo "${rule}"
for b in ${backends}; do
  lib=()
  [[ "${b}" == jemalloc ]] && lib=(-ljemalloc)
  for l in ${levels}; do
    gcc -O2 -I"${root}" -DCATMEM_BACKEND_"${b^^}" -DCATMEM_SECURE="${l}" \
      "${here}/pairs.c" -o "${work}/pairs_${b}_${l}" "${lib[@]}" -lpthread -ldl
  done
  funcs="free sized any"
  [[ "${b}" == jemalloc ]] && funcs+=" malloc" # plain jemalloc's malloc + free, the peer
  for f in ${funcs}; do
    name=catmem_free
    [[ "${f}" == free ]] || name+="_${f}"
    [[ "${f}" == malloc ]] && name="jemalloc's malloc + free (no catmem)"
    row="| ${b} | ${name} |"
    for l in ${levels}; do
      valgrind --tool=callgrind --callgrind-out-file="${work}/cg.out" \
        --toggle-collect="measured_${f}" "${work}/pairs_${b}_${l}" "${f}" "${pairs}" \
        >/dev/null 2>"${work}/vg.log"
      ir="$(awk '/^summary:/ { print $2 }' "${work}/cg.out")"
      row+="$(awk -v ir="${ir}" -v n="${pairs}" 'BEGIN { printf " %.1f |", ir / n }')"
    done
    echo "${row}"
  done
done
