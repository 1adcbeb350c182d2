#!/usr/bin/env bash
# bench/attacks.sh - builds bench/attacks.c for every catmem build, runs issue 20's attacks on
# catmem (each backend, an arena with memory of its own and a small one) and, in the system
# build, on glibc, jemalloc, mimalloc and scudo, and writes bench/results/attacks.md: one table,
# attack by allocator, from this run.
#
# Usage: bench/attacks.sh [OUTPUT [RUNS]]
#   OUTPUT  default bench/results/attacks.md; "-": standard output
#   RUNS    how many times each build runs every attack (default 20): an outcome that depends on
#           the addresses of the run (glibc's safe-linking decodes a partly overwritten link to an
#           aligned address one time in 16) shows as counts
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/.." && pwd)"
out="${1:-${here}/results/attacks.md}"
runs="${2:-20}"
builds=(jemalloc jemalloc_strict runtime_bound runtime system) # system last: it adds the peers
work="$(mktemp -d "${TMPDIR:-/tmp}/catmem-attacks.XXXXXX")"
trap 'rm -rf "${work}"' EXIT

cd "${root}"
./tools/bazel build "${builds[@]/#///bench:attacks_}" >"${work}/build.log" 2>&1 ||
  { cat "${work}/build.log" >&2; exit 1; }
bin="$(./tools/bazel info bazel-bin 2>/dev/null)/bench"

# The peers run once, in the build whose plain malloc is glibc's (as in bench/run.sh's tables).
for ((run = 0; run < runs; run++)); do
  for b in "${builds[@]}"; do
    peers=()
    [[ "${b}" == system ]] && peers=(--peers)
    "${bin}/attacks_${b}" --tsv "${peers[@]}" >>"${work}/rows.tsv" 2>"${work}/said.txt"
    [[ "${b}" != system ]] || cp "${work}/said.txt" "${work}/peers.txt"
  done
done

# Allocator by attack, short cells (with counts where the runs differ); then what each child
# said or showed, once per outcome (addresses masked: they change from run to run).
sed -i 's/0x[0-9a-f]\{4,\}/0x…/g' "${work}/rows.tsv"
table="$(awk -F'\t' -v runs="${runs}" '
  function short(c) {
    if (c == "NOT STOPPED" || c == "partly") return "**" c "**"
    return c
  }
  !($2 in row) { row[$2] = ++nrow; name[nrow] = $2 }
  !($1 in col) { col[$1] = ++ncol; id[ncol] = $1 }
  !(($1, $2, $3) in said) { said[$1, $2, $3] = $4; nk[$1, $2]++; kind[$1, $2, nk[$1, $2]] = $3 }
  { count[$1, $2, $3]++ }
  END {
    printf "| allocator |"; for (c = 1; c <= ncol; c++) printf " %s |", id[c]; print ""
    printf "|---|"; for (c = 1; c <= ncol; c++) printf "---|"; print ""
    for (r = 1; r <= nrow; r++) {
      printf "| %s |", name[r]
      for (c = 1; c <= ncol; c++) {
        a = id[c]; n = name[r]; cell = ""
        for (k = 1; k <= nk[a, n]; k++) {
          cl = kind[a, n, k]
          cell = cell (k > 1 ? ", " : "") short(cl) (nk[a, n] > 1 ? " " count[a, n, cl] : "")
        }
        printf " %s |", cell
      }
      print ""
    }
    print ""
    print "What each child said (its first line on stderr) or showed, for each outcome:"
    print ""
    print "| allocator | attack | outcome | runs | what the child said or showed |"
    print "|---|---|---|---:|---|"
    for (r = 1; r <= nrow; r++)
      for (c = 1; c <= ncol; c++)
        for (k = 1; k <= nk[id[c], name[r]]; k++) {
          cl = kind[id[c], name[r], k]
          printf "| %s | %s | %s | %d of %d | %s |\n", name[r], id[c], cl,
            count[id[c], name[r], cl], runs, said[id[c], name[r], cl]
        }
  }' "${work}/rows.tsv")"

commit="$(git rev-parse --short HEAD)"
git diff --quiet HEAD -- bench core backends catmem.h || commit+=" (with uncommitted changes)"
version() { dpkg-query -W -f '${Version}' "$1" 2>/dev/null || echo '?'; }
{
  cat <<EOF
# Attacks on allocator metadata: catmem against glibc, jemalloc, mimalloc and scudo (issue 20)

\`bench/attacks.sh\` (${runs} runs of each build) at ${commit}, $(date -u '+%Y-%m-%d %H:%M UTC'),
on $(uname -sm), $(ldd --version | head -1 | sed 's/^ldd //'), jemalloc $(version libjemalloc2),
mimalloc $(version libmimalloc2.0), scudo from libclang-rt-14-dev $(version libclang-rt-14-dev)
(preloaded into a re-executed child, whose plain malloc is checked to be scudo's with dladdr);
a Bazel build as \`./tools/bazel test //...\` makes it (the programs at -O2).

In the system build: $(cat "${work}/peers.txt")

Each attack (\`bench/attacks.c\`, written once against an allocate / free / sized free / reset
interface) runs in a forked child; the cell is what the child observed. **NOT STOPPED**: the
attack's goal was reached (an allocation returned a block the program still holds, or the
forged address; a free wrote through a forged pointer; after a reset, the old addresses came
back in the old or reversed order). **partly**: after a reset some old addresses came back at
their old place. stopped: the process aborted with the message quoted below, or the addresses
after a reset were all new. refused: a call returned EINVAL and the goal was not reached.
crashed: killed by a signal other than an abort, without a message. no effect: the attack ran
to its end and its goal was not reached (the allocator keeps nothing where it wrote, or ignored
it). n/a: the allocator has no such operation (glibc 2.36 and scudo have no sized free; only
catmem's free names an arena). Without arenas, a reset is the program freeing what it held, in
the order allocated. catmem's runtime backend runs twice: bound to the jemalloc in the process,
and without one (falling back to the system engine); "small arena": one past the first 64 live
arenas (README, "many arenas"). \`tests/attacks_test.sh\` asserts, on every catmem build, each
outcome the README's bad-input table promises; what catmem does not stop yet is only here.

Attacks: A1 a 24-byte overflow of a 16-byte block x sets the link of the free block y after it
to a global; A2, A3 only its lowest byte or two (made x's: no address needed); B1 double free in
a row; B2 A-B-A; B3 p, q, p freed by another thread; B4 a stale free after a reset (without
arenas: after the block was freed and allocated again), B5 the same after the fourth reset; B6
a free into the wrong arena, then the owner's reset; B7 free(p + 16) of a 64-byte block; B8 a
16-byte block freed as 14,000 bytes; B9 p freed, then freed again by another thread, which
allocates 64 blocks and exits; B10 p freed by a thread that exits, then freed again; C1 one
read of a freed block's link gives the secret it is mixed with by XOR, and a link into a held
block is written with it; D1 (D2) 64 bytes after
(before) a 20,000-byte block forged with pointers to a global, then free; E1 16 blocks, a reset,
16 blocks: are they the old addresses in the old order? E2 the same at the fourth reset.

${table}
EOF
} >"${work}/attacks.md"
if [[ "${out}" == - ]]; then cat "${work}/attacks.md"; else cp "${work}/attacks.md" "${out}"; fi
