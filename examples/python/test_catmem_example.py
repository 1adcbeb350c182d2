"""pytest suite of the catmem_example extension module.

Run by run_tests.sh, which builds the module first and puts it on PYTHONPATH. The scenarios that
depend on the backend (or measure the whole process) run in a fresh interpreter, once without
LD_PRELOAD (catmem falls back to the system malloc) and once with Debian's jemalloc preloaded
(catmem binds to jemalloc's arenas): `python3 test_catmem_example.py <scenario>` prints its
findings as JSON.
"""
import errno
import json
import os
import subprocess
import sys
import threading
import time

import catmem_example as cm

JEMALLOC = "libjemalloc.so.2"

# RSS may grow this much over 1,000 App create/destroy cycles, after a warm-up of 100: Python's
# own allocator and the C library keep some pages for reuse, and jemalloc purges dirty pages
# after a delay (10 s by default) rather than at once. A leak of one request body per cycle
# (64 KiB) would be 60 MiB.
RSS_TOLERANCE_KIB = 4096
CYCLES = 1000
WARMUP = 100


def rss_kib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def serve_some(app, n=5, body_size=64 * 1024):
    """A few requests of a typical shape, one of them a scope spanning several calls."""
    for i in range(n):
        app.handle("/items/%d?page=2&sort=name" % i, ["Host: example.org", "Accept: */*"],
                   body_size=body_size)
    with app.request_scope():
        for i in range(n):
            app.handle("/batch/%d" % i, ["X-Batch: %d" % i], body_size=body_size // 4)


# ---- scenarios, run in a fresh interpreter -------------------------------------------------------


def scenario_backend():
    app = cm.App()
    serve_some(app)
    return {"name": cm.backend_name(), "info": cm.backend_info(), "app": app.stats(),
            "total": cm.stats()}


def scenario_cycles():
    """1,000 Apps created, used and destroyed, one after another."""
    samples = {}
    for cycle in range(CYCLES):
        app = cm.App()
        serve_some(app)
        if cycle % 2:
            app.close()  # half closed explicitly, half by the garbage collector
        del app
        if cycle + 1 == WARMUP:
            samples["warm"] = (rss_kib(), cm.stats())
    samples["end"] = (rss_kib(), cm.stats())
    return {"rss_warm": samples["warm"][0], "rss_end": samples["end"][0],
            "stats_warm": samples["warm"][1], "stats_end": samples["end"][1]}


def scenario_fork():
    """fork() from Python while another thread allocates through the module without the GIL."""
    stop = threading.Event()
    served = [0]

    def worker():
        app = cm.App()  # an App belongs to one thread at a time: the worker has its own
        while not stop.is_set():
            app.handle("/worker?n=%d" % served[0], ["X-Worker: 1"], body_size=256 * 1024)
            served[0] += 1

    thread = threading.Thread(target=worker)
    thread.start()
    main_app = cm.App()
    statuses = []
    try:
        while served[0] < 10:  # the worker is under way
            time.sleep(0.001)
        for _ in range(20):
            main_app.handle("/parent", body_size=1024)
            pid = os.fork()
            if pid == 0:
                # The child: only this thread exists. It allocates through a new App and the
                # parent's, resets both, and says by its exit status whether all went well.
                code = 1
                try:
                    child = cm.App()
                    with child.request_scope():
                        for i in range(100):
                            child.handle("/child/%d?x=1" % i, ["Host: child"], body_size=8192)
                        inside = child.stats()["allocated"]
                    main_app.handle("/child-uses-parent-app", body_size=100000)
                    child.reset()
                    main_app.reset()
                    ok = (inside > 0 and child.stats()["allocated"] == 0
                          and main_app.stats()["allocated"] == 0)
                    child.close()
                    code = 0 if ok else 2
                finally:
                    os._exit(code)  # no atexit handlers, no pytest teardown in the child
            _, status = os.waitpid(pid, 0)
            statuses.append(os.waitstatus_to_exitcode(status))
    finally:
        stop.set()
        thread.join()
    return {"statuses": statuses, "served": served[0], "backend": cm.backend_name()}


SCENARIOS = {"backend": scenario_backend, "cycles": scenario_cycles, "fork": scenario_fork}


def run_scenario(name, preload):
    """Runs a scenario in a new python3: with jemalloc preloaded, or with no LD_PRELOAD at all."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if preload:
        env["LD_PRELOAD"] = JEMALLOC
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), name], env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, "scenario %s failed:\n%s%s" % (name, proc.stdout, proc.stderr)
    return json.loads(proc.stdout.splitlines()[-1])


# ---- backend binding -------------------------------------------------------------------------


def test_backend_is_system_without_preload():
    result = run_scenario("backend", preload=False)
    assert result["name"] == "system"
    assert result["info"] == "no jemalloc in process: system malloc"
    assert result["total"]["backend_arenas"] is None
    # The system backend counts exactly: the warm chunk is all that is left after the requests.
    assert result["app"]["requests"] == 10
    assert result["app"]["nmalloc"] > 0


def test_backend_binds_to_preloaded_jemalloc():
    result = run_scenario("backend", preload=True)
    assert result["name"] == "jemalloc"
    assert result["info"].startswith("jemalloc 5.") and result["info"].endswith("found in process")
    # jemalloc's own arenas: it reports pages, and counts its arenas.
    assert result["app"]["active"] > 0
    assert result["total"]["backend_arenas"] > 5


def test_this_process_matches_its_environment():
    want = "jemalloc" if JEMALLOC in os.environ.get("LD_PRELOAD", "") else "system"
    assert cm.backend_name() == want


# ---- create/destroy cycles: flat RSS, bounded arenas ------------------------------------------------


def check_cycles(result):
    warm, end = result["stats_warm"], result["stats_end"]
    assert end["apps_created"] == CYCLES and end["apps_live"] == 0
    growth = result["rss_end"] - result["rss_warm"]
    assert growth <= RSS_TOLERANCE_KIB, "RSS grew by %d KiB over %d cycles" % (
        growth, CYCLES - WARMUP)
    # Released Apps give back their arena slot: ids (catmem's own, on every backend) stay where
    # the warm-up left them, and no backend arena is created after the warm-up.
    assert end["max_arena_id"] == warm["max_arena_id"]
    assert end["backend_arenas"] == warm["backend_arenas"]
    return growth


def test_cycles_system():
    result = run_scenario("cycles", preload=False)
    check_cycles(result)
    assert result["stats_end"]["max_arena_id"] < 64
    assert result["stats_end"]["allocated"] == 0  # the sum of catmem's arenas: all released


def test_cycles_jemalloc():
    result = run_scenario("cycles", preload=True)
    check_cycles(result)
    assert result["stats_end"]["backend_arenas"] is not None


# ---- fork while another thread allocates ------------------------------------------------------


def check_fork(result, backend):
    assert result["backend"] == backend
    assert result["statuses"] == [0] * 20
    assert result["served"] > 10


def test_fork_while_a_thread_allocates_system():
    check_fork(run_scenario("fork", preload=False), "system")


def test_fork_while_a_thread_allocates_jemalloc():
    check_fork(run_scenario("fork", preload=True), "jemalloc")


# ---- the module's interface, in this process ---------------------------------------------------


def test_handle_answers_and_resets_after_each_call():
    app = cm.App()
    response = app.handle("/a/b?x=1&y=2&&z=3", ["Host: h", "Accept: text/html"], body_size=10)
    # The body is "abcdefghij", and the sum covers one byte per page: "a".
    assert response == b"200 /a/b headers=2 header_bytes=24 params=3 body=10 sum=97"
    warm = app.stats()["allocated"]
    assert warm > 0  # the region's warm chunk
    for _ in range(200):
        app.handle("/again?q=1", ["Host: h"], body_size=1000)
    # Outside a scope every call is a request of its own: nothing accumulates.
    assert app.stats()["allocated"] == warm
    assert app.stats()["requests"] == 201
    # Any iterable of str will do for the headers.
    assert b" headers=2 " in app.handle("/", (h for h in ["A: 1", "B: 2"]))


def test_request_scope_resets_at_exit_and_nests():
    app = cm.App()
    app.handle("/warm", body_size=1000)
    warm = app.stats()["allocated"]
    with app.request_scope() as same:
        assert same is app
        for _ in range(50):
            app.handle("/in-scope", body_size=100 * 1024)  # large: blocks of their own
        during = app.stats()["allocated"]
        assert during >= warm + 50 * 100 * 1024
        with app.request_scope():
            app.handle("/nested", body_size=100 * 1024)
            assert app.stats()["allocated"] > during
        assert app.stats()["allocated"] == during  # the inner scope gave back only its own
    after = app.stats()["allocated"]
    assert after < during
    # The next request of the same shape fits in the chunk the reset kept: no growth.
    with app.request_scope():
        for _ in range(50):
            app.handle("/in-scope", body_size=100 * 1024)
    assert app.stats()["allocated"] <= during


def test_request_scope_resets_when_the_block_raises():
    app = cm.App()
    app.handle("/warm")
    warm = app.stats()["allocated"]
    try:
        with app.request_scope():
            app.handle("/big", body_size=1 << 20)
            raise KeyError("handler failed")
    except KeyError:
        pass
    assert app.stats()["allocated"] <= max(warm, 1 << 21)
    app.reset()
    assert app.stats()["allocated"] == 0


def test_reset_frees_everything_and_close_releases_the_arena():
    app = cm.App()
    serve_some(app)
    app.reset()
    assert app.stats()["allocated"] == 0
    assert app.handle("/after-reset").startswith(b"200 /after-reset")
    live = cm.stats()["apps_live"]
    app.close()
    assert app.closed and app.arena_name is None
    assert cm.stats()["apps_live"] == live - 1
    app.close()  # twice is fine
    for call in (app.stats, app.reset, app.request_scope, lambda: app.handle("/")):
        try:
            call()
        except ValueError:
            continue
        raise AssertionError("a closed App was usable")


def test_ten_thousand_apps_live_at_once():
    # An App per tenant: catmem has no cap on arenas, so 10,000 Apps live at once, each with an
    # arena of its own and a unique name; a released App's arena id goes to the next App.
    apps = []
    try:
        for _ in range(10000):
            apps.append(cm.App())
        for app in apps[::97]:
            assert app.handle("/tenant") is not None
        names = [a.arena_name for a in apps]
        assert len(set(names)) == len(names)
        freed = apps.pop()
        freed_id = freed.arena_id
        freed.close()
        apps.append(cm.App())
        assert apps[-1].arena_id == freed_id
    finally:
        for a in apps:
            a.close()


def test_an_app_is_used_by_one_thread_at_a_time():
    app = cm.App()
    stop = threading.Event()

    def worker():
        while not stop.is_set():
            app.handle("/slow", body_size=32 << 20)  # long enough to be caught without the GIL

    thread = threading.Thread(target=worker)
    thread.start()
    refused = False
    try:
        deadline = time.monotonic() + 10
        while not refused and time.monotonic() < deadline:
            try:
                app.handle("/other-thread")
            except RuntimeError as err:
                refused = "in use by another thread" in str(err)
            time.sleep(0)
    finally:
        stop.set()
        thread.join()
    assert refused
    assert app.handle("/alone").startswith(b"200 /alone")


def test_bad_arguments():
    app = cm.App()
    for bad in (lambda: app.handle(b"/bytes"), lambda: app.handle("/", [1]),
                lambda: app.handle("/", "Host: h"), lambda: app.handle("/", 42),
                lambda: app.handle("/", body_size=-1), lambda: cm.App("name")):
        try:
            bad()
        except (TypeError, ValueError):
            continue
        raise AssertionError("bad arguments accepted")
    # An absurd body fails cleanly (catmem refuses it), and the App works afterwards.
    try:
        app.handle("/", body_size=sys.maxsize)
    except MemoryError:
        pass
    else:
        raise AssertionError("an absurd body was served")
    assert app.handle("/fine").startswith(b"200 /fine")


if __name__ == "__main__":
    print(json.dumps(SCENARIOS[sys.argv[1]]()))
