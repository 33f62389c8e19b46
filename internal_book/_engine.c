/* Braid internal matching engine core: price-time priority on scaled int64 ticks/lots.
 *
 * Pure state machine: commands (tuples of ints) in, fixed-size event records out. No I/O, no
 * clock, no floats. Semantics mirror internal_book/reference.py exactly; the Python edge
 * (engine.py) does Decimal <-> int scaling and turns records into event objects.
 *
 * Layout: per symbol and side a sorted array of price levels (best at the END so consuming the
 * top level is O(1)); each level is a FIFO doubly-linked list of order slots in a pool; an
 * open-addressing hash maps order id -> slot; per-account Python dicts hold open client ids.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define NONE_V INT64_MIN
#define OFFGRID_V (INT64_MIN + 1)

enum { BUY = 0, SELL = 1 };
enum { T_LIMIT, T_LIMIT_MAKER, T_MARKET, T_STOP_LOSS, T_STOP_LOSS_LIMIT, T_TAKE_PROFIT, T_TAKE_PROFIT_LIMIT };
enum { GTC = 0, IOC = 1, FOK = 2 };
enum { STP_NONE, STP_EXPIRE_TAKER, STP_EXPIRE_MAKER, STP_EXPIRE_BOTH };
enum { S_NEW, S_PARTIALLY_FILLED, S_FILLED, S_CANCELED, S_REJECTED, S_EXPIRED, S_EXPIRED_IN_MATCH };
enum { E_ACCEPTED = 1, E_TRADE, E_CANCELLED, E_EXPIRED, E_TRIGGERED, E_REJECTED, E_AMENDED, E_RELEASED };
enum {
    R_UNKNOWN_SYMBOL = 1, R_MARKET_CLOSED, R_MANDATORY_PARAM, R_PARAM_NOT_REQUIRED, R_QTY_OR_QUOTE_REQUIRED,
    R_STOP_OR_TRAILING_REQUIRED, R_UNSUPPORTED_COMBINATION, R_PRICE_FILTER, R_LOT_SIZE, R_MARKET_LOT_SIZE,
    R_TRAILING_DELTA, R_NOTIONAL, R_BAD_PRECISION, R_DUPLICATE_ORDER, R_WOULD_TRIGGER_IMMEDIATELY,
    R_WOULD_TAKE, R_UNKNOWN_ORDER, R_CANCEL_INVALID, R_AMEND_NOT_ALLOWED, R_AMEND_BELOW_EXECUTED
};
enum { F_TIF = 1, F_QTY, F_PRICE, F_QUOTE, F_STOP, F_TRAIL, F_PROTECT, F_NEWQTY };
#define BIT(f) (1u << (f))
#define MIN_TRAIL 10
#define MAX_TRAIL 2000

/* per type: required and forbidden parameter bits (same table as filters.PARAM_RULES) */
static const unsigned REQ[7] = {
    BIT(F_TIF) | BIT(F_QTY) | BIT(F_PRICE), BIT(F_QTY) | BIT(F_PRICE), 0, BIT(F_QTY),
    BIT(F_TIF) | BIT(F_QTY) | BIT(F_PRICE), BIT(F_QTY), BIT(F_TIF) | BIT(F_QTY) | BIT(F_PRICE)};
static const unsigned FORB[7] = {
    BIT(F_QUOTE) | BIT(F_STOP) | BIT(F_TRAIL),
    BIT(F_TIF) | BIT(F_QUOTE) | BIT(F_STOP) | BIT(F_TRAIL) | BIT(F_PROTECT),
    BIT(F_TIF) | BIT(F_PRICE) | BIT(F_STOP) | BIT(F_TRAIL),
    BIT(F_TIF) | BIT(F_PRICE) | BIT(F_QUOTE) | BIT(F_PROTECT),
    BIT(F_QUOTE) | BIT(F_PROTECT),
    BIT(F_TIF) | BIT(F_PRICE) | BIT(F_QUOTE) | BIT(F_PROTECT),
    BIT(F_QUOTE) | BIT(F_PROTECT)};

static inline int is_stop_type(int t) { return t >= T_STOP_LOSS; }
static inline int is_market_like(int t) { return t == T_MARKET || t == T_STOP_LOSS || t == T_TAKE_PROFIT; }
static inline int is_priced(int t) {
    return t == T_LIMIT || t == T_LIMIT_MAKER || t == T_STOP_LOSS_LIMIT || t == T_TAKE_PROFIT_LIMIT;
}
/* STOP_LOSS BUY and TAKE_PROFIT SELL trigger on price >= stop; the others on price <= stop */
static inline int stop_up(int t, int side) {
    int sl = (t == T_STOP_LOSS || t == T_STOP_LOSS_LIMIT);
    return sl == (side == BUY);
}
static inline int stop_cond(int t, int side, int64_t p, int64_t stop) {
    return stop_up(t, side) ? p >= stop : p <= stop;
}
static inline int crosses(int side, int64_t limit, int64_t maker_px) {
    return side == BUY ? maker_px <= limit : maker_px >= limit;
}

typedef struct { int64_t px, total; int32_t head, tail, n, pad; } Level;
typedef struct { Level *v; int32_t n, cap; } Book; /* sorted by key ascending, best at end */

typedef struct {
    int64_t oid, px, qty, leaves, executed, quote, stop, extreme, ts, protect, acct;
    int32_t prev, next, sym, trail;
    int8_t side, type, tif, stp, state, active, limit_like, pad;
    PyObject *clid;
} Order; /* state: 0 free/in-flight, 1 resting, 2 pending stop */

typedef struct {
    int64_t min_px, max_px, min_q, max_q, mkt_step, mkt_max, min_not, max_not;
    int apply_min_mkt, trading;
    int64_t last;
    Book side[2];
    int32_t *stops, nstops, capstops, ntrail;
    /* cached trigger bounds of plain (non-trailing) stops so the common no-trigger check is O(1) */
    int64_t up_min, down_max;
    int bounds_dirty;
} Sym;

typedef struct {
    int64_t seq, ts;
    int32_t kind, sym;
    int64_t oid, a, b, c, d, e, f;
    int32_t g, h, i, j;
    PyObject *clid;
} Ev;

typedef struct ClidEnt { uint64_t hh; int32_t slot; } ClidEnt; /* slot -1: empty */

typedef struct {
    PyObject_HEAD
    Sym *syms;
    int32_t nsyms;
    Order *ord;
    int32_t ocap, ofree;
    int64_t *hk;
    int32_t *hv;
    uint64_t hcap, hcnt;
    struct ClidEnt *ck; /* open client ids: (account, clid) -> slot */
    uint64_t ccap, ccnt;
    int64_t seq, next_oid, next_tid;
    Ev *ev;
    int64_t nev, evcap;
} Engine;

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

