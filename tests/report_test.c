/* catmem_report with many arenas. Past CATMEM_REPORT_ARENAS live arenas the table and the JSON
   object show the arenas with the most allocated bytes in order, one row summing the rest, and
   the children per parent (the parents bounded too): every figure is compared with what
   catmem_arena_stats and catmem_arena_parent say. Up to the cut-off the output is the full
   list, as CATMEM_REPORT_ALL gives it past the cut-off too (and CATMEM_REPORT_ALL=1 at exit);
   bad flags and a stream that cannot be written. The JSON is read back with cJSON. Run on every
   backend variant, and with every arena small (small_report_test). */
#include "catmem.h"
#include "testing.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include <cmocka.h>

/* Many times the cut-off, with more parents than it (on jemalloc all but the first
   CATMEM_OWN_ARENAS are small: a catmem_arena_stats of an arena with a jemalloc arena of its
   own refreshes every jemalloc arena's statistics, and the test reads every arena's). */
#define ARENAS 5000
#define SMALL_PARENTS (CATMEM_REPORT_ARENAS + 50) /* children of big_named, parents themselves */
#define CAP           CATMEM_REPORT_ARENAS

#define KEPT_MAX (CATMEM_KIND_COUNT + ARENAS + 1)
#include "kept.h"

/* ---- files ---- */

/* The process's own files: CTest and meson test run the variants at once, without TEST_TMPDIR. */
static const char *tmp_file(char *buf, size_t size, const char *name) {
    const char *dir = getenv("TEST_TMPDIR");
    snprintf(buf, size, "%s/catmem-%d-%s", dir != NULL ? dir : "/tmp", (int)getpid(), name);
    return buf;
}

static char *slurp(FILE *f) {
    long size;
    char *text;
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    size = ftell(f);
    assert_true(size >= 0);
    rewind(f);
    text = (char *)malloc((size_t)size + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)size, f), (size_t)size);
    text[size] = '\0';
    return text;
}

/* The report, whole, as a string to free. */
static char *report(int flags) {
    FILE *f = tmpfile();
    char *text;
    assert_non_null(f);
    assert_int_equal(catmem_report(f, flags), 0);
    text = slurp(f);
    fclose(f);
    return text;
}

/* ---- what the C side knows of every live arena ---- */

/* Statistics read right after a report: nothing allocates in catmem's arenas in between, so
   they are the report's. Read once for the many arenas (test_json_past_the_cut_off), which the
   later reports show again: on jemalloc each read costs time that grows with the arenas. */
static void read_stats(void) {
    unsigned i;
    for (i = 0; i < nlive; i++) assert_int_equal(catmem_arena_stats(live[i].a, &live[i].st), 0);
}

