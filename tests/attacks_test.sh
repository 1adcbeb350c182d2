#!/usr/bin/env bash
# The README's bad-input table against bench/attacks.c (issue 20), so that neither drifts from
# the other: every row of the table that says catmem stops something is claimed below by the
# attacks that do it, and each of those attacks, run on every catmem build the row names (an
# arena with memory of its own and a small one), must end "stopped" (an abort with a message) or
# "refused" (EINVAL). A row that says there is nothing to corrupt claims its attacks as "not
# reached" (stopped, refused or no effect). An unclaimed row saying "stops" fails the test, as
# does a claim whose row is gone. What catmem does not stop yet is in bench/results/attacks.md,
# not here. Under a sanitizer (catmem's blocks are mallocs of their own there, and the
# sanitizer reports the attacks itself) nothing is asserted.
set -euo pipefail

runfiles="${TEST_SRCDIR:-.}/${TEST_WORKSPACE:-catmem}"
readme="${runfiles}/README.md"
rows="$(mktemp "${TEST_TMPDIR:-/tmp}/attacks.XXXXXX")"
trap 'rm -f "${rows}"' EXIT

if [[ "$("${runfiles}/bench/attacks_system" --sanitizer)" == yes ]]; then
  echo "attacks_test: built with a sanitizer: nothing asserted"
  exit 0
fi
for build in jemalloc jemalloc_strict runtime_bound system runtime; do
  "${runfiles}/bench/attacks_${build}" --tsv >>"${rows}"
done

fail=0
claimed=()
# claim <README row: its first cell, verbatim> <allocators: an ERE on the harness's names>
#       <attacks that must be stopped or refused> [<attacks whose goal must not be reached>]
claim() {
  local row="$1" who="$2" stopped="$3" unreached="${4:-}" id name cls seen=0
  claimed+=("${row}")
  if ! grep -qF -- "| ${row} |" "${readme}"; then
    echo "FAIL: the README has no bad-input row '${row}': update this test's claim" >&2
    fail=1
  fi
  while IFS=$'\t' read -r id name cls _; do
    [[ "${name}" =~ ^(${who})( small arena)?$ ]] || continue
    seen=1
    if [[ " ${stopped} " == *" ${id} "* && "${cls}" != stopped && "${cls}" != refused ]] ||
      [[ " ${unreached} " == *" ${id} "* && "${cls}" == "NOT STOPPED" ]]; then
      echo "FAIL: README '${row}': ${id} on ${name}: ${cls}" >&2
      fail=1
    else
      [[ " ${stopped} ${unreached} " != *" ${id} "* ]] || echo "ok: ${id} on ${name}: ${cls}"
    fi
  done <"${rows}"
  if ((seen == 0)); then
    echo "FAIL: README '${row}': no attack ran on '${who}'" >&2
    fail=1
  fi
}

jemalloc='catmem jemalloc|catmem runtime \(jemalloc\)'
system='catmem system|catmem runtime \(system\)'
# A1-A3: a free block's link overwritten, whole or in part; B1 double free in a row, B2 A-B-A,
# B3 by another thread, B7 inside a block, B9 the second free by another thread, B10 after the
# freeing thread exited; C1 a link forged with the key learnt by a read after
# free; D1, D2 a large block's neighbour overflowed, underflowed (bench/attacks.c).
claim 'double free (system backend)' "${system}" 'B1 B2 B3 B7 B9 B10'
# A block on the freeing thread's front cache (jemalloc) or on a small arena's free list (any
# engine).
claim "double free while catmem's list holds the block (jemalloc: the freeing thread's front \
cache; a small arena's free list), in a row or with other frees between" \
  "${jemalloc}|catmem system small arena|catmem runtime \(system\) small arena" 'B1 B2'
# jemalloc's free marks: B9 the second free by another thread, B10 after the freeing thread
# exited (its cache emptied into jemalloc, or into a small arena's lists).
claim "double free on jemalloc, the block elsewhere: in another thread's front cache, back in \
jemalloc (its thread exited), freed before a reset, or a large block" "${jemalloc}" 'B9 B10'
# B7 free(p + 16) of a 64-byte block: off its class's alignment (a small arena: its header).
# Not B8: a 16-byte block freed as 14,000 bytes is stopped unless it is 2 KiB-aligned (1 in 128).
claim 'a free inside a block, or with a size too large, on jemalloc' "${jemalloc}" 'B7'
claim 'a linear overflow into the next block; a forged free-list link (system backend)' \
  "${system}" 'A1 A2 A3 C1' 'D1 D2'
claim 'a forged or partly overwritten link in a jemalloc front cache' "${jemalloc}" 'A1 A2 A3 C1'
# B6: a block freed into the wrong arena (catmem_free, no size), the owner reset, the block
# allocated again. The free is refused (its own arena takes it) at every level but 0; a small
# arena's header always names its own.
claim 'free into the wrong arena' "${jemalloc}|catmem jemalloc \(CATMEM_SECURE 2\)" '' 'B6'

# Every row of the bad-input table that says catmem stops something is claimed above.
while IFS= read -r row; do
  known=0
  for c in "${claimed[@]}"; do [[ "${row}" == "${c}" ]] && known=1; done
  if ((known == 0)); then
    echo "FAIL: README bad-input row '${row}' says catmem stops it: claim its attacks here" >&2
    fail=1
  fi
done < <(sed -n '/^## Bad input/,/^## /p' "${readme}" |
  awk -F' [|] ' '/^[|] / && $2 ~ /stops/ { sub(/^[|] /, "", $1); print $1 }')

exit "${fail}"