/* ---------------------------------------------------------------- levels */
static inline int64_t lkey(int side, int64_t px) { return side == BUY ? px : -px; }
/* index of first level with key >= key(px) */
static int32_t level_lb(Book *b, int side, int64_t px) {
    int64_t k = lkey(side, px);
    int32_t lo = 0, hi = b->n;
    while (lo < hi) {
        int32_t mid = (lo + hi) >> 1;
        if (lkey(side, b->v[mid].px) < k) lo = mid + 1; else hi = mid;
    }
    return lo;
}
static int rest(Engine *E, int32_t s) { /* append to the back of its price level */
    Order *o = &E->ord[s];
    Book *b = &E->syms[o->sym].side[o->side];
    int32_t i = level_lb(b, o->side, o->px);
    if (i == b->n || b->v[i].px != o->px) {
        if (b->n == b->cap) {
            int32_t nc = b->cap ? b->cap * 2 : 64;
            Level *nv = realloc(b->v, (size_t)nc * sizeof(Level));
            if (!nv) { PyErr_NoMemory(); return -1; }
            b->v = nv;
            b->cap = nc;
        }
        memmove(&b->v[i + 1], &b->v[i], (size_t)(b->n - i) * sizeof(Level));
        b->n++;
        b->v[i].px = o->px;
        b->v[i].total = 0;
        b->v[i].n = 0;
        b->v[i].head = b->v[i].tail = -1;
    }
    Level *L = &b->v[i];
    o->prev = L->tail;
    o->next = -1;
    if (L->tail >= 0) E->ord[L->tail].next = s; else L->head = s;
    L->tail = s;
    L->n++;
    L->total += o->leaves;
    o->state = 1;
    if (hput(E, o->oid, s) < 0) return -1;
    return clid_open(E, o);
}
/* unlink a resting order from its level (dropping an emptied level); slot stays allocated */
static void unlink_order(Engine *E, int32_t s) {
    Order *o = &E->ord[s];
    Book *b = &E->syms[o->sym].side[o->side];
    int32_t i = level_lb(b, o->side, o->px);
    Level *L = &b->v[i];
    if (o->prev >= 0) E->ord[o->prev].next = o->next; else L->head = o->next;
    if (o->next >= 0) E->ord[o->next].prev = o->prev; else L->tail = o->prev;
    L->n--;
    L->total -= o->leaves;
    if (L->n == 0) {
        memmove(&b->v[i], &b->v[i + 1], (size_t)(b->n - i - 1) * sizeof(Level));
        b->n--;
    }
    o->state = 0;
    hdel(E, o->oid);
    clid_close(E, o);
}
static void stop_unlink(Engine *E, int32_t s) {
    Order *o = &E->ord[s];
    Sym *S = &E->syms[o->sym];
    for (int32_t i = 0; i < S->nstops; i++)
        if (S->stops[i] == s) {
            memmove(&S->stops[i], &S->stops[i + 1], (size_t)(S->nstops - i - 1) * sizeof(int32_t));
            S->nstops--;
            break;
        }
    if (o->trail != 0) S->ntrail--;
    else S->bounds_dirty = 1;
    o->state = 0;
    hdel(E, o->oid);
    clid_close(E, o);
}
static int stop_park(Engine *E, int32_t s) {
    Order *o = &E->ord[s];
    Sym *S = &E->syms[o->sym];
    if (S->nstops == S->capstops) {
        int32_t nc = S->capstops ? S->capstops * 2 : 16;
        int32_t *nv = realloc(S->stops, (size_t)nc * sizeof(int32_t));
        if (!nv) { PyErr_NoMemory(); return -1; }
        S->stops = nv;
        S->capstops = nc;
    }
    S->stops[S->nstops++] = s;
    if (o->trail != 0) S->ntrail++;
    else if (stop_up(o->type, o->side)) { if (o->stop < S->up_min) S->up_min = o->stop; }
    else if (o->stop > S->down_max) S->down_max = o->stop;
    o->state = 2;
    if (hput(E, o->oid, s) < 0) return -1;
    return clid_open(E, o);
}

