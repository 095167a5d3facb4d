/* L3 eio/eio: Engine.IO server: sessions, transports, upgrade, heartbeat.
 *
 *   eio_server --hash(sid)--> eio_session --+-- poll: parked GET (sl_http_req)
 *                                           +-- ws: active WebSocket
 *                                           +-- probe: WebSocket being upgraded
 *                                           +-- q: packets waiting for a GET
 *
 * A session owns its queue and, only while one runs, a timer (upgrade or
 * drain timeout); its heartbeat is an entry in one of the server's deadline
 * queues (base/timerq), one per duration:
 *
 *   ping_due  (pingInterval)            --> ping sent, on to pong_due
 *   pong_due  (pingTimeout)             --> on to late
 *   v3_due    (pingInterval+pingTimeout) --> on to late (v3: the client pings)
 *   late      (1 ms: after a poll)      --> "ping timeout"
 *   doomed    (0: the next turn)        --> "transport error" (slow reader)
 *
 * so a session costs three words for it, not a uv_timer_t, and a heartbeat
 * is O(1) whatever the number of sessions. The transports point back to the
 * session through their handler data and are detached before the session
 * goes, so a transport closing late never touches freed memory. */
#include "eio/eio.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <pthread.h>
#include <sys/random.h>

#include "eio/eio_packet.h"
#include "base/defer.h"
#include "base/hashtab.h"
#include "base/log.h"
#include "base/timerq.h"
#include "net/ws.h"

enum { T_POLLING = 0, T_WEBSOCKET = 1 };

/* One packet on its way out; queued for a GET, it holds a reference to
 * rc. */
typedef struct eio_out {
    uint8_t type;
    uint8_t flags;        /* EIO_SEND_* */
    sl_rcbuf_t *rc;       /* holds data; NULL for control packets without data */
    const char *data;
    size_t len;
} eio_out_t;

/* A session's output queue, made when a packet must wait: a polling
 * session's packets until a GET takes them, and a WebSocket handshake's
 * (what the open sends before the ws exists). A session on a WebSocket
 * writes to it and has none: the queue's fields, its entry in the output
 * budget and what only a polling session needs (an upgrade's probe and
 * the upgrade or drain timer) were 96 bytes of every idle WebSocket
 * connection. The first few packets fit in q0, so a WebSocket handshake
 * allocates once. */
typedef struct eio_queue {
    eio_session_t *s;
    sl_ws_t *probe;       /* WebSocket being upgraded to */
    uv_timer_t *up;       /* upgrade or drain timeout, made when one starts
                             (152 bytes: most polling sessions never need
                             one) */
    sl_budget_entry_t *be; /* in the process's output budget while the queue
                              holds shared buffers (NULL: none) */
    eio_out_t *q;         /* q0, or an array of qcap once more wait */
    uint32_t qlen, qcap;
    size_t qbytes;
    eio_out_t q0[4];
} eio_queue_t;

struct eio_session {
    char sid[21];         /* 20 characters and NUL */
    /* The flags, in the 3 bytes the sid leaves before the pointers. */
    uint8_t open : 1;
    uint8_t transport : 1;
    uint8_t upgrading : 1; /* a probe WebSocket is attached */
    uint8_t draining : 1; /* closed; waits for a GET to take the close packet */
    uint8_t doomed : 1;   /* over its output cap: closes from the next tick */
    uint8_t finished : 1;
    uint8_t polled : 1;   /* a GET was answered: the handshake is out */
    uint8_t proto : 3;    /* 3 or 4 */
    eio_server_t *srv;
    sl_hnode_t hnode;     /* in srv->sessions, keyed by sid */
    sl_http_req_t *poll;  /* parked GET */
    sl_ws_t *ws;
    eio_queue_t *oq;      /* packets waiting for a GET, the probe, the
                             timer; NULL on a WebSocket */
    sl_timerq_entry_t hb; /* heartbeat: in one of the server's queues */
    uint64_t deadline;    /* ms (hrtime): pong (v4) or ping (v3) due by then */
    void *data;
    /* Then the layer above's bytes, when it asked for some (data_size),
     * aligned for its pointers and 64-bit integers. */
    _Alignas(uint64_t) unsigned char extra[];
};

_Static_assert(offsetof(struct eio_session, srv) == 24, "the flags fit beside the sid");

typedef struct open_tail {
    char text[160];
    int len;              /* 0: not made yet */
    uint32_t interval, timeout;
    size_t max_payload;
} open_tail_t;

struct eio_server {
    uv_loop_t *loop;
    eio_options_t opts;
    eio_handler_t h;
    void *ud;
    sl_hashtab_t sessions; /* by sid; closed ones that drain stay a moment */
    sl_budget_t *budget;   /* the process's cap on output queues, or NULL */
    size_t live;           /* open sessions: what max_sessions caps */
    /* What clients can make happen at will is logged once per interval
     * (with a count), never once per request. */
    sl_log_every_t full;   /* handshakes refused at max_sessions */
    sl_log_every_t bad;    /* requests answered with an error */
    sl_log_every_t broken; /* sessions closed for breaking the protocol */
    sl_log_every_t slow;   /* sessions closed as slow readers */
    /* The heartbeats, one queue per duration (see the top of the file). */
    sl_timerq_t ping_due, pong_due, v3_due, late, doomed;
    /* Sessions closed for a ping timeout, told in one line per interval:
     * an overloaded server can lose tens of thousands at once, and the
     * operator must see why without a line each (ping_timeout_close). */
    sl_timerq_t late_report;
    sl_timerq_entry_t late_report_e;
    uint64_t late_unlogged;
    /* Every v4 WebSocket ping is these bytes: one frame shared by every
     * session's queue (a reference each) instead of a copy each. */
    sl_rcbuf_t *ping_frame;
    /* What follows the sid in the open packet, by protocol (v3, v4) and
     * upgrades offered or not, made once for the options it was made
     * with (formatting it for every session was a tenth of what a
     * handshake cost in user space). */
    open_tail_t open_tail[2][2];
    eio_stats_t stats;
};

enum {
    ERR_UNKNOWN_TRANSPORT = 0,
    ERR_UNKNOWN_SID = 1,
    ERR_BAD_HANDSHAKE_METHOD = 2,
    ERR_BAD_REQUEST = 3,
    ERR_FORBIDDEN = 4,
    ERR_UNSUPPORTED_PROTOCOL_VERSION = 5,
};

static const char *const error_messages[] = {
    "Transport unknown", "Session ID unknown", "Bad handshake method",
    "Bad request",       "Forbidden",          "Unsupported protocol version",
};

static const sl_ws_handler_t ws_session_handler;
static const sl_ws_handler_t ws_detached_handler;
static void session_close(eio_session_t *s, const char *reason, int notify_peer);
static void session_flush_poll(eio_session_t *s);

static uint64_t now_ms(void) { return uv_hrtime() / 1000000; }

/* A session's deadline once its ping timer ran out and the verdict waits
 * for one more poll (ping_timeout_cb): a time long past, so any check of
 * the deadline finds it expired. */
#define HB_VERDICT_PENDING 1

/* ---- options ------------------------------------------------------------ */

void eio_options_init(eio_options_t *o)
{
    memset(o, 0, sizeof *o);
    strcpy(o->path, "/engine.io/");
    o->ping_interval_ms = 25000;
    o->ping_timeout_ms = 20000;
    o->upgrade_timeout_ms = 10000;
    o->max_http_buffer_size = 1000000;
    o->allow_polling = 1;
    o->allow_websocket = 1;
    o->allow_upgrades = 1;
    strcpy(o->cors_methods, "GET,HEAD,PUT,PATCH,POST,DELETE");
    o->session_queue_cap = 16u << 20;
    o->max_sessions = 100000;
    sl_ws_deflate_opts_init(&o->per_message_deflate);
    sl_http_compress_init(&o->http_compression);
}

/* "/a" or "/a,/b" (a second path for the same endpoint), each normalised
 * with a trailing slash as Node does. */
int eio_options_set_path(eio_options_t *o, const char *v)
{
    char first[128], second[128] = "";
    const char *comma = strchr(v, ',');
    size_t l1 = comma ? (size_t)(comma - v) : strlen(v);
    if (l1 == 0 || l1 + 2 > sizeof first || (comma && strlen(comma + 1) + 2 > sizeof second))
        return -1;
    memcpy(first, v, l1);
    first[l1] = '\0';
    if (comma)
        strcpy(second, comma + 1);
    char *paths[2] = {first, second};
    for (int i = 0; i < 2; i++) {
        size_t l = strlen(paths[i]);
        if (!l)
            continue;
        if (paths[i][0] != '/' || strchr(paths[i], ','))
            return -1;
        if (paths[i][l - 1] != '/')
            strcat(paths[i], "/");
    }
    strcpy(o->path, first);
    strcpy(o->alt_path, second);
    return 0;
}

/* ---- session table ------------------------------------------------------ */

