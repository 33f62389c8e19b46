/* Matching core: command decoding, order-entry checks, cancel, amend, reference price. */
#ifndef BRAID_CORE_COMMANDS_H
#define BRAID_CORE_COMMANDS_H

#include "_core_book.h"

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
/* a remainder of an order checked when it entered: the entry minimums (minQty, minNotional) do not apply */
static inline int remainder_qty_bad(Sym *S, int64_t q) {
    return q == OFFGRID_V || q <= 0 || (S->max_q != NONE_V && q > S->max_q);
}
static int best_crosses(Engine *E, int sym, int side, int64_t px) {
    Book *b = &E->syms[sym].side[side ^ 1];
    return b->n && crosses(side, px, b->v[b->n - 1].px);
}

/* (1, sym, acct, side, type, tif, price, qty, quote, stop, trail, stp, clid, ts, protect[, remainder]) */
static int cmd_new(Engine *E, PyObject *t) {
    Py_ssize_t nitems = PyTuple_GET_SIZE(t);
    if (nitems != 15 && nitems != 16) {
        PyErr_SetString(PyExc_ValueError, "new order tuple needs 15 or 16 items");
        return -1;
    }
    int remainder = nitems == 16 && get_i(t, 15) != 0;
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
        if (remainder ? remainder_qty_bad(S, qty) : qty_bad(S, qty)) { reason = R_LOT_SIZE; goto reject; }
        if (is_market_like(type) && (qty % S->mkt_step != 0 || (S->mkt_max != NONE_V && qty > S->mkt_max))) {
            reason = R_MARKET_LOT_SIZE;
            goto reject;
        }
    }
    if (trail != NONE_V && (trail < MIN_TRAIL || trail > MAX_TRAIL)) { reason = R_TRAILING_DELTA; goto reject; }
    if (is_priced(type)) {
        __int128 n = (__int128)px * qty;
        if (remainder ? (S->max_not != NONE_V && n > S->max_not) : notional_bad(S, n, 1)) {
            reason = R_NOTIONAL;
            goto reject;
        }
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


#endif