/* ---------------------------------------------------------------- prices and stops */
static void set_last(Engine *E, int sym, int64_t px) {
    Sym *S = &E->syms[sym];
    S->last = px;
    if (!S->ntrail) return;
    for (int32_t i = 0; i < S->nstops; i++) {
        Order *o = &E->ord[S->stops[i]];
        if (!o->trail) continue;
        if (!o->active) {
            if (o->stop == NONE_V || stop_cond(o->type, o->side, px, o->stop)) { o->active = 1; o->extreme = px; }
        } else if (o->side == BUY) {
            if (px < o->extreme) o->extreme = px;
        } else if (px > o->extreme) {
            o->extreme = px;
        }
    }
}
static int triggered(Order *o, int64_t last) {
    if (!o->trail) return stop_cond(o->type, o->side, last, o->stop);
    if (!o->active) return 0;
    __int128 l = (__int128)last * 10000;
    if (o->side == BUY) return l >= (__int128)o->extreme * (10000 + o->trail);
    return l <= (__int128)o->extreme * (10000 - o->trail);
}
static int execute(Engine *E, int32_t s, int64_t ts);
static void stop_bounds(Sym *S, Order *ord) {
    S->up_min = INT64_MAX;
    S->down_max = INT64_MIN;
    for (int32_t i = 0; i < S->nstops; i++) {
        Order *o = &ord[S->stops[i]];
        if (o->trail) continue;
        if (stop_up(o->type, o->side)) { if (o->stop < S->up_min) S->up_min = o->stop; }
        else if (o->stop > S->down_max) S->down_max = o->stop;
    }
    S->bounds_dirty = 0;
}
static int run_triggers(Engine *E, int sym, int64_t ts) {
    Sym *S = &E->syms[sym];
    while (S->nstops && S->last != NONE_V) {
        if (S->bounds_dirty) stop_bounds(S, E->ord);
        /* nothing can fire: no trailing stops and the price is inside the plain stops' bounds */
        if (!S->ntrail && S->last < S->up_min && S->last > S->down_max) return 0;
        int32_t hit = -1;
        for (int32_t i = 0; i < S->nstops; i++)
            if (triggered(&E->ord[S->stops[i]], S->last)) { hit = S->stops[i]; break; }
        if (hit < 0) return 0;
        stop_unlink(E, hit);
        Ev *e = ev_new(E, E_TRIGGERED, sym, ts, E->ord[hit].oid);
        if (!e) { PyErr_NoMemory(); return -1; }
        e->a = S->last;
        if (execute(E, hit, ts) < 0) return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- matching */
/* Walk the opposite side without changing it. Returns filled lots (qty mode) or lots (quote mode);
 * appends (px, lots, maker oid) to `fills` when given. */
static int64_t simulate(Engine *E, int sym, int side, int64_t acct, int stp, int64_t limit, int64_t qty,
                        int64_t quote, PyObject *fills) {
    Book *b = &E->syms[sym].side[side ^ 1];
    int64_t filled = 0;
    for (int32_t li = b->n - 1; li >= 0; li--) {
        Level *L = &b->v[li];
        if (limit != NONE_V && !crosses(side, limit, L->px)) return filled;
        for (int32_t m = L->head; m >= 0; m = E->ord[m].next) {
            Order *mo = &E->ord[m];
            if ((quote == NONE_V && qty == 0) || (quote != NONE_V && quote == 0)) return filled;
            if (stp != STP_NONE && mo->acct == acct) {
                if (stp == STP_EXPIRE_MAKER) continue;
                return filled;
            }
            int64_t f = mo->leaves;
            if (quote == NONE_V) { if (qty < f) f = qty; }
            else { int64_t aff = quote / L->px; if (aff < f) f = aff; }
            if (f == 0) return filled;
            if (fills) {
                PyObject *t = Py_BuildValue("(LLL)", (long long)L->px, (long long)f, (long long)mo->oid);
                if (!t || PyList_Append(fills, t) < 0) { Py_XDECREF(t); return -1; }
                Py_DECREF(t);
            }
            filled += f;
            if (quote == NONE_V) qty -= f; else quote -= f * L->px;
        }
    }
    return filled;
}

static int emit_end(Engine *E, int kind, Order *o, int64_t ts, int status) {
    Ev *e = ev_new(E, kind, o->sym, ts, o->oid);
    if (!e) { PyErr_NoMemory(); return -1; }
    e->a = o->executed;
    e->b = o->leaves;
    e->c = o->quote;
    e->g = status;
    return 0;
}

/* Match slot s as taker; then rest, expire or release the remainder; frees s unless it rests. */
static int execute(Engine *E, int32_t s, int64_t ts) {
    Order *o = &E->ord[s];
    int sym = o->sym, side = o->side;
    Sym *S = &E->syms[sym];
    int64_t limit = o->limit_like ? o->px : NONE_V;
    if (o->protect != NONE_V) {
        if (limit == NONE_V) limit = o->protect;
        else if (side == BUY) limit = o->protect < limit ? o->protect : limit;
        else limit = o->protect > limit ? o->protect : limit;
    }
    if (o->tif == FOK) {
        int64_t can = simulate(E, sym, side, o->acct, o->stp, limit, o->leaves, NONE_V, NULL);
        if (can < 0) return -1;
        if (can < o->leaves) {
            int r = emit_end(E, o->protect != NONE_V ? E_RELEASED : E_EXPIRED, o, ts, S_EXPIRED);
            slot_free(E, s);
            return r;
        }
    }
    Book *b = &S->side[side ^ 1];
    int stp_expired = 0, exhausted = 0;
    Ev *last_trade = NULL;
    int64_t last_trade_i = -1;
    for (;;) {
        if (o->quote == NONE_V) { if (o->leaves == 0) break; }
        else if (o->quote == 0) { exhausted = 1; break; }
        if (b->n == 0) break;
        Level *L = &b->v[b->n - 1];
        if (limit != NONE_V && !crosses(side, limit, L->px)) break;
        int32_t m = L->head;
        Order *mo = &E->ord[m];
        if (o->stp != STP_NONE && mo->acct == o->acct) {
            if (o->stp == STP_EXPIRE_MAKER || o->stp == STP_EXPIRE_BOTH) {
                unlink_order(E, m);
                if (emit_end(E, E_EXPIRED, mo, ts, S_EXPIRED_IN_MATCH) < 0) return -1;
                slot_free(E, m);
            }
            if (o->stp == STP_EXPIRE_TAKER || o->stp == STP_EXPIRE_BOTH) { stp_expired = 1; break; }
            continue;
        }
        int64_t px = L->px, f = mo->leaves;
        if (o->quote == NONE_V) { if (o->leaves < f) f = o->leaves; }
        else { int64_t aff = o->quote / px; if (aff < f) f = aff; }
        if (f == 0) { exhausted = 1; break; }
        mo->leaves -= f;
        mo->executed += f;
        L->total -= f;
        o->executed += f;
        if (o->quote == NONE_V) o->leaves -= f; else o->quote -= f * px;
        int64_t moid = mo->oid;
        int maker_done = mo->leaves == 0;
        if (maker_done) {
            /* fast pop of the head order (the common case) */
            L->head = mo->next;
            L->n--;
            if (L->head >= 0) E->ord[L->head].prev = -1; else L->tail = -1;
            if (L->n == 0) b->n--;
            mo->state = 0;
            hdel(E, moid);
            clid_close(E, mo);
            slot_free(E, m);
        }
        Ev *e = ev_new(E, E_TRADE, sym, ts, o->oid);
        if (!e) { PyErr_NoMemory(); return -1; }
        e->a = px;
        e->b = f;
        e->c = moid;
        e->d = E->next_tid++;
        e->g = side;
        e->h = (o->quote == NONE_V && o->leaves == 0) ? S_FILLED : S_PARTIALLY_FILLED;
        e->i = maker_done ? S_FILLED : S_PARTIALLY_FILLED;
        last_trade_i = E->nev - 1;
        set_last(E, sym, px);
        o = &E->ord[s]; /* set_last never reallocates, but keep the pointer discipline */
    }
    (void)last_trade;
    if (o->quote == NONE_V && o->leaves == 0) { slot_free(E, s); return 0; }
    int r = 0;
    if (stp_expired) r = emit_end(E, E_EXPIRED, o, ts, S_EXPIRED_IN_MATCH);
    else if (o->quote != NONE_V && exhausted && o->executed > 0) E->ev[last_trade_i].h = S_FILLED;
    else if (o->protect != NONE_V) r = emit_end(E, E_RELEASED, o, ts, 0);
    else if (o->quote != NONE_V || is_market_like(o->type) || o->tif == IOC || o->tif == FOK)
        r = emit_end(E, E_EXPIRED, o, ts, S_EXPIRED);
    else return rest(E, s);
    slot_free(E, s);
    (void)S;
    return r;
}

/* ---------------------------------------------------------------- commands */
static inline int64_t get_i(PyObject *t, Py_ssize_t i) {
    PyObject *o = PyTuple_GET_ITEM(t, i);
    if (o == Py_None) return NONE_V;
#if PY_VERSION_HEX < 0x030C0000
    /* fast path for small ints (one 30-bit digit) in the 3.11 long layout */
    if (PyLong_CheckExact(o)) {
        Py_ssize_t sz = Py_SIZE(o);
        if (sz == 0) return 0;
        if (sz == 1) return (int64_t)((PyLongObject *)o)->ob_digit[0];
        if (sz == -1) return -(int64_t)((PyLongObject *)o)->ob_digit[0];
    }
#endif
    return PyLong_AsLongLong(o);
}
static inline int price_bad(Sym *S, int64_t p) {
    return p == OFFGRID_V || p <= 0 || p < S->min_px || (S->max_px != NONE_V && p > S->max_px);
}
static inline int qty_bad(Sym *S, int64_t q) {
    return q == OFFGRID_V || q <= 0 || q < S->min_q || (S->max_q != NONE_V && q > S->max_q);
}
static inline int notional_bad(Sym *S, __int128 n, int check_max) {
    return n < S->min_not || (check_max && S->max_not != NONE_V && n > S->max_not);
}
static int best_crosses(Engine *E, int sym, int side, int64_t px) {
    Book *b = &E->syms[sym].side[side ^ 1];
    return b->n && crosses(side, px, b->v[b->n - 1].px);
}

/* (1, sym, acct, side, type, tif, price, qty, quote, stop, trail, stp, clid, ts, protect) */
static int cmd_new(Engine *E, PyObject *t) {
    if (PyTuple_GET_SIZE(t) != 15) { PyErr_SetString(PyExc_ValueError, "new order tuple needs 15 items"); return -1; }
    int64_t sym = get_i(t, 1), acct = get_i(t, 2), side = get_i(t, 3), type = get_i(t, 4), tif = get_i(t, 5);
    int64_t px = get_i(t, 6), qty = get_i(t, 7), quote = get_i(t, 8), stop = get_i(t, 9), trail = get_i(t, 10);
    int64_t stp = get_i(t, 11), ts = get_i(t, 13), protect = get_i(t, 14);
    PyObject *clid = PyTuple_GET_ITEM(t, 12);
    if (PyErr_Occurred()) return -1;
    if (side < 0 || side > 1 || type < 0 || type > 6 || stp < 0 || stp > 3 || acct < 0 ||
        (tif != NONE_V && (tif < 0 || tif > 2))) {
        PyErr_SetString(PyExc_ValueError, "bad enum value in order tuple");
        return -1;
    }
    if (clid != Py_None && !PyUnicode_CheckExact(clid)) { PyErr_SetString(PyExc_TypeError, "clid must be str"); return -1; }
    if (sym < 0 || sym >= E->nsyms) return emit_reject(E, -1, ts, clid, NONE_V, R_UNKNOWN_SYMBOL, 0);
    Sym *S = &E->syms[sym];
    int reason = 0, field = 0;
    if (!S->trading) { reason = R_MARKET_CLOSED; goto reject; }
    unsigned present = (tif != NONE_V ? BIT(F_TIF) : 0) | (qty != NONE_V ? BIT(F_QTY) : 0) |
                       (px != NONE_V ? BIT(F_PRICE) : 0) | (quote != NONE_V ? BIT(F_QUOTE) : 0) |
                       (stop != NONE_V ? BIT(F_STOP) : 0) | (trail != NONE_V ? BIT(F_TRAIL) : 0) |
                       (protect != NONE_V ? BIT(F_PROTECT) : 0);
    for (int f = F_TIF; f <= F_PROTECT; f++)
        if ((REQ[type] & BIT(f)) && !(present & BIT(f))) { reason = R_MANDATORY_PARAM; field = f; goto reject; }
    if (type == T_MARKET) {
        if (!(present & (BIT(F_QTY) | BIT(F_QUOTE)))) { reason = R_QTY_OR_QUOTE_REQUIRED; goto reject; }
        if ((present & BIT(F_QTY)) && (present & BIT(F_QUOTE))) { reason = R_UNSUPPORTED_COMBINATION; goto reject; }
    } else if (is_stop_type(type) && !(present & (BIT(F_STOP) | BIT(F_TRAIL)))) {
        reason = R_STOP_OR_TRAILING_REQUIRED;
        goto reject;
    }
    for (int f = F_TIF; f <= F_PROTECT; f++)
        if ((FORB[type] & BIT(f)) && (present & BIT(f))) { reason = R_PARAM_NOT_REQUIRED; field = f; goto reject; }
    if ((px != NONE_V && price_bad(S, px)) || (stop != NONE_V && price_bad(S, stop)) ||
        (protect != NONE_V && price_bad(S, protect))) { reason = R_PRICE_FILTER; goto reject; }
    if (quote != NONE_V) {
        if (quote == OFFGRID_V) { reason = R_BAD_PRECISION; field = F_QUOTE; goto reject; }
        if (quote <= 0) { reason = R_NOTIONAL; goto reject; }
    }
    if (qty != NONE_V) {
        if (qty_bad(S, qty)) { reason = R_LOT_SIZE; goto reject; }
        if (is_market_like(type) && (qty % S->mkt_step != 0 || (S->mkt_max != NONE_V && qty > S->mkt_max))) {
            reason = R_MARKET_LOT_SIZE;
            goto reject;
        }
    }
    if (trail != NONE_V && (trail < MIN_TRAIL || trail > MAX_TRAIL)) { reason = R_TRAILING_DELTA; goto reject; }
    if (is_priced(type)) {
        if (notional_bad(S, (__int128)px * qty, 1)) { reason = R_NOTIONAL; goto reject; }
    } else if (S->apply_min_mkt) {
        int have = 1;
        __int128 n = 0;
        if (quote != NONE_V) n = quote;
        else if (type == T_MARKET) { if (S->last == NONE_V) have = 0; else n = (__int128)S->last * qty; }
        else { if (stop == NONE_V) have = 0; else n = (__int128)stop * qty; }
        if (have && notional_bad(S, n, 0)) { reason = R_NOTIONAL; goto reject; }
    }
    if (clid != Py_None && clid_find(E, acct, clid) >= 0) { reason = R_DUPLICATE_ORDER; goto reject; }
    if (is_stop_type(type) && trail == NONE_V && S->last != NONE_V && stop_cond((int)type, (int)side, S->last, stop)) {
        reason = R_WOULD_TRIGGER_IMMEDIATELY;
        goto reject;
    }
    if (type == T_LIMIT_MAKER && best_crosses(E, (int)sym, (int)side, px)) { reason = R_WOULD_TAKE; goto reject; }

    /* accepted */
    int32_t s = slot_alloc(E);
    if (s < 0) return -1;
    Order *o = &E->ord[s];
    o->oid = E->next_oid++;
    o->px = px;
    o->qty = qty;
    o->leaves = qty == NONE_V ? 0 : qty;
    o->quote = quote;
    o->stop = stop;
    o->extreme = NONE_V;
    o->ts = ts;
    o->protect = protect;
    o->acct = acct;
    o->sym = (int32_t)sym;
    o->trail = trail == NONE_V ? 0 : (int32_t)trail;
    o->side = (int8_t)side;
    o->type = (int8_t)type;
    o->tif = tif == NONE_V ? -1 : (int8_t)tif;
    o->stp = (int8_t)stp;
    o->limit_like = (int8_t)is_priced((int)type);
    if (clid != Py_None) { Py_INCREF(clid); o->clid = clid; }
    Ev *e = ev_new(E, E_ACCEPTED, (int)sym, ts, o->oid);
    if (!e) { PyErr_NoMemory(); return -1; }
    e->a = px; e->b = qty; e->c = quote; e->d = stop; e->e = acct; e->f = trail;
    e->g = (int32_t)side; e->h = (int32_t)type; e->i = (int32_t)o->tif; e->j = (int32_t)stp;
    if (o->clid) { Py_INCREF(clid); e->clid = clid; }
    if (is_stop_type(type)) {
        if (o->trail && S->last != NONE_V && (stop == NONE_V || stop_cond((int)type, (int)side, S->last, stop))) {
            o->active = 1;
            o->extreme = S->last;
        }
        if (stop_park(E, s) < 0) return -1;
    } else if (execute(E, s, ts) < 0) {
        return -1;
    }
    return S->nstops ? run_triggers(E, (int)sym, ts) : 0;
reject:
    return emit_reject(E, (int)sym, ts, clid, NONE_V, reason, field);
}

static int32_t find_open(Engine *E, int64_t sym, int64_t acct, int64_t oid, PyObject *clid) {
    int32_t s = -1;
    if (oid != NONE_V) s = hget(E, oid);
    else if (clid != Py_None && PyUnicode_CheckExact(clid)) s = clid_find(E, acct, clid);
    if (s < 0 || E->ord[s].sym != sym || E->ord[s].acct != acct) return -1;
    return s;
}

/* (2, sym, acct, oid, clid, ts) ; returns 1 when cancelled */
static int cmd_cancel(Engine *E, PyObject *t) {
    if (PyTuple_GET_SIZE(t) != 6) { PyErr_SetString(PyExc_ValueError, "cancel tuple needs 6 items"); return -1; }
    int64_t sym = get_i(t, 1), acct = get_i(t, 2), oid = get_i(t, 3), ts = get_i(t, 5);
    PyObject *clid = PyTuple_GET_ITEM(t, 4);
    if (PyErr_Occurred()) return -1;
    if (sym < 0 || sym >= E->nsyms) return emit_reject(E, -1, ts, clid, oid, R_UNKNOWN_SYMBOL, 0);
    if (oid == NONE_V && clid == Py_None) return emit_reject(E, (int)sym, ts, clid, oid, R_CANCEL_INVALID, 0);
    int32_t s = find_open(E, sym, acct, oid, clid);
    if (PyErr_Occurred()) return -1;
    if (s < 0) return emit_reject(E, (int)sym, ts, clid, oid, R_UNKNOWN_ORDER, 0);
    Order *o = &E->ord[s];
    if (o->state == 1) unlink_order(E, s); else stop_unlink(E, s);
    Ev *e = ev_new(E, E_CANCELLED, (int)sym, ts, o->oid);
    if (!e) { PyErr_NoMemory(); return -1; }
    e->a = o->executed;
    e->b = o->leaves;
    if (o->clid) { Py_INCREF(o->clid); e->clid = o->clid; }
    slot_free(E, s);
    return 1;
}

/* (3, sym, acct, oid, clid, new_price, new_qty, ts) */
static int cmd_amend(Engine *E, PyObject *t) {
    if (PyTuple_GET_SIZE(t) != 8) { PyErr_SetString(PyExc_ValueError, "amend tuple needs 8 items"); return -1; }
    int64_t sym = get_i(t, 1), acct = get_i(t, 2), oid = get_i(t, 3), npx = get_i(t, 5), nq = get_i(t, 6),
            ts = get_i(t, 7);
    PyObject *clid = PyTuple_GET_ITEM(t, 4);
    if (PyErr_Occurred()) return -1;
    if (sym < 0 || sym >= E->nsyms) return emit_reject(E, -1, ts, clid, oid, R_UNKNOWN_SYMBOL, 0);
    if (oid == NONE_V && clid == Py_None) return emit_reject(E, (int)sym, ts, clid, oid, R_CANCEL_INVALID, 0);
    int32_t s = find_open(E, sym, acct, oid, clid);
    if (PyErr_Occurred()) return -1;
    if (s < 0) return emit_reject(E, (int)sym, ts, clid, oid, R_UNKNOWN_ORDER, 0);
    Order *o = &E->ord[s];
    Sym *S = &E->syms[sym];
    int reason = 0, field = 0;
    if (o->state != 1) reason = R_AMEND_NOT_ALLOWED;
    else if (npx == NONE_V && nq == NONE_V) { reason = R_MANDATORY_PARAM; field = F_NEWQTY; }
    else if (npx != NONE_V && price_bad(S, npx)) reason = R_PRICE_FILTER;
    else if (nq != NONE_V && qty_bad(S, nq)) reason = R_LOT_SIZE;
    int64_t price = npx == NONE_V ? o->px : npx, q = nq == NONE_V ? o->qty : nq;
    if (!reason && q <= o->executed) reason = R_AMEND_BELOW_EXECUTED;
    if (!reason && notional_bad(S, (__int128)price * q, 1)) reason = R_NOTIONAL;
    if (reason) return emit_reject(E, (int)sym, ts, clid, o->oid, reason, field);
    if (price == o->px && q <= o->qty) { /* pure decrease: keep the queue position */
        int64_t d = o->qty - q;
        Book *b = &S->side[o->side];
        b->v[level_lb(b, o->side, o->px)].total -= d;
        o->leaves -= d;
        o->qty = q;
        Ev *e = ev_new(E, E_AMENDED, (int)sym, ts, o->oid);
        if (!e) { PyErr_NoMemory(); return -1; }
        e->a = price; e->b = q; e->c = o->leaves; e->g = 1;
        return 0;
    }
    if (o->type == T_LIMIT_MAKER && best_crosses(E, (int)sym, o->side, price))
        return emit_reject(E, (int)sym, ts, clid, o->oid, R_WOULD_TAKE, 0);
    unlink_order(E, s);
    o->px = price;
    o->leaves = q - o->executed;
    o->qty = q;
    Ev *e = ev_new(E, E_AMENDED, (int)sym, ts, o->oid);
    if (!e) { PyErr_NoMemory(); return -1; }
    e->a = price; e->b = q; e->c = o->leaves; e->g = 0;
    if (execute(E, s, ts) < 0) return -1;
    return S->nstops ? run_triggers(E, (int)sym, ts) : 0;
}

/* (4, sym, price, ts) */
static int cmd_refpx(Engine *E, PyObject *t) {
    if (PyTuple_GET_SIZE(t) != 4) { PyErr_SetString(PyExc_ValueError, "reference tuple needs 4 items"); return -1; }
    int64_t sym = get_i(t, 1), px = get_i(t, 2), ts = get_i(t, 3);
    if (PyErr_Occurred()) return -1;
    if (sym < 0 || sym >= E->nsyms) return emit_reject(E, -1, ts, Py_None, NONE_V, R_UNKNOWN_SYMBOL, 0);
    if (price_bad(&E->syms[sym], px)) return emit_reject(E, (int)sym, ts, Py_None, NONE_V, R_PRICE_FILTER, 0);
    set_last(E, (int)sym, px);
    return E->syms[sym].nstops ? run_triggers(E, (int)sym, ts) : 0;
}

static int dispatch(Engine *E, PyObject *t) {
    if (!PyTuple_CheckExact(t) || PyTuple_GET_SIZE(t) < 1) { PyErr_SetString(PyExc_TypeError, "command must be a tuple"); return -1; }
    long op = PyLong_AsLong(PyTuple_GET_ITEM(t, 0));
    switch (op) {
    case 1: return cmd_new(E, t);
    case 2: return cmd_cancel(E, t) < 0 ? -1 : 0;
    case 3: return cmd_amend(E, t);
    case 4: return cmd_refpx(E, t);
    case 5: { /* (5, sym, acct, oid, clid, ts, new_order_tuple): STOP_ON_FAILURE */
        if (PyTuple_GET_SIZE(t) != 7) { PyErr_SetString(PyExc_ValueError, "cancel-replace tuple needs 7 items"); return -1; }
        PyObject *c = PyTuple_GetSlice(t, 0, 6);
        if (!c) return -1;
        int r = cmd_cancel(E, c);
        Py_DECREF(c);
        if (r <= 0) return r;
        PyObject *n = PyTuple_GET_ITEM(t, 6);
        if (!PyTuple_CheckExact(n)) { PyErr_SetString(PyExc_TypeError, "new order must be a tuple"); return -1; }
        return cmd_new(E, n);
    }
    default:
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "unknown command op");
        return -1;
    }
}

/* ---------------------------------------------------------------- Python type */
static void Engine_dealloc(Engine *E) {
    ev_clear(E);
    free(E->ev);
    for (int32_t i = 0; i < E->ocap; i++) if (E->ord[i].state) Py_CLEAR(E->ord[i].clid);
    free(E->ord);
    free(E->hk);
    free(E->hv);
    free(E->ck);
    for (int32_t i = 0; i < E->nsyms; i++) {
        free(E->syms[i].side[0].v);
        free(E->syms[i].side[1].v);
        free(E->syms[i].stops);
    }
    free(E->syms);
    Py_TYPE(E)->tp_free((PyObject *)E);
}

/* Engine(symbols): each symbol a tuple
 * (min_px, max_px, min_q, max_q, mkt_step, mkt_max, min_not, max_not, apply_min_mkt, trading),
 * every bound already scaled (max_* None when off). */
static int Engine_init(Engine *E, PyObject *args, PyObject *kw) {
    PyObject *syms;
    if (!PyArg_ParseTuple(args, "O!", &PyTuple_Type, &syms)) return -1;
    Py_ssize_t n = PyTuple_GET_SIZE(syms);
    E->syms = calloc(n ? n : 1, sizeof(Sym));
    if (!E->syms) { PyErr_NoMemory(); return -1; }
    E->nsyms = (int32_t)n;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *t = PyTuple_GET_ITEM(syms, i);
        if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != 10) { PyErr_SetString(PyExc_ValueError, "symbol tuple needs 10 items"); return -1; }
        Sym *S = &E->syms[i];
        S->min_px = get_i(t, 0); S->max_px = get_i(t, 1); S->min_q = get_i(t, 2); S->max_q = get_i(t, 3);
        S->mkt_step = get_i(t, 4); S->mkt_max = get_i(t, 5); S->min_not = get_i(t, 6); S->max_not = get_i(t, 7);
        S->apply_min_mkt = (int)get_i(t, 8); S->trading = (int)get_i(t, 9);
        S->last = NONE_V;
        S->up_min = INT64_MAX;
        S->down_max = INT64_MIN;
        if (PyErr_Occurred()) return -1;
        if (S->mkt_step <= 0) S->mkt_step = 1;
    }
    E->ofree = -1;
    E->next_oid = 1;
    E->next_tid = 1;
    return 0;
}

