/* Matching core: price levels, stop triggers and the matching loop. */
#ifndef BRAID_CORE_BOOK_H
#define BRAID_CORE_BOOK_H

#include "_core_tables.h"

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


#endif
