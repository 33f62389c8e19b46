/*
 * Exact L2 price book: the hot path of market-data mirroring.
 *
 * Prices and quantities are decimal strings on the wire. They are parsed here straight into
 * scaled 128-bit integers (value * 10^scale), so arithmetic stays exact and no binary float is
 * ever involved. The scale grows on its own (the whole book is rescaled) when a value arrives
 * with more decimals than the book holds.
 *
 * Each side is one sorted array with the best level at the END, so the frequent changes near
 * the top move only a few elements. Asks are stored under the key -price so that both sides
 * share the "best = largest key" layout.
 *
 * apply() is atomic: every level of the message is parsed and checked before the first one
 * changes the book, so a malformed frame never leaves a half-applied book behind.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef __int128 i128;

#define MAX_SCALE 18
#define MAX_DIGITS 36

static i128 POW10[39];

typedef struct {
    i128 *key;
    i128 *qty;
    Py_ssize_t n;
    Py_ssize_t cap;
} Side;

typedef struct {
    PyObject_HEAD
    Side bids;
    Side asks;
    int price_scale;
    int qty_scale;
} L2Book;

/* One parsed level: mantissa and the number of fraction digits it carries (value = m / 10^frac). */
typedef struct {
    i128 pm;
    int pfrac;
    i128 qm;
    int qfrac;
    int bid;
} Parsed;

/* ---------- parsing ---------- */

/* Parse a non-negative decimal such as "0.35130000", "45285.2", "9.121E-7", "12".
 * On success stores the mantissa with trailing fraction zeros stripped, and the fraction digits. */
static int parse_decimal(const char *s, Py_ssize_t len, i128 *out_m, int *out_frac)
{
    Py_ssize_t i = 0;
    i128 m = 0;
    int digits = 0, frac = 0, seen_digit = 0, seen_dot = 0;
    if (len == 0)
        return -1;
    for (; i < len; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9') {
            seen_digit = 1;
            if (m != 0 || c != '0') {
                if (++digits > MAX_DIGITS)
                    return -2;
            }
            m = m * 10 + (c - '0');
            if (seen_dot)
                frac++;
        } else if (c == '.' && !seen_dot) {
            seen_dot = 1;
        } else if (c == 'e' || c == 'E') {
            break;
        } else {
            return -1;
        }
    }
    if (!seen_digit)
        return -1;
    if (i < len) { /* exponent */
        int neg = 0, ex = 0, exdigits = 0;
        i++;
        if (i < len && (s[i] == '-' || s[i] == '+')) {
            neg = s[i] == '-';
            i++;
        }
        for (; i < len; i++) {
            char c = s[i];
            if (c < '0' || c > '9')
                return -1;
            ex = ex * 10 + (c - '0');
            if (++exdigits > 4)
                return -2;
        }
        if (exdigits == 0)
            return -1;
        frac += neg ? ex : -ex;
    }
    /* strip trailing zeros of the fraction, then fold a negative fraction into the mantissa */
    while (frac > 0 && m != 0 && m % 10 == 0) {
        m /= 10;
        frac--;
    }
    if (m == 0)
        frac = 0;
    while (frac < 0) {
        if (digits++ >= MAX_DIGITS)
            return -2;
        m *= 10;
        frac++;
    }
    if (frac > MAX_SCALE)
        return -3;
    *out_m = m;
    *out_frac = frac;
    return 0;
}