static PyObject *Engine_process(Engine *E, PyObject *t) {
    if (dispatch(E, t) < 0) return NULL;
    Py_RETURN_NONE;
}
static PyObject *Engine_process_many(Engine *E, PyObject *seq) {
    PyObject *fast = PySequence_Fast(seq, "process_many needs a sequence");
    if (!fast) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    PyObject **items = PySequence_Fast_ITEMS(fast);
    for (Py_ssize_t i = 0; i < n; i++)
        if (dispatch(E, items[i]) < 0) { Py_DECREF(fast); return NULL; }
    Py_DECREF(fast);
    Py_RETURN_NONE;
}
static PyObject *ll_or_none(int64_t v) { return v == NONE_V ? Py_NewRef(Py_None) : PyLong_FromLongLong(v); }
/* drain() -> list of (seq, ts, kind, sym, oid, a, b, c, d, e, f, g, h, i, j, clid); None for absent */
static PyObject *Engine_drain(Engine *E, PyObject *unused) {
    PyObject *out = PyList_New(E->nev);
    if (!out) return NULL;
    for (int64_t k = 0; k < E->nev; k++) {
        Ev *e = &E->ev[k];
        PyObject *t = PyTuple_New(16);
        if (!t) { Py_DECREF(out); return NULL; }
        PyObject **it = ((PyTupleObject *)t)->ob_item;
        it[0] = PyLong_FromLongLong(e->seq);
        it[1] = PyLong_FromLongLong(e->ts);
        it[2] = PyLong_FromLong(e->kind);
        it[3] = PyLong_FromLong(e->sym);
        it[4] = ll_or_none(e->oid);
        it[5] = ll_or_none(e->a);
        it[6] = ll_or_none(e->b);
        it[7] = ll_or_none(e->c);
        it[8] = ll_or_none(e->d);
        it[9] = ll_or_none(e->e);
        it[10] = ll_or_none(e->f);
        it[11] = PyLong_FromLong(e->g);
        it[12] = PyLong_FromLong(e->h);
        it[13] = PyLong_FromLong(e->i);
        it[14] = PyLong_FromLong(e->j);
        it[15] = e->clid ? e->clid : Py_None; /* the record's reference moves to the tuple */
        Py_INCREF(it[15]);
        for (int f = 0; f < 15; f++)
            if (!it[f]) { Py_DECREF(t); Py_DECREF(out); return NULL; }
        PyList_SET_ITEM(out, k, t);
    }
    ev_clear(E);
    return out;
}
/* drain_packed() -> (bytes, [clid, ...]): the raw fixed-size records (see EVENT_RECORD in
 * engine.py) with the clid pointer replaced by an index into the list (-1: none). For consumers
 * that persist or forward events without building Python objects per event. */