static int by_bytes(const void *a, const void *b) {
    const kept *x = *(const kept *const *)a, *y = *(const kept *const *)b;
    if (x->st.allocated != y->st.allocated) return x->st.allocated > y->st.allocated ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int by_id_order(const void *a, const void *b) {
    const kept *x = *(const kept *const *)a, *y = *(const kept *const *)b;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* The arenas in the order the report must show them: most allocated bytes, then lower id. */
static const kept **ranked(void) {
    static const kept *order[sizeof live / sizeof live[0]];
    unsigned i;
    for (i = 0; i < nlive; i++) order[i] = &live[i];
    qsort(order, nlive, sizeof order[0], by_bytes);
    return order;
}

/* The children per parent, as the report must show them. */
typedef struct parent_count {
    int id; /* -1: the top level */
    unsigned children;
    size_t allocated;
} parent_count;

static parent_count parents[CATMEM_KIND_COUNT + ARENAS + 2];
static unsigned nparents;

static int by_children(const void *a, const void *b) {
    const parent_count *x = (const parent_count *)a, *y = (const parent_count *)b;
    if (x->children != y->children) return x->children > y->children ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static void count_parents(void) {
    unsigned i, j;
    nparents = 0;
    for (i = 0; i < nlive; i++) {
        for (j = 0; j < nparents && parents[j].id != live[i].parent_id; j++) {}
        if (j == nparents) {
            parents[nparents].id = live[i].parent_id;
            parents[nparents].children = 0;
            parents[nparents++].allocated = 0;
        }
        parents[j].children++;
        parents[j].allocated += live[i].st.allocated;
    }
    qsort(parents, nparents, sizeof parents[0], by_children);
}

static const kept *by_id(int id) {
    unsigned i;
    for (i = 0; i < nlive; i++)
        if (live[i].id == id) return &live[i];
    fail_msg("no live arena %d", id);
    return NULL;
}

/* ---- the many arenas ---- */

/* A tree with parents of every sort: a named and an anonymous top-level arena with many
   children, a built-in one, SMALL_PARENTS named children of the first with a few children each
   (so the first's count has no grandchildren), and top-level arenas; about a third named. Sizes
   repeat (ties go to the lower id), and every fiftieth arena has a larger block of a size of its
   own; some arenas have cleanups or limits. */
static void make_many(unsigned n) {
    catmem_arena *big_named, *big_anon, *small[SMALL_PARENTS], *request;
    unsigned i, k, every = 0, first = 0;
    keep_builtins();
    request = catmem_arena_get(CATMEM_REQUEST);
    big_named = keep(catmem_arena_create("rep-big"));
    big_anon = keep(catmem_arena_create(NULL));
    for (k = 0; k < SMALL_PARENTS; k++) {
        char name[32];
        snprintf(name, sizeof name, "rep-small-%u", k);
        small[k] = keep(catmem_arena_create_child(big_named, name));
    }
    for (i = 0; nlive < CATMEM_KIND_COUNT + n; i++) {
        catmem_arena *parent = NULL, *a;
        unsigned blocks = 1 + (i * 7919u) % 200;
        char name[32];
        switch (i % 10) {
        case 0:
        case 1: parent = big_named; break;
        case 2: parent = big_anon; break;
        case 3: parent = request; break;
        case 4:
        case 5:
        case 6: parent = small[every++ % SMALL_PARENTS]; break;
        case 7: parent = small[first++ % 37]; break; /* the first ones get more children */
        default: break;                              /* the top level */
        }
        snprintf(name, sizeof name, "rep-%u", i);
        a = parent != NULL ? catmem_arena_create_child(parent, i % 3 ? NULL : name)
                           : catmem_arena_create(i % 3 ? NULL : name);
        keep(a);
        while (blocks-- > 0) assert_non_null(catmem_alloc(a, 32));
        if (i % 50 == 0) assert_non_null(catmem_alloc(a, 20000 + 100 * (size_t)i));
        if (i % 11 == 0) add_cleanup(a);
        if (i % 13 == 0) assert_int_equal(catmem_arena_set_limit(a, 1 << 20), 0);
    }
}

/* The arenas live beyond the built-ins: scaled down under Valgrind, still enough for every
   small parent to have children (3 arenas in 10 go to them in turn), so that the parents pass
   their cut-off too. */
static unsigned many(void) {
    long n = test_scaled(ARENAS), least = 4 * SMALL_PARENTS + SMALL_PARENTS + 2;
    return (unsigned)(n < least ? least : n > ARENAS ? ARENAS : n);
}

/* ---- JSON ---- */

static double num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v)) fail_msg("\"%s\" is not a number", key);
    return v->valuedouble;
}

static void check_json_stats(const cJSON *o, const catmem_stats *st) {
    assert_true(num(o, "allocated") == (double)st->allocated);
    assert_true(num(o, "active") == (double)st->active);
    assert_true(num(o, "resident") == (double)st->resident);
    assert_true(num(o, "mapped") == (double)st->mapped);
    assert_true(num(o, "nmalloc") == (double)st->nmalloc);
    assert_true(num(o, "ndalloc") == (double)st->ndalloc);
    assert_true(num(o, "peak") == (double)st->peak);
    assert_true(num(o, "limit") == (double)st->limit);
}

/* The name of arena k, or null when anonymous. */
static void check_json_name(const cJSON *o, const char *key, const kept *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    const char *name = catmem_arena_name(k->a);
    if (name[0] == '\0')
        assert_true(cJSON_IsNull(v));
    else
        assert_true(cJSON_IsString(v) && strcmp(v->valuestring, name) == 0);
}

