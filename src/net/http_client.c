/* L1 net/http_client: the outbound HTTP/1.1 client (contract in http_client.h).
 * libuv for names, TCP and timers, net/tls for https, llhttp for responses,
 * zlib for gzip/deflate bodies. Knows nothing of Lua or of the server.
 *
 * Life cycles
 *   req    lives from sl_httpc_request until its timer handle has closed,
 *          which happens right after its callback ran (or it was
 *          cancelled). Failures found inside an API call are reported from
 *          that timer in the next loop turn, so no callback ever runs inside
 *          the call that caused it; the same path serves every failure.
 *   hconn  lives until it is closed and every libuv request and handle that
 *          points at it (lookup, connect, writes, the TCP handle) has called
 *          back (`refs`).
 *   origin lives while it has a connection or a queued request.
 *   client lives until sl_httpc_close and the last handle of the above.
 *
 * Order inside one read callback: every byte is parsed first (a response
 * that completes mid-buffer only marks itself complete; bytes after it
 * make the connection unfit for reuse), then conn_settle releases the
 * connection and reports the request, the user's callback last: it may
 * start requests or close the client, so nothing is touched after it. */
#include "net/http_client.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <llhttp.h>
#include <zlib.h>

#include "base/buf.h"
#include "net/tcp_connect.h"
#include "net/stream_writer.h"
#include "net/tls.h"

#define MAX_HEAD 65536    /* status line + response headers */
#define MAX_METHOD 31
#define ERR_MAX 640
#define SWEEP_MS 1000
#define TLS_CACHE 8       /* per-request CA files remembered */
#define INFLATE_STEP 16384
#define KA_MARGIN_MS 1000 /* close this long before the server's Keep-Alive timeout */

typedef struct origin origin_t;
typedef struct hconn hconn_t;

typedef enum { K_CONNECTING, K_TLS, K_BUSY, K_IDLE, K_CLOSED } kstate_t;
typedef enum { R_QUEUED, R_CONNECTING, R_SENT, R_FAILING, R_DONE } rstate_t;
typedef enum { P_NONE, P_CONNECT, P_HEADERS } phase_t;
typedef enum { Z_NONE, Z_GZIP, Z_DEFLATE } zmode_t;

struct sl_httpc {
    uv_loop_t *loop;
    unsigned max_per_host, idle_ms;
    char user_agent[128];
    char *ca_file;              /* for requests without their own */
    sl_tls_ctx_t *tls_default;  /* built on first need */
    struct {
        char *path;
        sl_tls_ctx_t *ctx;
    } cas[TLS_CACHE];
    int ncas;
    origin_t *origins;
    sl_httpc_req_t *reqs;
    uv_timer_t sweep;
    unsigned nconns;
    int closing;
    int refs;                   /* the sweep timer, every conn and req not yet freed */
};

struct origin {
    sl_httpc_t *c;
    origin_t *prev, *next;
    char key[300];              /* "https://host:port" + the trust context */
    char host[256];
    char port[8];
    char authority[270];        /* for messages */
    sl_tls_ctx_t *tls;          /* a reference; NULL for http */
    hconn_t *conns;             /* all of them (prev/next) */
    hconn_t *idle;              /* the idle ones, last used first (idle_next) */
    unsigned nconns;
    int busy;                   /* origin_dispatch is running: not to be freed */
    sl_httpc_req_t *qhead, *qtail;
};

struct hconn {
    sl_httpc_t *c;
    origin_t *o;                /* NULL once closed */
    hconn_t *prev, *next, *idle_next;
    kstate_t state;
    int refs;
    sl_httpc_req_t *req;
    sl_tcp_connect_t *dial;     /* while connecting */
    uv_tcp_t *tcp;              /* once connected (malloc'd) */
    sl_stream_writer_t out;     /* on tcp, once connected */
    sl_tls_t *tls;
    llhttp_t parser;
    unsigned uses;              /* requests sent on it */
    uint64_t idle_since, idle_limit;
    /* What one read callback found, for conn_settle. */
    unsigned eof : 1, dirty : 1, retry : 1;
    int fail_code;
    char fail[ERR_MAX];
};

struct sl_httpc_req {
    sl_httpc_t *c;
    sl_httpc_req_t *prev, *next; /* c->reqs */
    sl_httpc_req_t *qnext;       /* origin queue */
    origin_t *o;                 /* while queued */
    hconn_t *conn;               /* while connecting for it or exchanging on it */
    rstate_t state;
    sl_httpc_done_cb cb;
    void *ud;
    uv_timer_t timer;
    /* the request */
    char method[MAX_METHOD + 1];
    char *url;
    sl_httpc_url_t u;
    sl_buf_t hdrs;               /* the caller's headers: "name\0value\0"... */
    sl_buf_t body;
    unsigned has_body : 1, has_host : 1, has_ua : 1, has_accept : 1, has_ae : 1, conn_close : 1;
    char *ca_file;
    sl_tls_ctx_t *tls;           /* a reference, for https */
    /* limits */
    unsigned timeout_ms, connect_ms, headers_ms;
    size_t max_body;
    int max_redirects, manual;
    uint64_t deadline, phase_deadline;
    phase_t phase;
    int redirects;
    unsigned retried : 1;
    /* the response */
    int status;
    char reason[64];
    sl_buf_t rh;                 /* "name\0value\0"... */
    size_t nrh;
    sl_buf_t field, value;
    size_t head_bytes, raw_bytes;
    unsigned got_any : 1, got_head : 1, complete : 1, keepalive : 1, interim : 1;
    int ka_timeout;              /* the server's Keep-Alive: timeout=N, -1: none */
    zmode_t zmode;
    z_stream *z;
    unsigned z_end : 1, z_raw : 1;
    sl_buf_t rbody;
    /* a failure to report */
    int err_code;
    char err[ERR_MAX];
};

static llhttp_settings_t parser_settings;
static void settings_init(void);
static void origin_dispatch(origin_t *o);
static void origin_maybe_free(origin_t *o);
static void conn_close(hconn_t *k);
static int conn_flush_tls(hconn_t *k);
static void conn_drop(hconn_t *k);
static void conn_open(origin_t *o, sl_httpc_req_t *r);
static void req_send(sl_httpc_req_t *r);
static void req_arm(sl_httpc_req_t *r);
static void req_timer_cb(uv_timer_t *t);

/* ---- small helpers ------------------------------------------------------------ */

static int is_tchar(int ch)
{
    return isalnum(ch) || (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static int is_token(const char *s, size_t max)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!is_tchar((unsigned char)s[n]))
            return 0;
    return n > 0 && n <= max;
}

static char *dupstr(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    return d ? memcpy(d, s, n) : NULL;
}

static void errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- URLs ---------------------------------------------------------------------- */

void sl_httpc_url_free(sl_httpc_url_t *u)
{
    free(u->target);
    u->target = NULL;
}

/* Bytes a request target may not carry as they are (the WHATWG path and
 * query percent-encode sets, roughly). */
static int needs_escape(unsigned char ch)
{
    return ch <= 0x20 || ch >= 0x7f || ch == '"' || ch == '<' || ch == '>' || ch == '`';
}