static PyObject *Engine_drain_packed(Engine *E, PyObject *unused) {
    PyObject *clids = PyList_New(0);
    if (!clids) return NULL;
    PyObject *buf = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(E->nev * (int64_t)sizeof(Ev)));
    if (!buf) { Py_DECREF(clids); return NULL; }
    Ev *dst = (Ev *)PyBytes_AS_STRING(buf);
    memcpy(dst, E->ev, (size_t)E->nev * sizeof(Ev));
    for (int64_t k = 0; k < E->nev; k++) {
        intptr_t idx = -1;
        if (E->ev[k].clid) {
            idx = PyList_GET_SIZE(clids);
            if (PyList_Append(clids, E->ev[k].clid) < 0) { Py_DECREF(buf); Py_DECREF(clids); return NULL; }
        }
        dst[k].clid = (PyObject *)idx;
    }
    ev_clear(E);
    return Py_BuildValue("(NN)", buf, clids);
}
static PyObject *Engine_discard_events(Engine *E, PyObject *unused) {
    int64_t n = E->nev;
    ev_clear(E);
    return PyLong_FromLongLong(n);
}
static PyObject *Engine_pending_events(Engine *E, PyObject *unused) { return PyLong_FromLongLong(E->nev); }

/* preview(sym, side, acct, stp, limit, qty, quote) -> [(px, lots, maker oid)] */
static PyObject *Engine_preview(Engine *E, PyObject *args) {
    long long sym, side, acct, stp;
    PyObject *lo, *qo, *uo;
    if (!PyArg_ParseTuple(args, "LLLLOOO", &sym, &side, &acct, &stp, &lo, &qo, &uo)) return NULL;
    if (sym < 0 || sym >= E->nsyms || side < 0 || side > 1) { PyErr_SetString(PyExc_ValueError, "bad symbol/side"); return NULL; }
    int64_t limit = lo == Py_None ? NONE_V : PyLong_AsLongLong(lo);
    int64_t qty = qo == Py_None ? NONE_V : PyLong_AsLongLong(qo);
    int64_t quote = uo == Py_None ? NONE_V : PyLong_AsLongLong(uo);
    if (PyErr_Occurred()) return NULL;
    PyObject *fills = PyList_New(0);
    if (!fills) return NULL;
    if (simulate(E, (int)sym, (int)side, acct, (int)stp, limit, qty == NONE_V ? 0 : qty, quote, fills) < 0) {
        Py_DECREF(fills);
        return NULL;
    }
    return fills;
}