/* rows, one per arena, in the order of want[0, n). */
static void check_json_rows(const cJSON *rows, const kept *const *want, unsigned n) {
    const cJSON *row;
    unsigned i = 0;
    assert_true(cJSON_IsArray(rows));
    assert_int_equal(cJSON_GetArraySize(rows), n);
    cJSON_ArrayForEach(row, rows) {
        const kept *k = want[i++];
        assert_int_equal((int)num(row, "id"), k->id);
        check_json_name(row, "name", k);
        if (k->parent_id < 0)
            assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(row, "parent_id")));
        else
            assert_int_equal((int)num(row, "parent_id"), k->parent_id);
        assert_int_equal((unsigned)num(row, "cleanups"), k->cleanups);
        check_json_stats(row, &k->st);
    }
}

/* What the rest of the arenas sum to (limits are not summed). */
static void sum_rest(const kept *const *order, unsigned from, catmem_stats *sum,
                     unsigned *cleanups) {
    unsigned i;
    memset(sum, 0, sizeof *sum);
    *cleanups = 0;
    for (i = from; i < nlive; i++) {
        sum->allocated += order[i]->st.allocated;
        sum->active += order[i]->st.active;
        sum->resident += order[i]->st.resident;
        sum->mapped += order[i]->st.mapped;
        sum->nmalloc += order[i]->st.nmalloc;
        sum->ndalloc += order[i]->st.ndalloc;
        sum->peak += order[i]->st.peak;
        *cleanups += order[i]->cleanups;
    }
}

/* ---- the two totals ---- */

/* catmem_all_arenas_stats and the reports' "all arenas": every live arena's catmem_arena_stats
   (as last read) added up, the peaks too; no limit. */
static void all_arenas_sum(catmem_stats *sum) {
    static const kept *all[sizeof live / sizeof live[0]];
    unsigned i, cleanups;
    for (i = 0; i < nlive; i++) all[i] = &live[i];
    sum_rest(all, 0, sum, &cleanups);
}

static void assert_same_stats(const catmem_stats *got, const catmem_stats *want) {
    assert_int_equal(got->allocated, want->allocated);
    assert_int_equal(got->active, want->active);
    assert_int_equal(got->resident, want->resident);
    assert_int_equal(got->mapped, want->mapped);
    assert_int_equal(got->nmalloc, want->nmalloc);
    assert_int_equal(got->ndalloc, want->ndalloc);
    assert_int_equal(got->peak, want->peak);
    assert_int_equal(got->limit, want->limit);
}

static int on_system(void) { return strcmp(catmem_backend_name(), "system") == 0; }

/* The backend's total as a report gave it, against catmem_total_stats read right after: on the
   system backend catmem's arenas, exact, and the sum over them; on jemalloc the whole process,
   which stdio's mallocs move between the two readings: at least catmem's arenas. Its calls are
   catmem's in the live arenas (a release starts its slot's counts again), on every backend. */
static void check_backend_total(const catmem_stats *got, const catmem_stats *sum) {
    catmem_stats total;
    assert_int_equal(catmem_total_stats(&total), 0);
    assert_int_equal(got->peak, 0);
    assert_int_equal(got->limit, 0);
    assert_int_equal(got->nmalloc, sum->nmalloc);
    assert_int_equal(got->ndalloc, sum->ndalloc);
    if (on_system()) {
        assert_same_stats(got, &total);
        assert_true(got->allocated == sum->allocated && got->active == sum->active);
        assert_true(got->resident == sum->resident && got->mapped == sum->mapped);
    } else {
        assert_true(got->allocated >= sum->allocated && got->active >= sum->active);
        assert_true(got->resident >= sum->resident && got->mapped >= sum->mapped);
    }
}

static void json_stats(const cJSON *o, catmem_stats *st) {
    st->allocated = (size_t)num(o, "allocated");
    st->active = (size_t)num(o, "active");
    st->resident = (size_t)num(o, "resident");
    st->mapped = (size_t)num(o, "mapped");
    st->nmalloc = (uint64_t)num(o, "nmalloc");
    st->ndalloc = (uint64_t)num(o, "ndalloc");
    st->peak = (size_t)num(o, "peak");
    st->limit = (size_t)num(o, "limit");
}

