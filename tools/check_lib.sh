# shellcheck shell=bash
# What the check scripts share (tools/check_cmake.sh, check_meson.sh, check_installed.sh,
# check_deb.sh source this file): failing with the script's name, and running a program that must
# report a given backend.

# fail MESSAGE...: "<script>: FAIL: MESSAGE" on stderr, exit status 1.
fail() {
  echo "$(basename "$0" .sh): FAIL: $*" >&2
  exit 1
}

# expect <backend> <command...>: runs the command; its output must name that backend.
expect() {
  local want="$1" out
  shift
  out="$("$@")" || fail "exit status $?: $*"
  [[ "${out}" == *"backend ${want}"* ]] || fail "expected backend ${want}: $*: ${out}"
  echo "  ok: ${out}"
}