int sl_httpc_url_parse(const char *url, sl_httpc_url_t *u, char *err, size_t errlen)
{
    memset(u, 0, sizeof *u);
    if (!url) {
        errf(err, errlen, "no URL");
        return -1;
    }
    size_t len = strlen(url);
    if (len > SL_HTTPC_MAX_URL) {
        errf(err, errlen, "URL longer than %d bytes", SL_HTTPC_MAX_URL);
        return -1;
    }
    const char *sep = strstr(url, "://");
    size_t sl = sep ? (size_t)(sep - url) : 0;
    for (size_t i = 0; i < sl; i++)
        if (!isalnum((unsigned char)url[i]) && !strchr("+-.", url[i]))
            sep = NULL;
    if (!sep || sl == 0) {
        errf(err, errlen, "bad URL '%.200s' (want http://host/path or https://...)", url);
        return -1;
    }
    if (sl == 4 && !strncasecmp(url, "http", 4)) {
        u->tls = 0;
    } else if (sl == 5 && !strncasecmp(url, "https", 5)) {
        u->tls = 1;
    } else {
        errf(err, errlen, "unsupported scheme '%.*s' (http or https)", (int)(sl > 20 ? 20 : sl), url);
        return -1;
    }
    const char *a = sep + 3;
    size_t al = strcspn(a, "/?#");
    if (memchr(a, '@', al)) {
        errf(err, errlen, "credentials in the URL are not supported (send an Authorization header)");
        return -1;
    }
    const char *hp = a, *colon;
    size_t hl;
    if (al && a[0] == '[') {
        const char *close = memchr(a, ']', al);
        if (!close || (close + 1 < a + al && close[1] != ':')) {
            errf(err, errlen, "bad host in URL '%.200s'", url);
            return -1;
        }
        hp = a + 1;
        hl = (size_t)(close - hp);
        colon = close + 1 < a + al ? close + 1 : NULL;
        char tmp[64];
        unsigned char bin[16];
        if (hl == 0 || hl >= sizeof tmp || (memcpy(tmp, hp, hl), tmp[hl] = '\0', inet_pton(AF_INET6, tmp, bin) != 1)) {
            errf(err, errlen, "bad IPv6 address in URL '%.200s'", url);
            return -1;
        }
    } else {
        colon = memchr(a, ':', al);
        hl = colon ? (size_t)(colon - a) : al;
        for (size_t i = 0; i < hl; i++)
            if (!isalnum((unsigned char)a[i]) && a[i] != '-' && a[i] != '.' && a[i] != '_') {
                errf(err, errlen, "bad host in URL '%.200s'", url);
                return -1;
            }
    }
    if (hl == 0 || hl >= sizeof u->host) {
        errf(err, errlen, "no host in URL '%.200s'", url);
        return -1;
    }
    for (size_t i = 0; i < hl; i++)
        u->host[i] = (char)tolower((unsigned char)hp[i]);
    u->host[hl] = '\0';
    u->port = u->tls ? 443 : 80;
    if (colon && colon + 1 < a + al) {
        long port = 0;
        for (const char *p = colon + 1; p < a + al; p++) {
            if (!isdigit((unsigned char)*p) || port > 65535) {
                errf(err, errlen, "bad port in URL '%.200s'", url);
                return -1;
            }
            port = port * 10 + (*p - '0');
        }
        if (port < 1 || port > 65535) {
            errf(err, errlen, "bad port in URL '%.200s'", url);
            return -1;
        }
        u->port = (int)port;
    }
    int v6 = strchr(u->host, ':') != NULL;
    if (u->port == (u->tls ? 443 : 80))
        snprintf(u->authority, sizeof u->authority, v6 ? "[%s]" : "%s", u->host);
    else
        snprintf(u->authority, sizeof u->authority, v6 ? "[%s]:%d" : "%s:%d", u->host, u->port);
    const char *t = a + al;
    size_t tl = strcspn(t, "#");
    sl_buf_t b = SL_BUF_INIT;
    int rc = (tl == 0 || t[0] == '?') ? sl_buf_append_byte(&b, '/') : 0;
    for (size_t i = 0; i < tl && rc == 0; i++) {
        unsigned char ch = (unsigned char)t[i];
        rc = needs_escape(ch) ? sl_buf_appendf(&b, "%%%02X", ch) : sl_buf_append_byte(&b, (char)ch);
    }
    if (rc || sl_buf_append_byte(&b, '\0')) {
        sl_buf_free(&b);
        errf(err, errlen, "out of memory");
        return -1;
    }
    u->target = b.data;
    return 0;
}

/* RFC 3986 5.2.4 for an absolute path (starting with '/'), into out. */
static int remove_dots(sl_buf_t *out, const char *path, size_t n)
{
    /* Segment start offsets in out, as a stack. */
    size_t stack[256];
    int depth = 0;
    sl_buf_reset(out);
    size_t i = 1;
    int last = 0;
    while (!last) {
        size_t j = i;
        while (j < n && path[j] != '/')
            j++;
        last = j >= n;
        size_t sl = j - i;
        const char *seg = path + i;
        if (sl == 1 && seg[0] == '.') {
            if (last && sl_buf_append_byte(out, '/'))
                return -1;
        } else if (sl == 2 && seg[0] == '.' && seg[1] == '.') {
            if (depth > 0)
                out->len = stack[--depth];
            if (last && sl_buf_append_byte(out, '/'))
                return -1;
        } else {
            if (depth < (int)(sizeof stack / sizeof stack[0]))
                stack[depth++] = out->len;
            if (sl_buf_append_byte(out, '/') || sl_buf_append(out, seg, sl))
                return -1;
        }
        i = j + 1;
    }
    if (out->len == 0 && sl_buf_append_byte(out, '/'))
        return -1;
    return 0;
}

char *sl_httpc_url_resolve(const char *base, const char *ref)
{
    if (!base || !ref)
        return NULL;
    while (*ref == ' ' || *ref == '\t')
        ref++;
    size_t rl = strcspn(ref, "#");
    /* A reference with its own scheme stands alone. */
    size_t s = 0;
    while (s < rl && (isalnum((unsigned char)ref[s]) || strchr("+-.", ref[s])))
        s++;
    int has_scheme = s > 0 && s < rl && ref[s] == ':' && isalpha((unsigned char)ref[0]);
    const char *bsep = strstr(base, "://");
    if (!bsep)
        return NULL;
    size_t scheme_len = (size_t)(bsep - base);
    const char *bauth = bsep + 3;
    size_t bal = strcspn(bauth, "/?#");
    const char *bpath = bauth + bal;
    size_t bpl = strcspn(bpath, "?#");
    const char *bquery = bpath + bpl;
    size_t bql = strcspn(bquery, "#");

    sl_buf_t out = SL_BUF_INIT, path = SL_BUF_INIT, merged = SL_BUF_INIT;
    int rc = 0;
    const char *rpath, *rquery;
    size_t rpl, rql;
    if (has_scheme || (rl >= 2 && ref[0] == '/' && ref[1] == '/')) {
        const char *auth;
        if (has_scheme) {
            if (rl < s + 3 || strncmp(ref + s, "://", 3)) {
                rc = -1; /* "mailto:x", "http:relative": nothing an HTTP client follows */
                goto done;
            }
            rc = sl_buf_append(&out, ref, s + 3);
            auth = ref + s + 3;
        } else {
            rc = sl_buf_append(&out, base, scheme_len + 3);
            auth = ref + 2;
        }
        size_t al = strcspn(auth, "/?#");
        rc = rc || sl_buf_append(&out, auth, al);
        rpath = auth + al;
        rpl = strcspn(rpath, "?#");
        rquery = rpath + rpl;
        rql = strcspn(rquery, "#");
        rc = rc || (rpl ? remove_dots(&path, rpath, rpl) : sl_buf_append_byte(&path, '/'));
    } else {
        rc = sl_buf_append(&out, base, scheme_len + 3 + bal);
        rpath = ref;
        rpl = strcspn(ref, "?#");
        rquery = ref + rpl;
        rql = strcspn(rquery, "#");
        if (rpl == 0) {
            rc = rc || (bpl ? sl_buf_append(&path, bpath, bpl) : sl_buf_append_byte(&path, '/'));
            if (rql == 0) { /* "" or "#frag": the base's query stays */
                rquery = bquery;
                rql = bql;
            }
        } else if (ref[0] == '/') {
            rc = rc || remove_dots(&path, ref, rpl);
        } else {
            /* Merge: the base path up to its last '/', then the reference. */
            const char *slash = NULL;
            for (size_t i = 0; i < bpl; i++)
                if (bpath[i] == '/')
                    slash = bpath + i;
            if (slash)
                rc = rc || sl_buf_append(&merged, bpath, (size_t)(slash - bpath) + 1);
            else
                rc = rc || sl_buf_append_byte(&merged, '/');
            rc = rc || sl_buf_append(&merged, ref, rpl);
            rc = rc || remove_dots(&path, merged.data, merged.len);
        }
    }
    rc = rc || sl_buf_append(&out, path.data, path.len) || sl_buf_append(&out, rquery, rql) ||
         sl_buf_append_byte(&out, '\0');
done:
    sl_buf_free(&path);
    sl_buf_free(&merged);
    if (rc) {
        sl_buf_free(&out);
        return NULL;
    }
    return out.data;
}

/* ---- trust ------------------------------------------------------------------------ */

static const sl_tls_client_opts_t *client_tls_opts(const char *ca_file, sl_tls_client_opts_t *o)
{
    /* every field: the ones not named here are NULL (no client certificate) */
    *o = (sl_tls_client_opts_t){.ca_file = ca_file, .alpn = "http/1.1"};
    return o;
}