/* The JSON object's totals: "all_arenas" the sum, "backend_total" the backend's, and "total",
   its name before there were two, the same. */
static void check_json_totals(const cJSON *doc) {
    const cJSON *backend = cJSON_GetObjectItemCaseSensitive(doc, "backend_total");
    catmem_stats sum, got;
    all_arenas_sum(&sum);
    check_json_stats(cJSON_GetObjectItemCaseSensitive(doc, "all_arenas"), &sum);
    assert_true(cJSON_IsObject(backend));
    assert_true(cJSON_Compare(backend, cJSON_GetObjectItemCaseSensitive(doc, "total"), 1));
    json_stats(backend, &got);
    check_backend_total(&got, &sum);
}

static void check_json_parents(const cJSON *doc) {
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(doc, "parents"), *p;
    const cJSON *other = cJSON_GetObjectItemCaseSensitive(doc, "parents_other");
    unsigned i = 0, children = 0;
    size_t allocated = 0;
    assert_true(nparents > CAP); /* the parents' cut-off is tested too */
    assert_int_equal((unsigned)num(doc, "parents_total"), nparents);
    assert_int_equal(cJSON_GetArraySize(list), CAP);
    cJSON_ArrayForEach(p, list) {
        const parent_count *want = &parents[i++];
        if (want->id < 0) {
            assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(p, "id")));
            assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(p, "name")));
        } else {
            assert_int_equal((int)num(p, "id"), want->id);
            check_json_name(p, "name", by_id(want->id));
        }
        assert_int_equal((unsigned)num(p, "children"), want->children);
        assert_true(num(p, "allocated") == (double)want->allocated);
    }
    for (i = CAP; i < nparents; i++) {
        children += parents[i].children;
        allocated += parents[i].allocated;
    }
    assert_int_equal((unsigned)num(other, "parents"), nparents - CAP);
    assert_int_equal((unsigned)num(other, "children"), children);
    assert_true(num(other, "allocated") == (double)allocated);
}

/* ---- text ---- */

/* The next line of *text, its newline cut; NULL at the end. */
static char *next_line(char **text) {
    char *line = *text, *nl;
    if (*line == '\0') return NULL;
    nl = strchr(line, '\n');
    assert_non_null(nl); /* every line ends */
    *nl = '\0';
    *text = nl + 1;
    return line;
}

/* A name as the table shows it: #<id> for an anonymous arena. */
static const char *text_name(const kept *k, char buf[32]) {
    const char *name = catmem_arena_name(k->a);
    if (name[0] != '\0') return name;
    snprintf(buf, 32, "#%d", k->id);
    return buf;
}

/* A row of the arena table: the name, id and parent, the figures, the cleanups. */
static void check_text_row(const char *line, const kept *k) {
    char name[64], parent[64], limit[32], buf[32];
    int id;
    size_t allocated, active, resident, mapped, peak;
    unsigned long long nmalloc, ndalloc;
    unsigned cleanups;
    assert_int_equal(sscanf(line, "%63s %d %63s %zu %zu %zu %zu %llu %llu %zu %31s %u", name, &id,
                            parent, &allocated, &active, &resident, &mapped, &nmalloc, &ndalloc,
                            &peak, limit, &cleanups),
                     12);
    assert_int_equal(id, k->id);
    assert_string_equal(name, text_name(k, buf));
    assert_string_equal(parent, k->parent_id < 0 ? "-" : text_name(by_id(k->parent_id), buf));
    assert_true(allocated == k->st.allocated && active == k->st.active);
    assert_true(resident == k->st.resident && mapped == k->st.mapped && peak == k->st.peak);
    assert_true(nmalloc == k->st.nmalloc && ndalloc == k->st.ndalloc);
    if (k->st.limit == 0)
        assert_string_equal(limit, "-");
    else
        assert_true(strtoull(limit, NULL, 10) == k->st.limit);
    assert_int_equal(cleanups, k->cleanups);
}

