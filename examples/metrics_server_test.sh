#!/usr/bin/env bash
# Drives examples/metrics_server.c as a scraper would: starts it on a free loopback port for
# three requests, scrapes /metrics twice and checks each answer (status, OpenMetrics content
# type, accepted by Debian's python3-prometheus-client parser, the server's arenas in it, its
# counters moving between scrapes), asks for a page that does not exist (404), and expects the
# server to exit by itself, with status 0.
# Usage: examples/metrics_server_test.sh METRICS_SERVER   (Bazel passes the binary)
set -euo pipefail

server="${1:?usage: $0 METRICS_SERVER}"
out="$(mktemp "${TEST_TMPDIR:-/tmp}/metrics_server.XXXXXX")"
"${server}" 0 3 >"${out}" &
pid=$!
trap 'kill "${pid}" 2>/dev/null || true; rm -f "${out}"' EXIT

# The first line names the address once the server listens.
url=""
for _ in $(seq 100); do
  url="$(sed -n 's|^metrics_server: \(http://127\.0\.0\.1:[0-9]*/metrics\)$|\1|p' "${out}")"
  [[ -n "${url}" ]] && break
  kill -0 "${pid}" 2>/dev/null || { echo "FAIL: the server stopped" >&2; exit 1; }
  sleep 0.1
done
[[ -n "${url}" ]] || { echo "FAIL: the server did not say where it listens" >&2; exit 1; }

# Debian's interpreter, which has the parser: not whichever python3 comes first in PATH.
/usr/bin/python3 - "${url}" <<'PY'
import sys
import urllib.error
import urllib.request

from prometheus_client.openmetrics.parser import text_string_to_metric_families

url = sys.argv[1]
TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"


def scrape():
    req = urllib.request.Request(url, headers={"Accept": TYPE})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200, r.status
        assert r.headers["Content-Type"] == TYPE, r.headers["Content-Type"]
        body = r.read().decode("utf-8")
    families = {f.name: f for f in text_string_to_metric_families(body)}
    return {(s.name, s.labels.get("arena", ""), s.labels.get("parent", "")): s.value
            for f in families.values() for s in f.samples}


first = scrape()
for arena in ("sessions", "templates", "request"):
    assert ("catmem_arena_allocated_bytes", arena, "") in first, arena
assert first[("catmem_arena_allocated_bytes", "templates", "")] >= 512 * 136
assert first[("catmem_arena_limit_bytes", "sessions", "")] == 1 << 20
# The arena serving this scrape is in it: anonymous (#<id>), under the built-in request arena.
serving = [k[1] for k in first if k[0] == "catmem_arena_allocated_bytes" and k[2] == "request"]
assert len(serving) == 1 and serving[0].startswith("#"), serving
assert first[("catmem_arena_allocated_bytes", serving[0], "request")] > 8192  # the head buffer
assert first[("catmem_arenas", "", "")] == 8  # 5 built-in, sessions, templates, the request

second = scrape()
key = ("catmem_arena_allocations_total", "sessions", "")
assert second[key] > first[key], (first[key], second[key])
# The first request's arena was released; the second's has its id, so no new series.
assert [k[1] for k in second if k[0] == "catmem_arena_allocated_bytes" and k[2] == "request"] \
    == serving

try:
    urllib.request.urlopen(url.replace("/metrics", "/nothing"), timeout=10)
    raise AssertionError("/nothing answered")
except urllib.error.HTTPError as e:
    assert e.code == 404, e.code
print("metrics_server_test: two scrapes parsed, %d series each" % len(second))
PY

# Three requests answered: the server exits by itself.
for _ in $(seq 100); do
  kill -0 "${pid}" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "${pid}" 2>/dev/null; then
  echo "FAIL: the server is still running after its three requests" >&2
  exit 1
fi
status=0
wait "${pid}" || status=$?
trap 'rm -f "${out}"' EXIT
[[ "${status}" == 0 ]] || { echo "FAIL: the server exited with ${status}" >&2; exit 1; }
echo "metrics_server_test: OK"