/* The trust context for a request's CA file (NULL: the client's). */
static sl_tls_ctx_t *trust_for(sl_httpc_t *c, const char *ca_file, char *err, size_t errlen)
{
    sl_tls_client_opts_t o;
    if (!ca_file) {
        if (!c->tls_default && sl_tls_ctx_new_client(client_tls_opts(c->ca_file, &o), &c->tls_default, err, errlen))
            return NULL;
        return c->tls_default;
    }
    for (int i = 0; i < c->ncas; i++)
        if (!strcmp(c->cas[i].path, ca_file))
            return c->cas[i].ctx;
    sl_tls_ctx_t *ctx;
    if (sl_tls_ctx_new_client(client_tls_opts(ca_file, &o), &ctx, err, errlen))
        return NULL;
    char *path = dupstr(ca_file);
    if (!path) {
        sl_tls_ctx_unref(ctx);
        errf(err, errlen, "out of memory");
        return NULL;
    }
    if (c->ncas == TLS_CACHE) { /* forget the oldest; its users hold their own references */
        free(c->cas[0].path);
        sl_tls_ctx_unref(c->cas[0].ctx);
        memmove(c->cas, c->cas + 1, sizeof c->cas[0] * (TLS_CACHE - 1));
        c->ncas--;
    }
    c->cas[c->ncas].path = path;
    c->cas[c->ncas].ctx = ctx;
    c->ncas++;
    return ctx;
}

int sl_httpc_set_ca_file(sl_httpc_t *c, const char *ca_file, char *err, size_t errlen)
{
    sl_tls_client_opts_t o;
    sl_tls_ctx_t *ctx;
    char *copy = NULL;
    if (ca_file && !(copy = dupstr(ca_file))) {
        errf(err, errlen, "out of memory");
        return -1;
    }
    if (sl_tls_ctx_new_client(client_tls_opts(ca_file, &o), &ctx, err, errlen)) {
        free(copy);
        return -1;
    }
    free(c->ca_file);
    c->ca_file = copy;
    sl_tls_ctx_unref(c->tls_default);
    c->tls_default = ctx;
    return 0;
}

/* ---- client ------------------------------------------------------------------------- */

static void client_maybe_free(sl_httpc_t *c)
{
    if (!c->closing || c->refs > 0)
        return;
    free(c->ca_file);
    free(c);
}

static void sweep_closed_cb(uv_handle_t *h)
{
    sl_httpc_t *c = h->data;
    c->refs--;
    client_maybe_free(c);
}

/* Once a second while connections are idle: close those past their time. */
static void sweep_cb(uv_timer_t *t)
{
    sl_httpc_t *c = t->data;
    uint64_t now = uv_now(c->loop);
    int idle = 0;
    for (origin_t *o = c->origins, *onext; o; o = onext) {
        onext = o->next;
        for (hconn_t *k = o->idle, *knext; k; k = knext) {
            knext = k->idle_next;
            if (now - k->idle_since >= k->idle_limit)
                conn_close(k);
            else
                idle = 1;
        }
        origin_maybe_free(o);
    }
    if (!idle)
        uv_timer_stop(&c->sweep);
}

sl_httpc_t *sl_httpc_new(uv_loop_t *loop, const sl_httpc_opts_t *o)
{
    settings_init();
    sl_httpc_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->loop = loop;
    c->max_per_host = o && o->max_per_host ? o->max_per_host : SL_HTTPC_DEFAULT_PER_HOST;
    c->idle_ms = o && o->idle_ms ? o->idle_ms : SL_HTTPC_DEFAULT_IDLE_MS;
    snprintf(c->user_agent, sizeof c->user_agent, "%s", o && o->user_agent ? o->user_agent : "siolua");
    uv_timer_init(loop, &c->sweep);
    c->sweep.data = c;
    uv_unref((uv_handle_t *)&c->sweep); /* idle connections alone don't keep a loop running */
    c->refs = 1;
    return c;
}

unsigned sl_httpc_connections(const sl_httpc_t *c) { return c ? c->nconns : 0; }

/* ---- origins ---------------------------------------------------------------------------- */

static origin_t *origin_get(sl_httpc_t *c, sl_httpc_req_t *r)
{
    char key[sizeof ((origin_t *)0)->key];
    snprintf(key, sizeof key, "%s://%s:%d %p", r->u.tls ? "https" : "http", r->u.host, r->u.port,
             (void *)(r->u.tls ? r->tls : NULL));
    for (origin_t *o = c->origins; o; o = o->next)
        if (!strcmp(o->key, key))
            return o;
    origin_t *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->c = c;
    memcpy(o->key, key, sizeof key);
    snprintf(o->host, sizeof o->host, "%s", r->u.host);
    snprintf(o->port, sizeof o->port, "%d", r->u.port);
    snprintf(o->authority, sizeof o->authority, "%s", r->u.authority);
    if (r->u.tls)
        o->tls = sl_tls_ctx_ref(r->tls);
    o->next = c->origins;
    if (c->origins)
        c->origins->prev = o;
    c->origins = o;
    return o;
}

static void origin_maybe_free(origin_t *o)
{
    if (o->nconns || o->qhead || o->busy)
        return;
    sl_httpc_t *c = o->c;
    if (o->prev)
        o->prev->next = o->next;
    else
        c->origins = o->next;
    if (o->next)
        o->next->prev = o->prev;
    sl_tls_ctx_unref(o->tls);
    free(o);
}

static void queue_push(origin_t *o, sl_httpc_req_t *r, int front)
{
    r->o = o;
    r->state = R_QUEUED;
    r->phase = P_NONE; /* only the whole deadline runs while it waits */
    if (front) {
        r->qnext = o->qhead;
        o->qhead = r;
        if (!o->qtail)
            o->qtail = r;
    } else {
        r->qnext = NULL;
        if (o->qtail)
            o->qtail->qnext = r;
        else
            o->qhead = r;
        o->qtail = r;
    }
}

static void queue_remove(sl_httpc_req_t *r)
{
    origin_t *o = r->o;
    if (!o)
        return;
    sl_httpc_req_t **pp = &o->qhead, *prev = NULL;
    while (*pp && *pp != r) {
        prev = *pp;
        pp = &(*pp)->qnext;
    }
    if (*pp) {
        *pp = r->qnext;
        if (o->qtail == r)
            o->qtail = prev;
    }
    r->qnext = NULL;
    r->o = NULL;
}

/* Gives queued requests an idle connection or a new one, as the cap allows.
 * A request that fails on the way closes its connection, which dispatches
 * again (nested): o stays allocated until the outermost call is over, and
 * the caller frees it when that suits it (origin_maybe_free). */
static void origin_dispatch(origin_t *o)
{
    sl_httpc_t *c = o->c;
    o->busy++;
    while (o->qhead && !c->closing) {
        sl_httpc_req_t *r = o->qhead;
        if (o->idle) {
            hconn_t *k = o->idle;
            o->idle = k->idle_next;
            k->idle_next = NULL;
            queue_remove(r);
            k->state = K_BUSY;
            k->req = r;
            r->conn = k;
            req_send(r);
        } else if (o->nconns < c->max_per_host) {
            queue_remove(r);
            conn_open(o, r);
        } else {
            break;
        }
    }
    o->busy--;
}

/* ---- requests: ending ---------------------------------------------------------------------- */

static void req_closed_cb(uv_handle_t *h)
{
    sl_httpc_req_t *r = h->data;
    sl_httpc_t *c = r->c;
    sl_httpc_url_free(&r->u);
    free(r->url);
    free(r->ca_file);
    sl_tls_ctx_unref(r->tls);
    sl_buf_free(&r->hdrs);
    sl_buf_free(&r->body);
    sl_buf_free(&r->rh);
    sl_buf_free(&r->field);
    sl_buf_free(&r->value);
    sl_buf_free(&r->rbody);
    if (r->z) {
        inflateEnd(r->z);
        free(r->z);
    }
    free(r);
    c->refs--;
    client_maybe_free(c);
}

/* Leaves its queue or its connection (which is closed: its state is unknown). */
static void req_detach(sl_httpc_req_t *r)
{
    if (r->o) {
        origin_t *o = r->o;
        queue_remove(r);
        origin_maybe_free(o);
    }
    hconn_t *k = r->conn;
    if (k) {
        r->conn = NULL;
        k->req = NULL;
        conn_drop(k);
    }
}

/* The end: unlinked, the callback (last), then the timer closes and frees r. */
static void req_report(sl_httpc_req_t *r, int code, const sl_httpc_response_t *res, const char *err)
{
    sl_httpc_t *c = r->c;
    r->state = R_DONE;
    if (r->prev)
        r->prev->next = r->next;
    else
        c->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
    uv_timer_stop(&r->timer);
    uv_close((uv_handle_t *)&r->timer, req_closed_cb);
    if (r->cb)
        r->cb(r, code, res, err, r->ud);
}