static int parse_item(PyObject *item, i128 *m, int *frac, const char *what, Py_ssize_t idx)
{
    PyObject *text = NULL;
    const char *s;
    Py_ssize_t len;
    int rc;
    if (PyUnicode_Check(item)) {
        s = PyUnicode_AsUTF8AndSize(item, &len);
        if (s == NULL)
            return -1;
    } else if (PyFloat_Check(item)) {
        PyErr_Format(PyExc_TypeError, "level %zd: %s is a binary float; send a decimal string", idx, what);
        return -1;
    } else if (PyLong_Check(item) || PyObject_HasAttrString(item, "as_tuple")) {
        /* int or Decimal: their str() is an exact decimal (possibly with an exponent) */
        if (PyBool_Check(item)) {
            PyErr_Format(PyExc_TypeError, "level %zd: %s must be a decimal, got bool", idx, what);
            return -1;
        }
        text = PyObject_Str(item);
        if (text == NULL)
            return -1;
        s = PyUnicode_AsUTF8AndSize(text, &len);
        if (s == NULL) {
            Py_DECREF(text);
            return -1;
        }
    } else {
        PyErr_Format(PyExc_TypeError, "level %zd: %s must be a decimal string, got %.50s", idx, what,
                     Py_TYPE(item)->tp_name);
        return -1;
    }
    rc = parse_decimal(s, len, m, frac);
    if (rc != 0) {
        if (rc == -3)
            PyErr_Format(PyExc_ValueError, "level %zd: %s %.40R has more than %d decimals", idx, what, item,
                         MAX_SCALE);
        else if (rc == -2)
            PyErr_Format(PyExc_ValueError, "level %zd: %s %.40R is out of range", idx, what, item);
        else
            PyErr_Format(PyExc_ValueError, "level %zd: %s %.40R is not a non-negative decimal", idx, what, item);
    }
    Py_XDECREF(text);
    return rc == 0 ? 0 : -1;
}

/* Parse a sequence of levels ([price, qty, ...]) into out[offset...]. Returns the count or -1. */
static Py_ssize_t parse_levels(PyObject *levels, Parsed *out, int bid, Py_ssize_t base)
{
    PyObject *fast = PySequence_Fast(levels, "levels must be a list of [price, qty] pairs");
    Py_ssize_t n, i;
    if (fast == NULL)
        return -1;
    n = PySequence_Fast_GET_SIZE(fast);
    for (i = 0; i < n; i++) {
        PyObject *lvl = PySequence_Fast_GET_ITEM(fast, i);
        PyObject *p, *q;
        if (PyList_CheckExact(lvl) && PyList_GET_SIZE(lvl) >= 2) {
            p = PyList_GET_ITEM(lvl, 0);
            q = PyList_GET_ITEM(lvl, 1);
        } else if (PyTuple_CheckExact(lvl) && PyTuple_GET_SIZE(lvl) >= 2) {
            p = PyTuple_GET_ITEM(lvl, 0);
            q = PyTuple_GET_ITEM(lvl, 1);
        } else {
            PyErr_Format(PyExc_TypeError, "level %zd must be a [price, qty] list, got %.60R", base + i, lvl);
            Py_DECREF(fast);
            return -1;
        }
        if (parse_item(p, &out[i].pm, &out[i].pfrac, "price", base + i) < 0 ||
            parse_item(q, &out[i].qm, &out[i].qfrac, "qty", base + i) < 0) {
            Py_DECREF(fast);
            return -1;
        }
        if (out[i].pm == 0) {
            PyErr_Format(PyExc_ValueError, "level %zd: price must be positive", base + i);
            Py_DECREF(fast);
            return -1;
        }
        out[i].bid = bid;
    }
    Py_DECREF(fast);
    return n;
}

static Py_ssize_t seq_len(PyObject *o)
{
    if (o == NULL || o == Py_None)
        return 0;
    if (PyList_CheckExact(o))
        return PyList_GET_SIZE(o);
    return PySequence_Size(o);
}

/* ---------- side storage ---------- */

