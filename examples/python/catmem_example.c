/* catmem_example: a CPython extension module whose C core allocates per request with catmem, as a
   web framework's core would.

   - Every App owns a catmem arena (created with the App, released when it dies) and a region on
     it. A request allocates everything in the region: copies of its path, headers and query
     parameters, its body, its response. When the request ends the region is reset in one call;
     after the first requests it keeps one warm chunk, and the arena is not called at all.
   - `with app.request_scope():` is one request that spans several calls; scopes nest (region
     marks). app.handle() outside a scope is a request by itself.
   - The work runs without the GIL, as a real core's parsing would, so other Python threads run
     meanwhile. An App is used by one thread at a time; a second thread gets RuntimeError.
   - catmem is vendored on the runtime backend: the module links no jemalloc, so it imports into
     any python3. Started with LD_PRELOAD=libjemalloc.so.2, the same module uses jemalloc's
     arenas; backend_name()/backend_info() say which.

   Build: cd examples/python && /usr/bin/python3 setup.py build_ext --inplace */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define CATMEM_BACKEND_RUNTIME 1
#define CATMEM_IMPLEMENTATION
#include "catmem.h"

#include <dlfcn.h>
#include <string.h>

/* ---- App ---------------------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    catmem_arena *arena; /* NULL once closed */
    catmem_region region;
    int depth;           /* request scopes entered and not yet left */
    int busy;            /* a thread is working in the region without the GIL */
    unsigned long long requests;
} AppObject;

typedef struct {
    PyObject_HEAD
    AppObject *app;
    catmem_region_mark mark; /* where a nested scope started */
    int entered;
} ScopeObject;

static PyTypeObject App_Type;
static PyTypeObject Scope_Type;

/* Module-wide counters, changed under the GIL only. */
static unsigned long long apps_created;
static long apps_live;
static int max_arena_id = -1;

/* An exception from errno, as catmem sets it: MemoryError for ENOMEM, OSError otherwise. */
static PyObject *raise_errno(int err) {
    if (err == ENOMEM) return PyErr_NoMemory();
    errno = err;
    return PyErr_SetFromErrno(PyExc_OSError);
}

/* The App may be used by this thread now: open, and not working in another thread. */
static int app_usable(AppObject *self) {
    if (self->arena == NULL) {
        PyErr_SetString(PyExc_ValueError, "App is closed");
        return 0;
    }
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "App is in use by another thread");
        return 0;
    }
    return 1;
}

static PyObject *App_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {NULL};
    char name[CATMEM_NAME_MAX + 1];
    AppObject *self;
    int id;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, ":App", kwlist)) return NULL;
    self = (AppObject *)type->tp_alloc(type, 0);
    if (self == NULL) return NULL;
    /* Arena names are unique among live arenas: a counter, never reused in this process. */
    snprintf(name, sizeof name, "py-app-%llu", apps_created);
    errno = 0;
    self->arena = catmem_arena_create(name);
    if (self->arena == NULL) {
        int err = errno;
        Py_DECREF(self);
        return raise_errno(err);
    }
    catmem_region_init(&self->region, self->arena); /* allocates nothing; cannot fail here */
    apps_created++;
    apps_live++;
    id = catmem_arena_id(self->arena);
    if (id > max_arena_id) max_arena_id = id;
    return (PyObject *)self;
}

/* Gives the arena back: the region's chunks first, then the arena and its slot. */
static void app_release(AppObject *self) {
    if (self->arena == NULL) return;
    catmem_region_release(&self->region);
    catmem_arena_release(self->arena);
    self->arena = NULL;
    apps_live--;
}

