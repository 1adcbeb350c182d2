/* catmem's runtime backend: finding jemalloc in the process, and the choice between the two
   engines (catmemi_rt_select, called once by the core through catmemi_select). Part of the
   implementation (core/impl.h), after both engines. */
#ifndef CATMEMI_IMPL_H
#  error "catmem: include catmem.h, not catmem's internal files"
#endif

catmemi_rt_fns catmemi_rt;
int catmemi_rt_je;

/* Looks the nine functions up under one prefix; 1 when all are there. */
static int catmemi_rt_bind(const char *prefix, catmemi_rt_fns *f) {
    static const char *const names[] = {"mallocx", "dallocx", "sdallocx",
                                        "rallocx", "sallocx", "nallocx",
                                        "mallctl", "mallctlnametomib", "mallctlbymib"};
    void *sym[9];
    char name[64];
    unsigned i;
    for (i = 0; i < 9; i++) {
        snprintf(name, sizeof name, "%s%s", prefix, names[i]);
        if ((sym[i] = dlsym(RTLD_DEFAULT, name)) == NULL) return 0;
    }
    /* POSIX guarantees that dlsym results convert to function pointers; memcpy says so to C. */
    memcpy(&f->mallocx, &sym[0], sizeof sym[0]);
    memcpy(&f->dallocx, &sym[1], sizeof sym[1]);
    memcpy(&f->sdallocx, &sym[2], sizeof sym[2]);
    memcpy(&f->rallocx, &sym[3], sizeof sym[3]);
    memcpy(&f->sallocx, &sym[4], sizeof sym[4]);
    memcpy(&f->nallocx, &sym[5], sizeof sym[5]);
    memcpy(&f->mallctl, &sym[6], sizeof sym[6]);
    memcpy(&f->mallctlnametomib, &sym[7], sizeof sym[7]);
    memcpy(&f->mallctlbymib, &sym[8], sizeof sym[8]);
    return 1;
}

static const catmemi_ops *catmemi_rt_select(char *info, size_t size) {
    static const char *const prefixes[] = {CATMEM_RUNTIME_PREFIXES};
    const char *why = "no jemalloc in process";
    unsigned i;
    for (i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        catmemi_rt_fns f;
        const char *v = NULL;
        size_t sz = sizeof v;
        if (!catmemi_rt_bind(prefixes[i], &f)) continue;
        if (f.mallctl("version", &v, &sz, NULL, 0) != 0 || v == NULL) {
            why = "jemalloc in process does not answer mallctl(\"version\")";
            continue;
        }
        if (strtol(v, NULL, 10) < 5) { /* arena reset and destroy as catmem uses them */
            snprintf(info, size, "jemalloc %s in process is older than 5.0: system malloc", v);
            return catmemi_sys_table();
        }
        catmemi_rt = f;
        catmemi_rt_je = 1;
        snprintf(info, size, "jemalloc %s found in process%s%s", v,
                 prefixes[i][0] != '\0' ? " with symbol prefix " : "", prefixes[i]);
        return catmemi_je_table();
    }
    snprintf(info, size, "%s: system malloc", why);
    return catmemi_sys_table();
}
