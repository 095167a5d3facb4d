/* L1 net/ws_deflate: permessage-deflate negotiation and messages. See
 * ws_deflate.h. The negotiation is Node's ws 8 read closely
 * (lib/extension.js parse, lib/permessage-deflate.js normalizeParams and
 * acceptAsServer), because a mixed fleet must answer a client the same
 * way whichever server it reaches; tests/integration compares both
 * servers' answers to the same offers. */
#include "net/ws_deflate.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json_text.h"
#include "net/deflate.h"
#include "net/ws_frame.h"

void sl_ws_deflate_opts_init(sl_ws_deflate_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->threshold = 1024;
    o->server_no_context_takeover = SL_WSZ_UNSET;
    o->client_no_context_takeover = SL_WSZ_FALSE;
    o->server_max_window_bits = SL_WSZ_UNSET;
    o->client_max_window_bits = SL_WSZ_UNSET;
    o->level = 6;
    o->mem_level = 8;
}

/* ---- reading the offers ----------------------------------------------------------
 *
 * The header is parsed whole, as ws does, so a syntax error anywhere
 * refuses it even after a good offer. Each permessage-deflate offer is
 * checked as it completes (ws checks them all before choosing), and the
 * first acceptable one is kept. */

/* RFC 7230 tchar, ws's tokenChars. */
static int is_token(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return 1;
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
        return 1;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* The four parameters RFC 7692 defines, in this order in `has` etc. */
enum { P_SNCT, P_CNCT, P_SMWB, P_CMWB, P_COUNT };
static const char *const pnames[P_COUNT] = {
    "server_no_context_takeover", "client_no_context_takeover",
    "server_max_window_bits", "client_max_window_bits",
};

/* One permessage-deflate offer, as ws's params object after normalizing:
 * which keys it has, in which order (`pos`: insertion order, as a
 * JavaScript object keeps it), and the window values (0 for a key given
 * without value). */
typedef struct offer {
    uint8_t has[P_COUNT];
    uint8_t pos[P_COUNT];
    uint8_t val[P_COUNT];
    uint8_t nkeys;
} offer_t;

typedef struct negotiation {
    const sl_ws_deflate_opts_t *opts;
    const char *ext;       /* the extension whose params are being read */
    size_t ext_len;
    int in_pmd;            /* it is permessage-deflate */
    offer_t cur;
    offer_t chosen;
    int offered, found;
} negotiation_t;

/* JavaScript's Number(s) for the token characters a value may hold:
 * decimal with sign, fraction and exponent, Infinity, 0x / 0o / 0b
 * integers. NAN when it is none of these. */
static double js_number(const char *s)
{
    size_t n = strlen(s);
    if (n > 2 && s[0] == '0' && strchr("xXoObB", s[1])) {
        unsigned base = (s[1] | 0x20) == 'x' ? 16 : (s[1] | 0x20) == 'o' ? 8 : 2;
        double v = 0;
        for (size_t i = 2; i < n; i++) {
            int c = s[i] | 0x20, d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : 99;
            if (d >= (int)base)
                return NAN;
            v = v * base + d;
        }
        return v;
    }
    double v;
    return n && sl_json_js_decimal(s, s + n, &v) == n ? v : NAN;
}

/* A window value: an integer 8..15 as JavaScript reads it, else 0. */
static unsigned window_value(const char *v)
{
    double d = js_number(v);
    return d >= 8 && d <= 15 && d == floor(d) ? (unsigned)d : 0;
}

/* One parameter of a permessage-deflate offer (value NULL: given alone):
 * normalizeParams. -1 for what it throws on. */
static int offer_param(offer_t *o, const char *name, size_t nlen, const char *value)
{
    int k = 0;
    while (k < P_COUNT && !(strlen(pnames[k]) == nlen && !memcmp(pnames[k], name, nlen)))
        k++;
    if (k == P_COUNT || o->has[k])
        return -1; /* unknown, or a second value */
    unsigned w = 0;
    if (k == P_SNCT || k == P_CNCT) {
        if (value)
            return -1;
    } else if (value || k == P_SMWB) {
        /* server_max_window_bits alone reads as the number of `true`: 1. */
        if (!value || !(w = window_value(value)))
            return -1;
    }
    o->has[k] = 1;
    o->val[k] = (uint8_t)w;
    o->pos[k] = o->nkeys++;
    return 0;
}

/* acceptAsServer's test of one offer (ws 8.21.3, engine.io 6.6's). */
static int offer_acceptable(const offer_t *o, const sl_ws_deflate_opts_t *op)
{
    if (op->server_no_context_takeover == SL_WSZ_FALSE && o->has[P_SNCT])
        return 0;
    if (o->has[P_SMWB] && (op->server_max_window_bits == SL_WSZ_FALSE ||
                           (op->server_max_window_bits >= 8 &&
                            op->server_max_window_bits > o->val[P_SMWB])))
        return 0;
    /* A client's own window limit must leave room for the server's. */
    if (op->client_max_window_bits >= 8 &&
        (o->has[P_CMWB] && o->val[P_CMWB] ? op->client_max_window_bits > o->val[P_CMWB]
                                           : !o->has[P_CMWB]))
        return 0;
    return 1;
}

/* acceptAsServer's changes to the chosen offer: the server's own
 * settings are added after what the client gave (JavaScript keeps a key
 * where it first appeared). */
static void offer_set(offer_t *o, int k, unsigned v)
{
    if (!o->has[k])
        o->pos[k] = o->nkeys++;
    o->has[k] = 1;
    o->val[k] = (uint8_t)v;
}

static void offer_accept(offer_t *o, const sl_ws_deflate_opts_t *op)
{
    if (op->server_no_context_takeover == SL_WSZ_TRUE)
        offer_set(o, P_SNCT, 0);
    if (op->client_no_context_takeover == SL_WSZ_TRUE)
        offer_set(o, P_CNCT, 0);
    if (op->server_max_window_bits >= 8)
        offer_set(o, P_SMWB, (unsigned)op->server_max_window_bits);
    if (op->client_max_window_bits >= 8)
        offer_set(o, P_CMWB, (unsigned)op->client_max_window_bits);
    else if ((o->has[P_CMWB] && o->val[P_CMWB] == 0) || op->client_max_window_bits == SL_WSZ_FALSE)
        o->has[P_CMWB] = 0;
}

static int is_pmd(const char *name, size_t n)
{
    return n == 18 && !memcmp(name, "permessage-deflate", 18);
}

/* The parser's two events. */
static int ev_param(negotiation_t *g, const char *name, size_t nlen, const char *value, size_t vlen,
                    int unescape)
{
    if (!g->in_pmd)
        return 0;
    if (!value)
        return offer_param(&g->cur, name, nlen, NULL);
    char small[64], *v = vlen < sizeof small ? small : malloc(vlen + 1);
    if (!v)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < vlen; i++)
        if (!unescape || value[i] != '\\')
            v[o++] = value[i];
    v[o] = '\0';
    int rc = offer_param(&g->cur, name, nlen, v);
    if (v != small)
        free(v);
    return rc;
}