/* Every failure goes this way: the request lets go of its connection now
 * and is reported from its timer, in the next loop turn. */
static void req_fail(sl_httpc_req_t *r, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void req_fail(sl_httpc_req_t *r, int code, const char *fmt, ...)
{
    if (r->state == R_FAILING || r->state == R_DONE)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, sizeof r->err, fmt, ap);
    va_end(ap);
    r->err_code = code;
    r->state = R_FAILING;
    req_detach(r);
    uv_timer_start(&r->timer, req_timer_cb, 0, 0);
}

/* ---- requests: deadlines ------------------------------------------------------------------ */

/* The timer fires at the nearest of the whole deadline and the phase's. */
static void req_arm(sl_httpc_req_t *r)
{
    if (r->state == R_FAILING || r->state == R_DONE)
        return;
    uint64_t at = r->deadline;
    if (r->phase != P_NONE && r->phase_deadline < at)
        at = r->phase_deadline;
    uint64_t now = uv_now(r->c->loop);
    uv_timer_start(&r->timer, req_timer_cb, at > now ? at - now : 0, 0);
}

static void req_set_phase(sl_httpc_req_t *r, phase_t p, unsigned ms)
{
    r->phase = ms ? p : P_NONE;
    r->phase_deadline = uv_now(r->c->loop) + ms;
    req_arm(r);
}

static void req_timer_cb(uv_timer_t *t)
{
    sl_httpc_req_t *r = t->data;
    if (r->state == R_FAILING) {
        req_report(r, r->err_code, NULL, r->err);
        return;
    }
    uint64_t now = uv_now(r->c->loop);
    if (now >= r->deadline) {
        req_fail(r, SL_HTTPC_ETIMEDOUT, "timeout: %s %s not complete within %u ms", r->method, r->url,
                 r->timeout_ms);
    } else if (r->phase == P_CONNECT && now >= r->phase_deadline) {
        int tls = r->conn && r->conn->state == K_TLS;
        req_fail(r, SL_HTTPC_ETIMEDOUT, "connect timeout: %s %s within %u ms", r->u.authority,
                 tls ? "did not finish the TLS handshake" : "did not accept a connection", r->connect_ms);
    } else if (r->phase == P_HEADERS && now >= r->phase_deadline) {
        req_fail(r, SL_HTTPC_ETIMEDOUT, "timeout: no response headers from %s within %u ms", r->u.authority,
                 r->headers_ms);
    } else {
        req_arm(r);
    }
}

/* ---- connections: life cycle -------------------------------------------------------------- */

static void conn_maybe_free(hconn_t *k)
{
    if (k->state != K_CLOSED || k->refs > 0)
        return;
    sl_httpc_t *c = k->c;
    free(k);
    c->refs--;
    client_maybe_free(c);
}

static void tcp_closed_cb(uv_handle_t *h)
{
    hconn_t *k = h->data;
    free(h);
    k->refs--;
    conn_maybe_free(k);
}

static void close_tcp(hconn_t *k)
{
    uv_tcp_t *t = k->tcp;
    k->tcp = NULL;
    if (t) {
        sl_stream_writer_close(&k->out);
        uv_close((uv_handle_t *)t, tcp_closed_cb);
    }
}

/* Unlinks and closes; the caller dispatches the origin's queue and frees
 * the origin when that suits it. k->req must be detached already. */
static void conn_close(hconn_t *k)
{
    if (k->state == K_CLOSED)
        return;
    origin_t *o = k->o;
    if (k->state == K_IDLE) {
        hconn_t **pp = &o->idle;
        while (*pp && *pp != k)
            pp = &(*pp)->idle_next;
        if (*pp)
            *pp = k->idle_next;
    }
    sl_tcp_connect_cancel(k->dial);
    k->dial = NULL;
    k->state = K_CLOSED;
    if (k->prev)
        k->prev->next = k->next;
    else
        o->conns = k->next;
    if (k->next)
        k->next->prev = k->prev;
    o->nconns--;
    k->c->nconns--;
    k->o = NULL;
    /* A TLS connection we end says so (close_notify), as a browser does:
     * a server may otherwise log a truncation attack. Best effort: what the
     * kernel takes now goes, then the socket closes; after a fatal alert
     * OpenSSL sends nothing more. */
    if (k->tls && k->tcp && sl_tls_handshake_done(k->tls) && sl_tls_shutdown(k->tls) == 0)
        (void)conn_flush_tls(k);
    close_tcp(k);
    sl_tls_free(k->tls);
    k->tls = NULL;
    conn_maybe_free(k);
}

/* Closes k, then lets its origin's queue use the slot and frees the origin
 * if nothing is left of it. */
static void conn_drop(hconn_t *k)
{
    origin_t *o = k->o;
    conn_close(k);
    if (o) {
        origin_dispatch(o);
        origin_maybe_free(o);
    }
}

/* A failure found in a libuv callback: the request (if any) fails with it,
 * which also closes k. */
static void conn_fail(hconn_t *k, int code, const char *msg)
{
    sl_httpc_req_t *r = k->req;
    if (r) {
        req_fail(r, code, "%s", msg);
        return;
    }
    conn_drop(k);
}

static void conn_idle(hconn_t *k, int ka_timeout)
{
    sl_httpc_t *c = k->c;
    origin_t *o = k->o;
    uint64_t limit = c->idle_ms;
    if (ka_timeout >= 0 && (uint64_t)ka_timeout * 1000 < limit + KA_MARGIN_MS)
        limit = (uint64_t)ka_timeout * 1000 > KA_MARGIN_MS ? (uint64_t)ka_timeout * 1000 - KA_MARGIN_MS : 0;
    if (limit == 0 || c->closing) {
        conn_drop(k);
        return;
    }
    k->state = K_IDLE;
    k->idle_since = uv_now(c->loop);
    k->idle_limit = limit;
    k->idle_next = o->idle;
    o->idle = k;
    if (!uv_is_active((uv_handle_t *)&c->sweep))
        uv_timer_start(&c->sweep, sweep_cb, SWEEP_MS, SWEEP_MS);
    origin_dispatch(o);
    origin_maybe_free(o); /* its request may have failed and closed k */
}

/* ---- connections: output ------------------------------------------------------------------ */

/* A write that had to wait failed: the request on k fails with it. */
static void out_error(sl_stream_writer_t *w, int status)
{
    hconn_t *k = w->data;
    if (k->state == K_CLOSED)
        return;
    char msg[ERR_MAX];
    snprintf(msg, sizeof msg, "cannot send to %s: %s", k->o->authority, uv_strerror(status));
    conn_fail(k, SL_HTTPC_ECLOSED, msg);
}

static const sl_stream_writer_handler_t out_handler = {.on_error = out_error};

/* The one place bytes go to the socket: the stream writer (uncapped: the
 * request's size is the caller's, and a server that reads nothing is cut
 * by the request's timeouts). Returns 0 or a negative error. */
static int conn_write(hconn_t *k, const char *p, size_t n)
{
    if (!k->tcp)
        return UV_EPIPE;
    return sl_stream_writer_write(&k->out, p, n, SL_STREAM_WRITE_UNCAPPED);
}

/* Sends the ciphertext the TLS engine has for the peer. */
static int conn_flush_tls(hconn_t *k)
{
    sl_buf_t out = SL_BUF_INIT;
    ssize_t n = sl_tls_take(k->tls, &out);
    int rc = n < 0 ? UV_ENOMEM : conn_write(k, out.data, out.len);
    sl_buf_free(&out);
    return rc;
}

static int conn_send(hconn_t *k, const char *p, size_t n)
{
    if (!k->tls)
        return conn_write(k, p, n);
    if (sl_tls_write(k->tls, p, n) < 0)
        return UV_EPROTO;
    return conn_flush_tls(k);
}