static void App_dealloc(AppObject *self) {
    app_release(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *App_close(AppObject *self, PyObject *unused) {
    (void)unused;
    if (self->arena != NULL && !app_usable(self)) return NULL;
    if (self->depth > 0) {
        PyErr_SetString(PyExc_RuntimeError, "App has a request scope open");
        return NULL;
    }
    app_release(self);
    Py_RETURN_NONE;
}

static PyObject *stats_dict(const catmem_stats *st) {
    return Py_BuildValue("{s:K,s:K,s:K,s:K,s:K,s:K}", "allocated",
                         (unsigned long long)st->allocated, "active",
                         (unsigned long long)st->active, "resident",
                         (unsigned long long)st->resident, "mapped", (unsigned long long)st->mapped,
                         "nmalloc", (unsigned long long)st->nmalloc, "ndalloc",
                         (unsigned long long)st->ndalloc);
}

static PyObject *App_stats(AppObject *self, PyObject *unused) {
    catmem_stats st;
    PyObject *d;
    int err;
    (void)unused;
    if (self->arena == NULL) {
        PyErr_SetString(PyExc_ValueError, "App is closed");
        return NULL;
    }
    err = catmem_arena_stats(self->arena, &st);
    if (err != 0) return raise_errno(err);
    d = stats_dict(&st);
    if (d == NULL) return NULL;
    {
        PyObject *n = PyLong_FromUnsignedLongLong(self->requests);
        if (n == NULL || PyDict_SetItemString(d, "requests", n) != 0) {
            Py_XDECREF(n);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(n);
    }
    return d;
}

/* Frees everything the arena holds: the region's chunks go with it, so the region starts over
   (catmem_region_init forgets them, as the manual asks after an arena reset). */
static PyObject *App_reset(AppObject *self, PyObject *unused) {
    int err;
    (void)unused;
    if (!app_usable(self)) return NULL;
    if (self->depth > 0) {
        PyErr_SetString(PyExc_RuntimeError, "App has a request scope open");
        return NULL;
    }
    err = catmem_arena_reset(self->arena);
    catmem_region_init(&self->region, self->arena);
    if (err != 0) return raise_errno(err);
    Py_RETURN_NONE;
}

/* What a request is made of, copied out of Python objects while the GIL is held. */
typedef struct {
    const char *data;
    Py_ssize_t len;
} span;

static char *region_copy(catmem_region *r, span s) {
    char *p = catmem_region_alloc(r, (size_t)s.len + 1);
    if (p != NULL) {
        memcpy(p, s.data, (size_t)s.len);
        p[s.len] = '\0';
    }
    return p;
}

/* The request itself, without the GIL: copy the path and headers into the region, split the
   query string into parameters, fill a body, write a response. Everything lives in the region.
   Returns the response (in the region) and its length, or NULL when memory ran out. */
static char *serve(catmem_region *r, span path, const span *headers, Py_ssize_t nheaders,
                   size_t body_size, size_t *response_len) {
    char *p = region_copy(r, path), *query, *param, *body, *response;
    char **copies;
    size_t nparams = 0, header_bytes = 0, cap, k;
    unsigned sum = 0;
    Py_ssize_t i;
    int n;
    if (p == NULL) return NULL;
    copies = catmem_region_alloc(r, sizeof(char *) * (size_t)(nheaders > 0 ? nheaders : 1));
    if (copies == NULL) return NULL;
    for (i = 0; i < nheaders; i++) {
        copies[i] = region_copy(r, headers[i]);
        if (copies[i] == NULL) return NULL;
        header_bytes += (size_t)headers[i].len;
    }
    query = strchr(p, '?');
    if (query != NULL) {
        *query++ = '\0';
        for (param = query; *param != '\0';) { /* not strtok: other Apps serve concurrently */
            span s = {param, (Py_ssize_t)strcspn(param, "&")};
            if (s.len > 0) {
                if (region_copy(r, s) == NULL) return NULL; /* a decoded copy, say */
                nparams++;
            }
            param += s.len;
            if (*param == '&') param++;
        }
    }
    body = catmem_region_alloc(r, body_size); /* large bodies get a block of their own */
    if (body == NULL) return NULL;
    /* Written and read back, so that every page is really touched (the RSS test relies on it)
       and the compiler cannot drop the writes as dead. */
    for (k = 0; k < body_size; k++) body[k] = (char)('a' + k % 26);
    for (k = 0; k < body_size; k += 4096) sum += (unsigned char)body[k];
    cap = strlen(p) + 160;
    response = catmem_region_alloc(r, cap);
    if (response == NULL) return NULL;
    n = snprintf(response, cap, "200 %s headers=%zd header_bytes=%zu params=%zu body=%zu sum=%u",
                 p, nheaders, header_bytes, nparams, body_size, sum);
    *response_len = n > 0 && (size_t)n < cap ? (size_t)n : 0;
    return response;
}

/* app.handle(path, headers=(), body_size=0) -> bytes. headers: strings ("Name: value"). */
static PyObject *App_handle(AppObject *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"path", "headers", "body_size", NULL};
    PyObject *path_obj, *headers_obj = NULL, *seq = NULL, *result = NULL;
    Py_ssize_t body_size = 0, nheaders = 0, i;
    span path, *headers;
    char *response;
    size_t response_len = 0;
    catmem_region_mark start;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "U|On:handle", kwlist, &path_obj, &headers_obj,
                                     &body_size))
        return NULL;
    if (!app_usable(self)) return NULL;
    if (body_size < 0) {
        PyErr_SetString(PyExc_ValueError, "body_size must be >= 0");
        return NULL;
    }
    path.data = PyUnicode_AsUTF8AndSize(path_obj, &path.len);
    if (path.data == NULL) return NULL;
    if (headers_obj != NULL) {
        /* A tuple of our own, not the caller's list: another thread could change a list while
           the GIL is released, and free strings whose UTF-8 the request is reading. */
        seq = PyUnicode_Check(headers_obj) ? NULL : PySequence_Tuple(headers_obj);
        if (seq == NULL) {
            PyErr_SetString(PyExc_TypeError, "headers must be a sequence of str");
            return NULL;
        }
        nheaders = PyTuple_GET_SIZE(seq);
    }
    start = catmem_region_save(&self->region);
    /* The table of header spans lives in the region too. The UTF-8 it points to belongs to the
       str objects, which the tuple keeps alive while the GIL is released. */
    headers = catmem_region_alloc(&self->region, sizeof(span) * (size_t)(nheaders + 1));
    if (headers == NULL) goto nomem;
    for (i = 0; i < nheaders; i++) {
        PyObject *h = PyTuple_GET_ITEM(seq, i);
        if (!PyUnicode_Check(h)) {
            PyErr_SetString(PyExc_TypeError, "headers must be a sequence of str");
            goto done;
        }
        headers[i].data = PyUnicode_AsUTF8AndSize(h, &headers[i].len);
        if (headers[i].data == NULL) goto done;
    }
    self->busy = 1;
    Py_BEGIN_ALLOW_THREADS
    response = serve(&self->region, path, headers, nheaders, (size_t)body_size, &response_len);
    Py_END_ALLOW_THREADS
    self->busy = 0;
    if (response == NULL) goto nomem;
    result = PyBytes_FromStringAndSize(response, (Py_ssize_t)response_len);
    self->requests++;
    goto done;
nomem:
    PyErr_NoMemory();
done:
    Py_XDECREF(seq);
    /* Outside a scope the call was the whole request: its memory goes at once. Inside one,
       a failed call still gives back what it took. */
    if (self->depth == 0)
        catmem_region_reset(&self->region);
    else if (result == NULL)
        catmem_region_restore(&self->region, start);
    return result;
}