static void ev_offer_start(negotiation_t *g, const char *name, size_t n)
{
    g->ext = name;
    g->ext_len = n;
    g->in_pmd = is_pmd(name, n);
    memset(&g->cur, 0, sizeof g->cur);
}

static void ev_offer_end(negotiation_t *g)
{
    g->offered |= g->in_pmd;
    if (g->in_pmd && !g->found && offer_acceptable(&g->cur, g->opts)) {
        g->chosen = g->cur;
        g->found = 1;
    }
    g->in_pmd = 0;
}

/* What an extension name and a parameter name share in ws's parser: a
 * token character extends the token unless whitespace ended it, and
 * whitespace ends it. 1 when code was taken so. */
static int token_char(unsigned char code, size_t i, long *start, long *end)
{
    if (*end == -1 && is_token(code)) {
        if (*start == -1)
            *start = (long)i;
        return 1;
    }
    if (code == ' ' || code == '\t') {
        if (*end == -1 && *start != -1)
            *end = (long)i;
        return 1;
    }
    return 0;
}

/* At ';' or ',': 0 with the token's end set, or -1 when there was none. */
static int token_done(size_t i, long start, long *end)
{
    if (start == -1)
        return -1;
    if (*end == -1)
        *end = (long)i;
    return 0;
}

/* ws's extension.parse, state for state (its quirks included: an escape
 * right after the opening quote is not unescaped, a value is unescaped
 * once a second escape is seen). 0, or -1 where it throws. */