static const void *session_key(const sl_hnode_t *n, size_t *len)
{
    const eio_session_t *s = SL_CONTAINER_OF(n, eio_session_t, hnode);
    *len = strlen(s->sid);
    return s->sid;
}

static eio_session_t *table_find(eio_server_t *srv, const char *sid)
{
    sl_hnode_t *n = sl_hashtab_find(&srv->sessions, sid, strlen(sid));
    return n ? SL_CONTAINER_OF(n, eio_session_t, hnode) : NULL;
}

static void table_remove(eio_server_t *srv, eio_session_t *s)
{
    sl_hashtab_remove(&srv->sessions, &s->hnode);
}

/* Random bytes for ids come from the OS 4 KiB at a time: a connection
 * needs two ids (its session's and its socket's), and a getrandom() for
 * each was two system calls per connection. A forked child starts with an
 * empty pool, so no two processes hand out the same ids. */
static struct {
    unsigned char bytes[4080]; /* 272 ids */
    size_t left;
    int atfork;
} id_pool;

static void id_pool_forget(void) { id_pool.left = 0; }

static int id_pool_take(unsigned char *out, size_t n)
{
    if (!id_pool.atfork) {
        pthread_atfork(NULL, NULL, id_pool_forget);
        id_pool.atfork = 1;
    }
    if (id_pool.left < n) {
        if (getrandom(id_pool.bytes, sizeof id_pool.bytes, 0) != (ssize_t)sizeof id_pool.bytes)
            return -EIO;
        id_pool.left = sizeof id_pool.bytes;
    }
    id_pool.left -= n;
    memcpy(out, id_pool.bytes + id_pool.left, n);
    memset(id_pool.bytes + id_pool.left, 0, n); /* handed out: not kept */
    return 0;
}

int eio_random_id(char out[21])
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char raw[15];
    if (id_pool_take(raw, sizeof raw))
        return -EIO;
    /* 15 bytes = 120 bits = exactly 20 base64url characters. */
    for (int i = 0, o = 0; i < 15; i += 3) {
        unsigned v = (unsigned)raw[i] << 16 | (unsigned)raw[i + 1] << 8 | raw[i + 2];
        out[o++] = alphabet[v >> 18];
        out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = alphabet[(v >> 6) & 63];
        out[o++] = alphabet[v & 63];
    }
    out[20] = '\0';
    return 0;
}

/* ---- session output ----------------------------------------------------- */

/* A slow reader went over its output cap. Closing it right here would run
 * the layers above (Lua disconnect handlers) inside whatever send loop got
 * us here (a broadcast over a room): close from the next loop tick instead,
 * and refuse further output meanwhile. */
static void session_doom_start(eio_session_t *s)
{
    s->doomed = 1;
    sl_timerq_start(&s->srv->doomed, &s->hb, 0);
}

static void session_doom(eio_session_t *s)
{
    if (s->doomed || !s->open)
        return;
    const sl_budget_t *b = s->srv->budget;
    SL_LOG_EVERYF(&s->srv->slow, SL_LOG_WARN, "eio",
                  SL_LOG_FIELDS("sid", s->sid, "reason", "transport error"),
                  "session %s: output refused, closing (a slow reader: %zu bytes waiting, "
                  "sessionQueueCap %zu; all queues %zu bytes, maxOutputBufferTotal %zu)",
                  s->sid, eio_session_queued(s), s->srv->opts.session_queue_cap, b ? b->used : 0,
                  b ? b->cap : 0);
    session_doom_start(s);
}

static void queue_clear(eio_session_t *s);

/* The process's output budget drops this session's queue (it has waited
 * longest; the budget logs why): closed from the next tick, as above. */
static void session_evicted(sl_budget_entry_t *e)
{
    eio_queue_t *oq = e->owner;
    eio_session_t *s = oq->s;
    for (uint32_t i = 0; i < oq->qlen; i++)
        if (oq->q[i].rc)
            sl_budget_release(e, oq->q[i].rc, oq->q[i].len);
    sl_budget_leave(e);
    oq->be = NULL;
    if (!s->doomed && s->open)
        session_doom_start(s);
}

/* A packet without a shared buffer of its own: rc may be NULL (data is
 * copied if it must wait). */
static eio_out_t out_of(uint8_t type, unsigned flags, sl_rcbuf_t *rc, const char *data, size_t len)
{
    return (eio_out_t){type, (uint8_t)flags, rc, data, len};
}

static eio_out_t out_rc(uint8_t type, sl_rcbuf_t *rc)
{
    return out_of(type, 0, rc, rc ? rc->data : NULL, rc ? rc->len : 0);
}

/* One packet, one WebSocket frame. m, when not NULL, is the message the
 * packet came from, with its plain frame built once for every recipient and
 * the cache of its compressed one; only a v3 binary frame (a leading type
 * byte) is framed here, and shares no cache. */
static int ws_write_packet(eio_session_t *s, sl_ws_t *ws, const eio_out_t *o, eio_msg_t *m)
{
    int binary = o->flags & EIO_SEND_BINARY;
    unsigned wf = (binary ? SL_WS_BINARY : 0) | (o->flags & EIO_SEND_PLAIN ? SL_WS_PLAIN : 0);
    if (m && !(binary && s->proto == 3))
        return sl_ws_send_frame(ws, wf, m->rc, m->frame, m->frame_len, &m->cache);
    uv_buf_t parts[2];
    sl_rcbuf_t *rcs[2] = {NULL, NULL};
    unsigned np = 0;
    char prefix = (char)('0' + o->type);
    char v3bin = 4;
    if (binary) {
        if (s->proto == 3) /* v3 binary frames start with the type byte */
            parts[np++] = (uv_buf_t){.base = &v3bin, .len = 1};
    } else {
        parts[np++] = (uv_buf_t){.base = &prefix, .len = 1};
    }
    if (o->len) {
        rcs[np] = o->rc;
        parts[np++] = (uv_buf_t){.base = (char *)o->data, .len = o->len};
    }
    return sl_ws_sendv(ws, wf, parts, rcs, np, NULL);
}

/* Bytes a queued packet costs besides its data (so zero-length control
 * packets count against the cap too). */
#define EIO_OUT_OVERHEAD 16

/* The session's queue, made empty. NULL when out of memory. */
static eio_queue_t *queue_new(eio_session_t *s)
{
    eio_queue_t *oq = malloc(sizeof *oq);
    if (!oq)
        return NULL;
    oq->s = s;
    oq->probe = NULL;
    oq->up = NULL;
    oq->be = NULL;
    oq->q = oq->q0;
    oq->qlen = 0;
    oq->qcap = sizeof oq->q0 / sizeof *oq->q0;
    oq->qbytes = 0;
    s->oq = oq;
    return oq;
}

static uint32_t queue_len(const eio_session_t *s) { return s->oq ? s->oq->qlen : 0; }
static sl_ws_t *session_probe(const eio_session_t *s) { return s->oq ? s->oq->probe : NULL; }
static void probe_forget(eio_session_t *s)
{
    if (s->oq)
        s->oq->probe = NULL;
}

/* Writes one packet to the WebSocket, or queues it for the next GET
 * (taking a reference to o->rc, which must hold o's data then). m as for
 * ws_write_packet. */
static int session_push(eio_session_t *s, const eio_out_t *o, eio_msg_t *m)
{
    if (!s->open || (s->doomed && o->type != EIO_CLOSE))
        return -EPIPE;
    if (s->transport == T_WEBSOCKET) {
        int rc = ws_write_packet(s, s->ws, o, m);
        if (rc == -ENOBUFS)
            session_doom(s);
        return rc;
    }
    eio_queue_t *oq = s->oq ? s->oq : queue_new(s);
    if (!oq)
        return -ENOMEM;
    size_t n = o->len + EIO_OUT_OVERHEAD;
    /* Past twice the process's output cap, a queue that holds much
     * already takes no more memory (a broadcast another queue holds
     * already costs none). */
    size_t fresh = o->rc && o->rc->queued == 0 ? o->rc->len : 0;
    if ((oq->qbytes + n > s->srv->opts.session_queue_cap ||
         sl_budget_refuses(s->srv->budget, oq->be ? oq->be->bytes : 0, fresh, o->len)) &&
        o->type != EIO_CLOSE) {
        session_doom(s);
        return -ENOBUFS;
    }
    if (oq->qlen == oq->qcap) {
        uint32_t cap = oq->qcap * 2;
        eio_out_t *q = oq->q == oq->q0 ? malloc(cap * sizeof *q) : realloc(oq->q, cap * sizeof *q);
        if (!q)
            return -ENOMEM;
        if (oq->q == oq->q0)
            memcpy(q, oq->q0, sizeof oq->q0);
        oq->q = q;
        oq->qcap = cap;
    }
    /* The first shared buffer the queue keeps makes its budget entry (a
     * doomed session's close packet is not counted: it left the budget). */
    if (o->rc && !oq->be && s->srv->budget && !s->doomed) {
        oq->be = sl_budget_enter(s->srv->budget, session_evicted, oq, s->sid);
        if (!oq->be)
            return -ENOMEM;
    }
    eio_out_t *slot = &oq->q[oq->qlen++];
    *slot = *o;
    if (slot->rc)
        sl_rcbuf_ref(slot->rc);
    oq->qbytes += n;
    if (slot->rc && oq->be)
        sl_budget_hold(oq->be, slot->rc, slot->len);
    if (s->poll)
        session_flush_poll(s);
    return 0;
}