static PyObject *order_row(Order *o) {
    return Py_BuildValue("(LLOiiiNNLLiLNNiNN)", (long long)o->oid, (long long)o->acct, o->clid ? o->clid : Py_None,
                         o->side, o->type, o->tif, ll_or_none(o->px), ll_or_none(o->qty), (long long)o->leaves,
                         (long long)o->executed, o->stp, (long long)o->ts, ll_or_none(o->stop),
                         o->trail ? PyLong_FromLong(o->trail) : Py_NewRef(Py_None), (int)o->active,
                         ll_or_none(o->extreme), ll_or_none(o->protect));
}
/* dump() -> (seq, next_oid, next_tid, ((last, bids, asks, stops), ...)); books best-first, FIFO */
static PyObject *Engine_dump(Engine *E, PyObject *unused) {
    if (E->nev) { PyErr_SetString(PyExc_RuntimeError, "drain events before dump"); return NULL; }
    PyObject *syms = PyTuple_New(E->nsyms);
    if (!syms) return NULL;
    for (int32_t i = 0; i < E->nsyms; i++) {
        Sym *S = &E->syms[i];
        PyObject *sides[2];
        for (int sd = 0; sd < 2; sd++) {
            sides[sd] = PyList_New(0);
            Book *b = &S->side[sd];
            for (int32_t li = b->n - 1; li >= 0; li--)
                for (int32_t m = b->v[li].head; m >= 0; m = E->ord[m].next) {
                    PyObject *r = order_row(&E->ord[m]);
                    PyList_Append(sides[sd], r);
                    Py_XDECREF(r);
                }
        }
        PyObject *stops = PyList_New(0);
        for (int32_t k = 0; k < S->nstops; k++) {
            PyObject *r = order_row(&E->ord[S->stops[k]]);
            PyList_Append(stops, r);
            Py_XDECREF(r);
        }
        PyTuple_SET_ITEM(syms, i, Py_BuildValue("(NNNN)", ll_or_none(S->last), sides[0], sides[1], stops));
    }
    if (PyErr_Occurred()) { Py_DECREF(syms); return NULL; }
    return Py_BuildValue("(LLLN)", (long long)E->seq, (long long)E->next_oid, (long long)E->next_tid, syms);
}
static int64_t row_i(PyObject *r, Py_ssize_t i) { return get_i(r, i); }
/* load(dump_tuple): only into a fresh engine */
static PyObject *Engine_load(Engine *E, PyObject *args) {
    PyObject *st;
    if (!PyArg_ParseTuple(args, "O!", &PyTuple_Type, &st)) return NULL;
    if (E->next_oid != 1 || E->seq != 0) { PyErr_SetString(PyExc_RuntimeError, "load needs a fresh engine"); return NULL; }
    long long seq, noid, ntid;
    PyObject *syms;
    if (!PyArg_ParseTuple(st, "LLLO!", &seq, &noid, &ntid, &PyTuple_Type, &syms)) return NULL;
    if (PyTuple_GET_SIZE(syms) != E->nsyms) { PyErr_SetString(PyExc_ValueError, "symbol count differs"); return NULL; }
    for (int32_t i = 0; i < E->nsyms; i++) {
        PyObject *sy = PyTuple_GET_ITEM(syms, i);
        E->syms[i].last = get_i(sy, 0);
        for (int part = 1; part <= 3; part++) {
            PyObject *rows = PySequence_Fast(PyTuple_GET_ITEM(sy, part), "rows");
            if (!rows) return NULL;
            for (Py_ssize_t k = 0; k < PySequence_Fast_GET_SIZE(rows); k++) {
                PyObject *r = PySequence_Fast_GET_ITEM(rows, k);
                int32_t s = slot_alloc(E);
                if (s < 0) { Py_DECREF(rows); return NULL; }
                Order *o = &E->ord[s];
                o->oid = row_i(r, 0); o->acct = row_i(r, 1);
                PyObject *c = PyTuple_GET_ITEM(r, 2);
                if (c != Py_None) { Py_INCREF(c); o->clid = c; }
                o->side = (int8_t)row_i(r, 3); o->type = (int8_t)row_i(r, 4); o->tif = (int8_t)row_i(r, 5);
                o->px = row_i(r, 6); o->qty = row_i(r, 7); o->leaves = row_i(r, 8); o->executed = row_i(r, 9);
                o->stp = (int8_t)row_i(r, 10); o->ts = row_i(r, 11); o->stop = row_i(r, 12);
                int64_t tr = row_i(r, 13);
                o->trail = tr == NONE_V ? 0 : (int32_t)tr;
                o->active = (int8_t)row_i(r, 14); o->extreme = row_i(r, 15); o->protect = row_i(r, 16);
                o->quote = NONE_V;
                o->sym = i;
                o->limit_like = (int8_t)is_priced(o->type);
                if (PyErr_Occurred() || (part < 3 ? rest(E, s) : stop_park(E, s)) < 0) { Py_DECREF(rows); return NULL; }
            }
            Py_DECREF(rows);
        }
    }
    E->seq = seq;
    E->next_oid = noid;
    E->next_tid = ntid;
    Py_RETURN_NONE;
}