static int ext_parse(negotiation_t *g, const char *h, size_t len)
{
    int in_ext = 0, in_param = 0, must_unescape = 0, escaping = 0, in_quotes = 0;
    const char *pname = NULL;
    size_t pname_len = 0;
    long start = -1, end = -1;
    unsigned char code = 0;
    size_t i = 0;
    for (; i < len; i++) {
        code = (unsigned char)h[i];
        int sep = code == ';' || code == ',';
        if (!in_ext) {
            if (i == 0 && (code == ' ' || code == '\t'))
                return -1; /* no whitespace before the first name */
            if (token_char(code, i, &start, &end))
                continue;
            if (!sep || token_done(i, start, &end))
                return -1;
            ev_offer_start(g, h + start, (size_t)(end - start));
            if (code == ',')
                ev_offer_end(g);
            else
                in_ext = 1;
            start = end = -1;
        } else if (!in_param) {
            if (token_char(code, i, &start, &end))
                continue;
            if (code == '=' && start != -1 && end == -1) {
                pname = h + start;
                pname_len = i - (size_t)start;
                in_param = 1;
            } else if (!sep || token_done(i, start, &end) ||
                       ev_param(g, h + start, (size_t)(end - start), NULL, 0, 0)) {
                return -1;
            } else if (code == ',') {
                ev_offer_end(g);
                in_ext = 0;
            }
            start = end = -1;
        } else {
            if (escaping) {
                if (!is_token(code))
                    return -1;
                if (start == -1)
                    start = (long)i;
                else
                    must_unescape = 1;
                escaping = 0;
            } else if (in_quotes) {
                if (is_token(code)) {
                    if (start == -1)
                        start = (long)i;
                } else if (code == '"' && start != -1) {
                    in_quotes = 0;
                    end = (long)i;
                } else if (code == '\\') {
                    escaping = 1;
                } else {
                    return -1;
                }
            } else if (code == '"' && h[i - 1] == '=') {
                in_quotes = 1;
            } else if (end == -1 && is_token(code)) {
                if (start == -1)
                    start = (long)i;
            } else if (start != -1 && (code == ' ' || code == '\t')) {
                if (end == -1)
                    end = (long)i;
            } else if (code == ';' || code == ',') {
                if (token_done(i, start, &end))
                    return -1;
                if (ev_param(g, pname, pname_len, h + start, (size_t)(end - start), must_unescape))
                    return -1;
                must_unescape = 0;
                if (code == ',') {
                    ev_offer_end(g);
                    in_ext = 0;
                }
                in_param = 0;
                start = end = -1;
            } else {
                return -1;
            }
        }
    }
    if (start == -1 || in_quotes || code == ' ' || code == '\t')
        return -1; /* unexpected end of input */
    if (end == -1)
        end = (long)i;
    const char *tok = h + start;
    size_t tl = (size_t)(end - start);
    if (!in_ext) {
        ev_offer_start(g, tok, tl);
    } else if (!in_param) {
        if (ev_param(g, tok, tl, NULL, 0, 0))
            return -1;
    } else if (ev_param(g, pname, pname_len, tok, tl, must_unescape)) {
        return -1;
    }
    ev_offer_end(g);
    return 0;
}

int sl_ws_deflate_negotiate(const sl_http_req_t *req, const sl_ws_deflate_opts_t *opts,
                            sl_ws_deflate_params_t *out, char *value, size_t cap)
{
    if (!opts->enabled)
        return 0;
    sl_buf_t h = SL_BUF_INIT;
    if (!sl_http_header_join(req, "sec-websocket-extensions", &h))
        return 0;
    negotiation_t g = {.opts = opts};
    int rc = ext_parse(&g, h.data ? h.data : "", h.len);
    sl_buf_free(&h);
    if (rc || (g.offered && !g.found))
        return -1; /* malformed, or "None of the extension offers can be accepted" */
    if (!g.offered)
        return 0;
    offer_t *o = &g.chosen;
    offer_accept(o, opts);
    memset(out, 0, sizeof *out);
    out->server_no_context_takeover = o->has[P_SNCT];
    out->client_no_context_takeover = o->has[P_CNCT];
    out->server_max_window_bits = o->has[P_SMWB] ? o->val[P_SMWB] : 0;
    out->client_max_window_bits = o->has[P_CMWB] ? o->val[P_CMWB] : 0;
    /* extension.format: the keys in the object's order. */
    size_t n = (size_t)snprintf(value, cap, "permessage-deflate");
    for (unsigned pos = 0; pos < o->nkeys; pos++)
        for (int k = 0; k < P_COUNT; k++)
            if (o->has[k] && o->pos[k] == pos && n < cap)
                n += (size_t)(o->val[k] ? snprintf(value + n, cap - n, "; %s=%u", pnames[k], o->val[k])
                                        : snprintf(value + n, cap - n, "; %s", pnames[k]));
    return 1;
}