static void queue_clear(eio_session_t *s)
{
    eio_queue_t *oq = s->oq;
    if (!oq)
        return;
    for (uint32_t i = 0; i < oq->qlen; i++) {
        if (oq->q[i].rc && oq->be)
            sl_budget_release(oq->be, oq->q[i].rc, oq->q[i].len);
        sl_rcbuf_unref(oq->q[i].rc);
    }
    if (oq->be) {
        sl_budget_leave(oq->be);
        oq->be = NULL;
    }
    oq->qlen = 0;
    oq->qbytes = 0;
}

static void timer_closed(uv_handle_t *h) { free(h); }

/* The queue's memory goes (its packets and budget entry first, its timer
 * closed). */
static void queue_free(eio_session_t *s)
{
    eio_queue_t *oq = s->oq;
    if (!oq)
        return;
    if (oq->up)
        uv_close((uv_handle_t *)oq->up, timer_closed);
    queue_clear(s);
    if (oq->q != oq->q0)
        free(oq->q);
    free(oq);
    s->oq = NULL;
}

/* A control packet (or the open packet), data in rc or none. */
static int session_push_ctl(eio_session_t *s, uint8_t type, sl_rcbuf_t *rc)
{
    eio_out_t o = out_rc(type, rc);
    return session_push(s, &o, NULL);
}

/* Moves every queued packet onto the WebSocket, in order. The session
 * writes to the WebSocket from now on, so the queue's memory goes (a
 * WebSocket handshake queues what on_open sends until the ws exists). */
static void queue_to_ws(eio_session_t *s)
{
    eio_queue_t *oq = s->oq;
    for (uint32_t i = 0; oq && i < oq->qlen && s->open; i++) {
        if (ws_write_packet(s, s->ws, &oq->q[i], NULL) == -ENOBUFS) {
            session_doom(s);
            break;
        }
    }
    queue_free(s);
}

static void cors_headers(eio_server_t *srv, sl_http_req_t *req);

/* compress: a message in the body allows it (as engine.io decides). The
 * first answer, the handshake, never is compressed. */
static void respond_poll(eio_session_t *s, sl_http_req_t *req, const char *body, size_t n,
                         int compress)
{
    req->on_abort = NULL;
    cors_headers(s->srv, req);
    sl_http_resp_header(req, "Cache-Control", "no-store");
    const sl_http_compress_t *z = compress && s->polled ? &s->srv->opts.http_compression : NULL;
    s->polled = 1;
    sl_http_respond_compressed(req, 200, "text/plain; charset=UTF-8", body, n, z);
}

/* Answers the parked GET with the whole queue. */
static void session_flush_poll(eio_session_t *s)
{
    if (!s->poll || queue_len(s) == 0)
        return;
    sl_buf_t body = SL_BUF_INIT;
    int compress = 0;
    for (uint32_t i = 0; i < s->oq->qlen; i++) {
        eio_out_t *o = &s->oq->q[i];
        int binary = o->flags & EIO_SEND_BINARY;
        if (s->proto == 3)
            eio3_payload_append(&body, (eio_type_t)o->type, binary, o->data, o->len);
        else
            eio_payload_append(&body, (eio_type_t)o->type, binary, o->data, o->len);
        compress |= !(o->flags & EIO_SEND_PLAIN);
    }
    queue_clear(s);
    sl_http_req_t *req = s->poll;
    s->poll = NULL;
    respond_poll(s, req, body.data, body.len, compress);
    sl_buf_free(&body);
}

/* Releases a parked GET with a single packet that is not queued. */
static void session_release_poll(eio_session_t *s, uint8_t type)
{
    if (!s->poll)
        return;
    sl_http_req_t *req = s->poll;
    s->poll = NULL;
    char body[8];
    size_t n;
    if (s->proto == 3)
        n = (size_t)snprintf(body, sizeof body, "1:%c", '0' + type);
    else
        n = (size_t)snprintf(body, sizeof body, "%c", '0' + type);
    respond_poll(s, req, body, n, 0);
}

int eio_msg_alloc(eio_msg_t *m, int binary, size_t cap, char **data)
{
    /* [room for the header][type byte][data]: the type byte is only in a
     * text frame (v4 binary frames are the bare data). */
    sl_rcbuf_t *rc = sl_rcbuf_alloc(SL_WS_HEADER_MAX + 1 + cap);
    if (!rc)
        return -ENOMEM;
    *m = (eio_msg_t){.rc = rc, .data = rc->data + SL_WS_HEADER_MAX + 1, .binary = binary};
    *data = rc->data + SL_WS_HEADER_MAX + 1;
    return 0;
}

void eio_msg_seal(eio_msg_t *m, size_t n)
{
    char *d = m->rc->data + SL_WS_HEADER_MAX + 1;
    if (!m->binary)
        d[-1] = (char)('0' + EIO_MESSAGE);
    char *payload = m->binary ? d : d - 1;
    m->len = n;
    m->frame = sl_ws_frame_prepend(payload, m->binary, (size_t)(d + n - payload));
    m->frame_len = (size_t)(d + n - m->frame);
}

int eio_msg_init(eio_msg_t *m, int binary, const void *data, size_t n)
{
    char *d;
    if (eio_msg_alloc(m, binary, n, &d))
        return -ENOMEM;
    if (n)
        memcpy(d, data, n);
    eio_msg_seal(m, n);
    return 0;
}

void eio_msg_release(eio_msg_t *m)
{
    sl_rcbuf_unref(m->rc);
    eio_cache_release(&m->cache);
    memset(m, 0, sizeof *m);
}

/* eio_session_send_msg's way for everything but an open WebSocket's frame
 * (a polling queue, a v3 binary frame, a closing session): out of line, so
 * that the per-recipient path sets up no frame for it. */
__attribute__((noinline)) static int send_msg_pushed(eio_session_t *s, eio_msg_t *m, unsigned flags)
{
    unsigned f = (m->binary ? EIO_SEND_BINARY : 0) | (flags & EIO_SEND_PLAIN);
    eio_out_t o = out_of(EIO_MESSAGE, f, m->rc, m->data, m->len);
    return session_push(s, &o, m);
}

_Static_assert((int)EIO_SEND_PLAIN == (int)SL_WS_PLAIN, "the plain flag passes through to the frame");

int eio_session_send_msg(eio_session_t *s, eio_msg_t *m, unsigned flags)
{
    /* A broadcast's path, once per recipient: the frame built once, to an
     * open WebSocket (what session_push and ws_write_packet do for it, in
     * one call). */
    if (!(s->transport == T_WEBSOCKET && s->open && !s->doomed && !(m->binary && s->proto == 3)))
        return send_msg_pushed(s, m, flags);
    unsigned wf = (m->binary ? SL_WS_BINARY : 0) | (flags & EIO_SEND_PLAIN);
    int rc = sl_ws_send_frame(s->ws, wf, m->rc, m->frame, m->frame_len, &m->cache);
    if (rc == -ENOBUFS)
        session_doom(s);
    return rc;
}

int eio_session_send(eio_session_t *s, unsigned flags, const char *data, size_t n)
{
    if (!s->open || s->doomed)
        return -EPIPE;
    if (s->transport == T_WEBSOCKET) {
        /* No queue on WebSocket: written (or copied) from the caller's bytes. */
        eio_out_t o = out_of(EIO_MESSAGE, flags, NULL, data, n);
        return session_push(s, &o, NULL);
    }
    sl_rcbuf_t *rc = sl_rcbuf_new(data, n);
    if (!rc)
        return -ENOMEM;
    eio_out_t o = out_of(EIO_MESSAGE, flags, rc, rc->data, n);
    int r = session_push(s, &o, NULL);
    sl_rcbuf_unref(rc);
    return r;
}

/* ---- heartbeat ---------------------------------------------------------- */

#define SESSION_OF_HB(e) SL_CONTAINER_OF(e, eio_session_t, hb)

static void doomed_cb(sl_timerq_t *q, sl_timerq_entry_t *e)
{
    (void)q;
    session_close(SESSION_OF_HB(e), "transport error", 0);
}

/* How late a ping may go: a 64th of pingInterval, at most 100 ms (0.4 %
 * of the default 25 s). The pings due in that slice go in one loop turn
 * (base/timerq's grain): one wake-up, and their pongs come back together,
 * instead of a wake-up for each connection's ping and another for its
 * pong. Nothing in the protocol notices: a client waits pingInterval +
 * pingTimeout for a ping. */
static uint32_t ping_grain(uint32_t interval_ms)
{
    uint32_t g = interval_ms / 64;
    return g < 100 ? g : 100;
}

