/* Matching core: constants, wire codes and data layout (included by _engine.c only). */
#ifndef BRAID_CORE_TYPES_H
#define BRAID_CORE_TYPES_H

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


#endif
