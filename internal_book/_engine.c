/* Braid internal matching engine core: price-time priority on scaled int64 ticks/lots.
 *
 * Pure state machine: commands (tuples of ints) in, fixed-size event records out. No I/O, no
 * clock, no floats. Semantics mirror internal_book/reference.py exactly; the Python edge
 * (engine.py) does Decimal <-> int scaling and turns records into event objects.
 *
 * Layout: per symbol and side a sorted array of price levels (best at the END so consuming the
 * top level is O(1)); each level is a FIFO doubly-linked list of order slots in a pool; an
 * open-addressing hash maps order id -> slot; another maps (account, client id) -> slot.
 *
 * One translation unit: _core_types.h -> _core_tables.h -> _core_book.h -> _core_commands.h,
 * then the Python type below.
 */
#include "_core_commands.h"

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
/* Touch the hash buckets the next command will probe (client id, order id) so their cache misses
 * overlap with the current command. Pure hint: no state change, no errors. */
static void prefetch_cmd(Engine *E, PyObject *t) {
    if (!PyTuple_CheckExact(t) || PyTuple_GET_SIZE(t) < 6) return;
    PyObject *op = PyTuple_GET_ITEM(t, 0), *clid = NULL, *acct = PyTuple_GET_ITEM(t, 2), *oid = NULL;
    if (!PyLong_CheckExact(op) || !PyLong_CheckExact(acct)) return;
    long o = PyLong_AsLong(op);
    if (o == 1 && PyTuple_GET_SIZE(t) >= 15) clid = PyTuple_GET_ITEM(t, 12);
    else if (o == 2 || o == 3 || o == 5) { clid = PyTuple_GET_ITEM(t, 4); oid = PyTuple_GET_ITEM(t, 3); }
    if (clid && PyUnicode_CheckExact(clid) && E->ccap) {
        uint64_t hh = clid_hh(get_i(t, 2), clid);
        __builtin_prefetch(&E->ck[hh & (E->ccap - 1)]);
    }
    if (oid && PyLong_CheckExact(oid) && E->hcap) {
        uint64_t k = (uint64_t)get_i(t, 3) & (E->hcap - 1);
        __builtin_prefetch(&E->hk[k]);
        __builtin_prefetch(&E->hv[k]);
    }
    if (PyErr_Occurred()) PyErr_Clear();
}

/* Second stage: the bucket is (likely) cached now; prefetch the order slot a cancel or amend by
 * client id will touch, without dereferencing it. */
static void prefetch_slot(Engine *E, PyObject *t) {
    if (!PyTuple_CheckExact(t) || PyTuple_GET_SIZE(t) < 6 || !E->ccap) return;
    PyObject *op = PyTuple_GET_ITEM(t, 0), *clid = PyTuple_GET_ITEM(t, 4), *acct = PyTuple_GET_ITEM(t, 2);
    if (!PyLong_CheckExact(op) || !PyLong_CheckExact(acct) || !PyUnicode_CheckExact(clid)) return;
    long o = PyLong_AsLong(op);
    if (o != 2 && o != 3 && o != 5) return;
    uint64_t hh = clid_hh(get_i(t, 2), clid), m = E->ccap - 1, i = hh & m;
    for (int probes = 0; probes < 8 && E->ck[i].slot >= 0; probes++, i = (i + 1) & m)
        if (E->ck[i].hh == hh) { __builtin_prefetch(&E->ord[E->ck[i].slot]); break; }
    if (PyErr_Occurred()) PyErr_Clear();
}

static PyObject *Engine_process_many(Engine *E, PyObject *seq) {
    PyObject *fast = PySequence_Fast(seq, "process_many needs a sequence");
    if (!fast) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    PyObject **items = PySequence_Fast_ITEMS(fast);
    /* two-stage software pipeline: hash buckets two commands ahead, the order slot one ahead */
    if (n > 0) prefetch_cmd(E, items[0]);
    if (n > 1) prefetch_cmd(E, items[1]);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i + 2 < n) prefetch_cmd(E, items[i + 2]);
        if (i + 1 < n) prefetch_slot(E, items[i + 1]);
        if (dispatch(E, items[i]) < 0) { Py_DECREF(fast); return NULL; }
    }
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