static PyObject *App_request_scope(AppObject *self, PyObject *unused) {
    ScopeObject *scope;
    (void)unused;
    if (!app_usable(self)) return NULL;
    scope = PyObject_New(ScopeObject, &Scope_Type);
    if (scope == NULL) return NULL;
    Py_INCREF(self);
    scope->app = self;
    scope->entered = 0;
    return (PyObject *)scope;
}

static PyObject *App_get_arena_name(AppObject *self, void *closure) {
    (void)closure;
    if (self->arena == NULL) Py_RETURN_NONE;
    return PyUnicode_FromString(catmem_arena_name(self->arena));
}

static PyObject *App_get_arena_id(AppObject *self, void *closure) {
    (void)closure;
    if (self->arena == NULL) Py_RETURN_NONE;
    return PyLong_FromLong(catmem_arena_id(self->arena));
}

static PyObject *App_get_closed(AppObject *self, void *closure) {
    (void)closure;
    return PyBool_FromLong(self->arena == NULL);
}

static PyMethodDef App_methods[] = {
    {"handle", (PyCFunction)(void (*)(void))App_handle, METH_VARARGS | METH_KEYWORDS,
     "handle(path, headers=(), body_size=0) -> bytes\n\nServe one request from the App's region. "
     "Outside a request scope the region is reset when the call returns."},
    {"request_scope", (PyCFunction)App_request_scope, METH_NOARGS,
     "A context manager: one request spanning several calls; the region is reset (or, nested, "
     "restored) at exit."},
    {"stats", (PyCFunction)App_stats, METH_NOARGS,
     "catmem_arena_stats of the App's arena as a dict, plus the number of requests served."},
    {"reset", (PyCFunction)App_reset, METH_NOARGS,
     "Free everything the App's arena holds (catmem_arena_reset), the warm chunk included."},
    {"close", (PyCFunction)App_close, METH_NOARGS,
     "Release the arena now rather than when the App is collected."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef App_getset[] = {
    {"arena_name", (getter)App_get_arena_name, NULL, "name of the App's catmem arena", NULL},
    {"arena_id", (getter)App_get_arena_id, NULL, "catmem's id of the App's arena", NULL},
    {"closed", (getter)App_get_closed, NULL, "True after close()", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject App_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "catmem_example.App",
    .tp_basicsize = sizeof(AppObject),
    .tp_dealloc = (destructor)App_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "App()\n\nA web application's C core: one catmem arena and a request region.",
    .tp_methods = App_methods,
    .tp_getset = App_getset,
    .tp_new = App_new,
};

/* ---- request scope ------------------------------------------------------------------------- */

/* A scope dropped without __exit__ (an abandoned generator, say) still ends its request, unless
   another thread is working in the region right now: then the next request on the App does. */
static void Scope_dealloc(ScopeObject *self) {
    AppObject *app = self->app;
    if (self->entered && app != NULL) {
        app->depth--;
        if (app->arena != NULL && !app->busy) {
            if (app->depth == 0)
                catmem_region_reset(&app->region);
            else
                catmem_region_restore(&app->region, self->mark);
        }
    }
    Py_XDECREF(app);
    PyObject_Free(self);
}

static PyObject *Scope_enter(ScopeObject *self, PyObject *unused) {
    AppObject *app = self->app;
    (void)unused;
    if (self->entered) {
        PyErr_SetString(PyExc_RuntimeError, "request scope already entered");
        return NULL;
    }
    if (!app_usable(app)) return NULL;
    self->mark = catmem_region_save(&app->region);
    self->entered = 1;
    app->depth++;
    Py_INCREF(app);
    return (PyObject *)app;
}

static PyObject *Scope_exit(ScopeObject *self, PyObject *args) {
    AppObject *app = self->app;
    int err;
    (void)args;
    if (!self->entered) {
        PyErr_SetString(PyExc_RuntimeError, "request scope not entered");
        return NULL;
    }
    if (!app_usable(app)) return NULL;
    self->entered = 0;
    app->depth--;
    /* The outermost scope ends the request; an inner one gives back only what it took. */
    err = app->depth == 0 ? catmem_region_reset(&app->region)
                          : catmem_region_restore(&app->region, self->mark);
    if (err != 0) return raise_errno(err);
    Py_RETURN_FALSE; /* exceptions raised in the block go on */
}

static PyMethodDef Scope_methods[] = {
    {"__enter__", (PyCFunction)Scope_enter, METH_NOARGS, "Start the request; returns the App."},
    {"__exit__", (PyCFunction)Scope_exit, METH_VARARGS, "End the request: reset the region."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject Scope_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "catmem_example.RequestScope",
    .tp_basicsize = sizeof(ScopeObject),
    .tp_dealloc = (destructor)Scope_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Returned by App.request_scope().",
    .tp_methods = Scope_methods,
};

/* ---- module functions ---------------------------------------------------------------------- */

/* jemalloc's own arena count ("arenas.narenas"), or None without jemalloc: shows that App
   create/destroy cycles reuse jemalloc arenas instead of piling them up. */
static PyObject *backend_arenas(void) {
    int (*mallctl)(const char *, void *, size_t *, void *, size_t);
    void *sym;
    unsigned narenas;
    size_t len = sizeof narenas;
    if (strcmp(catmem_backend_name(), "jemalloc") != 0) Py_RETURN_NONE;
    sym = dlsym(RTLD_DEFAULT, "mallctl");
    if (sym == NULL) Py_RETURN_NONE;
    memcpy(&mallctl, &sym, sizeof sym);
    if (mallctl("arenas.narenas", &narenas, &len, NULL, 0) != 0) Py_RETURN_NONE;
    return PyLong_FromUnsignedLong(narenas);
}

static PyObject *mod_stats(PyObject *module, PyObject *unused) {
    catmem_stats st;
    PyObject *d, *v;
    int err;
    (void)module;
    (void)unused;
    err = catmem_total_stats(&st);
    if (err != 0) return raise_errno(err);
    d = stats_dict(&st);
    if (d == NULL) return NULL;
    v = Py_BuildValue("{s:K,s:l,s:i,s:N}", "apps_created", apps_created, "apps_live", apps_live,
                      "max_arena_id", max_arena_id, "backend_arenas", backend_arenas());
    if (v == NULL || PyDict_Update(d, v) != 0) {
        Py_XDECREF(v);
        Py_DECREF(d);
        return NULL;
    }
    Py_DECREF(v);
    return d;
}

static PyObject *mod_backend_name(PyObject *module, PyObject *unused) {
    (void)module;
    (void)unused;
    return PyUnicode_FromString(catmem_backend_name());
}

static PyObject *mod_backend_info(PyObject *module, PyObject *unused) {
    (void)module;
    (void)unused;
    return PyUnicode_FromString(catmem_backend_info());
}

static PyMethodDef module_methods[] = {
    {"backend_name", mod_backend_name, METH_NOARGS, "\"jemalloc\" or \"system\"."},
    {"backend_info", mod_backend_info, METH_NOARGS, "Why that backend was chosen."},
    {"stats", mod_stats, METH_NOARGS,
     "catmem_total_stats as a dict, plus apps_created, apps_live, max_arena_id (the highest "
     "backend arena id an App got) and backend_arenas (jemalloc's arena count, or None)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "catmem_example",
    .m_doc = "A web framework's C core on catmem: an arena per App, a region per request.",
    .m_size = -1, /* catmem's state is process-wide: one module instance */
    .m_methods = module_methods,
};

PyMODINIT_FUNC PyInit_catmem_example(void) {
    PyObject *m;
    int err = catmem_init(); /* idempotent; binds to jemalloc if the process has it */
    if (err != 0) return raise_errno(err);
    if (PyType_Ready(&App_Type) < 0 || PyType_Ready(&Scope_Type) < 0) return NULL;
    m = PyModule_Create(&module_def);
    if (m == NULL) return NULL;
    Py_INCREF(&App_Type);
    if (PyModule_AddObject(m, "App", (PyObject *)&App_Type) < 0) {
        Py_DECREF(&App_Type);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