static void hb_schedule_ping(eio_session_t *s)
{
    if (s->doomed)
        return; /* the heartbeat entry now carries the close */
    s->deadline = 0;
    eio_server_t *srv = s->srv;
    sl_timerq_set_grain(&srv->ping_due, ping_grain(srv->opts.ping_interval_ms));
    sl_timerq_start(&srv->ping_due, &s->hb, srv->opts.ping_interval_ms);
}

/* v3: the client pings; it must do so within interval + timeout. */
static void hb_expect_ping(eio_session_t *s)
{
    if (s->doomed)
        return;
    uint64_t span = (uint64_t)s->srv->opts.ping_interval_ms + s->srv->opts.ping_timeout_ms;
    s->deadline = now_ms() + span;
    sl_timerq_start(&s->srv->v3_due, &s->hb, span);
}

/* v4: pingInterval since the last pong (or the open): ping, and expect the
 * pong within pingTimeout. */
static void ping_due_cb(sl_timerq_t *q, sl_timerq_entry_t *e)
{
    eio_session_t *s = SESSION_OF_HB(e);
    if (!s->open)
        return;
    /* The deadline counts from now, when the ping is queued, not from when
     * a GET collects it; less what the ping's grain made it late, so that
     * batching pings never makes the server wait past pingInterval +
     * pingTimeout since the last pong, as Node's does (the official suite
     * polls at exactly that moment and expects the session gone). The
     * lateness is read on the precise clock (the loop's time is cached for
     * the turn and coarse: it would hide a few ms), and taken off up to the
     * grain and 10 ms of timer and clock resolution; more is a loaded
     * loop's, not forgiven to the client: its pong could not be read then
     * either. */
    eio_server_t *srv = s->srv;
    uint64_t now = now_ms(), late = now > e->due ? now - e->due : 0;
    uint64_t most = (uint64_t)q->grain + 10; /* the grain this ping was fired with */
    if (late > most)
        late = most;
    uint64_t wait = srv->opts.ping_timeout_ms > late ? srv->opts.ping_timeout_ms - late : 0;
    s->deadline = now + wait;
    sl_timerq_start(&srv->pong_due, &s->hb, wait);
    if (s->transport == T_WEBSOCKET && s->ws && !s->doomed && srv->ping_frame) {
        /* The shared frame, never compressed (RFC 7692 lets any message
         * go plain): the writer holds a reference to it for the turn's
         * end instead of copying three bytes into a block of its own. */
        int rc = sl_ws_send_frame(s->ws, SL_WS_PLAIN, srv->ping_frame, srv->ping_frame->data,
                                  srv->ping_frame->len, NULL);
        if (rc == -ENOBUFS)
            session_doom(s);
        return;
    }
    session_push_ctl(s, EIO_PING, NULL);
}

static void late_report_log(eio_server_t *srv)
{
    uint64_t n = srv->late_unlogged;
    srv->late_unlogged = 0;
    SL_INFOF("eio", SL_LOG_FIELDS("reason", "ping timeout"),
             "%llu session%s closed: ping timeout (no pong within pingTimeout %u ms); %llu since the start",
             (unsigned long long)n, n == 1 ? "" : "s", srv->opts.ping_timeout_ms,
             (unsigned long long)srv->stats.closes[EIO_REASON_PING_TIMEOUT]);
}

/* One interval after a line: what came since, in one more line; nothing
 * came: the next one is told at once again. */
static void late_report_cb(sl_timerq_t *q, sl_timerq_entry_t *e)
{
    eio_server_t *srv = q->data;
    if (srv->late_unlogged) {
        late_report_log(srv);
        sl_timerq_start(q, e, SL_LOG_EVERY_MS);
    }
}

/* A session closed for a ping timeout: told at once when none was told in
 * the last interval, else counted for the interval's line (so a scale run
 * shows why its connections went, and how many, without a flood). The
 * total is the metric siolua_disconnects_total{reason="ping timeout"}. */
static void ping_timeout_close(eio_session_t *s)
{
    eio_server_t *srv = s->srv;
    session_close(s, "ping timeout", 0);
    srv->late_unlogged++;
    if (!sl_timerq_queued(&srv->late_report_e)) {
        late_report_log(srv);
        sl_timerq_start(&srv->late_report, &srv->late_report_e, SL_LOG_EVERY_MS);
    }
}

/* No pong within pingTimeout (v4), or no ping within interval + timeout
 * (v3), by the timer. Timers run before the loop polls its sockets: after
 * a long turn (a loaded server) the pong may be in the socket already,
 * unread. The verdict waits for the next poll (1 ms: a 0 ms timer started
 * from a timer would run in this same pass), which reads it if it came.
 * Meanwhile the deadline says HB_VERDICT_PENDING: a packet read from the
 * WebSocket is let through (it may be that pong), while an HTTP request
 * finds the session expired, as it would have a moment later (the
 * official suite polls at exactly pingInterval + pingTimeout and expects
 * the session gone). */
static void ping_timeout_cb(sl_timerq_t *q, sl_timerq_entry_t *e)
{
    (void)q;
    eio_session_t *s = SESSION_OF_HB(e);
    if (!s->open)
        return;
    s->deadline = HB_VERDICT_PENDING;
    sl_timerq_start(&s->srv->late, &s->hb, 1);
}

static void late_cb(sl_timerq_t *q, sl_timerq_entry_t *e)
{
    (void)q;
    eio_session_t *s = SESSION_OF_HB(e);
    if (s->open)
        ping_timeout_close(s);
}

/* A timer may fire a few ms late; a request arriving after the deadline
 * must see the session as gone, as the protocol promises. */
static int hb_expired(eio_session_t *s)
{
    if (s->deadline && now_ms() >= s->deadline) {
        ping_timeout_close(s);
        return 1;
    }
    return 0;
}

/* ---- session lifetime --------------------------------------------------- */

/* Reads nothing of the server: at shutdown it may be gone by now. */
static void session_free(void *p)
{
    eio_session_t *s = p;
    free(s);
}

/* The session's timer (a polling session's), made on first use. NULL
 * when out of memory. */
static uv_timer_t *session_timer(eio_session_t *s)
{
    eio_queue_t *oq = s->oq ? s->oq : queue_new(s);
    if (!oq)
        return NULL;
    if (!oq->up) {
        oq->up = malloc(sizeof *oq->up);
        if (!oq->up)
            return NULL;
        uv_timer_init(s->srv->loop, oq->up);
        oq->up->data = s;
    }
    return oq->up;
}

static void session_timer_stop(eio_session_t *s)
{
    if (s->oq && s->oq->up)
        uv_timer_stop(s->oq->up);
}

/* Ends what is left of a closed session: table entry, timers, memory. The
 * memory goes later in this loop turn, not at once: the session is
 * finished from inside its own transports' and the layers above's
 * callbacks, which still read it when this returns. */
static void session_finish(eio_session_t *s)
{
    if (s->finished)
        return;
    s->finished = 1;
    table_remove(s->srv, s);
    sl_timerq_stop(&s->hb);
    queue_free(s);
    if (s->srv->h.on_free && s->srv->h.data_size)
        s->srv->h.on_free(s, s->srv->ud);
    if (sl_defer(s->srv->loop, session_free, s)) {
        SL_ERRORF("eio", SL_LOG_FIELDS("sid", s->sid),
                  "session %s: out of memory to defer its free; freed at once", s->sid);
        session_free(s);
    }
}

static void drain_timeout_cb(uv_timer_t *t) { session_finish(t->data); }

const char *const eio_close_reasons[EIO_REASON_COUNT] = {
    "transport close", "transport error", "ping timeout", "parse error",
    "forced close",    "server shutting down", "other",
};

/* Once per session: a few string compares at its close. */
static int close_reason_index(const char *reason)
{
    int i = 0;
    while (i < EIO_REASON_OTHER && strcmp(eio_close_reasons[i], reason))
        i++;
    return i;
}

/* Closes the session once. notify_peer: 1 sends a close packet first (the
 * server decided), 0 doesn't (the peer went or broke the protocol). A GET
 * parked at that moment gets "1" when the server closes and "6" when the
 * client asked to close, as the reference server does. A polling client
 * with no GET parked collects the close packet (and what was queued before
 * it) with its next GET: the session lingers, closed for the layers above,
 * until then or until the ping timeout. */