#define CHECK(c, msg) do { if (!(c)) { PyErr_Format(PyExc_AssertionError, "%s (symbol %d)", msg, (int)i); return NULL; } } while (0)
static PyObject *Engine_validate(Engine *E, PyObject *unused) {
    uint64_t open = 0;
    for (int32_t i = 0; i < E->nsyms; i++) {
        Sym *S = &E->syms[i];
        for (int sd = 0; sd < 2; sd++) {
            Book *b = &S->side[sd];
            for (int32_t li = 0; li < b->n; li++) {
                Level *L = &b->v[li];
                CHECK(li == 0 || lkey(sd, b->v[li - 1].px) < lkey(sd, L->px), "levels not strictly sorted");
                CHECK(L->n > 0 && L->head >= 0, "empty level kept");
                int64_t tot = 0;
                int32_t cnt = 0, prev = -1;
                for (int32_t m = L->head; m >= 0; m = E->ord[m].next) {
                    Order *o = &E->ord[m];
                    CHECK(o->state == 1 && o->px == L->px && o->side == sd && o->sym == i, "order misplaced");
                    CHECK(o->prev == prev, "broken back link");
                    CHECK(o->leaves > 0 && o->leaves + o->executed == o->qty, "quantity identity broken");
                    CHECK(hget(E, o->oid) == m, "id map out of sync");
                    tot += o->leaves;
                    cnt++;
                    prev = m;
                }
                CHECK(L->tail == prev && L->n == cnt && L->total == tot, "level totals out of sync");
                open += cnt;
            }
        }
        if (S->side[0].n && S->side[1].n)
            CHECK(S->side[0].v[S->side[0].n - 1].px < S->side[1].v[S->side[1].n - 1].px, "book crossed");
        int32_t nt = 0;
        for (int32_t k = 0; k < S->nstops; k++) {
            Order *o = &E->ord[S->stops[k]];
            CHECK(o->state == 2 && hget(E, o->oid) == S->stops[k], "stop out of sync");
            CHECK(k == 0 || E->ord[S->stops[k - 1]].oid < o->oid, "stops not in arrival order");
            nt += o->trail != 0;
        }
        CHECK(nt == S->ntrail, "trailing count out of sync");
        open += S->nstops;
    }
    int32_t i = -1;
    CHECK(open == E->hcnt, "id map holds closed orders");
    uint64_t with_clid = 0;
    for (uint64_t k = 0; k < E->ccap; k++) {
        int32_t s = E->ck[k].slot;
        if (s < 0) continue;
        CHECK(E->ord[s].state && E->ord[s].clid && clid_find(E, E->ord[s].acct, E->ord[s].clid) == s,
              "client id table out of sync");
        with_clid++;
    }
    CHECK(with_clid == E->ccnt, "client id count out of sync");
    Py_RETURN_NONE;
}

