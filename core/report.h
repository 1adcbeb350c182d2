/* catmem: catmem_report, as text or JSON, and the report at exit (CATMEM_REPORT). Part of the
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

static void catmemi_report_print(FILE *out, int json, const catmemi_report_row *rows, unsigned n,
                                 const catmem_stats *total) {
    unsigned i;
    int w = 8;
    if (json) {
        fputs("{\"backend\": ", out);
        catmemi_json_str(out, catmemi_be->name);
        fputs(", \"info\": ", out);
        catmemi_json_str(out, catmemi_info);
        fputs(", \"arenas\": [", out);
        for (i = 0; i < n; i++) {
            fputs(i ? ",\n  {\"name\": " : "\n  {\"name\": ", out);
            catmemi_json_name(out, rows[i].name);
            fprintf(out, ", \"id\": %d, \"parent\": ", rows[i].id);
            catmemi_json_name(out, rows[i].parent);
            if (rows[i].parent_id >= 0)
                fprintf(out, ", \"parent_id\": %d", rows[i].parent_id);
            else
                fputs(", \"parent_id\": null", out);
            fprintf(out, ", \"cleanups\": %u, ", rows[i].cleanups);
            catmemi_report_stats(out, 1, &rows[i].st);
            fputc('}', out);
        }
        fputs("],\n \"total\": {", out);
        catmemi_report_stats(out, 1, total);
        fputs("}}\n", out);
        return;
    }
    /* Columns as wide as the longest name, so that the table stays readable. */
    for (i = 0; i < n; i++) {
        int a = (int)strlen(rows[i].name), b = (int)strlen(rows[i].parent);
        if (a > w) w = a;
        if (b > w) w = b;
    }
    if (w < 12) w = 12; /* "#<id>" of an anonymous arena */
    fprintf(out, "catmem report: backend %s (%s)\n", catmemi_be->name, catmemi_info);
    fprintf(out, "%-*s %5s %-*s %14s %14s %14s %14s %12s %12s %14s %14s %8s\n", w, "arena", "id",
            w, "parent", "allocated", "active", "resident", "mapped", "nmalloc", "ndalloc", "peak",
            "limit", "cleanups");
    for (i = 0; i < n; i++) {
        char a[16], b[16];
        fprintf(out, "%-*s %5d %-*s", w, catmemi_text_name(rows[i].name, rows[i].id, a),
                rows[i].id, w, catmemi_text_name(rows[i].parent, rows[i].parent_id, b));
        catmemi_report_stats(out, 0, &rows[i].st);
        fprintf(out, " %8u\n", rows[i].cleanups);
    }
    fprintf(out, "%-*s %5s %-*s", w, "total", "", w, "");
    catmemi_report_stats(out, 0, total);
    fputs("\n", out);
}

/* The report whatever catmem's state (the exit report runs after a shutdown too). Statistics a
   backend cannot give are zeros, as everywhere. */
static int catmemi_report(FILE *out, int json) {
    int saved = errno, err; /* calloc and stdio may set errno; a control function leaves it */
    catmemi_report_row *rows;
    catmem_stats total;
    unsigned i, n = 0, nslots;
    catmemi_lock();
    nslots = catmemi_nslots;
    rows = (catmemi_report_row *)CATMEM_SYSTEM_CALLOC(nslots != 0 ? nslots : 1, sizeof *rows);
    if (rows == NULL) {
        catmemi_unlock();
        errno = saved;
        return ENOMEM;
    }
    for (i = 0; i < nslots; i++) {
        catmemi_slot *s = catmemi_slot_at(i);
        catmemi_report_row *row = &rows[n];
        if (!catmemi_created(s) || !catmemi_slot_used(s)) continue;
        strcpy(row->name, s->name);
        if (s->parent != 0) strcpy(row->parent, catmemi_slot_at(s->parent - 1)->name);
        row->parent_id = (int)s->parent - 1;
        row->id = (int)i;
        row->slot = i;
        row->cleanups = s->ncleanups;
        n++;
    }
    catmemi_unlock();
    /* Statistics outside the registry lock: a backend may take it to sum its threads' counts.
       An arena released meanwhile reads as zeros. */
    for (i = 0; i < n; i++) (void)catmemi_stats_of(catmemi_slot_at(rows[i].slot), &rows[i].st);
    memset(&total, 0, sizeof total);
    (void)catmemi_stats_done(catmemi_be->total_stats(&total), &total);
    catmemi_report_print(out, json, rows, n, &total);
    CATMEM_SYSTEM_FREE(rows);
    err = ferror(out) || fflush(out) != 0 ? EIO : 0;
    errno = saved;
    return err;
}

CATMEMI_API int catmem_report(FILE *out, int flags) {
    if (out == NULL || (flags != CATMEM_REPORT_TEXT && flags != CATMEM_REPORT_JSON)) return EINVAL;
    int err = catmemi_up_or_init();
    if (err != 0) return err;
    return catmemi_report(out, flags == CATMEM_REPORT_JSON);
}

/* CATMEM_REPORT=stderr, stdout or a file path: the report when the process exits (JSON when the
   path ends in ".json"). Read once, at the first init. */
static void catmemi_report_at_exit(void) {
    const char *where = getenv("CATMEM_REPORT");
    size_t len;
    FILE *f;
    if (where == NULL || where[0] == '\0' || catmemi_be == NULL) return;
    len = strlen(where);
    if (strcmp(where, "stderr") == 0 || strcmp(where, "stdout") == 0) {
        f = strcmp(where, "stderr") == 0 ? stderr : stdout;
        (void)catmemi_report(f, 0);
        fflush(f);
        return;
    }
    if ((f = fopen(where, "w")) == NULL) {
        fprintf(stderr, "catmem: CATMEM_REPORT: cannot open %s\n", where);
        return;
    }
    (void)catmemi_report(f, len > 5 && strcmp(where + len - 5, ".json") == 0);
    fclose(f);
}

static void catmemi_report_at_exit_once(void) {
    const char *where = getenv("CATMEM_REPORT");
    if (where != NULL && where[0] != '\0') (void)atexit(catmemi_report_at_exit);
}
