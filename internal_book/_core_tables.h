/* Matching core: id map, event buffer, order pool and open client-id table. */
#ifndef BRAID_CORE_TABLES_H
#define BRAID_CORE_TABLES_H

#include "_core_types.h"

/* ---------------------------------------------------------------- id map (oid -> slot) */
static inline uint64_t hslot(Engine *E, int64_t k) {
    return (uint64_t)k & (E->hcap - 1); /* ids are sequential: identity keeps neighbours adjacent */
}
static int hput(Engine *E, int64_t k, int32_t v);
static int hgrow(Engine *E) {
    uint64_t oc = E->hcap;
    int64_t *ok = E->hk;
    int32_t *ov = E->hv;
    E->hcap = oc ? oc * 2 : 1024;
    E->hk = calloc(E->hcap, sizeof(int64_t));
    E->hv = malloc(E->hcap * sizeof(int32_t));
    if (!E->hk || !E->hv) { PyErr_NoMemory(); return -1; }
    E->hcnt = 0;
    for (uint64_t i = 0; i < oc; i++)
        if (ok[i]) hput(E, ok[i], ov[i]);
    free(ok);
    free(ov);
    return 0;
}
static int hput(Engine *E, int64_t k, int32_t v) {
    if ((E->hcnt + 1) * 2 > E->hcap && hgrow(E) < 0) return -1;
    uint64_t i = hslot(E, k);
    while (E->hk[i] && E->hk[i] != k) i = (i + 1) & (E->hcap - 1);
    if (!E->hk[i]) E->hcnt++;
    E->hk[i] = k;
    E->hv[i] = v;
    return 0;
}
static int32_t hget(Engine *E, int64_t k) {
    if (!E->hcap || k <= 0) return -1;
    uint64_t i = hslot(E, k);
    while (E->hk[i]) {
        if (E->hk[i] == k) return E->hv[i];
        i = (i + 1) & (E->hcap - 1);
    }
    return -1;
}
static void hdel(Engine *E, int64_t k) {
    uint64_t m = E->hcap - 1, i = hslot(E, k);
    while (E->hk[i] && E->hk[i] != k) i = (i + 1) & m;
    if (!E->hk[i]) return;
    E->hk[i] = 0;
    E->hcnt--;
    uint64_t j = i; /* backward-shift deletion keeps probe chains intact without tombstones */
    for (;;) {
        j = (j + 1) & m;
        if (!E->hk[j]) break;
        uint64_t h = hslot(E, E->hk[j]);
        if ((j > i && (h <= i || h > j)) || (j < i && (h <= i && h > j))) {
            E->hk[i] = E->hk[j];
            E->hv[i] = E->hv[j];
            E->hk[j] = 0;
            i = j;
        }
    }
}

/* ---------------------------------------------------------------- events */
static Ev *ev_new(Engine *E, int kind, int sym, int64_t ts, int64_t oid) {
    if (E->nev == E->evcap) {
        int64_t nc = E->evcap ? E->evcap * 2 : 4096;
        Ev *nv = realloc(E->ev, nc * sizeof(Ev));
        if (!nv) return NULL;
        E->ev = nv;
        E->evcap = nc;
    }
    Ev *e = &E->ev[E->nev++];
    memset(e, 0, sizeof(Ev));
    e->seq = ++E->seq;
    e->ts = ts;
    e->kind = kind;
    e->sym = sym;
    e->oid = oid;
    e->c = NONE_V;
    return e;
}
static int emit_reject(Engine *E, int sym, int64_t ts, PyObject *clid, int64_t oid, int reason, int field) {
    Ev *e = ev_new(E, E_REJECTED, sym, ts, oid);
    if (!e) { PyErr_NoMemory(); return -1; }
    e->g = reason;
    e->h = field;
    if (clid != Py_None && clid) { Py_INCREF(clid); e->clid = clid; }
    return 0;
}
static void ev_clear(Engine *E) {
    for (int64_t i = 0; i < E->nev; i++) Py_XDECREF(E->ev[i].clid);
    E->nev = 0;
}