/* The summed row: "(<count> others)", no id, no parent, the sums, no limit. */
static void check_text_other(const char *line, unsigned count, const catmem_stats *sum,
                             unsigned cleanups) {
    size_t allocated, active, resident, mapped, peak;
    unsigned long long nmalloc, ndalloc;
    unsigned n, c;
    char limit[32];
    assert_int_equal(sscanf(line, "(%u others) - %zu %zu %zu %zu %llu %llu %zu %31s %u", &n,
                            &allocated, &active, &resident, &mapped, &nmalloc, &ndalloc, &peak,
                            limit, &c),
                     10);
    assert_int_equal(n, count);
    assert_true(allocated == sum->allocated && active == sum->active);
    assert_true(resident == sum->resident && mapped == sum->mapped && peak == sum->peak);
    assert_true(nmalloc == sum->nmalloc && ndalloc == sum->ndalloc);
    assert_string_equal(limit, "-");
    assert_int_equal(c, cleanups);
}

/* A total's row: its figures after the label, no limit, nothing more. */
static void scan_text_total(const char *figures, catmem_stats *st) {
    unsigned long long nmalloc, ndalloc;
    char limit[32], rest[8];
    memset(st, 0, sizeof *st);
    assert_int_equal(sscanf(figures, "%zu %zu %zu %zu %llu %llu %zu %31s %7s", &st->allocated,
                            &st->active, &st->resident, &st->mapped, &nmalloc, &ndalloc,
                            &st->peak, limit, rest),
                     8);
    st->nmalloc = nmalloc;
    st->ndalloc = ndalloc;
    assert_string_equal(limit, "-");
}

/* The table's two totals, each named for what it is: the rows "all arenas" (the sum over the
   live arenas) and "backend <name>" (catmem_total_stats), then a line saying what each is. */
static void check_text_totals(char **text) {
    char *line = next_line(text), want[160];
    const char *name = catmem_backend_name();
    catmem_stats sum, got;
    all_arenas_sum(&sum);
    assert_memory_equal(line, "all arenas ", 11);
    scan_text_total(line + 11, &got);
    assert_same_stats(&got, &sum);
    line = next_line(text);
    snprintf(want, sizeof want, "backend %s ", name);
    assert_memory_equal(line, want, strlen(want));
    scan_text_total(line + strlen(want), &got);
    check_backend_total(&got, &sum);
    assert_string_equal(next_line(text),
                        "all arenas: catmem_all_arenas_stats, the sum over catmem's live arenas");
    snprintf(want, sizeof want, "backend %s: catmem_total_stats, %s", name,
             on_system() ? "catmem's arenas"
                         : "the whole process (every block jemalloc serves, catmem's or not)");
    assert_string_equal(next_line(text), want);
}

static void check_text_parents(char **text) {
    char want[256], name[64], buf[32], *line;
    unsigned i, children, others = 0, n;
    size_t allocated, others_bytes = 0;
    int id;
    assert_string_equal(next_line(text), "");
    snprintf(want, sizeof want,
             "children per parent, the top level included: the %u parents with the most of %u; "
             "the other %u summed in one row",
             CAP, nparents, nparents - CAP);
    assert_string_equal(next_line(text), want);
    assert_memory_equal(next_line(text), "parent ", 7);
    for (i = 0; i < CAP; i++) {
        line = next_line(text);
        if (parents[i].id < 0) {
            assert_int_equal(sscanf(line, "(top level) - %u %zu", &children, &allocated), 2);
        } else {
            assert_int_equal(sscanf(line, "%63s %d %u %zu", name, &id, &children, &allocated), 4);
            assert_int_equal(id, parents[i].id);
            assert_string_equal(name, text_name(by_id(id), buf));
        }
        assert_int_equal(children, parents[i].children);
        assert_true(allocated == parents[i].allocated);
    }
    for (i = CAP; i < nparents; i++) {
        others += parents[i].children;
        others_bytes += parents[i].allocated;
    }
    line = next_line(text);
    assert_int_equal(sscanf(line, "(%u others) - %u %zu", &n, &children, &allocated), 3);
    assert_int_equal(n, nparents - CAP);
    assert_int_equal(children, others);
    assert_true(allocated == others_bytes);
    assert_null(next_line(text));
}

/* ---- the tests ---- */