static void session_close_ex(eio_session_t *s, const char *reason, int notify_peer,
                             uint8_t poll_answer)
{
    if (!s->open)
        return;
    eio_server_t *srv = s->srv;
    srv->stats.closes[close_reason_index(reason)]++;
    SL_DEBUGF("eio", SL_LOG_FIELDS("sid", s->sid, "reason", reason), "session %s closed: %s", s->sid, reason);
    int drain = 0;
    if (notify_peer && s->transport == T_WEBSOCKET && s->ws)
        ws_write_packet(s, s->ws, &(eio_out_t){.type = EIO_CLOSE}, NULL);
    if (notify_peer && s->transport == T_POLLING && !s->poll) {
        session_push_ctl(s, EIO_CLOSE, NULL);
        drain = s->open;
    } else if (poll_answer == EIO_NOOP && s->transport == T_POLLING && !s->poll) {
        /* The client closed with a POST while no GET was parked: a GET it
         * sent at the same moment (the official suite sends both at once)
         * may land just after, and gets the noop it would have got had it
         * come first, not 400. */
        session_push_ctl(s, EIO_NOOP, NULL);
        drain = s->open;
    }
    if (s->poll) {
        if (notify_peer && queue_len(s)) {
            session_push_ctl(s, EIO_CLOSE, NULL); /* flushes with the queue */
        } else {
            session_release_poll(s, poll_answer);
        }
    }
    s->open = 0;
    srv->live--;
    sl_timerq_stop(&s->hb);
    session_timer_stop(s);
    if (s->ws) {
        sl_ws_set_handler(s->ws, &ws_detached_handler, NULL);
        sl_ws_close(s->ws, 1000);
        s->ws = NULL;
    }
    sl_ws_t *probe = session_probe(s);
    if (probe) {
        probe_forget(s);
        sl_ws_set_handler(probe, &ws_detached_handler, NULL);
        sl_ws_close(probe, 1000);
    }
    if (srv->h.on_close)
        srv->h.on_close(s, reason, srv->ud);
    uv_timer_t *t = drain ? session_timer(s) : NULL;
    if (t) {
        s->draining = 1;
        uv_timer_start(t, drain_timeout_cb, srv->opts.ping_timeout_ms, 0);
    } else {
        /* No close packet to wait for, or no memory to wait with. */
        session_finish(s);
    }
}

static void session_close(eio_session_t *s, const char *reason, int notify_peer)
{
    session_close_ex(s, reason, notify_peer, EIO_CLOSE);
}

void eio_session_close(eio_session_t *s)
{
    session_close(s, "forced close", 1);
}

static eio_session_t *session_new(eio_server_t *srv, const sl_http_req_t *req, int proto,
                                  int transport)
{
    size_t extra = srv->h.data_size ? srv->h.data_size(req, srv->ud) : 0;
    eio_session_t *s = calloc(1, sizeof *s + extra);
    if (!s)
        return NULL;
    /* A sid taken already (a prefix leaves fewer random bytes) is drawn
     * again: one hash per draw finds it or files the new session. */
    int rc;
    do {
        if (eio_random_id(s->sid)) {
            free(s);
            return NULL;
        }
        size_t pl = strlen(srv->opts.sid_prefix);
        if (pl)
            memcpy(s->sid, srv->opts.sid_prefix, pl < 20 ? pl : 20);
    } while ((rc = sl_hashtab_insert_new(&srv->sessions, &s->hnode, NULL)) == -EEXIST);
    if (rc) {
        free(s);
        return NULL;
    }
    s->srv = srv;
    s->proto = (uint8_t)proto;
    s->transport = (uint8_t)transport;
    s->open = 1;
    srv->live++;
    return s;
}

static int session_open_packet(eio_session_t *s, sl_rcbuf_t **out)
{
    const eio_options_t *o = &s->srv->opts;
    int upgrades = s->transport == T_POLLING && o->allow_upgrades && o->allow_websocket;
    int v4 = s->proto != 3;
    open_tail_t *t = &s->srv->open_tail[v4][upgrades];
    if (!t->len || t->interval != o->ping_interval_ms || t->timeout != o->ping_timeout_ms ||
        t->max_payload != o->max_http_buffer_size) {
        t->len = snprintf(t->text, sizeof t->text, "\",\"upgrades\":[%s],\"pingInterval\":%u,"
                          "\"pingTimeout\":%u%s", upgrades ? "\"websocket\"" : "",
                          o->ping_interval_ms, o->ping_timeout_ms, v4 ? ",\"maxPayload\":" : "}");
        if (v4)
            t->len += snprintf(t->text + t->len, sizeof t->text - (size_t)t->len, "%zu}",
                               o->max_http_buffer_size);
        t->interval = o->ping_interval_ms;
        t->timeout = o->ping_timeout_ms;
        t->max_payload = o->max_http_buffer_size;
    }
    char json[256];
    size_t sl = strlen(s->sid);
    memcpy(json, "{\"sid\":\"", 8);
    memcpy(json + 8, s->sid, sl);
    memcpy(json + 8 + sl, t->text, (size_t)t->len);
    *out = sl_rcbuf_new(json, 8 + sl + (size_t)t->len);
    return *out ? 0 : -ENOMEM;
}

/* ---- incoming packets --------------------------------------------------- */

/* Handles one packet from the active transport. Returns -1 when the session
 * closed because of it (stop processing the rest). */
static int session_on_packet(eio_session_t *s, const eio_packet_t *p)
{
    eio_server_t *srv = s->srv;
    switch (p->type) {
    case EIO_PONG:
        if (s->proto == 4) {
            hb_schedule_ping(s);
            return 0;
        }
        break;
    case EIO_PING:
        if (s->proto == 3) {
            sl_rcbuf_t *d = p->len ? sl_rcbuf_new(p->data, p->len) : NULL;
            session_push_ctl(s, EIO_PONG, d);
            sl_rcbuf_unref(d);
            hb_expect_ping(s);
            return s->open ? 0 : -1;
        }
        return 0; /* v4 clients don't ping; tolerate it */
    case EIO_MESSAGE:
        if (srv->h.on_message)
            srv->h.on_message(s, p->binary, p->data, p->len, srv->ud);
        return s->open ? 0 : -1;
    case EIO_CLOSE:
        session_close_ex(s, "transport close", 0, EIO_NOOP);
        return -1;
    case EIO_NOOP:
        return 0;
    default:
        break;
    }
    SL_LOG_EVERYF(&s->srv->broken, SL_LOG_INFO, "eio",
                  SL_LOG_FIELDS("sid", s->sid, "reason", "parse error"),
                  "session %s: unexpected packet type %d, closing", s->sid, p->type);
    session_close(s, "parse error", 0);
    return -1;
}

/* ---- HTTP errors, CORS, cookie ------------------------------------------ */

static int origin_allowed(const eio_options_t *o, const char *origin)
{
    if (!o->cors_origin[0] || !strcmp(o->cors_origin, "*") || !origin)
        return 1;
    size_t ol = strlen(origin);
    const char *p = o->cors_origin;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        while (l && *p == ' ') { p++; l--; }
        if (l == ol && !strncmp(p, origin, l))
            return 1;
        if (!e)
            break;
        p = e + 1;
    }
    return 0;
}

/* Adds the headers Node's `cors` middleware would add to a normal response. */
static void cors_headers(eio_server_t *srv, sl_http_req_t *req)
{
    const eio_options_t *o = &srv->opts;
    if (!o->cors_origin[0])
        return;
    const char *origin = sl_http_header_get(req, "origin");
    if (!strcmp(o->cors_origin, "*") && !(o->cors_credentials && origin)) {
        sl_http_resp_header(req, "Access-Control-Allow-Origin", "*");
    } else if (origin && origin_allowed(o, origin)) {
        sl_http_resp_header(req, "Access-Control-Allow-Origin", origin);
        sl_http_resp_header(req, "Vary", "Origin");
    }
    if (o->cors_credentials)
        sl_http_resp_header(req, "Access-Control-Allow-Credentials", "true");
}

/* The request's URL for a log line: the query's values other than the
 * protocol's own are shown as "***", since apps put tokens there
 * (io(url, {query: {token}})) and logs are read by more people than the
 * app's secrets should be. */
static void url_for_log(const sl_http_req_t *req, char *out, size_t cap)
{
    static const char *const protocol[] = {"EIO", "transport", "sid", "t", "b64", "j"};
    sl_buf_t b = SL_BUF_INIT;
    sl_buf_append_str(&b, req->path);
    const char *q = req->query;
    for (char sep = '?'; *q; sep = '&') {
        size_t n = strcspn(q, "&");
        size_t k = strcspn(q, "=");
        if (k > n)
            k = n;
        int keep = 0;
        for (size_t i = 0; i < sizeof protocol / sizeof *protocol; i++)
            keep |= strlen(protocol[i]) == k && !strncmp(q, protocol[i], k);
        if (n)
            sl_buf_appendf(&b, "%c%.*s%s", sep, (int)(keep || k == n ? n : k), q,
                           keep || k == n ? "" : "=***");
        q += n + (q[n] == '&');
    }
    snprintf(out, cap, "%.*s", (int)b.len, b.data ? b.data : "");
    sl_buf_free(&b);
}

