/* catmem: catmem_report, as text, JSON or OpenMetrics, the report at exit (CATMEM_REPORT), and
   catmem_all_arenas_stats, the sum over the arenas that every report gives. Part of the
   implementation (core/impl.h). */
#ifndef CATMEMI_IMPL_H
#  error "catmem: include catmem.h, not catmem's internal files"
#endif

/* One arena as the report shows it, copied under catmemi_mu and printed after. */
typedef struct catmemi_report_row {
    /* "" for an anonymous arena, which the text shows as #<id> and JSON as null */
    char name[CATMEM_NAME_MAX + 1];
    char parent[CATMEM_NAME_MAX + 1]; /* the parent's name */
    int id, parent_id;                /* parent_id -1: a top-level arena */
    unsigned slot, cleanups;
    catmem_stats st;
} catmemi_report_row;

/* A JSON string: names are the caller's bytes, so quotes, backslashes and controls are escaped. */
static void catmemi_json_str(FILE *out, const char *str) {
    fputc('"', out);
    for (; *str != '\0'; str++) {
        unsigned char c = (unsigned char)*str;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

/* A name in JSON: null for an anonymous arena (and for no parent). */
static void catmemi_json_name(FILE *out, const char *name) {
    if (name[0] != '\0')
        catmemi_json_str(out, name);
    else
        fputs("null", out);
}

/* A name in the text table: #<id> for an anonymous arena, "-" for no parent (id -1). */
static const char *catmemi_text_name(const char *name, int id, char buf[16]) {
    if (name[0] != '\0') return name;
    if (id < 0) return "-";
    snprintf(buf, 16, "#%d", id);
    return buf;
}

static void catmemi_report_stats(FILE *out, int json, const catmem_stats *st) {
    if (json) {
        fprintf(out,
                "\"allocated\": %zu, \"active\": %zu, \"resident\": %zu, \"mapped\": %zu, "
                "\"nmalloc\": %llu, \"ndalloc\": %llu, \"peak\": %zu, \"limit\": %zu",
                st->allocated, st->active, st->resident, st->mapped,
                (unsigned long long)st->nmalloc, (unsigned long long)st->ndalloc, st->peak,
                st->limit);
        return;
    }
    fprintf(out, " %14zu %14zu %14zu %14zu %12llu %12llu %14zu", st->allocated, st->active,
            st->resident, st->mapped, (unsigned long long)st->nmalloc,
            (unsigned long long)st->ndalloc, st->peak);
    if (st->limit != 0)
        fprintf(out, " %14zu", st->limit);
    else
        fprintf(out, " %14s", "-");
}

/* ---- which arenas a report shows one by one, and the children per parent ------------------ */

/* sum += st, the limit aside (a sum of limits limits nothing). */
static void catmemi_report_add(catmem_stats *sum, const catmem_stats *st) {
    sum->allocated += st->allocated;
    sum->active += st->active;
    sum->resident += st->resident;
    sum->mapped += st->mapped;
    sum->peak += st->peak;
    sum->nmalloc += st->nmalloc;
    sum->ndalloc += st->ndalloc;
}

/* The sum over the live arenas: catmem_all_arenas_stats, and every report's "all arenas". */
static void catmemi_report_sum(catmem_stats *sum, const catmemi_report_row *rows, unsigned n) {
    unsigned i;
    memset(sum, 0, sizeof *sum);
    for (i = 0; i < n; i++) catmemi_report_add(sum, &rows[i].st);
}

/* The order in which arenas earn rows (series) of their own: most allocated bytes first, then
   the oldest slot, so that a report's choice is repeatable. */
static int catmemi_report_by_bytes(const void *a, const void *b) {
    const catmemi_report_row *x = (const catmemi_report_row *)a, *y = (const catmemi_report_row *)b;
    if (x->st.allocated != y->st.allocated) return x->st.allocated > y->st.allocated ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* What a report shows: rows[0, shown) one by one, the rest summed into other. */
typedef struct catmemi_report_view {
    const catmemi_report_row *rows;
    unsigned n, shown;           /* live arenas; how many have rows of their own */
    catmemi_report_row other;    /* id -1 */
    catmem_stats sum;            /* every live arena: catmem_all_arenas_stats */
    const catmem_stats *backend; /* catmem_total_stats */
} catmemi_report_view;

/* Bounded output whatever the number of arenas: past cap, the rows are sorted (in place: no
   memory that could fail) so that those with the most allocated bytes come first, and the rest
   are summed into v->other. Otherwise they stay in id order. */
static void catmemi_report_select(catmemi_report_view *v, catmemi_report_row *rows, unsigned n,
                                  unsigned cap) {
    unsigned i;
    memset(v, 0, sizeof *v);
    v->rows = rows;
    v->n = v->shown = n;
    v->other.id = v->other.parent_id = -1;
    catmemi_report_sum(&v->sum, rows, n);
    if (n <= cap) return;
    qsort(rows, n, sizeof *rows, catmemi_report_by_bytes);
    v->shown = cap;
    for (i = v->shown; i < n; i++) {
        catmemi_report_add(&v->other.st, &rows[i].st);
        v->other.cleanups += rows[i].cleanups;
    }
}

/* One parent's live children: past the cut-off the text and JSON reports count them, so that
   where a million arenas hang shows without listing them. */
typedef struct catmemi_report_parent {
    const char *name; /* the parent's, from one of its children's rows */
    int id;           /* -1: the top level */
    unsigned children;
    size_t allocated; /* its children's, summed */
} catmemi_report_parent;

/* The parents, most children first, and as the arenas: p[0, shown) one by one, the rest summed
   into other (its children and allocated). */
typedef struct catmemi_report_tree {
    catmemi_report_parent *p;
    unsigned n, shown;
    catmemi_report_parent other;
} catmemi_report_tree;

/* Most children first, then the lower id (the top level first among equals). */
static int catmemi_report_by_children(const void *a, const void *b) {
    const catmemi_report_parent *x = (const catmemi_report_parent *)a;
    const catmemi_report_parent *y = (const catmemi_report_parent *)b;
    if (x->children != y->children) return x->children > y->children ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Counts every row's parent in a table indexed by slot (nslots: the snapshot's, above every
   id), so time and memory stay linear, then sorts those that have children. ENOMEM or 0. */
static int catmemi_report_count(catmemi_report_tree *t, const catmemi_report_row *rows, unsigned n,
                                unsigned nslots) {
    catmemi_report_parent *p;
    unsigned i, k = 0;
    memset(t, 0, sizeof *t);
    t->other.id = -1;
    p = (catmemi_report_parent *)CATMEM_SYSTEM_CALLOC((size_t)nslots + 1, sizeof *p);
    if (p == NULL) return ENOMEM;
    for (i = 0; i < n; i++) {
        catmemi_report_parent *e = &p[rows[i].parent_id + 1];
        e->name = rows[i].parent;
        e->children++;
        e->allocated += rows[i].st.allocated;
    }
    for (i = 0; i <= nslots; i++) /* k <= i: what p[k] held is counted already */
        if (p[i].children != 0) {
            p[k] = p[i];
            p[k++].id = (int)i - 1;
        }
    qsort(p, k, sizeof *p, catmemi_report_by_children);
    t->p = p;
    t->n = k;
    t->shown = k < CATMEM_REPORT_ARENAS ? k : CATMEM_REPORT_ARENAS;
    for (i = t->shown; i < k; i++) {
        t->other.children += p[i].children;
        t->other.allocated += p[i].allocated;
    }
    return 0;
}

/* ---- the two totals, each named for what it is ------------------------------------------- */

/* The sum over catmem's live arenas means the same on every backend; catmem_total_stats is the
   whole process on jemalloc and catmem's arenas on the system backend (STATISTICS). The table
   and the profile name each, and say what it is, the same way. */
typedef struct catmemi_total_words {
    char name[32]; /* "all arenas", "backend <name>" */
    char is[160];  /* the call that gives it, and what it covers */
} catmemi_total_words;

/* which 0: the sum over the arenas; 1: the backend's total. */
static void catmemi_total_say(catmemi_total_words *t, int which) {
    if (which == 0) {
        snprintf(t->name, sizeof t->name, "all arenas");
        snprintf(t->is, sizeof t->is, "catmem_all_arenas_stats, the sum over catmem's live arenas");
        return;
    }
    snprintf(t->name, sizeof t->name, "backend %s", catmemi_be->name);
    snprintf(t->is, sizeof t->is, "catmem_total_stats, %s", catmemi_be->total_is);
}

/* ---- the JSON object and the text table ----------------------------------------------------- */

static void catmemi_json_row(FILE *out, const catmemi_report_row *r) {
    fputs("{\"name\": ", out);
    catmemi_json_name(out, r->name);
    fprintf(out, ", \"id\": %d, \"parent\": ", r->id);
    catmemi_json_name(out, r->parent);
    if (r->parent_id >= 0)
        fprintf(out, ", \"parent_id\": %d", r->parent_id);
    else
        fputs(", \"parent_id\": null", out);
    fprintf(out, ", \"cleanups\": %u, ", r->cleanups);
    catmemi_report_stats(out, 1, &r->st);
    fputc('}', out);
}

/* Past the cut-off: the arenas summed, and the children per parent (the top level has the id
   and name null). */
static void catmemi_json_summary(FILE *out, const catmemi_report_view *v,
                                 const catmemi_report_tree *t) {
    unsigned i;
    fprintf(out, " \"other\": {\"arenas\": %u, \"cleanups\": %u, ", v->n - v->shown,
            v->other.cleanups);
    catmemi_report_stats(out, 1, &v->other.st);
    fprintf(out, "},\n \"parents_total\": %u, \"parents\": [", t->n);
    for (i = 0; i < t->shown; i++) {
        const catmemi_report_parent *p = &t->p[i];
        fputs(i ? ",\n  {\"name\": " : "\n  {\"name\": ", out);
        if (p->id < 0) {
            fputs("null, \"id\": null", out);
        } else {
            catmemi_json_name(out, p->name);
            fprintf(out, ", \"id\": %d", p->id);
        }
        fprintf(out, ", \"children\": %u, \"allocated\": %zu}", p->children, p->allocated);
    }
    fprintf(out,
            "],\n \"parents_other\": {\"parents\": %u, \"children\": %u, \"allocated\": %zu},\n",
            t->n - t->shown, t->other.children, t->other.allocated);
}

/* One JSON object (its schema: LIFETIMES in catmem.h). */
static void catmemi_report_json(FILE *out, const catmemi_report_view *v,
                                const catmemi_report_tree *t) {
    unsigned i;
    fputs("{\"backend\": ", out);
    catmemi_json_str(out, catmemi_be->name);
    fputs(", \"info\": ", out);
    catmemi_json_str(out, catmemi_info);
    if (v->shown < v->n) fprintf(out, ", \"arenas_total\": %u, \"shown\": %u", v->n, v->shown);
    fputs(", \"arenas\": [", out);
    for (i = 0; i < v->shown; i++) {
        fputs(i ? ",\n  " : "\n  ", out);
        catmemi_json_row(out, &v->rows[i]);
    }
    fputs("],\n", out);
    if (v->shown < v->n) catmemi_json_summary(out, v, t);
    fputs(" \"all_arenas\": {", out);
    catmemi_report_stats(out, 1, &v->sum);
    fputs("},\n \"backend_total\": {", out);
    catmemi_report_stats(out, 1, v->backend);
    fputs("},\n \"total\": {", out); /* the same, its name before there were two totals */
    catmemi_report_stats(out, 1, v->backend);
    fputs("}}\n", out);
}

/* A summed row's label in the text table: "(<count> others)". */
static const char *catmemi_text_others(unsigned count, char buf[32]) {
    snprintf(buf, 32, "(%u others)", count);
    return buf;
}

/* Columns as wide as the longest name shown, so that the table stays readable. */
static int catmemi_text_width(const catmemi_report_view *v, const catmemi_report_tree *t) {
    char buf[32];
    unsigned i;
    int w = 12; /* "#<id>" of an anonymous arena, "(top level)" */
    for (i = 0; i < v->shown; i++) {
        int a = (int)strlen(v->rows[i].name), b = (int)strlen(v->rows[i].parent);
        if (a > w) w = a;
        if (b > w) w = b;
    }
    for (i = 0; i < t->shown; i++)
        if ((int)strlen(t->p[i].name) > w) w = (int)strlen(t->p[i].name);
    if (v->shown < v->n && (int)strlen(catmemi_text_others(v->n - v->shown, buf)) > w)
        w = (int)strlen(buf);
    if (t->shown < t->n && (int)strlen(catmemi_text_others(t->n - t->shown, buf)) > w)
        w = (int)strlen(buf);
    return w;
}

/* Past the cut-off, after the total: the children per parent. */
static void catmemi_text_parents(FILE *out, const catmemi_report_tree *t, int w) {
    char buf[32];
    unsigned i;
    if (t->shown < t->n)
        fprintf(out,
                "\nchildren per parent, the top level included: the %u parents with the most "
                "of %u; the other %u summed in one row\n",
                t->shown, t->n, t->n - t->shown);
    else
        fprintf(out, "\nchildren per parent, the top level included: %u parents\n", t->n);
    fprintf(out, "%-*s %5s %12s %14s\n", w, "parent", "id", "children", "allocated");
    for (i = 0; i < t->shown; i++) {
        const catmemi_report_parent *p = &t->p[i];
        if (p->id < 0)
            fprintf(out, "%-*s %5s", w, "(top level)", "-");
        else
            fprintf(out, "%-*s %5d", w, catmemi_text_name(p->name, p->id, buf), p->id);
        fprintf(out, " %12u %14zu\n", p->children, p->allocated);
    }
    if (t->shown < t->n)
        fprintf(out, "%-*s %5s %12u %14zu\n", w, catmemi_text_others(t->n - t->shown, buf), "-",
                t->other.children, t->other.allocated);
}

/* Below the arenas: the two totals' rows, and what each is. */
static void catmemi_text_totals(FILE *out, const catmemi_report_view *v, int w) {
    catmemi_total_words t[2];
    int i;
    for (i = 0; i < 2; i++) {
        catmemi_total_say(&t[i], i);
        fprintf(out, "%-*s", 2 * w + 7, t[i].name); /* across name, id and parent */
        catmemi_report_stats(out, 0, i == 0 ? &v->sum : v->backend);
        fputs("\n", out);
    }
    for (i = 0; i < 2; i++) fprintf(out, "%s: %s\n", t[i].name, t[i].is);
}

/* The table: a row per arena shown, past the cut-off one for the rest, the two totals, and then
   the children per parent. */
static void catmemi_report_text(FILE *out, const catmemi_report_view *v,
                                const catmemi_report_tree *t) {
    int w = catmemi_text_width(v, t);
    unsigned i;
    fprintf(out, "catmem report: backend %s (%s)\n", catmemi_be->name, catmemi_info);
    if (v->shown < v->n)
        fprintf(out,
                "%u largest of %u arenas by allocated bytes; the other %u summed in one row "
                "(CATMEM_REPORT_ALL lists every arena)\n",
                v->shown, v->n, v->n - v->shown);
    fprintf(out, "%-*s %5s %-*s %14s %14s %14s %14s %12s %12s %14s %14s %8s\n", w, "arena", "id",
            w, "parent", "allocated", "active", "resident", "mapped", "nmalloc", "ndalloc", "peak",
            "limit", "cleanups");
    for (i = 0; i < v->shown; i++) {
        const catmemi_report_row *r = &v->rows[i];
        char a[16], b[16];
        fprintf(out, "%-*s %5d %-*s", w, catmemi_text_name(r->name, r->id, a), r->id, w,
                catmemi_text_name(r->parent, r->parent_id, b));
        catmemi_report_stats(out, 0, &r->st);
        fprintf(out, " %8u\n", r->cleanups);
    }
    if (v->shown < v->n) {
        char buf[32];
        fprintf(out, "%-*s %5s %-*s", w, catmemi_text_others(v->n - v->shown, buf), "-", w, "");
        catmemi_report_stats(out, 0, &v->other.st);
        fprintf(out, " %8u\n", v->other.cleanups);
    }
    catmemi_text_totals(out, v, w);
    if (v->shown < v->n) catmemi_text_parents(out, t, w);
}

/* ---- OpenMetrics: one family per figure, one series per arena, then the totals ------------- */

/* The length of the well-formed UTF-8 sequence at s (1 to 4 bytes), or minus the length of the
   longest start of one that s holds (at least 1): the bytes a decoder replaces with one U+FFFD
   (Unicode's "maximal subpart", as Python and browsers do). A NUL ends any sequence. */
static int catmemi_utf8(const unsigned char *s) {
    unsigned char lo = 0x80, hi = 0xbf;
    int n, i;
    if (s[0] < 0x80) return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        n = 2;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        n = 3;
        if (s[0] == 0xe0) lo = 0xa0; /* no overlong forms */
        if (s[0] == 0xed) hi = 0x9f; /* no surrogates */
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        n = 4;
        if (s[0] == 0xf0) lo = 0x90;
        if (s[0] == 0xf4) hi = 0x8f; /* nothing above U+10FFFF */
    } else {
        return -1;
    }
    for (i = 1; i < n; i++, lo = 0x80, hi = 0xbf)
        if (s[i] < lo || s[i] > hi) return -i;
    return n;
}

/* A label value. OpenMetrics escapes backslash, double quote and newline, and takes UTF-8 only:
   names are the caller's bytes, and one stray byte must not make a scraper refuse everything,
   so what is not UTF-8 becomes U+FFFD (the id label still tells the arenas apart). */
static void catmemi_om_str(FILE *out, const char *str) {
    const unsigned char *s = (const unsigned char *)str;
    while (*s != '\0') {
        int n = catmemi_utf8(s);
        if (n < 0) {
            fputs("\xef\xbf\xbd", out);
            s += -n;
        } else if (*s == '\\' || *s == '"' || *s == '\n') {
            fputc('\\', out);
            fputc(*s == '\n' ? 'n' : *s, out);
            s++;
        } else {
            fwrite(s, 1, (size_t)n, out);
            s += n;
        }
    }
}

/* Every series of an arena carries its name (#<id> when anonymous, as in the text table), its
   id, which no other live arena has, and its parent ("" at the top). The aggregate of the
   arenas past the cap is the row with id -1. */
static void catmemi_om_labels(FILE *out, const catmemi_report_row *r) {
    char buf[16];
    if (r->id < 0) {
        fputs("{arena=\"(other)\",id=\"(other)\",parent=\"\"}", out);
        return;
    }
    fputs("{arena=\"", out);
    catmemi_om_str(out, catmemi_text_name(r->name, r->id, buf));
    fprintf(out, "\",id=\"%d\",parent=\"", r->id);
    catmemi_om_str(out, r->parent_id < 0 ? "" : catmemi_text_name(r->parent, r->parent_id, buf));
    fputs("\"}", out);
}

/* What a family shows: one series per arena, the sum over the arenas, the backend's figure for
   the process (catmem_total_stats), or a count of arenas. */
enum { CATMEMI_OM_ARENA, CATMEMI_OM_SUM, CATMEMI_OM_BACKEND, CATMEMI_OM_COUNT };
/* Which figure: catmem_stats' fields, the pending cleanups, or (CATMEMI_OM_COUNT) the live
   arenas and the arenas past the cap. */
enum {
    CATMEMI_OM_ALLOCATED,
    CATMEMI_OM_ACTIVE,
    CATMEMI_OM_RESIDENT,
    CATMEMI_OM_MAPPED,
    CATMEMI_OM_PEAK,
    CATMEMI_OM_LIMIT,
    CATMEMI_OM_NMALLOC,
    CATMEMI_OM_NDALLOC,
    CATMEMI_OM_CLEANUPS
};

typedef struct catmemi_om_family {
    const char *name; /* after "catmem_"; a name ending in _bytes has the unit bytes */
    const char *type; /* "gauge" or "counter" (its samples end in _total) */
    int kind, field;
    const char *help; /* no backslash, quote or newline: written as it is */
} catmemi_om_family;

#define CATMEMI_OM_STR(x)  #x
#define CATMEMI_OM_XSTR(x) CATMEMI_OM_STR(x)
#define CATMEMI_OM_CAP     CATMEMI_OM_XSTR(CATMEM_REPORT_OPENMETRICS_ARENAS) /* "1000" */

/* The exposition, in this order. Each help text names the catmem_stats field or the call its
   figure comes from, so that whoever reads a dashboard finds its meaning on each backend
   (STATISTICS in catmem.h). */
static const catmemi_om_family catmemi_om_families[] = {
    {"arena_allocated_bytes", "gauge", CATMEMI_OM_ARENA, CATMEMI_OM_ALLOCATED,
     "Bytes in the arena's live blocks, size-class rounded (catmem_stats.allocated)."},
    {"arena_active_bytes", "gauge", CATMEMI_OM_ARENA, CATMEMI_OM_ACTIVE,
     "Bytes of the arena's pages in use (catmem_stats.active)."},
    {"arena_resident_bytes", "gauge", CATMEMI_OM_ARENA, CATMEMI_OM_RESIDENT,
     "Bytes of the arena physically resident (catmem_stats.resident)."},
    {"arena_mapped_bytes", "gauge", CATMEMI_OM_ARENA, CATMEMI_OM_MAPPED,
     "Bytes mapped for the arena (catmem_stats.mapped)."},
    {"arena_peak_bytes", "gauge", CATMEMI_OM_ARENA, CATMEMI_OM_PEAK,
     "Highest allocated bytes since the arena was created or last reset (catmem_stats.peak); "
     "for arena (other), the sum of its arenas' peaks."},
    {"arena_limit_bytes", "gauge", CATMEMI_OM_ARENA, CATMEMI_OM_LIMIT,
     "The arena's limit (catmem_arena_set_limit); only arenas that have one."},
    {"arena_allocations", "counter", CATMEMI_OM_ARENA, CATMEMI_OM_NMALLOC,
     "catmem calls that handed out a block of the arena (catmem_stats.nmalloc)."},
    {"arena_frees", "counter", CATMEMI_OM_ARENA, CATMEMI_OM_NDALLOC,
     "Blocks of the arena freed, by a free or by a reset (catmem_stats.ndalloc)."},
    {"arena_cleanups", "gauge", CATMEMI_OM_ARENA, CATMEMI_OM_CLEANUPS,
     "Cleanups registered on the arena and not run yet (catmem_arena_on_reset)."},
    {"all_arenas_allocated_bytes", "gauge", CATMEMI_OM_SUM, CATMEMI_OM_ALLOCATED,
     "Sum of catmem_arena_allocated_bytes: catmem's live arenas, on every backend "
     "(catmem_all_arenas_stats)."},
    {"all_arenas_active_bytes", "gauge", CATMEMI_OM_SUM, CATMEMI_OM_ACTIVE,
     "Sum of catmem_arena_active_bytes: catmem's live arenas, on every backend "
     "(catmem_all_arenas_stats)."},
    {"all_arenas_resident_bytes", "gauge", CATMEMI_OM_SUM, CATMEMI_OM_RESIDENT,
     "Sum of catmem_arena_resident_bytes: catmem's live arenas, on every backend "
     "(catmem_all_arenas_stats)."},
    {"all_arenas_mapped_bytes", "gauge", CATMEMI_OM_SUM, CATMEMI_OM_MAPPED,
     "Sum of catmem_arena_mapped_bytes: catmem's live arenas, on every backend "
     "(catmem_all_arenas_stats)."},
    {"backend_allocated_bytes", "gauge", CATMEMI_OM_BACKEND, CATMEMI_OM_ALLOCATED,
     "catmem_total_stats allocated: on jemalloc the whole process (every block jemalloc serves, "
     "catmem's or not); on the system backend catmem's arenas "
     "(catmem_all_arenas_allocated_bytes)."},
    {"backend_active_bytes", "gauge", CATMEMI_OM_BACKEND, CATMEMI_OM_ACTIVE,
     "catmem_total_stats active: on jemalloc the whole process; on the system backend catmem's "
     "arenas (catmem_all_arenas_active_bytes)."},
    {"backend_resident_bytes", "gauge", CATMEMI_OM_BACKEND, CATMEMI_OM_RESIDENT,
     "catmem_total_stats resident: on jemalloc the whole process; on the system backend "
     "catmem's arenas (catmem_all_arenas_resident_bytes)."},
    {"backend_mapped_bytes", "gauge", CATMEMI_OM_BACKEND, CATMEMI_OM_MAPPED,
     "catmem_total_stats mapped: on jemalloc the whole process; on the system backend catmem's "
     "arenas (catmem_all_arenas_mapped_bytes)."},
    {"arenas", "gauge", CATMEMI_OM_COUNT, 0, "Live arenas, the built-in ones included."},
    {"arenas_other", "gauge", CATMEMI_OM_COUNT, 1,
     "Arenas summed into the series of arena (other): all but the " CATMEMI_OM_CAP
     " with the most allocated bytes (CATMEM_REPORT_OPENMETRICS_ARENAS)."},
};

static unsigned long long catmemi_om_value(const catmem_stats *st, unsigned cleanups, int field) {
    switch (field) {
    case CATMEMI_OM_ALLOCATED: return st->allocated;
    case CATMEMI_OM_ACTIVE: return st->active;
    case CATMEMI_OM_RESIDENT: return st->resident;
    case CATMEMI_OM_MAPPED: return st->mapped;
    case CATMEMI_OM_PEAK: return st->peak;
    case CATMEMI_OM_LIMIT: return st->limit;
    case CATMEMI_OM_NMALLOC: return st->nmalloc;
    case CATMEMI_OM_NDALLOC: return st->ndalloc;
    default: return cleanups;
    }
}

static void catmemi_om_sample(FILE *out, const catmemi_om_family *f, const catmemi_report_row *r) {
    int counter = f->type[0] == 'c';
    if (f->field == CATMEMI_OM_LIMIT && (r->st.limit == 0 || r->id < 0)) return;
    fprintf(out, "catmem_%s%s", f->name, counter ? "_total" : "");
    catmemi_om_labels(out, r);
    fprintf(out, " %llu\n", catmemi_om_value(&r->st, r->cleanups, f->field));
}

/* One family: its metadata, then its samples. */
static void catmemi_om_family_print(FILE *out, const catmemi_om_family *f,
                                    const catmemi_report_view *v) {
    size_t len = strlen(f->name);
    unsigned i;
    fprintf(out, "# TYPE catmem_%s %s\n", f->name, f->type);
    if (len > 6 && strcmp(f->name + len - 6, "_bytes") == 0)
        fprintf(out, "# UNIT catmem_%s bytes\n", f->name);
    fprintf(out, "# HELP catmem_%s %s\n", f->name, f->help);
    switch (f->kind) {
    case CATMEMI_OM_ARENA:
        for (i = 0; i < v->shown; i++) catmemi_om_sample(out, f, &v->rows[i]);
        if (v->shown < v->n) catmemi_om_sample(out, f, &v->other);
        break;
    case CATMEMI_OM_SUM:
        fprintf(out, "catmem_%s %llu\n", f->name, catmemi_om_value(&v->sum, 0, f->field));
        break;
    case CATMEMI_OM_BACKEND:
        fprintf(out, "catmem_%s{backend=\"%s\"} %llu\n", f->name, catmemi_be->name,
                catmemi_om_value(v->backend, 0, f->field));
        break;
    default: fprintf(out, "catmem_%s %u\n", f->name, f->field == 0 ? v->n : v->n - v->shown);
    }
}

/* The OpenMetrics text exposition (application/openmetrics-text 1.0.0), ending with # EOF. */
static void catmemi_om_print(FILE *out, const catmemi_report_view *v) {
    unsigned i;
    for (i = 0; i < sizeof catmemi_om_families / sizeof catmemi_om_families[0]; i++)
        catmemi_om_family_print(out, &catmemi_om_families[i], v);
    fputs("# EOF\n", out);
}

/* ---- the report ------------------------------------------------------------------------------ */

/* The live arenas in id order, copied under catmemi_mu, which is held for the copy alone: the
   memory comes before it (again, larger, when arenas were made meanwhile), the statistics
   after. *nslots: the slots then, above every id. NULL when memory runs out. */
static catmemi_report_row *catmemi_report_snapshot(unsigned *n, unsigned *nslots) {
    catmemi_report_row *rows;
    unsigned i, have;
    for (;;) {
        have = __atomic_load_n(&catmemi_nslots, __ATOMIC_ACQUIRE);
        rows = (catmemi_report_row *)CATMEM_SYSTEM_CALLOC(have != 0 ? have : 1, sizeof *rows);
        if (rows == NULL) return NULL;
        catmemi_lock();
        if (catmemi_nslots <= have) break;
        catmemi_unlock();
        CATMEM_SYSTEM_FREE(rows);
    }
    for (*n = 0, i = 0; i < catmemi_nslots; i++) {
        catmemi_slot *s = catmemi_slot_at(i);
        catmemi_report_row *row = &rows[*n];
        if (!catmemi_created(s) || !catmemi_slot_used(s)) continue;
        strcpy(row->name, s->name);
        if (s->parent != 0) strcpy(row->parent, catmemi_slot_at(s->parent - 1)->name);
        row->parent_id = (int)s->parent - 1;
        row->id = (int)i;
        row->slot = i;
        row->cleanups = s->ncleanups;
        (*n)++;
    }
    *nslots = catmemi_nslots;
    catmemi_unlock();
    return rows;
}

/* The rows' statistics, read outside the registry lock (a backend may take it to sum its
   threads' counts) after the engine refreshed its figures once for all arenas (or, if it
   cannot, for each). An arena released meanwhile reads as zeros. */
static void catmemi_report_read(catmemi_report_row *rows, unsigned n) {
    int fresh = catmemi_be->refresh_stats() == 0;
    unsigned i;
    for (i = 0; i < n; i++)
        (void)catmemi_stats_of(catmemi_slot_at(rows[i].slot), &rows[i].st, fresh);
}

/* The sum over the live arenas, read as a report reads them, whatever catmem's state (the
   profile at exit): 0 or ENOMEM. */
static int catmemi_all_arenas(catmem_stats *out) {
    unsigned n, nslots;
    catmemi_report_row *rows = catmemi_report_snapshot(&n, &nslots);
    memset(out, 0, sizeof *out);
    if (rows == NULL) return ENOMEM;
    catmemi_report_read(rows, n);
    catmemi_report_sum(out, rows, n);
    CATMEM_SYSTEM_FREE(rows);
    return 0;
}

CATMEMI_API int catmem_all_arenas_stats(catmem_stats *out) {
    int err, saved = errno; /* calloc may set errno; a control function leaves it */
    if (out == NULL) return EINVAL;
    memset(out, 0, sizeof *out);
    if ((err = catmemi_up_or_init()) != 0) return err;
    err = catmemi_all_arenas(out);
    errno = saved;
    return err;
}

/* The report whatever catmem's state (the exit report runs after a shutdown too). Statistics a
   backend cannot give are zeros, as everywhere. */
static int catmemi_report(FILE *out, int flags) {
    int saved = errno, err = 0; /* calloc and stdio may set errno; a control function leaves it */
    int format = flags & ~CATMEM_REPORT_ALL;
    unsigned n, nslots, cap = CATMEM_REPORT_ARENAS;
    catmemi_report_row *rows = catmemi_report_snapshot(&n, &nslots);
    catmemi_report_view v;
    catmemi_report_tree t;
    catmem_stats total;
    if (rows == NULL) {
        errno = saved;
        return ENOMEM;
    }
    catmemi_report_read(rows, n);
    (void)catmemi_backend_total(&total);
    if (format == CATMEM_REPORT_OPENMETRICS) cap = CATMEM_REPORT_OPENMETRICS_ARENAS;
    catmemi_report_select(&v, rows, n, (flags & CATMEM_REPORT_ALL) ? n : cap);
    v.backend = &total;
    memset(&t, 0, sizeof t);
    if (format != CATMEM_REPORT_OPENMETRICS && v.shown < v.n)
        err = catmemi_report_count(&t, rows, n, nslots); /* ENOMEM: nothing written */
    if (err == 0 && format == CATMEM_REPORT_OPENMETRICS)
        catmemi_om_print(out, &v);
    else if (err == 0 && format == CATMEM_REPORT_JSON)
        catmemi_report_json(out, &v, &t);
    else if (err == 0)
        catmemi_report_text(out, &v, &t);
    if (t.p != NULL) CATMEM_SYSTEM_FREE(t.p);
    CATMEM_SYSTEM_FREE(rows);
    if (err == 0) err = ferror(out) || fflush(out) != 0 ? EIO : 0;
    errno = saved;
    return err;
}

CATMEMI_API int catmem_report(FILE *out, int flags) {
    int format = flags & ~CATMEM_REPORT_ALL;
    if (out == NULL || (format != CATMEM_REPORT_TEXT && format != CATMEM_REPORT_JSON &&
                        format != CATMEM_REPORT_OPENMETRICS))
        return EINVAL;
    int err = catmemi_up_or_init();
    if (err != 0) return err;
    return catmemi_report(out, flags);
}

/* The format of the report at exit: JSON for a path ending in ".json", OpenMetrics for ".om" or
   ".prom", the table otherwise. */
static int catmemi_report_format(const char *path) {
    size_t len = strlen(path);
    if (len > 5 && strcmp(path + len - 5, ".json") == 0) return CATMEM_REPORT_JSON;
    if ((len > 3 && strcmp(path + len - 3, ".om") == 0) ||
        (len > 5 && strcmp(path + len - 5, ".prom") == 0))
        return CATMEM_REPORT_OPENMETRICS;
    return CATMEM_REPORT_TEXT;
}

/* The file named by var (CATMEM_REPORT, CATMEM_PROFILE), whose value is where, opened with mode
   at exit: each "%p" in it becomes the process's id and "%%" a "%", so that every process of a
   program that forks or starts others writes its own file. NULL (said on stderr): the name is
   too long or the file cannot be opened. */
static FILE *catmemi_exit_fopen(const char *var, const char *where, const char *mode) {
    char path[4096];
    size_t n = 0;
    FILE *f;
    for (; *where != '\0' && n < sizeof path; where++) {
        if (where[0] == '%' && where[1] == 'p') {
            int w = snprintf(path + n, sizeof path - n, "%ld", (long)getpid());
            n = w < 0 ? sizeof path : n + (size_t)w;
            where++;
        } else {
            if (where[0] == '%' && where[1] == '%') where++;
            path[n++] = *where;
        }
    }
    if (n >= sizeof path) {
        fprintf(stderr, "catmem: %s: the file's name is too long\n", var);
        return NULL;
    }
    path[n] = '\0';
    if ((f = fopen(path, mode)) == NULL) fprintf(stderr, "catmem: %s: cannot open %s\n", var, path);
    return f;
}

/* CATMEM_REPORT=stderr, stdout or a file path: the report when the process exits (the path's
   ending picks the format: catmemi_report_format); CATMEM_REPORT_ALL=1 beside it lists every
   arena. Read once, at the first init. */
static void catmemi_report_at_exit(void) {
    const char *where = getenv("CATMEM_REPORT"), *all = getenv("CATMEM_REPORT_ALL");
    int flags = all != NULL && all[0] != '\0' && strcmp(all, "0") != 0 ? CATMEM_REPORT_ALL : 0;
    FILE *f;
    if (where == NULL || where[0] == '\0' || catmemi_be == NULL) return;
    if (strcmp(where, "stderr") == 0 || strcmp(where, "stdout") == 0) {
        f = strcmp(where, "stderr") == 0 ? stderr : stdout;
        (void)catmemi_report(f, CATMEM_REPORT_TEXT | flags);
        fflush(f);
        return;
    }
    if ((f = catmemi_exit_fopen("CATMEM_REPORT", where, "w")) == NULL) return;
    (void)catmemi_report(f, catmemi_report_format(where) | flags);
    fclose(f);
}

static void catmemi_report_at_exit_once(void) {
    const char *where = getenv("CATMEM_REPORT");
    if (where != NULL && where[0] != '\0') (void)atexit(catmemi_report_at_exit);
}