/* ---------------------------------------------------------------- order pool */
static int32_t slot_alloc(Engine *E) {
    if (E->ofree < 0) {
        int32_t oc = E->ocap, nc = oc ? oc * 2 : 1024;
        Order *no = realloc(E->ord, (size_t)nc * sizeof(Order));
        if (!no) { PyErr_NoMemory(); return -1; }
        E->ord = no;
        for (int32_t i = nc - 1; i >= oc; i--) { no[i].state = 0; no[i].next = E->ofree; E->ofree = i; }
        E->ocap = nc;
    }
    int32_t s = E->ofree;
    E->ofree = E->ord[s].next;
    memset(&E->ord[s], 0, sizeof(Order));
    E->ord[s].prev = E->ord[s].next = -1;
    return s;
}
static void slot_free(Engine *E, int32_t s) {
    Py_CLEAR(E->ord[s].clid);
    E->ord[s].state = 0;
    E->ord[s].next = E->ofree;
    E->ofree = s;
}

/* ---------------------------------------------------------------- open client ids
 * One open-addressing table keyed by (account, client id) -> order slot. The str hash is cached
 * by CPython, so a lookup is a probe plus a pointer (or string) compare against the slot's clid. */
static inline uint64_t clid_hh(int64_t acct, PyObject *clid) {
    uint64_t h = (uint64_t)PyObject_Hash(clid);
    return (h ^ ((uint64_t)acct * 0x9E3779B97F4A7C15ull)) * 0xD6E8FEB86659FD93ull;
}
static inline int clid_eq(PyObject *a, PyObject *b) {
    return a == b || (PyUnicode_GET_LENGTH(a) == PyUnicode_GET_LENGTH(b) && PyUnicode_Compare(a, b) == 0);
}
static int32_t clid_find(Engine *E, int64_t acct, PyObject *clid) {
    if (!E->ccap) return -1;
    uint64_t hh = clid_hh(acct, clid), m = E->ccap - 1, i = hh & m;
    while (E->ck[i].slot >= 0) {
        if (E->ck[i].hh == hh) {
            Order *o = &E->ord[E->ck[i].slot];
            if (o->acct == acct && clid_eq(o->clid, clid)) return E->ck[i].slot;
        }
        i = (i + 1) & m;
    }
    return -1;
}
static int clid_grow(Engine *E) {
    uint64_t oc = E->ccap;
    ClidEnt *old = E->ck;
    E->ccap = oc ? oc * 2 : 1024;
    E->ck = malloc(E->ccap * sizeof(ClidEnt));
    if (!E->ck) { PyErr_NoMemory(); return -1; }
    for (uint64_t i = 0; i < E->ccap; i++) E->ck[i].slot = -1;
    for (uint64_t i = 0; i < oc; i++)
        if (old[i].slot >= 0) {
            uint64_t j = old[i].hh & (E->ccap - 1);
            while (E->ck[j].slot >= 0) j = (j + 1) & (E->ccap - 1);
            E->ck[j] = old[i];
        }
    free(old);
    return 0;
}
static int clid_open(Engine *E, Order *o) { /* register the id of an order that is now open */
    if (!o->clid) return 0;
    int32_t s = (int32_t)(o - E->ord);
    if ((E->ccnt + 1) * 2 > E->ccap && clid_grow(E) < 0) return -1;
    uint64_t hh = clid_hh(o->acct, o->clid), m = E->ccap - 1, i = hh & m;
    while (E->ck[i].slot >= 0) i = (i + 1) & m;
    E->ck[i].hh = hh;
    E->ck[i].slot = s;
    E->ccnt++;
    return 0;
}
static void clid_close(Engine *E, Order *o) {
    if (!o->clid || !E->ccap) return;
    int32_t s = (int32_t)(o - E->ord);
    uint64_t hh = clid_hh(o->acct, o->clid), m = E->ccap - 1, i = hh & m;
    while (E->ck[i].slot >= 0 && E->ck[i].slot != s) i = (i + 1) & m;
    if (E->ck[i].slot < 0) return;
    E->ck[i].slot = -1;
    E->ccnt--;
    uint64_t j = i; /* backward-shift deletion, as in hdel */
    for (;;) {
        j = (j + 1) & m;
        if (E->ck[j].slot < 0) break;
        uint64_t h = E->ck[j].hh & m;
        if ((j > i && (h <= i || h > j)) || (j < i && (h <= i && h > j))) {
            E->ck[i] = E->ck[j];
            E->ck[j].slot = -1;
            i = j;
        }
    }
}


#endif