static void respond_error(eio_server_t *srv, sl_http_req_t *req, int code, const char *message)
{
    char body[320];
    if (!message)
        message = error_messages[code];
    uint64_t more;
    if (sl_log_every_due(&srv->bad, &more) && sl_log_level <= SL_LOG_INFO) {
        char url[512], sid[64], status[8];
        url_for_log(req, url, sizeof url);
        if (sl_http_query_get(req, "sid", sid, sizeof sid) < 0)
            sid[0] = '\0';
        snprintf(status, sizeof status, "%d", code);
        sl_log_more(SL_LOG_INFO, "eio", more,
                    SL_LOG_FIELDS("peer", req->address, "sid", sid[0] ? sid : NULL, "code", status,
                                  "reason", message),
                    "%s %s %s: %d %s", req->address, req->method, url, code, message);
    }
    int n = snprintf(body, sizeof body, "{\"code\":%d,\"message\":\"%s\"}", code, message);
    if (req->upgrade && code != ERR_FORBIDDEN) {
        /* As the reference server answers a refused WebSocket upgrade. */
        sl_http_respond(req, 400, "text/html", message, strlen(message));
        return;
    }
    cors_headers(srv, req);
    sl_http_respond(req, code == ERR_FORBIDDEN ? 403 : 400, "application/json", body, (size_t)n);
}

static void respond_preflight(eio_server_t *srv, sl_http_req_t *req)
{
    const eio_options_t *o = &srv->opts;
    cors_headers(srv, req);
    sl_http_resp_header(req, "Access-Control-Allow-Methods", o->cors_methods);
    const char *want = sl_http_header_get(req, "access-control-request-headers");
    if (want) {
        sl_http_resp_header(req, "Access-Control-Allow-Headers", want);
        sl_http_resp_header(req, "Vary", "Access-Control-Request-Headers");
    }
    sl_http_respond(req, 204, NULL, NULL, 0);
}

static void cookie_header(eio_server_t *srv, eio_session_t *s, sl_http_req_t *req)
{
    if (!srv->opts.cookie_name[0])
        return;
    char v[160];
    snprintf(v, sizeof v, "%s=%s; Path=/; HttpOnly; SameSite=Lax", srv->opts.cookie_name, s->sid);
    sl_http_resp_header(req, "Set-Cookie", v);
}

/* ---- transports --------------------------------------------------------- */

static void poll_aborted(sl_http_req_t *req, void *ud)
{
    (void)req;
    eio_session_t *s = ud;
    s->poll = NULL;
    session_close(s, "transport close", 0);
}

static void handle_poll_get(eio_session_t *s, sl_http_req_t *req)
{
    if (s->poll) {
        SL_LOG_EVERYF(&s->srv->broken, SL_LOG_INFO, "eio",
                      SL_LOG_FIELDS("sid", s->sid, "reason", "transport error"),
                      "session %s: overlapping GET, closing", s->sid);
        respond_error(s->srv, req, ERR_BAD_REQUEST, NULL);
        session_close(s, "transport error", 0);
        return;
    }
    s->poll = req;
    req->on_abort = poll_aborted;
    req->abort_ud = s;
    if (queue_len(s))
        session_flush_poll(s);
    else if (s->upgrading)
        session_release_poll(s, EIO_NOOP);
}

typedef struct post_ctx {
    eio_session_t *s;
} post_ctx_t;

static int post_packet_cb(const eio_packet_t *p, void *ud)
{
    post_ctx_t *ctx = ud;
    return session_on_packet(ctx->s, p);
}

static void handle_poll_post(eio_session_t *s, sl_http_req_t *req)
{
    eio_server_t *srv = s->srv;
    if (req->body_too_large) {
        SL_LOG_EVERYF(&s->srv->broken, SL_LOG_INFO, "eio",
                      SL_LOG_FIELDS("sid", s->sid, "reason", "transport error"),
                      "session %s: POST body over maxHttpBufferSize (%zu), closing", s->sid,
                      srv->opts.max_http_buffer_size);
        cors_headers(srv, req);
        sl_http_respond(req, 413, "text/plain", "Payload Too Large", 17);
        session_close(s, "transport error", 0);
        return;
    }
    const char *ctype = sl_http_header_get(req, "content-type");
    int binary_body = ctype && !strncasecmp(ctype, "application/octet-stream", 24);
    if (binary_body && s->proto == 4) {
        /* Engine.IO v4 polling bodies are text (binary goes base64). */
        SL_LOG_EVERYF(&s->srv->broken, SL_LOG_INFO, "eio",
                      SL_LOG_FIELDS("sid", s->sid, "reason", "transport error"),
                      "session %s: binary POST body, closing", s->sid);
        respond_error(srv, req, ERR_BAD_REQUEST, NULL);
        session_close(s, "transport error", 0);
        return;
    }
    post_ctx_t ctx = {s};
    int rc = binary_body ? eio3_payload_decode_binary(req->body.data, req->body.len, post_packet_cb, &ctx)
           : s->proto == 3 ? eio3_payload_decode(req->body.data, req->body.len, post_packet_cb, &ctx)
                           : eio_payload_decode(req->body.data ? req->body.data : "", req->body.len,
                                                post_packet_cb, &ctx);
    if (rc == -1 && s->open) {
        SL_LOG_EVERYF(&s->srv->broken, SL_LOG_INFO, "eio",
                      SL_LOG_FIELDS("sid", s->sid, "reason", "parse error"),
                      "session %s: malformed polling payload, closing", s->sid);
        session_close(s, "parse error", 0);
    }
    cors_headers(srv, req);
    sl_http_respond(req, 200, "text/html", "ok", 2);
}

static void ws_detached_message(sl_ws_t *ws, int binary, const char *p, size_t n)
{
    (void)ws; (void)binary; (void)p; (void)n;
}

static void ws_detached_close(sl_ws_t *ws) { (void)ws; }

static const sl_ws_handler_t ws_detached_handler = {
    .on_message = ws_detached_message,
    .on_close = ws_detached_close,
};

/* A WebSocket frame carries one packet. */
static int ws_decode(eio_session_t *s, int binary, const char *p, size_t n, eio_packet_t *pkt)
{
    if (binary) {
        if (s->proto == 3) { /* leading type byte */
            if (n == 0 || p[0] != 4)
                return -1;
            p++;
            n--;
        }
        pkt->type = EIO_MESSAGE;
        pkt->binary = 1;
        pkt->data = p;
        pkt->len = n;
        return 0;
    }
    return eio_packet_decode_text(p, n, pkt);
}

static void upgrade_timeout_cb(uv_timer_t *t)
{
    eio_session_t *s = t->data;
    sl_ws_t *probe = session_probe(s);
    if (probe) {
        SL_LOG_EVERYF(&s->srv->broken, SL_LOG_INFO, "eio",
                      SL_LOG_FIELDS("sid", s->sid),
                      "session %s: upgrade timed out", s->sid);
        probe_forget(s);
        s->upgrading = 0;
        sl_ws_set_handler(probe, &ws_detached_handler, NULL);
        sl_ws_close(probe, 1000);
    }
}

static void probe_message(eio_session_t *s, sl_ws_t *ws, const eio_packet_t *pkt)
{
    if (pkt->type == EIO_PING && pkt->len == 5 && !memcmp(pkt->data, "probe", 5)) {
        ws_write_packet(s, ws, &(eio_out_t){.type = EIO_PONG, .data = "probe", .len = 5}, NULL);
        /* The client now pauses polling: release its parked GET. */
        if (s->poll && queue_len(s) == 0)
            session_release_poll(s, EIO_NOOP);
        return;
    }
    if (pkt->type == EIO_UPGRADE) {
        session_timer_stop(s);
        probe_forget(s);
        s->upgrading = 0;
        s->ws = ws;
        s->transport = T_WEBSOCKET;
        s->srv->stats.upgrades++;
        /* A GET still parked must not hold packets now bound for the
         * WebSocket: release it empty, then move the queue over in order. */
        if (s->poll)
            session_release_poll(s, EIO_NOOP);
        queue_to_ws(s);
        if (s->open && s->srv->h.on_upgrade)
            s->srv->h.on_upgrade(s, s->srv->ud);
        return;
    }
    SL_LOG_EVERYF(&s->srv->broken, SL_LOG_INFO, "eio",
                  SL_LOG_FIELDS("sid", s->sid),
                  "session %s: unexpected packet during upgrade, dropping probe",
                  s->sid);
    probe_forget(s);
    s->upgrading = 0;
    sl_ws_set_handler(ws, &ws_detached_handler, NULL);
    sl_ws_close(ws, 1002);
}

static void ws_on_message(sl_ws_t *ws, int binary, const char *p, size_t n)
{
    eio_session_t *s = sl_ws_data(ws);
    eio_packet_t pkt;
    if (!s->open || (ws != s->ws && ws != session_probe(s)))
        return; /* not (or no longer) a transport of this session */
    if (ws_decode(s, binary, p, n, &pkt)) {
        if (ws != s->ws) {
            probe_forget(s);
            s->upgrading = 0;
            sl_ws_set_handler(ws, &ws_detached_handler, NULL);
            sl_ws_close(ws, 1002);
            return;
        }
        SL_LOG_EVERYF(&s->srv->broken, SL_LOG_INFO, "eio",
                      SL_LOG_FIELDS("sid", s->sid, "reason", "parse error"),
                      "session %s: malformed websocket packet, closing", s->sid);
        session_close(s, "parse error", 0);
        return;
    }
    if (ws != s->ws) {
        probe_message(s, ws, &pkt);
        return;
    }
    if (s->deadline != HB_VERDICT_PENDING && hb_expired(s))
        return;
    session_on_packet(s, &pkt);
}