static PyObject *Engine_top(Engine *E, PyObject *args) {
    int sym;
    if (!PyArg_ParseTuple(args, "i", &sym)) return NULL;
    if (sym < 0 || sym >= E->nsyms) { PyErr_SetString(PyExc_ValueError, "bad symbol"); return NULL; }
    Book *bb = &E->syms[sym].side[0], *ba = &E->syms[sym].side[1];
    return Py_BuildValue("(NN)", bb->n ? PyLong_FromLongLong(bb->v[bb->n - 1].px) : Py_NewRef(Py_None),
                         ba->n ? PyLong_FromLongLong(ba->v[ba->n - 1].px) : Py_NewRef(Py_None));
}

static PyMethodDef Engine_methods[] = {
    {"process", (PyCFunction)Engine_process, METH_O, "Apply one command tuple."},
    {"process_many", (PyCFunction)Engine_process_many, METH_O, "Apply a sequence of command tuples."},
    {"drain", (PyCFunction)Engine_drain, METH_NOARGS, "Return and clear buffered event records."},
    {"drain_packed", (PyCFunction)Engine_drain_packed, METH_NOARGS, "Return and clear events as packed records."},
    {"discard_events", (PyCFunction)Engine_discard_events, METH_NOARGS, "Clear buffered events; return count."},
    {"pending_events", (PyCFunction)Engine_pending_events, METH_NOARGS, "Number of buffered events."},
    {"preview", (PyCFunction)Engine_preview, METH_VARARGS, "Fills an order would get, without changes."},
    {"dump", (PyCFunction)Engine_dump, METH_NOARGS, "Whole state as nested tuples."},
    {"load", (PyCFunction)Engine_load, METH_VARARGS, "Restore a dump into a fresh engine."},
    {"validate", (PyCFunction)Engine_validate, METH_NOARGS, "Check invariants; raise AssertionError."},
    {"top", (PyCFunction)Engine_top, METH_VARARGS, "(best bid, best ask) in ticks."},
    {NULL, NULL, 0, NULL}};

static PyTypeObject EngineType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "internal_book._engine.Engine",
    .tp_basicsize = sizeof(Engine),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Engine_init,
    .tp_dealloc = (destructor)Engine_dealloc,
    .tp_methods = Engine_methods,
    .tp_doc = "Integer price-time-priority matching core (see engine.MatchingEngine).",
};

static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "_engine", "Braid matching core.", -1, NULL};

PyMODINIT_FUNC PyInit__engine(void) {
    if (PyType_Ready(&EngineType) < 0) return NULL;
    PyObject *m = PyModule_Create(&moddef);
    if (!m) return NULL;
    Py_INCREF(&EngineType);
    if (PyModule_AddObject(m, "Engine", (PyObject *)&EngineType) < 0) return NULL;
    PyModule_AddObject(m, "NONE", PyLong_FromLongLong(NONE_V));
    PyModule_AddObject(m, "EVENT_RECORD_SIZE", PyLong_FromLong((long)sizeof(Ev)));
    PyModule_AddObject(m, "OFFGRID", PyLong_FromLongLong(OFFGRID_V));
    return m;
}
