#!/usr/bin/env bash
# Makes sure that each COMMAND exists: as root, installs the Debian PACKAGE of those missing (as
# tools/bazel does for its list); otherwise names them and fails. The check scripts call it, so
# that each also runs alone on a fresh machine.
#
# Usage: tools/need_packages.sh CALLER COMMAND:PACKAGE...
set -euo pipefail

caller="$1"
shift
missing=""
for pair in "$@"; do
  command -v "${pair%%:*}" >/dev/null || missing="${missing} ${pair#*:}"
done
[[ -n "${missing}" ]] || exit 0
if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
  echo "${caller}: installing missing packages:${missing}" >&2
  apt-get update >&2
  # shellcheck disable=SC2086 # a list of package names
  DEBIAN_FRONTEND=noninteractive apt-get install -y ${missing} >&2
else
  echo "${caller}: missing packages. Install them with:" >&2
  echo "  sudo apt-get install -y${missing}" >&2
  exit 1
fi