static void ws_on_close(sl_ws_t *ws)
{
    eio_session_t *s = sl_ws_data(ws);
    if (ws == s->ws) {
        if (session_probe(s) == ws)
            probe_forget(s);
        s->ws = NULL;
        session_close(s, "transport close", 0);
        return;
    }
    if (ws == session_probe(s)) {
        probe_forget(s);
        s->upgrading = 0;
        session_timer_stop(s);
        return;
    }
    /* A ws this session no longer knows: nothing to do. */
}

static void ws_on_drain(sl_ws_t *ws) { (void)ws; }

static const sl_ws_handler_t ws_session_handler = {
    .on_message = ws_on_message,
    .on_close = ws_on_close,
    .on_drain = ws_on_drain,
};

static struct sl_ws_opts ws_opts(const eio_server_t *srv)
{
    const sl_ws_deflate_opts_t *z = &srv->opts.per_message_deflate;
    return (struct sl_ws_opts){
        .max_message = srv->opts.max_http_buffer_size,
        .queue_cap = srv->opts.session_queue_cap,
        .deflate = z->enabled ? z : NULL,
    };
}

static sl_ws_t *accept_ws(eio_server_t *srv, sl_http_req_t *req, eio_session_t *s)
{
    struct sl_ws_opts wo = ws_opts(srv);
    return sl_ws_accept(req, &wo, &ws_session_handler, s);
}

/* NULL when req is an upgrade this endpoint can answer with 101; else the
 * 400's text: "Bad request", or ws's words for extensions it can't accept. */
static const char *ws_refusal(const eio_server_t *srv, const sl_http_req_t *req)
{
    if (!req->upgrade || sl_ws_check_request(req))
        return error_messages[ERR_BAD_REQUEST];
    struct sl_ws_opts wo = ws_opts(srv);
    return sl_ws_check_extensions(req, &wo);
}

/* ---- request entry ------------------------------------------------------ */

static int proto_of(eio_server_t *srv, const sl_http_req_t *req)
{
    char v[8];
    if (sl_http_query_get(req, "EIO", v, sizeof v) < 0)
        return -1;
    if (!strcmp(v, "4"))
        return 4;
    if (!strcmp(v, "3") && srv->opts.allow_eio3)
        return 3;
    return -1;
}

static void handshake(eio_server_t *srv, sl_http_req_t *req, int proto, int transport)
{
    if (strcmp(req->method, "GET") != 0) {
        respond_error(srv, req, ERR_BAD_HANDSHAKE_METHOD, NULL);
        return;
    }
    const char *refusal = transport == T_WEBSOCKET ? ws_refusal(srv, req) : NULL;
    if (refusal) {
        respond_error(srv, req, ERR_BAD_REQUEST, refusal);
        return;
    }
    if (srv->live >= srv->opts.max_sessions) {
        /* Each session costs memory until it closes (a client that never
         * joins a namespace holds one for connectTimeout): past the cap a
         * new one waits, an upgrade of one that exists is not refused. */
        SL_LOG_EVERY(&srv->full, SL_LOG_WARN, "eio",
                     "%zu sessions open, the most maxSessions allows: answering 503 to the "
                     "handshake of %s", srv->live, req->address);
        cors_headers(srv, req);
        sl_http_resp_header(req, "Retry-After", "5");
        sl_http_respond_text(req, 503, "Service Unavailable");
        return;
    }
    if (srv->h.allow_request) {
        const char *why = srv->h.allow_request(req, srv->ud);
        if (why) {
            respond_error(srv, req, ERR_FORBIDDEN, why);
            return;
        }
    }
    eio_session_t *s = session_new(srv, req, proto, transport);
    if (!s) {
        sl_http_respond_text(req, 503, "out of memory");
        return;
    }
    srv->stats.handshakes++;
    sl_rcbuf_t *open;
    if (session_open_packet(s, &open)) {
        session_close(s, "transport error", 0);
        sl_http_respond_text(req, 503, "out of memory");
        return;
    }
    /* The heartbeat starts with the session, before the handshake goes out. */
    if (proto == 3)
        hb_expect_ping(s);
    else
        hb_schedule_ping(s);
    cookie_header(srv, s, req);
    if (transport == T_WEBSOCKET) {
        cors_headers(srv, req);
        s->transport = T_POLLING; /* queue what on_open sends until the ws exists */
        if (srv->h.on_open)
            srv->h.on_open(s, req, srv->ud);
        if (!s->open) {
            /* The layer above closed it at once: answer the upgrade. */
            sl_rcbuf_unref(open);
            respond_error(srv, req, ERR_BAD_REQUEST, NULL);
            return;
        }
        s->ws = accept_ws(srv, req, s);
        if (!s->ws) {
            sl_rcbuf_unref(open);
            session_close(s, "transport error", 0);
            return;
        }
        /* OPEN goes first, straight onto the WebSocket, then what on_open
         * queued (nothing, mostly: then no queue was ever made). */
        s->transport = T_WEBSOCKET;
        session_push_ctl(s, EIO_OPEN, open);
        sl_rcbuf_unref(open);
        queue_to_ws(s);
        if (s->open && s->ws)
            sl_ws_start(s->ws);
        return;
    }
    session_push_ctl(s, EIO_OPEN, open);
    sl_rcbuf_unref(open);
    if (srv->h.on_open)
        srv->h.on_open(s, req, srv->ud);
    if (!s->open) {
        respond_error(srv, req, ERR_BAD_REQUEST, NULL);
        return;
    }
    /* The handshake GET is the first poll: it takes the open packet and
     * whatever on_open queued. */
    s->poll = req;
    req->on_abort = poll_aborted;
    req->abort_ud = s;
    session_flush_poll(s);
}

static void handle_upgrade(eio_server_t *srv, eio_session_t *s, sl_http_req_t *req)
{
    const char *why = ws_refusal(srv, req);
    if (why) {
        respond_error(srv, req, ERR_BAD_REQUEST, why);
        return;
    }
    int refuse = s->transport != T_POLLING || s->upgrading || !srv->opts.allow_upgrades;
    cors_headers(srv, req);
    sl_ws_t *ws = accept_ws(srv, req, s);
    if (!ws)
        return;
    if (refuse) {
        /* Accepted then closed, as the reference server does: clients
         * expect a WebSocket, not an HTTP error, for this case. */
        SL_LOG_EVERYF(&s->srv->broken, SL_LOG_INFO, "eio",
                      SL_LOG_FIELDS("sid", s->sid),
                      "session %s: refused a second upgrade", s->sid);
        sl_ws_set_handler(ws, &ws_detached_handler, NULL);
        sl_ws_close(ws, 1000);
        return;
    }
    uv_timer_t *t = session_timer(s);
    if (!t) {
        /* No upgrade without its timeout: the session stays on polling. */
        SL_WARNF("eio", SL_LOG_FIELDS("sid", s->sid), "session %s: upgrade refused, out of memory", s->sid);
        sl_ws_set_handler(ws, &ws_detached_handler, NULL);
        sl_ws_close(ws, 1011);
        return;
    }
    s->oq->probe = ws; /* session_timer made the queue */
    s->upgrading = 1;
    uv_timer_start(t, upgrade_timeout_cb, srv->opts.upgrade_timeout_ms, 0);
    if (s->poll && queue_len(s) == 0)
        session_release_poll(s, EIO_NOOP);
    /* Frames sent right behind the upgrade request are handled now that
     * the session knows its probe. */
    sl_ws_start(ws);
}

static int is_preflight(const eio_server_t *srv, const sl_http_req_t *req)
{
    return !strcmp(req->method, "OPTIONS") && srv->opts.cors_origin[0];
}

/* The transport a request asks for, T_POLLING or T_WEBSOCKET, or -1 when
 * it is not one this endpoint allows. */
static int request_transport(const eio_server_t *srv, const sl_http_req_t *req)
{
    char tname[16];
    int tl = sl_http_query_get(req, "transport", tname, sizeof tname);
    if (tl > 0 && !strcmp(tname, "polling") && srv->opts.allow_polling)
        return T_POLLING;
    if (tl > 0 && !strcmp(tname, "websocket") && srv->opts.allow_websocket)
        return T_WEBSOCKET;
    return -1;
}

/* The checks eio_server_handle makes before it looks for the session, in
 * its order, so the router relays exactly the requests this endpoint would
 * answer "Session ID unknown". */