static int idempotent(const char *m)
{
    static const char *const list[] = {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE", NULL};
    for (int i = 0; list[i]; i++)
        if (!strcmp(m, list[i]))
            return 1;
    return 0;
}

static int has_body_method(const char *m) { return !strcmp(m, "POST") || !strcmp(m, "PUT") || !strcmp(m, "PATCH"); }

/* Writes the request on r->conn (connected, TLS done). */
static void req_send(sl_httpc_req_t *r)
{
    hconn_t *k = r->conn;
    sl_buf_t head = SL_BUF_INIT;
    int rc = sl_buf_appendf(&head, "%s %s HTTP/1.1\r\n", r->method, r->u.target);
    if (!r->has_host)
        rc = rc || sl_buf_appendf(&head, "Host: %s\r\n", r->u.authority);
    for (size_t off = 0; off < r->hdrs.len && !rc;) {
        const char *name = r->hdrs.data + off;
        const char *value = name + strlen(name) + 1;
        rc = sl_buf_appendf(&head, "%s: %s\r\n", name, value);
        off = (size_t)(value - r->hdrs.data) + strlen(value) + 1;
    }
    if (!r->has_ua)
        rc = rc || sl_buf_appendf(&head, "User-Agent: %s\r\n", r->c->user_agent);
    if (!r->has_accept)
        rc = rc || sl_buf_append_str(&head, "Accept: */*\r\n");
    if (!r->has_ae)
        rc = rc || sl_buf_append_str(&head, "Accept-Encoding: gzip, deflate\r\n");
    if (r->conn_close)
        rc = rc || sl_buf_append_str(&head, "Connection: close\r\n");
    if (r->has_body || has_body_method(r->method))
        rc = rc || sl_buf_appendf(&head, "Content-Length: %zu\r\n", r->body.len);
    rc = rc || sl_buf_append_str(&head, "\r\n");
    if (rc) {
        sl_buf_free(&head);
        req_fail(r, SL_HTTPC_ENOMEM, "out of memory");
        return;
    }
    llhttp_init(&k->parser, HTTP_RESPONSE, &parser_settings);
    k->parser.data = k; /* a HEAD answer has no body: on_headers_complete says so */
    k->uses++;
    r->state = R_SENT;
    req_set_phase(r, P_HEADERS, r->headers_ms);
    rc = conn_send(k, head.data, head.len);
    if (rc == 0 && r->body.len)
        rc = conn_send(k, r->body.data, r->body.len);
    sl_buf_free(&head);
    if (rc)
        req_fail(r, SL_HTTPC_ECLOSED, "cannot send to %s: %s", r->u.authority, uv_strerror(rc));
}

/* ---- the response -------------------------------------------------------------------------- */

static sl_httpc_req_t *req_of(llhttp_t *p) { return ((hconn_t *)p->data)->req; }

/* Fails the parse with a reason the read path reports (HPE_USER). */
static int parse_fail(sl_httpc_req_t *r, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int parse_fail(sl_httpc_req_t *r, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, sizeof r->err, fmt, ap);
    va_end(ap);
    r->err_code = code;
    return HPE_USER;
}

static int head_bytes(sl_httpc_req_t *r, size_t n)
{
    r->head_bytes += n;
    if (r->head_bytes > MAX_HEAD)
        return parse_fail(r, SL_HTTPC_ETOOBIG, "response headers too large from %s (more than %d bytes)",
                          r->u.authority, MAX_HEAD);
    return 0;
}

static int on_status(llhttp_t *p, const char *at, size_t n)
{
    sl_httpc_req_t *r = req_of(p);
    size_t have = strlen(r->reason), room = sizeof r->reason - 1 - have;
    memcpy(r->reason + have, at, n < room ? n : room);
    r->reason[have + (n < room ? n : room)] = '\0';
    return head_bytes(r, n);
}

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
    sl_httpc_req_t *r = req_of(p);
    int e = head_bytes(r, n);
    return e ? e : sl_buf_append(&r->field, at, n) ? parse_fail(r, SL_HTTPC_ENOMEM, "out of memory") : 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
    sl_httpc_req_t *r = req_of(p);
    int e = head_bytes(r, n);
    return e ? e : sl_buf_append(&r->value, at, n) ? parse_fail(r, SL_HTTPC_ENOMEM, "out of memory") : 0;
}

/* The value of the first response header named name (lower case), or NULL. */
static const char *resp_header(const sl_httpc_req_t *r, const char *name)
{
    for (size_t off = 0; off < r->rh.len;) {
        const char *n = r->rh.data + off;
        const char *v = n + strlen(n) + 1;
        if (!strcmp(n, name))
            return v;
        off = (size_t)(v - r->rh.data) + strlen(v) + 1;
    }
    return NULL;
}

static int on_header_value_complete(llhttp_t *p)
{
    sl_httpc_req_t *r = req_of(p);
    size_t vs = 0, ve = r->value.len;
    while (vs < ve && (r->value.data[vs] == ' ' || r->value.data[vs] == '\t'))
        vs++;
    while (ve > vs && (r->value.data[ve - 1] == ' ' || r->value.data[ve - 1] == '\t'))
        ve--;
    for (size_t i = 0; i < r->field.len; i++)
        r->field.data[i] = (char)tolower((unsigned char)r->field.data[i]);
    int rc = sl_buf_append(&r->rh, r->field.data ? r->field.data : "", r->field.len) ||
             sl_buf_append_byte(&r->rh, '\0') || sl_buf_append(&r->rh, r->value.data ? r->value.data + vs : "", ve - vs) ||
             sl_buf_append_byte(&r->rh, '\0');
    if (rc)
        return parse_fail(r, SL_HTTPC_ENOMEM, "out of memory");
    /* NUL bytes inside a name or value would cut it short: llhttp refuses them already. */
    r->nrh++;
    if (r->field.len == 10 && !memcmp(r->field.data, "keep-alive", 10))
        r->ka_timeout = sl_httpc_keepalive_timeout(r->rh.data + r->rh.len - (ve - vs) - 1, ve - vs);
    sl_buf_reset(&r->field);
    sl_buf_reset(&r->value);
    return 0;
}

int sl_httpc_keepalive_timeout(const char *v, size_t len)
{
    enum { A_DAY = 86400 };
    size_t i = 0;
    while (i < len) {
        while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t name = i;
        while (i < len && v[i] != '=' && v[i] != ',')
            i++;
        size_t name_end = i;
        while (name_end > name && (v[name_end - 1] == ' ' || v[name_end - 1] == '\t'))
            name_end--;
        int is_timeout = name_end - name == 7 && !strncasecmp(v + name, "timeout", 7);
        if (i < len && v[i] == '=') {
            i++;
            while (i < len && (v[i] == ' ' || v[i] == '\t'))
                i++;
            if (is_timeout) {
                long secs = 0;
                size_t digits = 0;
                for (; i < len && v[i] >= '0' && v[i] <= '9'; i++, digits++)
                    secs = secs < A_DAY ? secs * 10 + (v[i] - '0') : A_DAY;
                while (i < len && (v[i] == ' ' || v[i] == '\t'))
                    i++;
                if (!digits || (i < len && v[i] != ','))
                    return -1;
                return secs < A_DAY ? (int)secs : A_DAY;
            }
        }
        while (i < len && v[i] != ',')
            i++;
    }
    return -1;
}

static int on_headers_complete(llhttp_t *p)
{
    sl_httpc_req_t *r = req_of(p);
    r->status = p->status_code;
    if (r->status == 101)
        return parse_fail(r, SL_HTTPC_EPROTO, "%s answered 101 Switching Protocols to a plain request",
                          r->u.authority);
    if (r->status >= 100 && r->status < 200) {
        r->interim = 1; /* 100 Continue, 103 Early Hints: the real answer follows */
        return 0;
    }
    r->got_head = 1;
    r->phase = P_NONE;
    int head = !strcmp(r->method, "HEAD");
    const char *ce = resp_header(r, "content-encoding");
    if (ce && !head && r->status != 204 && r->status != 304) {
        if (!strcasecmp(ce, "gzip") || !strcasecmp(ce, "x-gzip"))
            r->zmode = Z_GZIP;
        else if (!strcasecmp(ce, "deflate"))
            r->zmode = Z_DEFLATE;
        if (r->zmode != Z_NONE) {
            r->z = calloc(1, sizeof *r->z);
            /* 15 + 32: a zlib or a gzip header, whichever comes. */
            if (!r->z || inflateInit2(r->z, 15 + 32) != Z_OK) {
                free(r->z);
                r->z = NULL;
                return parse_fail(r, SL_HTTPC_ENOMEM, "out of memory");
            }
        }
    }
    return head ? 1 : 0;
}

static int too_big(sl_httpc_req_t *r)
{
    return parse_fail(r, SL_HTTPC_ETOOBIG, "response body too large: more than %zu bytes from %s", r->max_body,
                      r->url);
}