/* ---- one connection ------------------------------------------------------------------ */

struct sl_ws_deflate {
    sl_ws_deflate_params_t p;
    size_t threshold;
    sl_zcfg_t cfg;          /* of the compressor: window as negotiated */
    sl_zdeflate_t *def;     /* its own, with server context takeover */
    sl_zinflate_t *inf;     /* its own, with client context takeover */
};

sl_ws_deflate_t *sl_ws_deflate_new(const sl_ws_deflate_params_t *p, const sl_ws_deflate_opts_t *o)
{
    sl_ws_deflate_t *z = calloc(1, sizeof *z);
    if (!z)
        return NULL;
    z->p = *p;
    z->threshold = o->threshold;
    z->cfg.wbits = p->server_max_window_bits ? p->server_max_window_bits : 15;
    z->cfg.level = o->level;
    z->cfg.mem_level = o->mem_level;
    return z;
}

void sl_ws_deflate_free(sl_ws_deflate_t *z)
{
    if (!z)
        return;
    sl_zdeflate_free(z->def);
    sl_zinflate_free(z->inf);
    free(z);
}

int sl_ws_deflate_wants(const sl_ws_deflate_t *z, size_t len)
{
    /* zlib has no raw window of 8 (it would use 9, more than the client
     * allows): such a connection gets every message plain, which RFC 7692
     * permits per message. */
    if (z->cfg.wbits < 9)
        return 0;
    return !z->p.server_no_context_takeover || len >= z->threshold;
}

void sl_ws_zcache_release(sl_ws_zcache_t *c)
{
    sl_rcbuf_unref(c->frame);
    memset(c, 0, sizeof *c);
}

/* Room kept before the payload for the largest frame header. */
#define HEAD_ROOM 10

sl_rcbuf_t *sl_ws_deflate_frame(sl_ws_deflate_t *z, unsigned opcode, const uv_buf_t *parts,
                                unsigned n, sl_ws_zcache_t *cache)
{
    int shared = z->p.server_no_context_takeover;
    if (shared && cache && cache->frame && cache->wbits == z->cfg.wbits)
        return sl_rcbuf_ref(cache->frame);
    sl_zdeflate_t *d = shared ? sl_zdeflate_pooled(&z->cfg) : z->def;
    if (!d && !shared)
        d = z->def = sl_zdeflate_new(&z->cfg);
    if (!d)
        return NULL;
    /* The payload is made after room for the header, then the whole frame
     * is copied once into a buffer of its exact size, which may be shared
     * and queued for a while. */
    sl_buf_t b = SL_BUF_INIT;
    size_t len = 0;
    for (unsigned i = 0; i < n; i++)
        len += parts[i].len;
    sl_rcbuf_t *f = NULL;
    if (!sl_buf_reserve(&b, HEAD_ROOM + len / 2 + 64)) {
        b.len = HEAD_ROOM;
        if (!sl_zdeflate_message(d, parts, n, &b, shared)) {
            unsigned char hdr[10];
            size_t plen = b.len - HEAD_ROOM;
            unsigned hl = sl_ws_frame_header(hdr, 0x40 | opcode, plen);
            memcpy(b.data + HEAD_ROOM - hl, hdr, hl);
            f = sl_rcbuf_new(b.data + HEAD_ROOM - hl, hl + plen);
            /* Compressed but not to be sent: the peer's history must not
             * be assumed to hold it. */
            if (!f && !shared)
                sl_zdeflate_reset(d);
        }
    }
    sl_buf_free(&b);
    if (f && shared && cache && !cache->frame) {
        cache->frame = sl_rcbuf_ref(f);
        cache->wbits = z->cfg.wbits;
    }
    return f;
}

int sl_ws_deflate_inflate(sl_ws_deflate_t *z, const char *p, size_t n, size_t cap, sl_buf_t *out)
{
    int shared = z->p.client_no_context_takeover;
    sl_zinflate_t *i = shared ? sl_zinflate_pooled() : z->inf;
    if (!i && !shared)
        i = z->inf = sl_zinflate_new(z->p.client_max_window_bits ? z->p.client_max_window_bits : 15);
    if (!i)
        return 1011;
    int rc = sl_zinflate_message(i, p, n, out, cap, shared);
    return rc == 0 ? 0 : rc == SL_ZINFLATE_TOO_BIG ? 1009 : rc == SL_ZINFLATE_BAD ? 1007 : 1011;
}