int eio_server_lacks_sid(eio_server_t *srv, const sl_http_req_t *req, char *out, size_t cap)
{
    if (req->aborted || is_preflight(srv, req) || request_transport(srv, req) < 0)
        return 0;
    if (sl_http_query_get(req, "sid", out, cap) < 0)
        return 0; /* none, or too long to be anyone's: answered here */
    return table_find(srv, out) == NULL;
}

void eio_server_handle(eio_server_t *srv, sl_http_req_t *req)
{
    if (req->aborted) {
        /* The peer went away in the middle of a request body: a polling
         * session loses its data, so it closes, as the reference does. */
        char asid[32];
        eio_session_t *as = sl_http_query_get(req, "sid", asid, sizeof asid) >= 0
                                ? table_find(srv, asid) : NULL;
        if (as && as->open && !strcmp(req->method, "POST"))
            session_close(as, "transport close", 0);
        sl_http_respond(req, 400, NULL, NULL, 0); /* frees it; nothing is written */
        return;
    }
    /* An origin outside cors.origin is not refused (Node's cors package
     * doesn't either): it just gets no Access-Control-Allow-* headers and
     * the browser does the blocking. */
    if (is_preflight(srv, req)) {
        respond_preflight(srv, req);
        return;
    }
    char sid[32];
    int transport = request_transport(srv, req);
    if (transport < 0) {
        respond_error(srv, req, ERR_UNKNOWN_TRANSPORT, NULL);
        return;
    }
    /* A sid too long to be one is an unknown sid, not a missing one (which
     * would make this a handshake). */
    int sid_len = sl_http_query_get(req, "sid", sid, sizeof sid);
    int has_sid = sid_len >= 0 || sid_len == -2;
    eio_session_t *s = sid_len >= 0 ? table_find(srv, sid) : NULL;
    if (s && s->draining) {
        /* The last GET of a server-closed polling session collects the
         * close packet; anything else finds the session gone. */
        if (transport == T_POLLING && !strcmp(req->method, "GET") && queue_len(s)) {
            s->poll = req;
            session_flush_poll(s);
            session_finish(s);
            return;
        }
        s = NULL;
    }
    if (has_sid && (!s || hb_expired(s))) {
        respond_error(srv, req, ERR_UNKNOWN_SID, NULL);
        return;
    }
    int proto = proto_of(srv, req);
    if (!s) {
        if (strcmp(req->method, "GET") != 0) {
            respond_error(srv, req, ERR_BAD_HANDSHAKE_METHOD, NULL);
            return;
        }
        if (proto < 0) {
            respond_error(srv, req, ERR_UNSUPPORTED_PROTOCOL_VERSION, NULL);
            return;
        }
        handshake(srv, req, proto, transport);
        return;
    }
    if (transport == T_WEBSOCKET && req->upgrade) {
        handle_upgrade(srv, s, req);
        return;
    }
    if (transport != T_POLLING || s->transport != T_POLLING) {
        respond_error(srv, req, ERR_BAD_REQUEST, NULL);
        return;
    }
    if (!strcmp(req->method, "GET"))
        handle_poll_get(s, req);
    else if (!strcmp(req->method, "POST"))
        handle_poll_post(s, req);
    else
        respond_error(srv, req, ERR_BAD_REQUEST, NULL);
}

/* ---- server ------------------------------------------------------------- */

eio_server_t *eio_server_new(uv_loop_t *loop, const eio_options_t *opts,
                             const eio_handler_t *h, void *ud)
{
    eio_server_t *srv = calloc(1, sizeof *srv);
    if (!srv)
        return NULL;
    srv->loop = loop;
    srv->opts = *opts;
    srv->h = *h;
    srv->ud = ud;
    sl_hashtab_init(&srv->sessions, session_key);
    sl_timerq_init(&srv->ping_due, loop, ping_due_cb, srv);
    sl_timerq_init(&srv->pong_due, loop, ping_timeout_cb, srv);
    sl_timerq_init(&srv->v3_due, loop, ping_timeout_cb, srv);
    sl_timerq_init(&srv->late, loop, late_cb, srv);
    sl_timerq_init(&srv->doomed, loop, doomed_cb, srv);
    sl_timerq_init(&srv->late_report, loop, late_report_cb, srv);
    /* Text frame, FIN, 1 byte: "2". Without it (no memory) pings are
     * framed one by one, as any control packet. */
    srv->ping_frame = sl_rcbuf_new("\x81\x01" "2", 3);
    return srv;
}

const eio_options_t *eio_server_options(const eio_server_t *srv) { return &srv->opts; }
void eio_server_set_budget(eio_server_t *srv, sl_budget_t *b) { srv->budget = b; }
eio_options_t *eio_server_options_mut(eio_server_t *srv) { return &srv->opts; }

static int path_match(const char *want, const char *path)
{
    /* "/engine.io/" matches "/engine.io/" and "/engine.io" (no slash). */
    size_t l = strlen(want);
    if (!l)
        return 0;
    if (!strncmp(path, want, l) && path[l] == '\0')
        return 1;
    return !strncmp(path, want, l - 1) && path[l - 1] == '\0';
}

int eio_server_match(const eio_server_t *srv, const char *path)
{
    return path_match(srv->opts.path, path) || path_match(srv->opts.alt_path, path);
}

void eio_server_close_all(eio_server_t *srv)
{
    sl_hashtab_iter_t it;
    sl_hashtab_iter_init(&it, &srv->sessions);
    for (sl_hnode_t *n; (n = sl_hashtab_iter_next(&it));) /* n may leave the table */
        session_close(SL_CONTAINER_OF(n, eio_session_t, hnode), "server shutting down", 1);
}

size_t eio_server_session_count(const eio_server_t *srv) { return sl_hashtab_count(&srv->sessions); }
size_t eio_server_live_count(const eio_server_t *srv) { return srv->live; }
uint64_t eio_server_refused_count(const eio_server_t *srv) { return srv->full.total; }

const eio_stats_t *eio_server_stats(const eio_server_t *srv) { return &srv->stats; }

void eio_server_count_transports(const eio_server_t *srv, size_t out[2])
{
    out[0] = out[1] = 0;
    sl_hashtab_iter_t it;
    sl_hashtab_iter_init(&it, &srv->sessions);
    for (sl_hnode_t *n; (n = sl_hashtab_iter_next(&it));) {
        const eio_session_t *s = SL_CONTAINER_OF(n, eio_session_t, hnode);
        if (s->open)
            out[s->transport == T_WEBSOCKET]++;
    }
}

void eio_server_each_session(eio_server_t *srv, void (*cb)(eio_session_t *s, void *ud), void *ud)
{
    sl_hashtab_iter_t it;
    sl_hashtab_iter_init(&it, &srv->sessions);
    for (sl_hnode_t *n; (n = sl_hashtab_iter_next(&it));)
        cb(SL_CONTAINER_OF(n, eio_session_t, hnode), ud);
}

/* No session is left to need a heartbeat: the queues' timers close now,
 * while the loop runs (a server the router owns is freed only after the
 * loop has ended). */
static void heartbeats_close(eio_server_t *srv)
{
    sl_timerq_close(&srv->ping_due);
    sl_timerq_close(&srv->pong_due);
    sl_timerq_close(&srv->v3_due);
    sl_timerq_close(&srv->late);
    sl_timerq_close(&srv->doomed);
    sl_timerq_close(&srv->late_report);
}

void eio_server_stop(eio_server_t *srv)
{
    eio_server_close_all(srv);
    sl_hashtab_iter_t it;
    sl_hashtab_iter_init(&it, &srv->sessions);
    for (sl_hnode_t *n; (n = sl_hashtab_iter_next(&it));)
        session_finish(SL_CONTAINER_OF(n, eio_session_t, hnode));
    heartbeats_close(srv);
}

void eio_server_free(eio_server_t *srv)
{
    if (!srv)
        return;
    sl_hashtab_free(&srv->sessions);
    heartbeats_close(srv);
    sl_rcbuf_unref(srv->ping_frame);
    free(srv);
}

/* ---- accessors ---------------------------------------------------------- */

const char *eio_session_id(const eio_session_t *s) { return s->sid; }
const char *eio_session_transport(const eio_session_t *s)
{
    return s->transport == T_WEBSOCKET ? "websocket" : "polling";
}
int eio_session_protocol(const eio_session_t *s) { return s->proto; }
int eio_session_is_open(const eio_session_t *s) { return s->open; }
void eio_session_set_data(eio_session_t *s, void *data) { s->data = data; }
void *eio_session_data(const eio_session_t *s) { return s->data; }
void *eio_session_extra(const eio_session_t *s)
{
    return s->srv->h.data_size ? (void *)s->extra : NULL;
}
eio_session_t *eio_session_of_extra(void *extra)
{
    return (eio_session_t *)((char *)extra - offsetof(eio_session_t, extra));
}
void *eio_session_server_ud(const eio_session_t *s) { return s->srv->ud; }
size_t eio_session_queued(const eio_session_t *s)
{
    if (s->transport == T_WEBSOCKET && s->ws)
        return sl_ws_queued(s->ws);
    return s->oq ? s->oq->qbytes : 0;
}