static int body_inflate(sl_httpc_req_t *r, const char *p, size_t n)
{
    z_stream *z = r->z;
    int first = r->raw_bytes == n;
    z->next_in = (Bytef *)p;
    z->avail_in = (uInt)n;
    /* full: the last round filled its output, so zlib may hold more of
     * what it has read (the end of a match whose input is all taken: a raw
     * stream has no trailer left to come and bring it out). */
    int full = 0;
    while (z->avail_in > 0 || full) {
        full = 0;
        if (r->z_end) {
            if (r->zmode != Z_GZIP)
                return 0; /* bytes after a deflate stream: ignored */
            inflateReset(z); /* another gzip member (RFC 1952 2.2) */
            r->z_end = 0;
        }
        if (sl_buf_reserve(&r->rbody, INFLATE_STEP))
            return parse_fail(r, SL_HTTPC_ENOMEM, "out of memory");
        size_t room = r->rbody.cap - r->rbody.len;
        z->next_out = (Bytef *)r->rbody.data + r->rbody.len;
        z->avail_out = (uInt)(room > INFLATE_STEP ? INFLATE_STEP : room);
        uInt before = z->avail_out;
        int zr = inflate(z, Z_NO_FLUSH);
        r->rbody.len += before - z->avail_out;
        if (r->rbody.len > r->max_body)
            return too_big(r);
        full = zr == Z_OK && z->avail_out == 0;
        if (zr == Z_STREAM_END) {
            r->z_end = 1;
        } else if (zr == Z_DATA_ERROR && r->zmode == Z_DEFLATE && first && !r->z_raw && r->rbody.len == 0) {
            /* "deflate" sent as a raw stream, without the zlib header. */
            r->z_raw = 1;
            if (inflateReset2(z, -15) != Z_OK)
                return parse_fail(r, SL_HTTPC_EPROTO, "bad deflate body from %s", r->u.authority);
            z->next_in = (Bytef *)p;
            z->avail_in = (uInt)n;
        } else if (zr != Z_OK && !(zr == Z_BUF_ERROR && z->avail_out > 0)) {
            return parse_fail(r, SL_HTTPC_EPROTO, "bad %s body from %s: %s", r->zmode == Z_GZIP ? "gzip" : "deflate",
                              r->u.authority, z->msg ? z->msg : "corrupt data");
        } else if (zr == Z_BUF_ERROR) {
            break;
        }
    }
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
    sl_httpc_req_t *r = req_of(p);
    r->raw_bytes += n;
    if (r->raw_bytes > r->max_body)
        return too_big(r);
    if (r->z)
        return body_inflate(r, at, n);
    return sl_buf_append(&r->rbody, at, n) ? parse_fail(r, SL_HTTPC_ENOMEM, "out of memory") : 0;
}

static void resp_reset(sl_httpc_req_t *r)
{
    r->status = 0;
    r->reason[0] = '\0';
    sl_buf_free(&r->rh);
    r->nrh = 0;
    sl_buf_reset(&r->field);
    sl_buf_reset(&r->value);
    sl_buf_free(&r->rbody);
    r->head_bytes = r->raw_bytes = 0;
    r->got_any = r->got_head = r->complete = r->keepalive = r->interim = 0;
    r->ka_timeout = -1;
    if (r->z) {
        inflateEnd(r->z);
        free(r->z);
        r->z = NULL;
    }
    r->zmode = Z_NONE;
    r->z_end = r->z_raw = 0;
}

static int on_message_complete(llhttp_t *p)
{
    sl_httpc_req_t *r = req_of(p);
    if (r->interim) {
        int got_any = r->got_any;
        resp_reset(r);
        r->got_any = got_any;
        return 0;
    }
    if (r->z && r->raw_bytes > 0 && !r->z_end)
        return parse_fail(r, SL_HTTPC_EPROTO, "truncated %s body from %s", r->zmode == Z_GZIP ? "gzip" : "deflate",
                          r->u.authority);
    r->complete = 1;
    r->keepalive = llhttp_should_keep_alive(p);
    return HPE_PAUSED; /* whatever follows is not ours */
}

static void settings_init(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    llhttp_settings_init(&parser_settings);
    parser_settings.on_status = on_status;
    parser_settings.on_header_field = on_header_field;
    parser_settings.on_header_value = on_header_value;
    parser_settings.on_header_value_complete = on_header_value_complete;
    parser_settings.on_headers_complete = on_headers_complete;
    parser_settings.on_body = on_body;
    parser_settings.on_message_complete = on_message_complete;
}

/* ---- redirects ------------------------------------------------------------------------------ */