/* CATMEM_REPORT=<path>.json at exit: a summary past the cut-off, every arena with
   CATMEM_REPORT_ALL=1 (not with 0). Each in a child that has not called catmem yet. */
static void exit_report(const char *all, int listed) {
    char path[512], *text;
    FILE *f;
    cJSON *doc;
    int status;
    unsigned total = CATMEM_KIND_COUNT + CAP + 50;
    pid_t pid;
    tmp_file(path, sizeof path, "exit.json");
    unlink(path);
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        unsigned i;
        setenv("CATMEM_REPORT", path, 1);
        if (all != NULL) setenv("CATMEM_REPORT_ALL", all, 1);
        for (i = CATMEM_KIND_COUNT; i < total; i++)
            if (catmem_arena_create(NULL) == NULL) _exit(3);
        exit(0); /* atexit handlers run */
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    f = fopen(path, "r");
    assert_non_null(f);
    text = slurp(f);
    fclose(f);
    doc = cJSON_Parse(text);
    assert_non_null(doc);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "arenas")), listed);
    if (listed < (int)total)
        assert_int_equal((unsigned)num(doc, "arenas_total"), total);
    else
        assert_null(cJSON_GetObjectItemCaseSensitive(doc, "arenas_total"));
    cJSON_Delete(doc);
    free(text);
    unlink(path);
}

/* Must run first: the children must start without catmem initialised. */
static void test_exit_report_all_from_the_environment(void **state) {
    (void)state;
    assert_false(catmem_is_initialized());
    exit_report(NULL, CAP);
    exit_report("0", CAP);
    exit_report("1", CATMEM_KIND_COUNT + CAP + 50);
}

/* CATMEM_REPORT's "%p" is the process's id, "%%" a "%": a process and the child it forks each
   write their own report (a path without them: the one that exits last overwrites the other). */
static void test_exit_report_path_names_each_process(void **state) {
    char pattern[512], mine[600], its[600], *text;
    int status, i;
    pid_t pid, child = 0;
    int fds[2];
    (void)state;
    assert_false(catmem_is_initialized());
    tmp_file(pattern, sizeof pattern, "exit.%p.%%.json");
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        pid_t grandchild;
        setenv("CATMEM_REPORT", pattern, 1);
        if (catmem_arena_create("parent") == NULL) _exit(3);
        fflush(NULL);
        if ((grandchild = fork()) < 0) _exit(3);
        if (grandchild == 0) {
            if (catmem_arena_create("child") == NULL) _exit(3);
            exit(0); /* its report, at its exit */
        }
        if (write(fds[1], &grandchild, sizeof grandchild) != (ssize_t)sizeof grandchild ||
            waitpid(grandchild, &status, 0) != grandchild || status != 0)
            _exit(3);
        exit(0);
    }
    close(fds[1]);
    assert_int_equal(read(fds[0], &child, sizeof child), (ssize_t)sizeof child);
    close(fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    for (i = 0; i < 2; i++) {
        char *at, *path = i == 0 ? mine : its;
        FILE *f;
        snprintf(path, sizeof mine, "%s", pattern);
        at = strstr(path, "%p.%%");
        assert_non_null(at);
        snprintf(at, sizeof mine - (size_t)(at - path), "%ld.%%.json",
                 (long)(i == 0 ? pid : child));
        f = fopen(path, "r");
        assert_non_null(f);
        text = slurp(f);
        fclose(f);
        assert_non_null(strstr(text, i == 0 ? "\"parent\"" : "\"child\""));
        if (i == 0) assert_null(strstr(text, "\"child\"")); /* not overwritten by the child's */
        free(text);
        unlink(path);
    }
}

/* The report up to the backend's total (on jemalloc the whole process, which stdio's own mallocs
   move between two reports). */
static char *without_total(char *text, const char *total) {
    char *end = strstr(text, total);
    assert_non_null(end);
    *end = '\0';
    return text;
}

/* Up to CATMEM_REPORT_ARENAS live arenas the report is the full list, in id order, as it has
   always been (and as CATMEM_REPORT_ALL writes it); one arena more and it is a summary. */