static int side_reserve(Side *s, Py_ssize_t need)
{
    Py_ssize_t cap;
    i128 *k, *q;
    if (need <= s->cap)
        return 0;
    cap = s->cap ? s->cap : 64;
    while (cap < need)
        cap *= 2;
    k = PyMem_Realloc(s->key, (size_t)cap * sizeof(i128));
    if (k == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    s->key = k;
    q = PyMem_Realloc(s->qty, (size_t)cap * sizeof(i128));
    if (q == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    s->qty = q;
    s->cap = cap;
    return 0;
}

/* Index of the first key >= k. Changes cluster near the top (the end), so search from there. */
static inline Py_ssize_t side_find(const Side *s, i128 k)
{
    Py_ssize_t lo = 0, hi = s->n;
    if (hi > 0 && s->key[hi - 1] < k)
        return hi;
    while (lo < hi) {
        Py_ssize_t mid = (lo + hi) >> 1;
        if (s->key[mid] < k)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static inline void side_set(Side *s, i128 k, i128 qty)
{
    Py_ssize_t i = side_find(s, k);
    if (i < s->n && s->key[i] == k) {
        if (qty == 0) {
            memmove(s->key + i, s->key + i + 1, (size_t)(s->n - i - 1) * sizeof(i128));
            memmove(s->qty + i, s->qty + i + 1, (size_t)(s->n - i - 1) * sizeof(i128));
            s->n--;
        } else {
            s->qty[i] = qty;
        }
    } else if (qty != 0) {
        memmove(s->key + i + 1, s->key + i, (size_t)(s->n - i) * sizeof(i128));
        memmove(s->qty + i + 1, s->qty + i, (size_t)(s->n - i) * sizeof(i128));
        s->key[i] = k;
        s->qty[i] = qty;
        s->n++;
    }
}

static int side_fits(const Side *s, i128 kmul, i128 qmul)
{
    Py_ssize_t i;
    i128 lim = POW10[38];
    for (i = 0; i < s->n; i++) {
        i128 k = s->key[i] < 0 ? -s->key[i] : s->key[i];
        if (k > lim / kmul || s->qty[i] > lim / qmul)
            return 0;
    }
    return 1;
}

static void side_rescale(Side *s, i128 kmul, i128 qmul)
{
    Py_ssize_t i;
    for (i = 0; i < s->n; i++) {
        s->key[i] *= kmul;
        s->qty[i] *= qmul;
    }
}

/* ---------- conversions ---------- */

static PyObject *i128_to_py(i128 v)
{
    if (v >= INT64_MIN && v <= INT64_MAX)
        return PyLong_FromLongLong((long long)v);
    {
        int neg = v < 0;
        unsigned __int128 u = neg ? (unsigned __int128)(-v) : (unsigned __int128)v;
        PyObject *hi = PyLong_FromUnsignedLongLong((unsigned long long)(u >> 64));
        PyObject *lo = PyLong_FromUnsignedLongLong((unsigned long long)u);
        PyObject *sh = PyLong_FromLong(64);
        PyObject *t = NULL, *r = NULL;
        if (hi && lo && sh && (t = PyNumber_Lshift(hi, sh)))
            r = PyNumber_Or(t, lo);
        Py_XDECREF(hi);
        Py_XDECREF(lo);
        Py_XDECREF(sh);
        Py_XDECREF(t);
        if (r && neg) {
            PyObject *n = PyNumber_Negative(r);
            Py_DECREF(r);
            r = n;
        }
        return r;
    }
}

static PyObject *level_tuple(const Side *s, Py_ssize_t i, int ask)
{
    PyObject *p = i128_to_py(ask ? -s->key[i] : s->key[i]);
    PyObject *q = i128_to_py(s->qty[i]);
    PyObject *t;
    if (p == NULL || q == NULL) {
        Py_XDECREF(p);
        Py_XDECREF(q);
        return NULL;
    }
    t = PyTuple_New(2);
    if (t == NULL) {
        Py_DECREF(p);
        Py_DECREF(q);
        return NULL;
    }
    PyTuple_SET_ITEM(t, 0, p);
    PyTuple_SET_ITEM(t, 1, q);
    return t;
}

/* ---------- the type ---------- */

static void L2Book_dealloc(L2Book *self)
{
    PyMem_Free(self->bids.key);
    PyMem_Free(self->bids.qty);
    PyMem_Free(self->asks.key);
    PyMem_Free(self->asks.qty);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int L2Book_init(L2Book *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"price_scale", "qty_scale", NULL};
    int ps = 0, qs = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|ii", kwlist, &ps, &qs))
        return -1;
    if (ps < 0 || ps > MAX_SCALE || qs < 0 || qs > MAX_SCALE) {
        PyErr_Format(PyExc_ValueError, "scales must be within 0..%d", MAX_SCALE);
        return -1;
    }
    self->price_scale = ps;
    self->qty_scale = qs;
    self->bids.n = self->asks.n = 0;
    return 0;
}

/* Parse both sides into one buffer and grow the scales if the message needs it. */
static Parsed *parse_message(L2Book *self, PyObject *bids, PyObject *asks, Py_ssize_t *count)
{
    Py_ssize_t nb = seq_len(bids), na = seq_len(asks), got, i;
    Parsed *buf;
    int need_p, need_q;
    if (nb < 0 || na < 0)
        return NULL;
    buf = PyMem_Malloc((size_t)(nb + na + 1) * sizeof(Parsed));
    if (buf == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    if (nb) {
        got = parse_levels(bids, buf, 1, 0);
        if (got < 0)
            goto fail;
        nb = got;
    }
    if (na) {
        got = parse_levels(asks, buf + nb, 0, nb);
        if (got < 0)
            goto fail;
        na = got;
    }
    need_p = self->price_scale;
    need_q = self->qty_scale;
    for (i = 0; i < nb + na; i++) {
        if (buf[i].pfrac > need_p)
            need_p = buf[i].pfrac;
        if (buf[i].qfrac > need_q)
            need_q = buf[i].qfrac;
    }
    for (i = 0; i < nb + na; i++) {
        i128 pmul = POW10[need_p - buf[i].pfrac], qmul = POW10[need_q - buf[i].qfrac];
        if (buf[i].pm > POW10[37] / pmul || buf[i].qm > POW10[37] / qmul) {
            PyErr_Format(PyExc_ValueError, "level %zd is out of range", i);
            goto fail;
        }
        buf[i].pm *= pmul;
        buf[i].qm *= qmul;
    }
    if (need_p != self->price_scale || need_q != self->qty_scale) {
        i128 kmul = POW10[need_p - self->price_scale], qmul = POW10[need_q - self->qty_scale];
        /* check both sides before touching either */
        if (!side_fits(&self->bids, kmul, qmul) || !side_fits(&self->asks, kmul, qmul)) {
            PyErr_SetString(PyExc_OverflowError, "book values out of range after rescale");
            goto fail;
        }
        side_rescale(&self->bids, kmul, qmul);
        side_rescale(&self->asks, kmul, qmul);
        self->price_scale = need_p;
        self->qty_scale = need_q;
    }
    *count = nb + na;
    return buf;
fail:
    PyMem_Free(buf);
    return NULL;
}

static int apply_parsed(L2Book *self, Parsed *buf, Py_ssize_t n)
{
    Py_ssize_t i, nb = 0, na = 0;
    for (i = 0; i < n; i++) {
        if (buf[i].bid)
            nb++;
        else
            na++;
    }
    if (side_reserve(&self->bids, self->bids.n + nb) < 0 || side_reserve(&self->asks, self->asks.n + na) < 0)
        return -1;
    for (i = 0; i < n; i++) {
        if (buf[i].bid)
            side_set(&self->bids, buf[i].pm, buf[i].qm);
        else
            side_set(&self->asks, -buf[i].pm, buf[i].qm);
    }
    return 0;
}

static PyObject *L2Book_apply(L2Book *self, PyObject *args)
{
    PyObject *bids = Py_None, *asks = Py_None;
    Parsed *buf;
    Py_ssize_t n;
    if (!PyArg_UnpackTuple(args, "apply", 1, 2, &bids, &asks))
        return NULL;
    buf = parse_message(self, bids, asks, &n);
    if (buf == NULL)
        return NULL;
    if (apply_parsed(self, buf, n) < 0) {
        PyMem_Free(buf);
        return NULL;
    }
    PyMem_Free(buf);
    Py_RETURN_NONE;
}

static PyObject *L2Book_load(L2Book *self, PyObject *args)
{
    PyObject *bids = Py_None, *asks = Py_None;
    Parsed *buf;
    Py_ssize_t n;
    int ps = self->price_scale, qs = self->qty_scale;
    Py_ssize_t bn = self->bids.n, an = self->asks.n;
    if (!PyArg_UnpackTuple(args, "load", 1, 2, &bids, &asks))
        return NULL;
    /* parse against an empty book so no rescale of old levels is needed; restore on failure */
    self->bids.n = self->asks.n = 0;
    buf = parse_message(self, bids, asks, &n);
    if (buf == NULL) {
        self->bids.n = bn;
        self->asks.n = an;
        self->price_scale = ps;
        self->qty_scale = qs;
        return NULL;
    }
    if (apply_parsed(self, buf, n) < 0) {
        PyMem_Free(buf);
        self->bids.n = self->asks.n = 0;
        return NULL;
    }
    PyMem_Free(buf);
    Py_RETURN_NONE;
}

static PyObject *L2Book_clear(L2Book *self, PyObject *Py_UNUSED(ignored))
{
    self->bids.n = self->asks.n = 0;
    Py_RETURN_NONE;
}

static PyObject *L2Book_truncate(L2Book *self, PyObject *arg)
{
    Py_ssize_t depth = PyLong_AsSsize_t(arg);
    Side *sides[2] = {&self->bids, &self->asks};
    int s;
    if (depth == -1 && PyErr_Occurred())
        return NULL;
    if (depth < 0) {
        PyErr_SetString(PyExc_ValueError, "depth must be >= 0");
        return NULL;
    }
    for (s = 0; s < 2; s++) {
        Side *sd = sides[s];
        if (sd->n > depth) {
            Py_ssize_t drop = sd->n - depth;
            memmove(sd->key, sd->key + drop, (size_t)depth * sizeof(i128));
            memmove(sd->qty, sd->qty + drop, (size_t)depth * sizeof(i128));
            sd->n = depth;
        }
    }
    Py_RETURN_NONE;
}

static PyObject *side_best(const Side *s, int ask)
{
    if (s->n == 0)
        Py_RETURN_NONE;
    return level_tuple(s, s->n - 1, ask);
}

static PyObject *L2Book_best_bid(L2Book *self, PyObject *Py_UNUSED(ignored)) { return side_best(&self->bids, 0); }
static PyObject *L2Book_best_ask(L2Book *self, PyObject *Py_UNUSED(ignored)) { return side_best(&self->asks, 1); }

/* (bid_price, bid_qty, ask_price, ask_qty) in units, None where a side is empty: one call per tick. */
static PyObject *L2Book_top(L2Book *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *t = PyTuple_New(4);
    PyObject *v[4] = {NULL, NULL, NULL, NULL};
    int i;
    if (t == NULL)
        return NULL;
    if (self->bids.n) {
        v[0] = i128_to_py(self->bids.key[self->bids.n - 1]);
        v[1] = i128_to_py(self->bids.qty[self->bids.n - 1]);
    }
    if (self->asks.n) {
        v[2] = i128_to_py(-self->asks.key[self->asks.n - 1]);
        v[3] = i128_to_py(self->asks.qty[self->asks.n - 1]);
    }
    for (i = 0; i < 4; i++) {
        if (v[i] == NULL) {
            if (PyErr_Occurred()) {
                Py_DECREF(t);
                return NULL;
            }
            Py_INCREF(Py_None);
            v[i] = Py_None;
        }
        PyTuple_SET_ITEM(t, i, v[i]);
    }
    return t;
}

static PyObject *side_levels(const Side *s, int ask, PyObject *args)
{
    Py_ssize_t n = -1, offset = 0, i, count, avail;
    PyObject *list;
    if (!PyArg_ParseTuple(args, "|nn", &n, &offset))
        return NULL;
    if (offset < 0) {
        PyErr_SetString(PyExc_ValueError, "offset must be >= 0");
        return NULL;
    }
    avail = offset >= s->n ? 0 : s->n - offset;
    count = (n < 0 || n > avail) ? avail : n;
    list = PyList_New(count);
    if (list == NULL)
        return NULL;
    for (i = 0; i < count; i++) {
        PyObject *t = level_tuple(s, s->n - 1 - offset - i, ask);
        if (t == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, t);
    }
    return list;
}

/* Rows for merging several books at one scale: (key, rank, price * pmul, qty * qmul), best first, where
 * key = price * pmul * factor (asks) or its negation (bids), so ascending keys are best-first for both. */
static PyObject *L2Book_scaled(L2Book *self, PyObject *args)
{
    int ask;
    Py_ssize_t n, offset, i, count, avail;
    PyObject *pmul_o, *qmul_o, *factor_o, *rank, *list;
    long long pmul, qmul, factor;
    const Side *s;
    if (!PyArg_ParseTuple(args, "pnnOOOO", &ask, &n, &offset, &pmul_o, &qmul_o, &factor_o, &rank))
        return NULL;
    pmul = PyLong_AsLongLong(pmul_o);
    qmul = PyLong_AsLongLong(qmul_o);
    factor = PyLong_AsLongLong(factor_o);
    if (PyErr_Occurred())
        return NULL;
    if (pmul <= 0 || qmul <= 0 || factor <= 0 || offset < 0) {
        PyErr_SetString(PyExc_ValueError, "multipliers must be positive and offset >= 0");
        return NULL;
    }
    s = ask ? &self->asks : &self->bids;
    avail = offset >= s->n ? 0 : s->n - offset;
    count = (n < 0 || n > avail) ? avail : n;
    list = PyList_New(count);
    if (list == NULL)
        return NULL;
    for (i = 0; i < count; i++) {
        Py_ssize_t j = s->n - 1 - offset - i;
        i128 price = ask ? -s->key[j] : s->key[j];
        i128 pu, key, qu;
        PyObject *t, *k, *p, *q;
        /* keep well inside 128 bits: price < 10^37 already; refuse products that could overflow */
        if (price > POW10[37] / pmul || price * pmul > POW10[37] / factor || s->qty[j] > POW10[37] / qmul) {
            Py_DECREF(list);
            PyErr_SetString(PyExc_OverflowError, "scaled level out of range");
            return NULL;
        }
        pu = price * pmul;
        key = ask ? pu * factor : -(pu * factor);
        qu = s->qty[j] * qmul;
        k = i128_to_py(key);
        p = i128_to_py(pu);
        q = i128_to_py(qu);
        t = PyTuple_New(4);
        if (k == NULL || p == NULL || q == NULL || t == NULL) {
            Py_XDECREF(k);
            Py_XDECREF(p);
            Py_XDECREF(q);
            Py_XDECREF(t);
            Py_DECREF(list);
            return NULL;
        }
        Py_INCREF(rank);
        PyTuple_SET_ITEM(t, 0, k);
        PyTuple_SET_ITEM(t, 1, rank);
        PyTuple_SET_ITEM(t, 2, p);
        PyTuple_SET_ITEM(t, 3, q);
        PyList_SET_ITEM(list, i, t);
    }
    return list;
}

/* ---------- Kraken-style book checksum ---------- */

static uint32_t CRC_TABLE[256];

static void crc_init(void)
{
    uint32_t i, j, c;
    for (i = 0; i < 256; i++) {
        c = i;
        for (j = 0; j < 8; j++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        CRC_TABLE[i] = c;
    }
}

/* Decimal digits of a non-negative value into buf; returns the length. */
static int i128_digits(i128 v, char *buf)
{
    char tmp[48];
    int n = 0, i;
    if (v == 0) {
        buf[0] = '0';
        return 1;
    }
    while (v > 0) {
        tmp[n++] = (char)('0' + (int)(v % 10));
        v /= 10;
    }
    for (i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    return n;
}

static i128 at_dp(i128 units, int scale, int dp)
{
    /* re-express units held at `scale` decimals at `dp` decimals (extra decimals are cut) */
    if (dp >= scale)
        return units * POW10[dp - scale];
    return units / POW10[scale - dp];
}

/* CRC32 of the top n asks (best first) then the top n bids, each level written as the digits of
 * price * 10^price_dp then qty * 10^qty_dp: Kraken's "remove the dot, strip leading zeros" on fixed text. */
static PyObject *L2Book_crc32_top(L2Book *self, PyObject *args)
{
    Py_ssize_t n, i;
    int pdp, qdp, s, len;
    uint32_t crc = 0xFFFFFFFFu;
    char buf[96];
    const Side *sides[2] = {&self->asks, &self->bids};
    if (!PyArg_ParseTuple(args, "nii", &n, &pdp, &qdp))
        return NULL;
    if (pdp < 0 || pdp > MAX_SCALE || qdp < 0 || qdp > MAX_SCALE) {
        PyErr_Format(PyExc_ValueError, "decimals must be within 0..%d", MAX_SCALE);
        return NULL;
    }
    for (s = 0; s < 2; s++) {
        const Side *sd = sides[s];
        Py_ssize_t count = n < sd->n ? n : sd->n;
        for (i = 0; i < count; i++) {
            Py_ssize_t j = sd->n - 1 - i;
            i128 price = s == 0 ? -sd->key[j] : sd->key[j];
            int k;
            len = i128_digits(at_dp(price, self->price_scale, pdp), buf);
            len += i128_digits(at_dp(sd->qty[j], self->qty_scale, qdp), buf + len);
            for (k = 0; k < len; k++)
                crc = CRC_TABLE[(crc ^ (unsigned char)buf[k]) & 0xFF] ^ (crc >> 8);
        }
    }
    return PyLong_FromUnsignedLong((unsigned long)(crc ^ 0xFFFFFFFFu));
}

static PyObject *L2Book_bids(L2Book *self, PyObject *args) { return side_levels(&self->bids, 0, args); }
static PyObject *L2Book_asks(L2Book *self, PyObject *args) { return side_levels(&self->asks, 1, args); }

static PyObject *L2Book_copy(L2Book *self, PyObject *Py_UNUSED(ignored))
{
    L2Book *c = (L2Book *)Py_TYPE(self)->tp_alloc(Py_TYPE(self), 0);
    if (c == NULL)
        return NULL;
    c->price_scale = self->price_scale;
    c->qty_scale = self->qty_scale;
    if (side_reserve(&c->bids, self->bids.n) < 0 || side_reserve(&c->asks, self->asks.n) < 0) {
        Py_DECREF(c);
        return NULL;
    }
    if (self->bids.n) {
        memcpy(c->bids.key, self->bids.key, (size_t)self->bids.n * sizeof(i128));
        memcpy(c->bids.qty, self->bids.qty, (size_t)self->bids.n * sizeof(i128));
    }
    if (self->asks.n) {
        memcpy(c->asks.key, self->asks.key, (size_t)self->asks.n * sizeof(i128));
        memcpy(c->asks.qty, self->asks.qty, (size_t)self->asks.n * sizeof(i128));
    }
    c->bids.n = self->bids.n;
    c->asks.n = self->asks.n;
    return (PyObject *)c;
}

static PyObject *L2Book_get_bid_count(L2Book *self, void *c) { return PyLong_FromSsize_t(self->bids.n); }
static PyObject *L2Book_get_ask_count(L2Book *self, void *c) { return PyLong_FromSsize_t(self->asks.n); }
static PyObject *L2Book_get_price_scale(L2Book *self, void *c) { return PyLong_FromLong(self->price_scale); }
static PyObject *L2Book_get_qty_scale(L2Book *self, void *c) { return PyLong_FromLong(self->qty_scale); }

static PyMethodDef L2Book_methods[] = {
    {"apply", (PyCFunction)L2Book_apply, METH_VARARGS,
     "apply(bids, asks=None): set each [price, qty] level (qty 0 deletes), in order; all or nothing."},
    {"load", (PyCFunction)L2Book_load, METH_VARARGS, "load(bids, asks=None): replace the whole book."},
    {"clear", (PyCFunction)L2Book_clear, METH_NOARGS, "Remove every level."},
    {"truncate", (PyCFunction)L2Book_truncate, METH_O, "truncate(depth): keep the best `depth` levels a side."},
    {"best_bid", (PyCFunction)L2Book_best_bid, METH_NOARGS, "(price, qty) in units, or None."},
    {"best_ask", (PyCFunction)L2Book_best_ask, METH_NOARGS, "(price, qty) in units, or None."},
    {"top", (PyCFunction)L2Book_top, METH_NOARGS, "(bid_px, bid_qty, ask_px, ask_qty) in units; None if empty."},
    {"bids", (PyCFunction)L2Book_bids, METH_VARARGS, "bids(n=-1, offset=0): best first, [(price, qty)] in units, skipping `offset` levels."},
    {"asks", (PyCFunction)L2Book_asks, METH_VARARGS, "asks(n=-1, offset=0): best first, [(price, qty)] in units, skipping `offset` levels."},
    {"copy", (PyCFunction)L2Book_copy, METH_NOARGS, "An independent copy."},
    {"crc32_top", (PyCFunction)L2Book_crc32_top, METH_VARARGS,
     "crc32_top(n, price_dp, qty_dp): CRC32 of the top n asks then bids, each value's digits at the given decimals."},
    {"scaled", (PyCFunction)L2Book_scaled, METH_VARARGS,
     "scaled(ask, n, offset, pmul, qmul, factor, rank): [(key, rank, price*pmul, qty*qmul)] best first, "
     "key = price*pmul*factor (negated for bids) so that ascending keys merge books best first."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef L2Book_getset[] = {
    {"bid_count", (getter)L2Book_get_bid_count, NULL, "number of bid levels", NULL},
    {"ask_count", (getter)L2Book_get_ask_count, NULL, "number of ask levels", NULL},
    {"price_scale", (getter)L2Book_get_price_scale, NULL, "prices are held as integer units of 10^-price_scale", NULL},
    {"qty_scale", (getter)L2Book_get_qty_scale, NULL, "quantities are held as integer units of 10^-qty_scale", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject L2BookType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "connectors._l2book.L2Book",
    .tp_doc = "Exact L2 price book held in scaled 128-bit integers.",
    .tp_basicsize = sizeof(L2Book),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)L2Book_init,
    .tp_dealloc = (destructor)L2Book_dealloc,
    .tp_methods = L2Book_methods,
    .tp_getset = L2Book_getset,
};

static struct PyModuleDef l2book_module = {
    PyModuleDef_HEAD_INIT, "_l2book", "Exact L2 price book (compiled hot path).", -1, NULL,
};

PyMODINIT_FUNC PyInit__l2book(void)
{
    PyObject *m;
    int i;
    POW10[0] = 1;
    for (i = 1; i < 39; i++)
        POW10[i] = POW10[i - 1] * 10;
    crc_init();
    if (PyType_Ready(&L2BookType) < 0)
        return NULL;
    m = PyModule_Create(&l2book_module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&L2BookType);
    if (PyModule_AddObject(m, "L2Book", (PyObject *)&L2BookType) < 0) {
        Py_DECREF(&L2BookType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