static int is_redirect(int status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* Drops the caller's headers named in names (a NULL-terminated list). */
static void drop_headers(sl_httpc_req_t *r, const char *const *names)
{
    sl_buf_t kept = SL_BUF_INIT;
    for (size_t off = 0; off < r->hdrs.len;) {
        const char *n = r->hdrs.data + off;
        const char *v = n + strlen(n) + 1;
        size_t next = (size_t)(v - r->hdrs.data) + strlen(v) + 1;
        int drop = 0;
        for (int i = 0; names[i]; i++)
            drop |= !strcasecmp(n, names[i]);
        if (!drop && sl_buf_append(&kept, n, next - off)) {
            sl_buf_free(&kept);
            return; /* out of memory: keep them all */
        }
        if (drop && !strcasecmp(n, "host"))
            r->has_host = 0;
        off = next;
    }
    sl_buf_free(&r->hdrs);
    r->hdrs = kept;
}

static void req_enqueue(sl_httpc_req_t *r, int front);

/* Follows r's 3xx answer (the connection is released already). */
static void req_redirect(sl_httpc_req_t *r, const char *location)
{
    if (r->redirects >= r->max_redirects) {
        req_fail(r, SL_HTTPC_EREDIRECT, "too many redirects (more than %d), the last from %s", r->max_redirects,
                 r->url);
        return;
    }
    char *next = sl_httpc_url_resolve(r->url, location);
    sl_httpc_url_t nu;
    char why[200];
    if (!next || sl_httpc_url_parse(next, &nu, why, sizeof why)) {
        req_fail(r, SL_HTTPC_EPROTO, "bad redirect from %s to '%.200s'%s%s", r->url, location, next ? ": " : "",
                 next ? why : "");
        free(next);
        return;
    }
    if (r->u.tls && !nu.tls) {
        req_fail(r, SL_HTTPC_EREDIRECT,
                 "redirect from https to http refused (%s to %s); use redirect = \"manual\" to follow it yourself",
                 r->url, next);
        sl_httpc_url_free(&nu);
        free(next);
        return;
    }
    if (nu.tls && !r->tls) {
        sl_tls_ctx_t *t = trust_for(r->c, r->ca_file, why, sizeof why);
        if (!t) {
            req_fail(r, SL_HTTPC_EINVAL, "%s", why);
            sl_httpc_url_free(&nu);
            free(next);
            return;
        }
        r->tls = sl_tls_ctx_ref(t);
    }
    /* 303, and 301/302 after a POST (as browsers and fetch do): GET, no body. */
    if ((r->status == 303 && strcmp(r->method, "HEAD")) ||
        ((r->status == 301 || r->status == 302) && !strcmp(r->method, "POST"))) {
        strcpy(r->method, "GET");
        sl_buf_free(&r->body);
        r->has_body = 0;
        static const char *const content[] = {"content-type", "content-encoding", "content-language",
                                              "content-location", NULL};
        drop_headers(r, content);
    }
    /* Credentials stay with the origin they were meant for. */
    if (nu.tls != r->u.tls || nu.port != r->u.port || strcmp(nu.host, r->u.host)) {
        static const char *const creds[] = {"authorization", "cookie", "proxy-authorization", "host", NULL};
        drop_headers(r, creds);
    }
    sl_httpc_url_free(&r->u);
    free(r->url);
    r->u = nu;
    r->url = next;
    r->redirects++;
    resp_reset(r);
    req_enqueue(r, 0);
}

/* ---- reading --------------------------------------------------------------------------------- */

static void conn_parse(hconn_t *k, const char *p, size_t n)
{
    sl_httpc_req_t *r = k->req;
    if (!r || r->state != R_SENT || r->complete || k->fail_code) {
        k->dirty = 1; /* bytes nobody asked for */
        return;
    }
    r->got_any = 1;
    llhttp_errno_t e = llhttp_execute(&k->parser, p, n);
    if (e == HPE_PAUSED) {
        if ((size_t)(llhttp_get_error_pos(&k->parser) - p) < n)
            k->dirty = 1;
        return;
    }
    if (e == HPE_OK)
        return;
    if (e == HPE_USER || r->err_code) {
        k->fail_code = r->err_code ? r->err_code : SL_HTTPC_EPROTO;
        snprintf(k->fail, sizeof k->fail, "%s", r->err);
        r->err_code = 0;
    } else {
        k->fail_code = SL_HTTPC_EPROTO;
        snprintf(k->fail, sizeof k->fail, "bad HTTP response from %s: %s", r->u.authority,
                 llhttp_get_error_reason(&k->parser));
    }
}

static void conn_ended(hconn_t *k, ssize_t status);

/* Plaintext from the TLS engine until it has no more; finishes the
 * handshake (and sends the request) on the way. */
static void conn_tls_input(hconn_t *k, const char *p, size_t n)
{
    static char plain[16384 + 512];
    if (sl_tls_feed(k->tls, p, n)) {
        k->fail_code = SL_HTTPC_ENOMEM;
        snprintf(k->fail, sizeof k->fail, "out of memory");
        return;
    }
    for (;;) {
        ssize_t got = sl_tls_read(k->tls, plain, sizeof plain);
        if (k->state == K_TLS && sl_tls_handshake_done(k->tls)) {
            k->state = K_BUSY;
            req_send(k->req);
            if (k->state == K_CLOSED)
                return;
        }
        if (got > 0) {
            conn_parse(k, plain, (size_t)got);
            if (k->fail_code)
                break;
            continue;
        }
        if (got == SL_TLS_CLOSED)
            conn_ended(k, UV_EOF); /* the server's close_notify: its data ends here, FIN or not */
        else if (got < 0) {
            k->fail_code = k->state == K_TLS ? SL_HTTPC_ETLS : SL_HTTPC_EPROTO;
            snprintf(k->fail, sizeof k->fail, "%s (https://%s)", sl_tls_reason(k->tls), k->o->authority);
        }
        break;
    }
    if (k->state != K_CLOSED && k->tcp)
        conn_flush_tls(k); /* handshake messages, alerts */
}

/* The connection ended (EOF or an error): what that means for its request. */
static void conn_ended(hconn_t *k, ssize_t status)
{
    k->eof = 1;
    sl_httpc_req_t *r = k->req;
    if (!r || k->fail_code)
        return;
    if (k->state == K_TLS) {
        k->fail_code = SL_HTTPC_ETLS;
        snprintf(k->fail, sizeof k->fail, "handshake failed: the server closed the connection (https://%s)",
                 k->o->authority);
        return;
    }
    if (r->state != R_SENT || r->complete)
        return;
    if (r->got_head) {
        llhttp_errno_t e = llhttp_finish(&k->parser);
        if ((e == HPE_OK || e == HPE_PAUSED) && r->complete)
            return; /* a body that ends with the connection */
        if (r->err_code) {
            k->fail_code = r->err_code;
            snprintf(k->fail, sizeof k->fail, "%s", r->err);
            r->err_code = 0;
            return;
        }
    } else if (!r->got_any && k->uses > 1 && idempotent(r->method) && !r->retried) {
        k->retry = 1; /* the server closed a kept-alive connection as we used it */
        return;
    }
    k->fail_code = SL_HTTPC_ECLOSED;
    if (status == UV_EOF)
        snprintf(k->fail, sizeof k->fail, "connection to %s closed before the response %s", r->u.authority,
                 r->got_any ? "was complete" : "came");
    else
        snprintf(k->fail, sizeof k->fail, "connection to %s lost: %s", r->u.authority, uv_strerror((int)status));
}

static void req_complete(sl_httpc_req_t *r);

/* After a read callback: acts on what it found (see the file's header). */
static void conn_settle(hconn_t *k)
{
    if (k->state == K_CLOSED)
        return;
    sl_httpc_req_t *r = k->req;
    if (k->retry && r) {
        k->retry = 0;
        r->retried = 1;
        k->req = NULL;
        r->conn = NULL;
        origin_t *o = k->o;
        conn_close(k);
        resp_reset(r);
        queue_push(o, r, 1);
        origin_dispatch(o);
        origin_maybe_free(o);
        return;
    }
    if (k->fail_code) {
        char msg[ERR_MAX];
        memcpy(msg, k->fail, sizeof msg);
        conn_fail(k, k->fail_code, msg);
        return;
    }
    if (r && r->complete) {
        int reuse = r->keepalive && !k->dirty && !k->eof && !r->conn_close;
        int ka = r->ka_timeout;
        k->req = NULL;
        r->conn = NULL;
        if (reuse) {
            conn_idle(k, ka);
        } else {
            conn_drop(k);
        }
        req_complete(r); /* last: may call the user's callback */
        return;
    }
    if (!r && (k->eof || k->dirty)) /* an idle connection closed by its server, or junk on it */
        conn_drop(k);
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    hconn_t *k = s->data;
    if (k->state == K_CLOSED || nread == 0)
        return;
    if (nread > 0) {
        if (k->tls)
            conn_tls_input(k, buf->base, (size_t)nread);
        else
            conn_parse(k, buf->base, (size_t)nread);
    } else {
        conn_ended(k, nread);
    }
    conn_settle(k);
}

/* ---- connecting --------------------------------------------------------------------------------- */

static void dialed_cb(uv_tcp_t *tcp, int code, const char *err, void *ud)
{
    hconn_t *k = ud;
    k->dial = NULL;
    if (!tcp) {
        conn_fail(k, code == SL_TCP_CONNECT_EDNS ? SL_HTTPC_EDNS : SL_HTTPC_ECONNECT, err);
        return;
    }
    k->tcp = tcp;
    tcp->data = k;
    k->refs++; /* the handle, until its close callback */
    uv_tcp_nodelay(tcp, 1);
    sl_stream_writer_init(&k->out, (uv_stream_t *)tcp, 0, &out_handler, k);
    int rc = uv_read_start((uv_stream_t *)tcp, sl_tcp_read_slab, read_cb);
    char msg[ERR_MAX];
    if (rc) {
        snprintf(msg, sizeof msg, "cannot read from %s: %s", k->o->authority, uv_strerror(rc));
        conn_fail(k, SL_HTTPC_ECONNECT, msg);
        return;
    }
    if (!k->o->tls) {
        k->state = K_BUSY;
        req_send(k->req);
        return;
    }
    char why[200];
    if (sl_tls_new(k->o->tls, k->o->host, &k->tls, why, sizeof why)) {
        snprintf(msg, sizeof msg, "%s (https://%s)", why, k->o->authority);
        conn_fail(k, SL_HTTPC_ETLS, msg);
        return;
    }
    k->state = K_TLS;
    rc = conn_flush_tls(k); /* the ClientHello */
    if (rc) {
        snprintf(msg, sizeof msg, "cannot send to %s: %s", k->o->authority, uv_strerror(rc));
        conn_fail(k, SL_HTTPC_ECONNECT, msg);
    }
}

/* A new connection for r (taken off the queue by the caller). */
static void conn_open(origin_t *o, sl_httpc_req_t *r)
{
    sl_httpc_t *c = o->c;
    hconn_t *k = calloc(1, sizeof *k);
    if (!k) {
        req_fail(r, SL_HTTPC_ENOMEM, "out of memory");
        return;
    }
    k->c = c;
    k->o = o;
    k->next = o->conns;
    if (o->conns)
        o->conns->prev = k;
    o->conns = k;
    o->nconns++;
    c->nconns++;
    c->refs++;
    k->req = r;
    r->conn = k;
    r->state = R_CONNECTING;
    k->state = K_CONNECTING;
    req_set_phase(r, P_CONNECT, r->connect_ms);
    char err[ERR_MAX];
    int rc = sl_tcp_connect_start(c->loop, o->host, o->port, dialed_cb, k, &k->dial, err, sizeof err);
    if (rc)
        req_fail(r, rc == SL_TCP_CONNECT_EDNS ? SL_HTTPC_EDNS : SL_HTTPC_ECONNECT, "%s", err);
}

/* ---- requests: starting, completing ---------------------------------------------------------- */

static void req_enqueue(sl_httpc_req_t *r, int front)
{
    origin_t *o = origin_get(r->c, r);
    if (!o) {
        req_fail(r, SL_HTTPC_ENOMEM, "out of memory");
        return;
    }
    queue_push(o, r, front);
    origin_dispatch(o);
    origin_maybe_free(o);
}

static void req_complete(sl_httpc_req_t *r)
{
    const char *loc = resp_header(r, "location");
    if (!r->manual && is_redirect(r->status) && loc && *loc) {
        /* A copy (the response is reset on the way), whole: a reference
         * cut short names another place. What it resolves to is held to
         * SL_HTTPC_MAX_URL like any URL. */
        char *copy = dupstr(loc);
        if (!copy) {
            req_fail(r, SL_HTTPC_ENOMEM, "out of memory");
            return;
        }
        req_redirect(r, copy);
        free(copy);
        return;
    }
    sl_httpc_header_t one, *hs = r->nrh <= 1 ? &one : malloc(r->nrh * sizeof *hs);
    if (!hs) {
        req_report(r, SL_HTTPC_ENOMEM, NULL, "out of memory");
        return;
    }
    size_t i = 0;
    for (size_t off = 0; off < r->rh.len && i < r->nrh; i++) {
        hs[i].name = r->rh.data + off;
        hs[i].value = hs[i].name + strlen(hs[i].name) + 1;
        off = (size_t)(hs[i].value - r->rh.data) + strlen(hs[i].value) + 1;
    }
    sl_httpc_response_t res = {
        .status = r->status,
        .reason = r->reason,
        .url = r->url,
        .redirects = r->redirects,
        .headers = hs,
        .nheaders = i,
        .body = r->rbody.data ? r->rbody.data : "",
        .body_len = r->rbody.len,
    };
    req_report(r, 0, &res, NULL);
    if (hs != &one)
        free(hs);
}

/* Header names the client writes itself, refused from the caller. */
static int managed_header(const char *name)
{
    static const char *const list[] = {"content-length", "transfer-encoding", "keep-alive", "upgrade", "te",
                                       "trailer", "expect", NULL};
    for (int i = 0; list[i]; i++)
        if (!strcasecmp(name, list[i]))
            return 1;
    return 0;
}

int sl_httpc_check(const sl_httpc_request_t *rq, char *err, size_t errlen)
{
    const char *method = rq->method ? rq->method : "GET";
    if (!is_token(method, MAX_METHOD)) {
        errf(err, errlen, "bad method '%.40s'", method);
        return -1;
    }
    for (size_t i = 0; i < rq->nheaders; i++) {
        const char *n = rq->headers[i].name, *v = rq->headers[i].value;
        if (!n || !is_token(n, 256)) {
            errf(err, errlen, "bad header name '%.60s'", n ? n : "(null)");
            return -1;
        }
        if (!v || strpbrk(v, "\r\n")) {
            errf(err, errlen, "bad value for header '%.60s' (line breaks are not allowed)", n);
            return -1;
        }
        if (!strcasecmp(n, "connection") ? strcasecmp(v, "close") != 0 : managed_header(n)) {
            errf(err, errlen, "header '%.60s' is managed by the HTTP client", n);
            return -1;
        }
    }
    return 0;
}

int sl_httpc_request(sl_httpc_t *c, const sl_httpc_request_t *rq, sl_httpc_done_cb cb, void *ud,
                     sl_httpc_req_t **out, char *err, size_t errlen)
{
    if (!c || c->closing) {
        errf(err, errlen, "the HTTP client is closed");
        return SL_HTTPC_ECANCELED;
    }
    if (sl_httpc_check(rq, err, errlen))
        return SL_HTTPC_EINVAL;
    const char *method = rq->method ? rq->method : "GET";
    sl_httpc_req_t *r = calloc(1, sizeof *r);
    if (!r) {
        errf(err, errlen, "out of memory");
        return SL_HTTPC_ENOMEM;
    }
    r->c = c;
    snprintf(r->method, sizeof r->method, "%s", method);
    r->ka_timeout = -1;
    int rc = 0;
    if (sl_httpc_url_parse(rq->url, &r->u, err, errlen))
        rc = SL_HTTPC_EINVAL;
    for (size_t i = 0; i < rq->nheaders && !rc; i++) {
        const char *n = rq->headers[i].name, *v = rq->headers[i].value;
        if (!strcasecmp(n, "connection")) {
            r->conn_close = 1;
        } else {
            r->has_host |= !strcasecmp(n, "host");
            r->has_ua |= !strcasecmp(n, "user-agent");
            r->has_accept |= !strcasecmp(n, "accept");
            r->has_ae |= !strcasecmp(n, "accept-encoding");
            if (sl_buf_append(&r->hdrs, n, strlen(n) + 1) || sl_buf_append(&r->hdrs, v, strlen(v) + 1)) {
                errf(err, errlen, "out of memory");
                rc = SL_HTTPC_ENOMEM;
            }
        }
    }
    if (!rc && rq->body_len > ((size_t)1 << 31)) {
        errf(err, errlen, "request body too large (more than 2 GiB)");
        rc = SL_HTTPC_EINVAL;
    } else if (!rc && rq->body && rq->body_len) {
        r->has_body = 1;
        if (sl_buf_append(&r->body, rq->body, rq->body_len)) {
            errf(err, errlen, "out of memory");
            rc = SL_HTTPC_ENOMEM;
        }
    } else if (!rc && rq->body) {
        r->has_body = 1; /* an empty body still says Content-Length: 0 */
    }
    if (!rc && rq->ca_file && !(r->ca_file = dupstr(rq->ca_file))) {
        errf(err, errlen, "out of memory");
        rc = SL_HTTPC_ENOMEM;
    }
    if (!rc && r->u.tls) {
        sl_tls_ctx_t *t = trust_for(c, rq->ca_file, err, errlen);
        if (t)
            r->tls = sl_tls_ctx_ref(t);
        else
            rc = SL_HTTPC_EINVAL;
    }
    if (!rc && !(r->url = dupstr(rq->url))) {
        errf(err, errlen, "out of memory");
        rc = SL_HTTPC_ENOMEM;
    }
    if (rc) {
        sl_httpc_url_free(&r->u);
        free(r->ca_file);
        sl_tls_ctx_unref(r->tls);
        sl_buf_free(&r->hdrs);
        sl_buf_free(&r->body);
        free(r);
        return rc;
    }
    /* The URL as sent, fragment and all dropped, for messages and res.url. */
    size_t fl = strcspn(r->url, "#");
    r->url[fl] = '\0';
    r->timeout_ms = rq->timeout_ms ? rq->timeout_ms : SL_HTTPC_DEFAULT_TIMEOUT_MS;
    r->connect_ms = rq->connect_timeout_ms ? rq->connect_timeout_ms : SL_HTTPC_DEFAULT_CONNECT_TIMEOUT_MS;
    r->headers_ms = rq->headers_timeout_ms;
    r->max_body = rq->max_body ? rq->max_body : SL_HTTPC_DEFAULT_MAX_BODY;
    r->max_redirects = rq->max_redirects < 0 ? SL_HTTPC_DEFAULT_MAX_REDIRECTS : rq->max_redirects;
    r->manual = rq->manual_redirect;
    r->cb = cb;
    r->ud = ud;
    uv_timer_init(c->loop, &r->timer);
    r->timer.data = r;
    c->refs++;
    r->next = c->reqs;
    if (c->reqs)
        c->reqs->prev = r;
    c->reqs = r;
    uv_update_time(c->loop); /* a long handler may have left the loop time stale */
    r->deadline = uv_now(c->loop) + r->timeout_ms;
    req_arm(r);
    req_enqueue(r, 0);
    if (out)
        *out = r;
    return 0;
}

void sl_httpc_cancel(sl_httpc_req_t *r)
{
    if (!r || r->state == R_DONE)
        return;
    r->cb = NULL;
    req_detach(r);
    req_report(r, SL_HTTPC_ECANCELED, NULL, "cancelled");
}

void sl_httpc_close(sl_httpc_t *c, const char *reason)
{
    if (!c || c->closing)
        return;
    c->closing = 1;
    if (!reason)
        reason = "cancelled: the HTTP client is closing";
    while (c->reqs) {
        sl_httpc_req_t *r = c->reqs;
        req_detach(r);
        req_report(r, SL_HTTPC_ECANCELED, NULL, reason);
    }
    while (c->origins) {
        origin_t *o = c->origins;
        while (o->conns)
            conn_close(o->conns);
        origin_maybe_free(o);
    }
    for (int i = 0; i < c->ncas; i++) {
        free(c->cas[i].path);
        sl_tls_ctx_unref(c->cas[i].ctx);
    }
    c->ncas = 0;
    sl_tls_ctx_unref(c->tls_default);
    c->tls_default = NULL;
    uv_close((uv_handle_t *)&c->sweep, sweep_closed_cb);
}