static void test_up_to_the_cut_off_every_arena_is_listed(void **state) {
    char *text, *all;
    cJSON *doc;
    (void)state;
    keep_builtins();
    while (nlive < CAP) assert_non_null(catmem_alloc(keep(catmem_arena_create(NULL)), 100));
    text = without_total(report(CATMEM_REPORT_TEXT), "\nbackend ");
    all = without_total(report(CATMEM_REPORT_TEXT | CATMEM_REPORT_ALL), "\nbackend ");
    assert_string_equal(text, all);
    assert_null(strstr(text, "largest of"));
    free(text);
    free(all);
    text = report(CATMEM_REPORT_JSON);
    doc = cJSON_Parse(text);
    assert_non_null(doc);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "arenas")), CAP);
    assert_null(cJSON_GetObjectItemCaseSensitive(doc, "arenas_total"));
    assert_null(cJSON_GetObjectItemCaseSensitive(doc, "parents"));
    cJSON_Delete(doc);
    all = without_total(report(CATMEM_REPORT_JSON | CATMEM_REPORT_ALL), "\"backend_total\"");
    assert_string_equal(without_total(text, "\"backend_total\""), all);
    free(text);
    free(all);

    keep(catmem_arena_create(NULL));
    text = report(CATMEM_REPORT_TEXT);
    assert_non_null(strstr(text, "largest of"));
    free(text);
    release_own();
}

/* Past the cut-off: the JSON object's summary, every figure checked. */
static void test_json_past_the_cut_off(void **state) {
    const kept **order;
    char *text;
    cJSON *doc, *other;
    catmem_stats sum;
    unsigned cleanups;
    (void)state;
    make_many(many());
    text = report(CATMEM_REPORT_JSON);
    read_stats();
    order = ranked();
    count_parents();
    doc = cJSON_Parse(text);
    assert_non_null(doc);
    assert_int_equal((unsigned)num(doc, "arenas_total"), nlive);
    assert_int_equal((unsigned)num(doc, "shown"), CAP);
    check_json_rows(cJSON_GetObjectItemCaseSensitive(doc, "arenas"), order, CAP);
    other = cJSON_GetObjectItemCaseSensitive(doc, "other");
    sum_rest(order, CAP, &sum, &cleanups);
    assert_int_equal((unsigned)num(other, "arenas"), nlive - CAP);
    assert_int_equal((unsigned)num(other, "cleanups"), cleanups);
    check_json_stats(other, &sum);
    check_json_parents(doc);
    check_json_totals(doc);
    cJSON_Delete(doc);
    free(text);
}

/* Past the cut-off: the table's summary, line by line (the arenas and their figures: the last
   test's). */
static void test_text_past_the_cut_off(void **state) {
    const kept **order;
    char want[256], *text, *at;
    catmem_stats sum;
    unsigned i, cleanups;
    (void)state;
    text = report(CATMEM_REPORT_TEXT);
    order = ranked();
    at = text;
    assert_memory_equal(next_line(&at), "catmem report: backend ", 23);
    snprintf(want, sizeof want,
             "%u largest of %u arenas by allocated bytes; the other %u summed in one row "
             "(CATMEM_REPORT_ALL lists every arena)",
             CAP, nlive, nlive - CAP);
    assert_string_equal(next_line(&at), want);
    assert_memory_equal(next_line(&at), "arena ", 6);
    for (i = 0; i < CAP; i++) check_text_row(next_line(&at), order[i]);
    sum_rest(order, CAP, &sum, &cleanups);
    check_text_other(next_line(&at), nlive - CAP, &sum, cleanups);
    check_text_totals(&at);
    check_text_parents(&at);
    free(text);
}

/* CATMEM_REPORT_ALL: every arena, in id order, in each format (the arenas and their figures:
   test_json_past_the_cut_off's). */
static void test_all_lists_every_arena(void **state) {
    const kept *order[sizeof live / sizeof live[0]];
    char want[64], *text, *at, *line;
    unsigned i, series = 0;
    cJSON *doc;
    (void)state;
    text = report(CATMEM_REPORT_JSON | CATMEM_REPORT_ALL);
    for (i = 0; i < nlive; i++) order[i] = &live[i];
    qsort(order, nlive, sizeof order[0], by_id_order);
    doc = cJSON_Parse(text);
    assert_non_null(doc);
    assert_null(cJSON_GetObjectItemCaseSensitive(doc, "arenas_total"));
    assert_null(cJSON_GetObjectItemCaseSensitive(doc, "other"));
    check_json_rows(cJSON_GetObjectItemCaseSensitive(doc, "arenas"), order, nlive);
    check_json_totals(doc);
    cJSON_Delete(doc);
    free(text);

    text = report(CATMEM_REPORT_TEXT | CATMEM_REPORT_ALL);
    at = text;
    next_line(&at);
    assert_memory_equal(next_line(&at), "arena ", 6);
    for (i = 0; i < nlive; i++) check_text_row(next_line(&at), order[i]);
    check_text_totals(&at);
    assert_null(next_line(&at));
    free(text);

    text = report(CATMEM_REPORT_OPENMETRICS | CATMEM_REPORT_ALL);
    snprintf(want, sizeof want, "\ncatmem_arenas %u\n", nlive);
    assert_non_null(strstr(text, want));
    assert_non_null(strstr(text, "\ncatmem_arenas_other 0\n"));
    for (at = text; (line = next_line(&at)) != NULL;)
        series += strncmp(line, "catmem_arena_allocated_bytes{", 29) == 0;
    assert_int_equal(series, nlive);
    free(text);
}

/* catmem_all_arenas_stats: the sum of catmem_arena_stats over the live arenas (the peaks too,
   no limit), on every backend; catmem's arenas are catmem_total_stats too on the system
   backend, a part of it on jemalloc (the whole process). Thousands of arenas, small ones too,
   with limits (test_json_past_the_cut_off's). */
static void test_all_arenas_stats_is_the_sum_of_the_arenas(void **state) {
    catmem_stats all, sum, total;
    (void)state;
    errno = 0;
    assert_int_equal(catmem_all_arenas_stats(&all), 0);
    assert_int_equal(errno, 0); /* a control function leaves errno alone */
    read_stats();
    all_arenas_sum(&sum);
    assert_same_stats(&all, &sum);
    assert_int_equal(all.limit, 0);
    assert_true(all.allocated > 0 && all.nmalloc > 0 && all.peak >= all.allocated);
    assert_int_equal(catmem_total_stats(&total), 0);
    check_backend_total(&total, &all);
    assert_int_equal(catmem_all_arenas_stats(NULL), EINVAL);
}

static void test_bad_flags_and_unwritable_stream(void **state) {
    FILE *f;
    (void)state;
    assert_int_equal(catmem_report(stdout, 0x200), EINVAL);
    assert_int_equal(catmem_report(stdout, CATMEM_REPORT_ALL | 3), EINVAL);
    assert_int_equal(catmem_report(stdout, CATMEM_REPORT_ALL | 0x10000), EINVAL);
    assert_int_equal(catmem_report(stdout, -1), EINVAL);
    assert_int_equal(catmem_report(NULL, CATMEM_REPORT_TEXT | CATMEM_REPORT_ALL), EINVAL);
    f = fopen("/dev/null", "r"); /* a stream that cannot be written */
    assert_non_null(f);
    assert_true(nlive > CAP); /* the summary's path */
    errno = 0;
    assert_int_equal(catmem_report(f, CATMEM_REPORT_TEXT), EIO);
    assert_int_equal(catmem_report(f, CATMEM_REPORT_JSON), EIO);
    assert_int_equal(catmem_report(f, CATMEM_REPORT_JSON | CATMEM_REPORT_ALL), EIO);
    assert_int_equal(errno, 0); /* a control function leaves errno alone */
    fclose(f);
    release_own();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_report_all_from_the_environment),
        cmocka_unit_test(test_exit_report_path_names_each_process),
        cmocka_unit_test(test_up_to_the_cut_off_every_arena_is_listed),
        cmocka_unit_test(test_json_past_the_cut_off),
        cmocka_unit_test(test_text_past_the_cut_off),
        cmocka_unit_test(test_all_lists_every_arena),
        cmocka_unit_test(test_all_arenas_stats_is_the_sum_of_the_arenas),
        cmocka_unit_test(test_bad_flags_and_unwritable_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
