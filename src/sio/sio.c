/* L5 sio/sio: Socket.IO server: clients, namespaces, sockets, rooms.
 *
 *   sio_server --list--> sio_nsp --hash--> sio_room --members--> membership
 *        |                  |                                      |    |
 *   eio session <-> sio_client --sockets--> sio_socket --rooms-----+    |
 *                                                ^----------------------+
 *
 * Rooms follow two indexes (room -> members, socket -> memberships), so a
 * disconnect costs only the socket's own rooms. A broadcast marks sockets
 * with a per-namespace epoch instead of building a set: no allocation per
 * recipient, each socket written at most once.
 *
 * A socket's own-id room is not a room: every socket is in one, alone, so
 * it is a bit of the socket and an entry in the namespace's table of
 * sockets by id (nsp->own), and costs no room or membership. A real room
 * may still carry the same name (another socket joined that id): the name
 * then reaches both, and the adapter hears of the name once, when the
 * first of the two appears, and once when the last goes. */
#include "sio/sio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include "base/defer.h"
#include "base/hashtab.h"
#include "base/log.h"
#include "base/json_text.h"
#include "base/timerq.h"
#include "sio/sio_packet_msgpack.h"

typedef struct sio_member sio_member_t;

typedef struct sio_room {
    sl_hnode_t hnode;        /* in nsp->rooms, keyed by name */
    sio_member_t *members;   /* doubly linked through room_prev/room_next */
    size_t count;
    size_t len;
    unsigned pins;           /* selections walking it: kept while empty */
    unsigned own_id : 1;     /* announced to the adapter as a socket's own-id
                                room (see room_announce) */
    char name[];
} sio_room_t;

struct sio_member {
    sio_room_t *room;
    sio_socket_t *socket;
    sio_member_t *room_prev, *room_next;
    sio_member_t *sock_next;   /* the socket's rooms, singly linked */
};

struct sio_nsp {
    sio_server_t *srv;
    sio_nsp_t *next;
    char *name;
    sl_hashtab_t rooms;        /* sio_room_t by name */
    sl_hashtab_t own;          /* sockets in their own-id room, by id */
    sio_socket_t *sockets;     /* connected ones, doubly linked */
    size_t nsockets;
    uint64_t epoch;
    void *data;
};

/* S_LEAVING: between "disconnecting" and its end; every call that would
 * act on the socket (disconnect, send, accept) sees it as gone, so a
 * handler can't free it from under socket_gone. */
enum { S_CONNECTING = 0, S_CONNECTED, S_LEAVING, S_GONE };

struct sio_socket {
    char id[21];
    uint8_t state;
    uint8_t recovered;
    uint8_t in_own;            /* in its own-id room (in nsp->own) */
    uint8_t own_private;       /* how the name was announced (room_announce) */
    sl_hnode_t own_node;       /* in nsp->own, keyed by id */
    sio_nsp_t *nsp;
    sio_client_t *client;
    sio_socket_t *nsp_prev, *nsp_next;
    sio_socket_t *client_next;
    sio_member_t *rooms;       /* the rooms it joined, its own id's aside */
    uint64_t mark;
    void *data;
};

/* In its Engine.IO session's allocation: the session and the server are
 * found from its address (client_eio, client_srv), the server's clients
 * are its sessions. */
struct sio_client {
    sio_socket_t *sockets;
    sio_packet_reasm_t reasm;
    sl_timerq_entry_t connect; /* in srv->connect_due until a namespace is
                                  joined (or the client closes): three
                                  words, not a 152-byte timer */
    uint64_t hs_time_ms;       /* wall clock at the handshake */
    int hs_nheaders;
    uint8_t closed : 1;
    uint8_t hs_secure : 1;     /* the handshake came over TLS */
    char hs[];                 /* the handshake: "url\0address\0" then the
                                  header records (handshake_write), right
                                  after the bits (offsetof, not sizeof: no
                                  padding before it) */
};

/* What handshake_write's counting pass found in a request's headers, for
 * its writing pass (the two run back to back for one request): each
 * header's record code and the lengths of its name and value. */
enum { HS_PLAN_MAX = 32 };
typedef struct hs_plan {
    const sl_http_req_t *req; /* the request it is for; NULL: none */
    int nheaders;
    unsigned char url_code;
    unsigned char code[HS_PLAN_MAX];
    uint32_t name_len[HS_PLAN_MAX], value_len[HS_PLAN_MAX];
} hs_plan_t;

struct sio_server {
    uv_loop_t *loop;
    eio_server_t *eio;
    sio_options_t opts;
    sio_handler_t h;
    void *ud;
    sio_nsp_t *nsps;
    hs_plan_t hs_plan;        /* handshake_write's, between its two passes */
    size_t nclients;
    const char *(*allow_request)(const sl_http_req_t *req, void *ud);
    void *allow_ud;
    sio_adapter_t adapter;
    int has_adapter;
    /* Clients that have joined no namespace yet, by connect timeout (one
     * duration for all, so one timer serves them: base/timerq). A client
     * that only ever handshakes (a flood of them, up to maxSessions) costs
     * three words for it, not a timer handle. */
    sl_timerq_t connect_due;
    sl_log_every_t timeouts;      /* clients closed by connect_timeout */
    sl_log_every_t broken;        /* clients closed for a malformed packet */
    unsigned watch;              /* sio_server_watch: SIO_WATCH_* */
    int64_t wall_offset_ms;      /* wall clock minus loop time, set by watch */
    sio_traffic_t traffic[16];   /* a ring of seconds, by sec % 16 */
    sio_stats_t stats;
    /* The msgpack decoder's buffers, reused by every message (decoding
     * runs to its end before the next message is read); mp_busy guards
     * against a message decoded while another one's packet is handled. */
    sio_packet_mp_t mp;
    int mp_busy;
};

static void client_close(sio_client_t *c, const char *reason);

/* A client lives in its session's allocation (eio_on_open). */
static inline eio_session_t *client_eio(const sio_client_t *c)
{
    return eio_session_of_extra((void *)c);
}
static inline sio_server_t *client_srv(const sio_client_t *c)
{
    return eio_session_server_ud(client_eio(c));
}
static void socket_gone(sio_socket_t *s, const char *reason, int notify_up);

/* ---- options ------------------------------------------------------------ */

void sio_options_init(sio_options_t *o)
{
    memset(o, 0, sizeof *o);
    o->connect_timeout_ms = 45000;
    o->recovery_max_ms = 120000;
}

/* ---- watching: traffic per second ---------------------------------------- */

/* The second of wall clock now, from the loop's cached time (no system
 * call per message). */
static sio_traffic_t *traffic_now(sio_server_t *srv)
{
    int64_t ms = (int64_t)uv_now(srv->loop) + srv->wall_offset_ms;
    int64_t sec = ms / 1000;
    sio_traffic_t *t = &srv->traffic[sec % 16];
    if (t->sec != sec) {
        memset(t, 0, sizeof *t); /* a second no take came for in 16: gone */
        t->sec = sec;
    }
    return t;
}

/* n more of kind; packets in or out also count their bytes. */
static void traffic_add_n(sio_server_t *srv, int kind, uint64_t n, uint64_t bytes)
{
    sio_traffic_t *t = traffic_now(srv);
    t->count[kind] += n;
    if (kind == SIO_TRAFFIC_PACKETS_IN || kind == SIO_TRAFFIC_PACKETS_OUT)
        t->count[kind + 1] += bytes;
}

static void traffic_add(sio_server_t *srv, int kind, uint64_t bytes)
{
    traffic_add_n(srv, kind, 1, bytes);
}

static void traffic_closed(sio_server_t *srv, const char *reason)
{
    sio_traffic_t *t = traffic_now(srv);
    for (int i = 0; i < SIO_TRAFFIC_REASONS; i++) {
        if (!t->closed[i].reason || !strcmp(t->closed[i].reason, reason)) {
            t->closed[i].reason = reason;
            t->closed[i].n++;
            return;
        }
    }
}

static void watch_sync_clock(sio_server_t *srv)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    uv_update_time(srv->loop);
    srv->wall_offset_ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000 - (int64_t)uv_now(srv->loop);
}

void sio_server_watch(sio_server_t *srv, unsigned what)
{
    if ((what & SIO_WATCH_TRAFFIC) && !(srv->watch & SIO_WATCH_TRAFFIC)) {
        memset(srv->traffic, 0, sizeof srv->traffic);
        watch_sync_clock(srv);
    }
    srv->watch = what;
}

void sio_server_traffic_take(sio_server_t *srv, void (*cb)(const sio_traffic_t *t, void *ud),
                             void *ud)
{
    int64_t oldest = INT64_MAX;
    for (int i = 0; i < 16; i++)
        if (srv->traffic[i].sec && srv->traffic[i].sec < oldest)
            oldest = srv->traffic[i].sec;
    for (int64_t sec = oldest; oldest != INT64_MAX && sec < oldest + 16; sec++) {
        sio_traffic_t *t = &srv->traffic[sec % 16];
        if (t->sec == sec) {
            sio_traffic_t copy = *t;
            memset(t, 0, sizeof *t);
            cb(&copy, ud);
        }
    }
    /* Wall clock and loop time drift apart (NTP): follow the wall clock. */
    watch_sync_clock(srv);
}

size_t sio_server_polling_count(const sio_server_t *srv)
{
    size_t n[2];
    eio_server_count_transports(srv->eio, n);
    return n[0];
}

/* ---- rooms -------------------------------------------------------------- */

static const void *room_key(const sl_hnode_t *n, size_t *len)
{
    const sio_room_t *r = SL_CONTAINER_OF(n, sio_room_t, hnode);
    *len = r->len;
    return r->name;
}

static sio_room_t *room_find(sio_nsp_t *nsp, const char *p, size_t n)
{
    sl_hnode_t *h = sl_hashtab_find(&nsp->rooms, p, n);
    return h ? SL_CONTAINER_OF(h, sio_room_t, hnode) : NULL;
}

/* The room named p if it has members: an emptied room a selection still
 * walks (pinned) is gone for everyone else. */
static sio_room_t *room_live(sio_nsp_t *nsp, const char *p, size_t n)
{
    sio_room_t *r = room_find(nsp, p, n);
    return r && r->count ? r : NULL;
}

static const void *own_key(const sl_hnode_t *n, size_t *len)
{
    const sio_socket_t *s = SL_CONTAINER_OF(n, sio_socket_t, own_node);
    *len = strlen(s->id);
    return s->id;
}

/* The socket whose own-id room is named p, or NULL. */
static sio_socket_t *own_find(const sio_nsp_t *nsp, const char *p, size_t n)
{
    sl_hnode_t *h = sl_hashtab_find(&nsp->own, p, n);
    return h ? SL_CONTAINER_OF(h, sio_socket_t, own_node) : NULL;
}

static int is_own_id(const sio_socket_t *s, const char *p, size_t n)
{
    return n == strlen(s->id) && !memcmp(p, s->id, n);
}

/* The adapter hears of a room name when its first holder appears (a real
 * room or an own-id room) and when its last one goes, with the same
 * is_private both times: a holder that goes while the other stays hands
 * its flag over (they agree already: the second took the first's). */
static void room_announce(sio_nsp_t *nsp, const char *p, size_t n, int created, int is_private)
{
    sio_server_t *srv = nsp->srv;
    if (!srv->has_adapter)
        return;
    if (created && srv->adapter.room_created)
        srv->adapter.room_created(srv->adapter.ud, nsp, p, n, is_private);
    else if (!created && srv->adapter.room_deleted)
        srv->adapter.room_deleted(srv->adapter.ud, nsp, p, n, is_private);
}

static sio_room_t *room_get(sio_nsp_t *nsp, const char *p, size_t n)
{
    sio_room_t *r = room_find(nsp, p, n);
    if (r)
        return r;
    r = calloc(1, sizeof *r + n + 1);
    if (!r)
        return NULL;
    memcpy(r->name, p, n);
    r->len = n;
    if (sl_hashtab_insert(&nsp->rooms, &r->hnode)) {
        free(r);
        return NULL;
    }
    return r;
}

static void room_delete(sio_nsp_t *nsp, sio_room_t *r)
{
    sl_hashtab_remove(&nsp->rooms, &r->hnode);
    free(r);
}

/* A dashboard watching hears of every join and leave, own-id room too. */
static void watch_room(sio_socket_t *s, const char *room, size_t len, int joined)
{
    sio_server_t *srv = s->nsp->srv;
    if ((srv->watch & SIO_WATCH_EVENTS) && srv->h.on_room)
        srv->h.on_room(s, room, len, joined, srv->ud);
}

/* s joins its own-id room. 0, or 1 when another socket of the namespace
 * holds that id already (recovery gave it out twice): then it is an
 * ordinary room. */
static int own_join(sio_socket_t *s)
{
    sio_nsp_t *nsp = s->nsp;
    size_t n = strlen(s->id);
    int rc = sl_hashtab_insert_new(&nsp->own, &s->own_node, NULL);
    if (rc == -EEXIST)
        return 1;
    if (rc)
        return -ENOMEM;
    s->in_own = 1;
    sio_room_t *r = room_live(nsp, s->id, n);
    if (r) {
        s->own_private = r->own_id;
    } else {
        s->own_private = 1;
        room_announce(nsp, s->id, n, 1, 1);
    }
    watch_room(s, s->id, n, 1);
    return 0;
}

static void own_leave(sio_socket_t *s)
{
    if (!s->in_own)
        return;
    sio_nsp_t *nsp = s->nsp;
    size_t n = strlen(s->id);
    sl_hashtab_remove(&nsp->own, &s->own_node);
    s->in_own = 0;
    sio_room_t *r = room_live(nsp, s->id, n);
    if (r)
        r->own_id = s->own_private;
    else
        room_announce(nsp, s->id, n, 0, s->own_private);
    watch_room(s, s->id, n, 0);
}

int sio_socket_join(sio_socket_t *s, const char *room, size_t len)
{
    if (s->state == S_GONE || s->state == S_LEAVING)
        return -EPIPE;
    if (sio_socket_in_room(s, room, len))
        return 0;
    if (is_own_id(s, room, len)) {
        int rc = own_join(s);
        if (rc <= 0)
            return rc;
    }
    sio_room_t *r = room_get(s->nsp, room, len);
    sio_member_t *m = r ? calloc(1, sizeof *m) : NULL;
    if (!m) {
        if (r && !r->count && !r->pins)
            room_delete(s->nsp, r);
        return -ENOMEM;
    }
    if (r->count == 0) {
        sio_socket_t *holder = own_find(s->nsp, room, len);
        if (holder) {
            r->own_id = holder->own_private;
        } else {
            r->own_id = is_own_id(s, room, len);
            room_announce(s->nsp, r->name, r->len, 1, r->own_id);
        }
    }
    m->room = r;
    m->socket = s;
    m->room_next = r->members;
    if (r->members)
        r->members->room_prev = m;
    r->members = m;
    r->count++;
    /* Appended: the rooms are listed in the order joined, as Node does. */
    sio_member_t **tail = &s->rooms;
    while (*tail)
        tail = &(*tail)->sock_next;
    *tail = m;
    watch_room(s, r->name, r->len, 1);
    return 0;
}

/* m is already out of its socket's list; the watcher hears of the leave
 * with the room still allocated (it may go with its last member). */
static void member_unlink(sio_nsp_t *nsp, sio_member_t *m)
{
    sio_room_t *r = m->room;
    if (m->room_prev)
        m->room_prev->room_next = m->room_next;
    else
        r->members = m->room_next;
    if (m->room_next)
        m->room_next->room_prev = m->room_prev;
    r->count--;
    watch_room(m->socket, r->name, r->len, 0);
    if (r->count == 0) {
        sio_socket_t *holder = own_find(nsp, r->name, r->len);
        if (holder)
            holder->own_private = r->own_id;
        else
            room_announce(nsp, r->name, r->len, 0, r->own_id);
        if (!r->pins)
            room_delete(nsp, r); /* else the selection walking it frees it */
    }
    free(m);
}

int sio_socket_leave(sio_socket_t *s, const char *room, size_t len)
{
    if (s->in_own && is_own_id(s, room, len)) {
        own_leave(s);
        return 0;
    }
    for (sio_member_t **pp = &s->rooms; *pp; pp = &(*pp)->sock_next) {
        sio_member_t *m = *pp;
        if (m->room->len == len && !memcmp(m->room->name, room, len)) {
            *pp = m->sock_next;
            member_unlink(s->nsp, m);
            return 0;
        }
    }
    return 0;
}

static void socket_leave_all(sio_socket_t *s)
{
    own_leave(s);
    while (s->rooms) {
        sio_member_t *m = s->rooms;
        s->rooms = m->sock_next;
        member_unlink(s->nsp, m);
    }
}

void sio_socket_each_room(const sio_socket_t *s, void (*cb)(const char *, size_t, void *), void *ud)
{
    if (s->in_own)
        cb(s->id, strlen(s->id), ud);
    for (sio_member_t *m = s->rooms; m; m = m->sock_next)
        cb(m->room->name, m->room->len, ud);
}

int sio_socket_in_room(const sio_socket_t *s, const char *room, size_t len)
{
    if (s->in_own && is_own_id(s, room, len))
        return 1;
    for (sio_member_t *m = s->rooms; m; m = m->sock_next)
        if (m->room->len == len && !memcmp(m->room->name, room, len))
            return 1;
    return 0;
}

/* ---- namespaces --------------------------------------------------------- */

sio_nsp_t *sio_server_find_nsp(sio_server_t *srv, const char *name)
{
    for (sio_nsp_t *n = srv->nsps; n; n = n->next)
        if (!strcmp(n->name, name))
            return n;
    return NULL;
}

sio_nsp_t *sio_server_of(sio_server_t *srv, const char *name)
{
    sio_nsp_t *n = sio_server_find_nsp(srv, name);
    if (n)
        return n;
    if (name[0] != '/')
        return NULL;
    n = calloc(1, sizeof *n);
    if (!n || !(n->name = strdup(name))) {
        free(n);
        return NULL;
    }
    n->srv = srv;
    sl_hashtab_init(&n->rooms, room_key);
    sl_hashtab_init(&n->own, own_key);
    /* Appended: lookups by order of creation, "/" first. */
    sio_nsp_t **tail = &srv->nsps;
    while (*tail)
        tail = &(*tail)->next;
    *tail = n;
    if (srv->has_adapter && srv->adapter.nsp_created)
        srv->adapter.nsp_created(srv->adapter.ud, n);
    return n;
}

static void nsp_free(sio_nsp_t *n);

typedef struct nsp_use {
    const sio_nsp_t *nsp;
    int used;
} nsp_use_t;

static void nsp_use_cb(eio_session_t *e, void *ud)
{
    nsp_use_t *u = ud;
    const sio_client_t *c = eio_session_data(e);
    for (const sio_socket_t *s = c ? c->sockets : NULL; s; s = s->client_next)
        u->used |= s->nsp == u->nsp;
}

int sio_server_remove_nsp(sio_server_t *srv, sio_nsp_t *nsp)
{
    if (nsp->nsockets || !strcmp(nsp->name, "/"))
        return -EBUSY;
    nsp_use_t use = {nsp, 0};
    eio_server_each_session(srv->eio, nsp_use_cb, &use);
    if (use.used)
        return -EBUSY; /* a CONNECT to it is being decided */
    for (sio_nsp_t **pp = &srv->nsps; *pp; pp = &(*pp)->next) {
        if (*pp == nsp) {
            *pp = nsp->next;
            nsp_free(nsp);
            return 0;
        }
    }
    return -ENOENT;
}

void sio_server_set_adapter(sio_server_t *srv, const sio_adapter_t *a)
{
    srv->has_adapter = a != NULL;
    if (!a)
        return;
    srv->adapter = *a;
    if (srv->adapter.nsp_created)
        for (sio_nsp_t *n = srv->nsps; n; n = n->next)
            srv->adapter.nsp_created(srv->adapter.ud, n);
}

void sio_server_each_nsp(sio_server_t *srv, void (*cb)(sio_nsp_t *nsp, void *ud), void *ud)
{
    for (sio_nsp_t *n = srv->nsps; n; n = n->next)
        cb(n, ud);
}

void sio_nsp_each_room(const sio_nsp_t *nsp, void (*cb)(const char *room, size_t len, void *ud),
                       void *ud)
{
    sl_hashtab_iter_t it;
    sl_hashtab_iter_init(&it, &nsp->rooms);
    for (sl_hnode_t *h; (h = sl_hashtab_iter_next(&it));) {
        const sio_room_t *r = SL_CONTAINER_OF(h, sio_room_t, hnode);
        if (r->count) /* else emptied, kept while a selection walks it */
            cb(r->name, r->len, ud);
    }
    sl_hashtab_iter_init(&it, &nsp->own);
    for (sl_hnode_t *h; (h = sl_hashtab_iter_next(&it));) {
        const sio_socket_t *s = SL_CONTAINER_OF(h, sio_socket_t, own_node);
        size_t n = strlen(s->id);
        if (!room_live((sio_nsp_t *)nsp, s->id, n)) /* else listed above */
            cb(s->id, n, ud);
    }
}

sio_socket_t *sio_nsp_find_socket(sio_nsp_t *nsp, const char *id, size_t len)
{
    sio_socket_t *s = own_find(nsp, id, len);
    return s && s->state == S_CONNECTED ? s : NULL;
}

/* By nsp->own: every socket in it is listed (it joins at its accept and
 * leaves with its rooms, after its "disconnecting" handlers, once out of
 * the list). A listed socket may not be in it (it left its own-id room,
 * or recovery gave its id out twice): only then is the list walked. */
sio_socket_t *sio_nsp_listed_socket(sio_nsp_t *nsp, const char *id, size_t len)
{
    sio_socket_t *s = own_find(nsp, id, len);
    if (s || sl_hashtab_count(&nsp->own) == nsp->nsockets)
        return s;
    for (s = nsp->sockets; s; s = s->nsp_next)
        if (is_own_id(s, id, len))
            return s;
    return NULL;
}

void sio_nsp_each_socket(const sio_nsp_t *nsp, void (*cb)(sio_socket_t *s, void *ud), void *ud)
{
    for (sio_socket_t *s = nsp->sockets; s; s = s->nsp_next)
        cb(s, ud);
}

const char *sio_nsp_name(const sio_nsp_t *nsp) { return nsp->name; }
sio_server_t *sio_nsp_server(const sio_nsp_t *nsp) { return nsp->srv; }
void sio_nsp_set_data(sio_nsp_t *nsp, void *data) { nsp->data = data; }
void *sio_nsp_data(const sio_nsp_t *nsp) { return nsp->data; }
size_t sio_nsp_socket_count(const sio_nsp_t *nsp) { return nsp->nsockets; }

static void nsp_free(sio_nsp_t *n)
{
    sl_hashtab_iter_t it;
    sl_hashtab_iter_init(&it, &n->rooms);
    for (sl_hnode_t *h; (h = sl_hashtab_iter_next(&it));)
        free(SL_CONTAINER_OF(h, sio_room_t, hnode));
    sl_hashtab_free(&n->rooms);
    sl_hashtab_free(&n->own);
    free(n->name);
    free(n);
}

/* ---- outgoing ----------------------------------------------------------- */

int sio_out_build(sio_out_t *out, const sio_server_t *srv, sio_packet_type_t type, const char *nsp,
                  int64_t ack_id, const char *json, size_t json_len, const sio_packet_bin_t *atts,
                  unsigned natts)
{
    memset(out, 0, sizeof *out);
    if (natts && type == SIO_PACKET_EVENT)
        type = SIO_PACKET_BINARY_EVENT;
    else if (natts && type == SIO_PACKET_ACK)
        type = SIO_PACKET_BINARY_ACK;
    sio_packet_t pkt = {
        .type = type,
        .attachments = natts,
        .nsp = nsp,
        .nsp_len = nsp ? strlen(nsp) : 0,
        .has_ack = ack_id >= 0,
        .ack_id = ack_id >= 0 ? (uint64_t)ack_id : 0,
        .payload = json,
        .payload_len = json_len,
    };
    int msgpack = srv->opts.parser == SIO_PARSER_MSGPACK;
    int rc;
    if (msgpack) {
        /* With the msgpack parser the whole packet is one binary message. */
        sl_buf_t b = SL_BUF_INIT;
        rc = sio_packet_msgpack_encode(&b, &pkt, atts, natts);
        if (!rc)
            rc = eio_msg_init(&out->text, 1, b.data, b.len);
        sl_buf_free(&b);
    } else {
        /* Encoded in the message's own buffer: one allocation, no copy. */
        char *d;
        long n;
        rc = eio_msg_alloc(&out->text, 0, sio_packet_encoded_max(&pkt), &d);
        if (!rc && (n = sio_packet_encode_to(d, &pkt)) < 0) {
            eio_msg_release(&out->text);
            rc = (int)n;
        } else if (!rc) {
            eio_msg_seal(&out->text, (size_t)n);
        }
    }
    if (rc)
        return rc;
    if (natts && !msgpack) {
        out->atts = calloc(natts, sizeof *out->atts);
        if (!out->atts) {
            sio_out_release(out);
            return -ENOMEM;
        }
        for (unsigned i = 0; i < natts; i++) {
            if (eio_msg_init(&out->atts[i], 1, atts[i].data, atts[i].len)) {
                sio_out_release(out);
                return -ENOMEM;
            }
            out->natts = i + 1;
        }
    }
    return 0;
}

void sio_out_release(sio_out_t *out)
{
    eio_msg_release(&out->text);
    for (unsigned i = 0; i < out->natts; i++)
        eio_msg_release(&out->atts[i]);
    free(out->atts);
    memset(out, 0, sizeof *out);
}

/* Writes a packet, not counted: a broadcast counts its recipients once
 * for all of them (sio_nsp_broadcast), so the per-recipient path stays as
 * short as it can be. */
static inline __attribute__((always_inline)) int client_deliver(sio_client_t *c, sio_out_t *out)
{
    if (c->closed)
        return -EPIPE;
    unsigned plain = out->plain ? EIO_SEND_PLAIN : 0;
    if (out->natts == 0) /* a tail call, the broadcast's case */
        return eio_session_send_msg(client_eio(c), &out->text, plain);
    int rc = eio_session_send_msg(client_eio(c), &out->text, plain);
    for (unsigned i = 0; rc == 0 && i < out->natts; i++)
        rc = eio_session_send_msg(client_eio(c), &out->atts[i], plain);
    return rc;
}

/* out went to n clients: the packets sent (metrics) and, while the admin
 * UI watches, the traffic (each packet and attachment, with its bytes). */
static void count_out(sio_server_t *srv, const sio_out_t *out, size_t n)
{
    srv->stats.packets_sent += n;
    if (!(srv->watch & SIO_WATCH_TRAFFIC) || n == 0)
        return;
    traffic_add_n(srv, SIO_TRAFFIC_PACKETS_OUT, n, n * out->text.len);
    for (unsigned i = 0; i < out->natts; i++)
        traffic_add_n(srv, SIO_TRAFFIC_PACKETS_OUT, n, n * out->atts[i].len);
}

static int client_send(sio_client_t *c, sio_out_t *out)
{
    int rc = client_deliver(c, out);
    if (rc == 0)
        count_out(client_srv(c), out, 1);
    return rc;
}

/* Sends a packet built on the spot (control packets, CONNECT replies). */
static int client_send_packet(sio_client_t *c, sio_packet_type_t type, const char *nsp,
                              const char *json, size_t len)
{
    sio_out_t out;
    int rc = sio_out_build(&out, client_srv(c), type, nsp, -1, json, len, NULL, 0);
    if (rc == 0)
        rc = client_send(c, &out);
    sio_out_release(&out);
    return rc;
}

int sio_socket_send(sio_socket_t *s, sio_out_t *out)
{
    if (s->state != S_CONNECTED && s->state != S_CONNECTING)
        return -EPIPE;
    return client_send(s->client, out);
}

int sio_socket_writable(const sio_socket_t *s)
{
    return s->state == S_CONNECTED && !s->client->closed &&
           eio_session_queued(client_eio(s->client)) == 0;
}

/* ---- selection ---------------------------------------------------------- */

static void mark_rooms(sio_nsp_t *nsp, const sio_slice_t *rooms, size_t n, uint64_t epoch)
{
    for (size_t i = 0; i < n; i++) {
        sio_room_t *r = room_find(nsp, rooms[i].p, rooms[i].len);
        for (sio_member_t *m = r ? r->members : NULL; m; m = m->room_next)
            m->socket->mark = epoch;
        sio_socket_t *s = own_find(nsp, rooms[i].p, rooms[i].len);
        if (s)
            s->mark = epoch;
    }
}

/* Calls cb on s unless it is excluded or already visited in this epoch.
 * Marks first, so cb may make s leave rooms or go. */
static inline __attribute__((always_inline)) int visit(sio_socket_t *s, uint64_t epoch, const sio_target_t *t,
                 void (*cb)(sio_socket_t *, void *), void *ud)
{
    if (s->mark == epoch || s->state != S_CONNECTED)
        return 0;
    s->mark = epoch;
    if (t->volatile_ && !sio_socket_writable(s))
        return 0;
    cb(s, ud);
    return 1;
}

/* The walk of sio_nsp_select, inlined where cb is known (a broadcast's
 * delivery, once per recipient: no call through a pointer per socket). */
static inline __attribute__((always_inline)) size_t
nsp_select(sio_nsp_t *nsp, const sio_target_t *t, void (*cb)(sio_socket_t *s, void *ud), void *ud)
{
    uint64_t epoch = ++nsp->epoch;
    size_t n = 0;
    mark_rooms(nsp, t->except, t->nexcept, epoch);
    if (t->nrooms == 0) {
        for (sio_socket_t *s = nsp->sockets, *next; s; s = next) {
            next = s->nsp_next;
            n += (size_t)visit(s, epoch, t, cb, ud);
        }
        return n;
    }
    for (size_t i = 0; i < t->nrooms; i++) {
        sio_room_t *r = room_find(nsp, t->rooms[i].p, t->rooms[i].len);
        /* The callback may empty this room (a leave or a disconnect): it
         * is pinned, so it stays (empty) until the walk is over, and the
         * walk stops once it is empty. The next member is kept before the
         * call. Members added meanwhile come first in the list, so they
         * are never visited here. */
        if (r) {
            r->pins++;
            for (sio_member_t *m = r->members, *next; m; m = next) {
                next = m->room_next;
                n += (size_t)visit(m->socket, epoch, t, cb, ud);
                if (r->count == 0)
                    break;
            }
            if (--r->pins == 0 && r->count == 0)
                room_delete(nsp, r);
        }
        /* The socket whose own id this is: in the namespace's table by id,
         * not a member (it may be a member too: visit counts it once). */
        sio_socket_t *s = own_find(nsp, t->rooms[i].p, t->rooms[i].len);
        if (s)
            n += (size_t)visit(s, epoch, t, cb, ud);
    }
    return n;
}

size_t sio_nsp_select(sio_nsp_t *nsp, const sio_target_t *t,
                      void (*cb)(sio_socket_t *s, void *ud), void *ud)
{
    return nsp_select(nsp, t, cb, ud);
}

static inline __attribute__((always_inline)) void broadcast_one(sio_socket_t *s, void *ud)
{
    client_deliver(s->client, ud);
}

size_t sio_nsp_broadcast(sio_nsp_t *nsp, const sio_target_t *t, sio_out_t *out)
{
    if (t->plain)
        out->plain = 1;
    size_t n = nsp_select(nsp, t, broadcast_one, out);
    count_out(nsp->srv, out, n); /* once for all: one per socket visited */
    return n;
}

long sio_nsp_emit(sio_nsp_t *nsp, const sio_target_t *t, unsigned flags, const char *json,
                  size_t len, const sio_packet_bin_t *atts, unsigned natts)
{
    sio_out_t out;
    int rc = sio_out_build(&out, nsp->srv, SIO_PACKET_EVENT, nsp->name, -1, json, len, atts, natts);
    if (rc)
        return rc;
    out.plain = (flags & SIO_FLAG_PLAIN) != 0;
    size_t n = sio_nsp_broadcast(nsp, t, &out);
    sio_out_release(&out);
    sio_server_t *srv = nsp->srv;
    srv->stats.broadcasts++;
    if (srv->has_adapter && srv->adapter.broadcast && !(flags & SIO_FLAG_LOCAL))
        srv->adapter.broadcast(srv->adapter.ud, nsp, t, flags, json, len, atts, natts);
    return (long)n;
}

/* ---- cluster requests through the installed adapter ---------------------- */

/* The installed adapter when it has the request `op` (a member), else NULL. */
#define ADAPTER_OP(srv, op) ((srv)->has_adapter && (srv)->adapter.op ? &(srv)->adapter : NULL)

int sio_adapter_installed(const sio_server_t *srv) { return srv->has_adapter; }

int sio_adapter_fetch_sockets(sio_nsp_t *nsp, const sio_target_t *t, sio_reply_cb cb, void *ud)
{
    const sio_adapter_t *a = ADAPTER_OP(nsp->srv, fetch_sockets);
    return a ? a->fetch_sockets(a->ud, nsp, t, cb, ud) : -ENOTSUP;
}

int sio_adapter_all_rooms(sio_nsp_t *nsp, sio_reply_cb cb, void *ud)
{
    const sio_adapter_t *a = ADAPTER_OP(nsp->srv, all_rooms);
    return a ? a->all_rooms(a->ud, nsp, cb, ud) : -ENOTSUP;
}

int sio_adapter_sockets_join(sio_nsp_t *nsp, const sio_target_t *t, const sio_slice_t *rooms,
                             size_t nrooms)
{
    const sio_adapter_t *a = ADAPTER_OP(nsp->srv, sockets_join);
    return a ? a->sockets_join(a->ud, nsp, t, rooms, nrooms) : -ENOTSUP;
}

int sio_adapter_sockets_leave(sio_nsp_t *nsp, const sio_target_t *t, const sio_slice_t *rooms,
                              size_t nrooms)
{
    const sio_adapter_t *a = ADAPTER_OP(nsp->srv, sockets_leave);
    return a ? a->sockets_leave(a->ud, nsp, t, rooms, nrooms) : -ENOTSUP;
}

int sio_adapter_disconnect_sockets(sio_nsp_t *nsp, const sio_target_t *t, int close)
{
    const sio_adapter_t *a = ADAPTER_OP(nsp->srv, disconnect_sockets);
    return a ? a->disconnect_sockets(a->ud, nsp, t, close) : -ENOTSUP;
}

int sio_adapter_server_side_emit(sio_nsp_t *nsp, const char *json, size_t len, sio_reply_cb cb,
                                 void *ud)
{
    const sio_adapter_t *a = ADAPTER_OP(nsp->srv, server_side_emit);
    return a ? a->server_side_emit(a->ud, nsp, json, len, cb, ud) : -ENOTSUP;
}

void sio_adapter_server_side_ack(sio_nsp_t *nsp, const char *request_id, const char *json,
                                 size_t len)
{
    const sio_adapter_t *a = ADAPTER_OP(nsp->srv, server_side_ack);
    if (a)
        a->server_side_ack(a->ud, nsp, request_id, json, len);
}

int sio_adapter_broadcast_with_ack(sio_nsp_t *nsp, const sio_target_t *t, const char *json,
                                   size_t len, const sio_packet_bin_t *atts, unsigned natts,
                                   long ack_id, unsigned timeout_ms, sio_reply_cb cb, void *ud)
{
    const sio_adapter_t *a = ADAPTER_OP(nsp->srv, broadcast_with_ack);
    return a ? a->broadcast_with_ack(a->ud, nsp, t, json, len, atts, natts, ack_id, timeout_ms, cb, ud)
             : -ENOTSUP;
}

void sio_adapter_broadcast_count(sio_nsp_t *nsp, const char *request_id, long count)
{
    const sio_adapter_t *a = ADAPTER_OP(nsp->srv, broadcast_count);
    if (a)
        a->broadcast_count(a->ud, nsp, request_id, count);
}

void sio_adapter_broadcast_ack(sio_nsp_t *nsp, const char *request_id, const char *json,
                               size_t len)
{
    const sio_adapter_t *a = ADAPTER_OP(nsp->srv, broadcast_ack);
    if (a)
        a->broadcast_ack(a->ud, nsp, request_id, json, len);
}

int sio_adapter_session_put(sio_server_t *srv, const char *pid, const char *json, size_t len,
                            unsigned ttl_ms)
{
    const sio_adapter_t *a = ADAPTER_OP(srv, session_put);
    return a ? a->session_put(a->ud, pid, json, len, ttl_ms) : -ENOTSUP;
}

int sio_adapter_session_take(sio_server_t *srv, const char *pid, sio_session_cb cb, void *ud)
{
    const sio_adapter_t *a = ADAPTER_OP(srv, session_take);
    return a ? a->session_take(a->ud, pid, cb, ud) : -ENOTSUP;
}

/* ---- what the adapter hands in ------------------------------------------- */

int sio_adapter_deliver_broadcast(sio_nsp_t *nsp, const sio_target_t *t, const char *json,
                                  size_t len, const sio_packet_bin_t *atts, unsigned natts)
{
    sio_out_t out;
    int rc = sio_out_build(&out, nsp->srv, SIO_PACKET_EVENT, nsp->name, -1, json, len, atts, natts);
    if (rc == 0) {
        sio_nsp_broadcast(nsp, t, &out);
        sio_out_release(&out);
    }
    /* Logged for recovery even when it could not be written here: a
     * client of that server may come back through this one. A dashboard
     * watching hears of every one, volatile too (its recipients here). */
    sio_server_t *srv = nsp->srv;
    if (((srv->opts.recovery && !t->volatile_) || (srv->watch & SIO_WATCH_EVENTS)) &&
        srv->h.on_remote_broadcast)
        srv->h.on_remote_broadcast(nsp, t, json, len, atts, natts, srv->ud);
    return rc;
}

void sio_adapter_deliver_server_side_emit(sio_nsp_t *nsp, const char *args, size_t len,
                                          const char *request_id)
{
    sio_server_t *srv = nsp->srv;
    if (srv->h.on_server_side_emit)
        srv->h.on_server_side_emit(nsp, args, len, request_id, srv->ud);
}

void sio_adapter_deliver_broadcast_with_ack(sio_nsp_t *nsp, const sio_target_t *t,
                                            const char *args, size_t len,
                                            const sio_packet_bin_t *atts, unsigned natts,
                                            const char *request_id, unsigned timeout_ms)
{
    sio_server_t *srv = nsp->srv;
    if (srv->h.on_broadcast_with_ack)
        srv->h.on_broadcast_with_ack(nsp, t, args, len, atts, natts, request_id, timeout_ms, srv->ud);
}

typedef struct room_list {
    sl_buf_t *out;
    int n;
} room_list_t;

static void describe_room(const char *room, size_t len, void *ud)
{
    room_list_t *l = ud;
    if (l->n++)
        sl_buf_append_byte(l->out, ',');
    sl_json_append_string(l->out, room, len);
}

void sio_adapter_describe_socket(sio_socket_t *s, sl_buf_t *out)
{
    sio_server_t *srv = s->nsp->srv;
    if (srv->h.describe_socket) {
        srv->h.describe_socket(s, out, srv->ud);
        return;
    }
    sl_buf_append_str(out, "{\"id\":");
    sl_json_append_string(out, s->id, strlen(s->id));
    sl_buf_append_str(out, ",\"handshake\":{},\"rooms\":[");
    room_list_t l = {out, 0};
    sio_socket_each_room(s, describe_room, &l);
    sl_buf_append_str(out, "],\"data\":{}}");
}

/* ---- sockets ------------------------------------------------------------ */

const char *sio_socket_id(const sio_socket_t *s) { return s->id; }
const char *sio_socket_session_id(const sio_socket_t *s) { return eio_session_id(client_eio(s->client)); }
sio_nsp_t *sio_socket_nsp(const sio_socket_t *s) { return s->nsp; }
int sio_socket_connected(const sio_socket_t *s) { return s->state == S_CONNECTED; }
void sio_socket_set_data(sio_socket_t *s, void *data) { s->data = data; }
void *sio_socket_data(const sio_socket_t *s) { return s->data; }
int sio_socket_recovered(const sio_socket_t *s) { return s->recovered; }
/* A handshake's URL that most WebSocket-only clients send, as it is: a
 * byte (COMMON_URL_CODE + its index, then NUL) in the client's block. */
static const char *const COMMON_URLS[] = {
    "/socket.io/?EIO=4&transport=websocket",
    "/socket.io/?EIO=3&transport=websocket",
};
#define COMMON_URL_CODE 0x01

static const char *handshake_url(const char *hs)
{
    unsigned char c = (unsigned char)hs[0];
    if (c >= COMMON_URL_CODE && c < COMMON_URL_CODE + sizeof COMMON_URLS / sizeof *COMMON_URLS)
        return COMMON_URLS[c - COMMON_URL_CODE];
    return hs;
}

void sio_socket_handshake(const sio_socket_t *s, sio_handshake_t *out)
{
    const sio_client_t *c = s->client;
    out->url = handshake_url(c->hs);
    const char *q = strchr(out->url, '?');
    out->query = q ? q + 1 : "";
    out->address = c->hs + strlen(c->hs) + 1;
    out->headers = out->address + strlen(out->address) + 1;
    out->nheaders = c->hs_nheaders;
    out->time_ms = c->hs_time_ms;
    out->secure = c->hs_secure;
}
const char *sio_socket_transport(const sio_socket_t *s)
{
    return s->client->closed ? "closed" : eio_session_transport(client_eio(s->client));
}

static sio_socket_t *socket_new(sio_client_t *c, sio_nsp_t *nsp)
{
    sio_socket_t *s = calloc(1, sizeof *s);
    if (!s || eio_random_id(s->id)) {
        free(s);
        return NULL;
    }
    s->nsp = nsp;
    s->client = c;
    s->client_next = c->sockets;
    c->sockets = s;
    return s;
}

static void client_unlink_socket(sio_client_t *c, sio_socket_t *s)
{
    for (sio_socket_t **pp = &c->sockets; *pp; pp = &(*pp)->client_next) {
        if (*pp == s) {
            *pp = s->client_next;
            return;
        }
    }
}

static void socket_free(sio_socket_t *s)
{
    sio_server_t *srv = client_srv(s->client);
    if (srv->h.on_free)
        srv->h.on_free(s, srv->ud);
    free(s);
}

int sio_socket_set_identity(sio_socket_t *s, const char *id)
{
    if (s->state != S_CONNECTING || strlen(id) >= sizeof s->id)
        return -EINVAL;
    strcpy(s->id, id);
    return 0;
}

void sio_server_recovery(const sio_server_t *srv, int *enabled, uint32_t *max_ms)
{
    *enabled = srv->opts.recovery;
    *max_ms = srv->opts.recovery_max_ms;
}

int sio_socket_accept(sio_socket_t *s, const char *pid)
{
    if (s->state != S_CONNECTING || s->client->closed)
        return -EPIPE;
    if (pid && strlen(pid) > 64)
        pid = NULL; /* ours are 20 characters */
    sio_client_t *c = s->client;
    sl_timerq_stop(&c->connect);
    if (sio_socket_join(s, s->id, strlen(s->id)))
        return -ENOMEM;
    s->state = S_CONNECTED;
    sio_nsp_t *nsp = s->nsp;
    s->nsp_next = nsp->sockets;
    if (nsp->sockets)
        nsp->sockets->nsp_prev = s;
    nsp->sockets = s;
    nsp->nsockets++;
    /* {"sid":"<id>"} or {"sid":"<id>","pid":"<pid>"}, copied together
     * rather than formatted: every CONNECT is answered with one. */
    char json[128];
    size_t il = strlen(s->id), pl = pid ? strlen(pid) : 0, n = 0;
    memcpy(json, "{\"sid\":\"", 8);
    n = 8;
    memcpy(json + n, s->id, il);
    n += il;
    if (pid) {
        memcpy(json + n, "\",\"pid\":\"", 9);
        n += 9;
        memcpy(json + n, pid, pl);
        n += pl;
    }
    memcpy(json + n, "\"}", 2);
    n += 2;
    if (eio_session_protocol(client_eio(c)) == 3) /* v2 clients: a bare CONNECT */
        return client_send_packet(c, SIO_PACKET_CONNECT, nsp->name, NULL, 0);
    return client_send_packet(c, SIO_PACKET_CONNECT, nsp->name, json, (size_t)n);
}

/* A JSON string literal for a message. */
static void json_string(sl_buf_t *b, const char *s)
{
    sl_json_append_string(b, s, strlen(s));
}

void sio_socket_refuse(sio_socket_t *s, const char *msg, const char *data_json, size_t data_len)
{
    if (s->state != S_CONNECTING)
        return;
    sio_client_t *c = s->client;
    sl_buf_t b = SL_BUF_INIT;
    if (eio_session_protocol(client_eio(c)) == 3) {
        json_string(&b, msg); /* v2 clients take a bare string */
    } else {
        sl_buf_append_str(&b, "{\"message\":");
        json_string(&b, msg);
        if (data_json && data_len) {
            sl_buf_append_str(&b, ",\"data\":");
            sl_buf_append(&b, data_json, data_len);
        }
        sl_buf_append_byte(&b, '}');
    }
    client_send_packet(c, SIO_PACKET_CONNECT_ERROR, s->nsp->name, b.data, b.len);
    sl_buf_free(&b);
    s->state = S_GONE;
    client_unlink_socket(c, s);
    socket_free(s);
}

/* Takes s out of its namespace and rooms, tells the layer above, frees it.
 * The client's list is the caller's business. */
static void socket_gone(sio_socket_t *s, const char *reason, int notify_up)
{
    sio_server_t *srv = client_srv(s->client);
    if (s->state == S_GONE || s->state == S_LEAVING)
        return;
    int was_connected = s->state == S_CONNECTED;
    s->state = S_LEAVING;
    /* As Node: "disconnecting" while the socket is still in its rooms, then
     * it leaves them and its namespace, then "disconnect". */
    if (was_connected && notify_up && srv->h.on_disconnecting)
        srv->h.on_disconnecting(s, reason, srv->ud);
    if (was_connected) {
        sio_nsp_t *nsp = s->nsp;
        if (s->nsp_prev)
            s->nsp_prev->nsp_next = s->nsp_next;
        else
            nsp->sockets = s->nsp_next;
        if (s->nsp_next)
            s->nsp_next->nsp_prev = s->nsp_prev;
        nsp->nsockets--;
    }
    socket_leave_all(s);
    s->state = S_GONE;
    if (was_connected && notify_up && srv->h.on_disconnect)
        srv->h.on_disconnect(s, reason, srv->ud);
    socket_free(s);
}

void sio_socket_disconnect(sio_socket_t *s, int close_conn)
{
    if (s->state != S_CONNECTED)
        return;
    sio_client_t *c = s->client;
    if (close_conn) {
        client_send_packet(c, SIO_PACKET_DISCONNECT, s->nsp->name, NULL, 0);
        client_unlink_socket(c, s);
        socket_gone(s, "server namespace disconnect", 1);
        client_close(c, "forced server close");
        eio_session_close(client_eio(c));
        return;
    }
    client_send_packet(c, SIO_PACKET_DISCONNECT, s->nsp->name, NULL, 0);
    client_unlink_socket(c, s);
    socket_gone(s, "server namespace disconnect", 1);
}

/* ---- clients (one per Engine.IO session) -------------------------------- */

static void reasm_free_cb(void *p)
{
    sio_packet_reasm_free(p);
    free(p);
}

/* A client lives in its Engine.IO session's allocation (eio_handler_t's
 * data_size), so its memory goes with the session's, later in the loop
 * turn in which the session is done (callers up the stack still read
 * it; every client_close is followed by the session's close). A binary
 * packet being put together (rare) goes then too: its attachments may be
 * what a caller up the stack is handing out. */
static void eio_on_free(eio_session_t *e, void *ud)
{
    sio_server_t *srv = ud;
    sio_client_t *c = eio_session_extra(e);
    if (!c->reasm.st)
        return;
    sio_packet_reasm_t *r = malloc(sizeof *r);
    if (r) {
        *r = c->reasm;
        c->reasm.st = NULL;
        if (!sl_defer(srv->loop, reasm_free_cb, r))
            return;
        c->reasm = *r;
        free(r);
    }
    SL_ERROR("sio", "out of memory to defer a client's packet buffers' free; freed at once");
    sio_packet_reasm_free(&c->reasm);
}

/* Every socket of the client leaves with reason; the client is unlinked
 * now (its memory goes with its session's, see eio_on_free). Idempotent. */
static void client_close(sio_client_t *c, const char *reason)
{
    if (c->closed)
        return;
    c->closed = 1;
    sio_server_t *srv = client_srv(c);
    sl_timerq_stop(&c->connect);
    while (c->sockets) {
        sio_socket_t *s = c->sockets;
        c->sockets = s->client_next;
        socket_gone(s, reason, 1);
    }
    srv->nclients--;
}

/* A client joined no namespace within connect_timeout. */
static void connect_timeout_cb(sl_timerq_t *q, sl_timerq_entry_t *e)
{
    sio_server_t *srv = q->data;
    sio_client_t *c = SL_CONTAINER_OF(e, sio_client_t, connect);
    /* A client that never joins is what a handshake flood leaves: one
     * line per interval with the count, not one per client. */
    SL_LOG_EVERYF(&srv->timeouts, SL_LOG_INFO, "sio",
                  SL_LOG_FIELDS("sid", eio_session_id(client_eio(c)), "reason", "connect timeout"),
                  "session %s joined no namespace within %u ms, closing", eio_session_id(client_eio(c)),
                  srv->opts.connect_timeout_ms);
    eio_session_t *es = client_eio(c);
    client_close(c, "connect timeout");
    eio_session_close(es);
}

/* The handshake's headers, as most clients send them, are a byte each in
 * the client's block: a whole header (name and value) is 0x10 + its index
 * in COMMON_HEADERS, a name alone 0x01 + its index in COMMON_NAMES,
 * followed by the value; any other header is its name (lower-cased) and
 * value, each NUL-terminated. Header names never hold bytes under 0x21, so
 * a record says which it is by its first byte. The headers of an idle
 * connection were three quarters of its handshake copy. */
static const char *const COMMON_NAMES[] = {
    "host", "upgrade", "connection", "sec-websocket-key", "sec-websocket-version",
    "sec-websocket-extensions", "user-agent", "origin", "accept-encoding", "accept-language",
    "cache-control", "pragma", "cookie", "accept", "x-forwarded-for",
};
static const char *const COMMON_HEADERS[][2] = {
    {"upgrade", "websocket"},
    {"connection", "Upgrade"},
    {"connection", "upgrade"},
    {"connection", "keep-alive"},
    {"sec-websocket-version", "13"},
    {"sec-websocket-extensions", "permessage-deflate; client_max_window_bits"},
    {"cache-control", "no-cache"},
    {"pragma", "no-cache"},
    {"accept-encoding", "gzip, deflate, br"},
    {"accept-encoding", "gzip, deflate"},
    {"accept", "*/*"},
};
#define COMMON_NAME_CODE 0x01
#define COMMON_HEADER_CODE 0x10

void sio_handshake_header(const char **at, const char **name, const char **value)
{
    const unsigned char c = (unsigned char)**at;
    if (c >= COMMON_HEADER_CODE && c < COMMON_HEADER_CODE + 16) {
        *name = COMMON_HEADERS[c - COMMON_HEADER_CODE][0];
        *value = COMMON_HEADERS[c - COMMON_HEADER_CODE][1];
        *at += 1;
        return;
    }
    if (c >= COMMON_NAME_CODE && c < COMMON_HEADER_CODE) {
        *name = COMMON_NAMES[c - COMMON_NAME_CODE];
        *value = *at + 1;
    } else {
        *name = *at;
        *value = *at + strlen(*at) + 1;
    }
    *at = *value + strlen(*value) + 1;
}

#define NCOMMON_NAMES (sizeof COMMON_NAMES / sizeof *COMMON_NAMES)
#define NCOMMON_HEADERS (sizeof COMMON_HEADERS / sizeof *COMMON_HEADERS)

/* A header's record code: COMMON_HEADER_CODE + k for the first
 * COMMON_HEADERS[k] with its name (any case) and value, else
 * COMMON_NAME_CODE + k for COMMON_NAMES[k], else 0. Every handshake's
 * headers go through here twice, so the tables made at the first call
 * chain the names of each length (a header is compared with the one to
 * four names of its own length, first byte first) and each name's whole
 * headers, with their values' lengths. */
static unsigned char header_code(const char *name, size_t nl, const char *value, size_t vl)
{
    enum { LONGEST = 32 };
    static signed char by_len[LONGEST], next_name[NCOMMON_NAMES], first_header[NCOMMON_NAMES],
        next_header[NCOMMON_HEADERS];
    static unsigned char value_len[NCOMMON_HEADERS], ready;
    if (!ready) {
        memset(by_len, -1, sizeof by_len);
        for (int k = (int)NCOMMON_NAMES - 1; k >= 0; k--) {
            size_t l = strlen(COMMON_NAMES[k]);
            next_name[k] = l < LONGEST ? by_len[l] : -1;
            if (l < LONGEST)
                by_len[l] = (signed char)k;
            first_header[k] = -1;
        }
        /* Chained in reverse so that each chain keeps the tables' order. */
        for (int j = (int)NCOMMON_HEADERS - 1; j >= 0; j--) {
            value_len[j] = (unsigned char)strlen(COMMON_HEADERS[j][1]);
            next_header[j] = -1;
            for (unsigned k = 0; k < NCOMMON_NAMES; k++)
                if (!strcmp(COMMON_HEADERS[j][0], COMMON_NAMES[k])) {
                    next_header[j] = first_header[k];
                    first_header[k] = (signed char)j;
                }
        }
        ready = 1;
    }
    if (nl >= LONGEST)
        return 0;
    int k = by_len[nl];
    unsigned char c0 = (unsigned char)name[0];
    if (c0 >= 'A' && c0 <= 'Z')
        c0 += 'a' - 'A';
    while (k >= 0 && (c0 != (unsigned char)COMMON_NAMES[k][0] || strcasecmp(name, COMMON_NAMES[k])))
        k = next_name[k];
    if (k < 0)
        return 0;
    for (int j = first_header[k]; j >= 0; j = next_header[j])
        if (value_len[j] == vl && !memcmp(value, COMMON_HEADERS[j][1], vl))
            return (unsigned char)(COMMON_HEADER_CODE + j);
    return (unsigned char)(COMMON_NAME_CODE + k);
}

/* Writes the handshake's block to out (NULL: only counts): the URL (the
 * query is its tail), the address and every header record, because the
 * request is gone once the handshake is answered. Returns its size. */
static size_t handshake_write(const sl_http_req_t *req, char *out, hs_plan_t *plan)
{
    /* The counting pass (out NULL) leaves its findings in plan for the
     * writing pass of the same request, which follows at once
     * (eio_data_size, then eio_on_open); any other writes as it counts. */
    int planned = out && plan->req == req && plan->nheaders == req->nheaders;
    int planning = !out && req->nheaders <= HS_PLAN_MAX;
    plan->req = planning ? req : NULL;
    plan->nheaders = req->nheaders;
    size_t n = 0;
#define PUT(src, len)                                                          \
    do {                                                                       \
        if (out)                                                               \
            memcpy(out + n, src, len);                                         \
        n += len;                                                              \
    } while (0)
    /* The URL first (a byte when common: URLs hold no control bytes). */
    unsigned char url_code = 0;
    if (planned) {
        url_code = plan->url_code;
    } else {
        for (unsigned k = 0; !url_code && k < sizeof COMMON_URLS / sizeof *COMMON_URLS; k++)
            if (!strcmp(req->url, COMMON_URLS[k]))
                url_code = (unsigned char)(COMMON_URL_CODE + k);
        plan->url_code = url_code;
    }
    if (url_code) {
        PUT(&url_code, 1);
        PUT("", 1);
    } else {
        PUT(req->url, strlen(req->url) + 1);
    }
    PUT(req->address, strlen(req->address) + 1);
    for (int i = 0; i < req->nheaders; i++) {
        const char *name = req->headers[i].name, *value = req->headers[i].value;
        size_t nl, vl;
        unsigned char code;
        if (planned) {
            code = plan->code[i];
            nl = plan->name_len[i];
            vl = plan->value_len[i];
        } else {
            nl = strlen(name);
            vl = strlen(value) + 1;
            code = header_code(name, nl, value, vl - 1);
            if (planning) {
                plan->code[i] = code;
                plan->name_len[i] = (uint32_t)nl;
                plan->value_len[i] = (uint32_t)vl;
            }
        }
        if (code >= COMMON_HEADER_CODE) {
            PUT(&code, 1);
            continue;
        }
        if (code) {
            PUT(&code, 1);
        } else {
            if (out)
                for (size_t k = 0; k < nl; k++)
                    out[n + k] = (char)(name[k] >= 'A' && name[k] <= 'Z' ? name[k] + 32 : name[k]);
            n += nl;
            PUT("", 1);
        }
        PUT(value, vl);
    }
#undef PUT
    return n;
}

static void client_copy_handshake(sio_client_t *c, const sl_http_req_t *req)
{
    handshake_write(req, c->hs, &client_srv(c)->hs_plan);
    c->hs_nheaders = req->nheaders;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    c->hs_time_ms = (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
    c->hs_secure = req->secure != 0;
}

/* Whether the C string name is the len bytes at nsp (which may hold a
 * NUL: never a name's). A walk, where strlen and memcmp cost two calls a
 * packet for names most often one byte long ("/"). */
static int nsp_name_is(const char *name, const char *nsp, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (name[i] != nsp[i] || name[i] == '\0')
            return 0;
    return name[len] == '\0';
}

static sio_socket_t *client_socket_for(sio_client_t *c, const char *nsp, size_t len)
{
    for (sio_socket_t *s = c->sockets; s; s = s->client_next)
        if (nsp_name_is(s->nsp->name, nsp, len))
            return s;
    return NULL;
}

/* CONNECT_ERROR "Invalid namespace" for nsp, bytes as the client sent
 * them: its client files the answer under that name, whatever it holds. */
static void client_refuse_nsp(sio_client_t *c, const char *nsp, size_t len)
{
    const char *msg = eio_session_protocol(client_eio(c)) == 3 ? "\"Invalid namespace\""
                                                        : "{\"message\":\"Invalid namespace\"}";
    sio_packet_t pkt = {.type = SIO_PACKET_CONNECT_ERROR, .nsp = nsp, .nsp_len = len,
                        .payload = msg, .payload_len = strlen(msg)};
    /* In the client's parser (not sio_out_build: the name may hold NUL). */
    int msgpack = client_srv(c)->opts.parser == SIO_PARSER_MSGPACK;
    sl_buf_t b = SL_BUF_INIT;
    int rc = msgpack ? sio_packet_msgpack_encode(&b, &pkt, NULL, 0) : sio_packet_encode(&b, &pkt);
    if (!rc && !c->closed)
        eio_session_send(client_eio(c), msgpack ? EIO_SEND_BINARY : 0, b.data, b.len);
    sl_buf_free(&b);
}

static void client_on_connect(sio_client_t *c, const sio_packet_t *pkt)
{
    sio_server_t *srv = client_srv(c);
    char name[SIO_NSP_NAME_MAX + 1];
    /* Names are C strings from here up (and in Lua): one holding NUL
     * would be cut there and join another namespace ("/chat\0x" would be
     * "/chat"). Node takes NUL as any byte, so such a name is one no
     * namespace has: refused as unknown, under the name as sent, and so
     * is a name over the limit. */
    if (pkt->nsp_len > SIO_NSP_NAME_MAX || memchr(pkt->nsp, '\0', pkt->nsp_len)) {
        client_refuse_nsp(c, pkt->nsp, pkt->nsp_len);
        return;
    }
    memcpy(name, pkt->nsp, pkt->nsp_len);
    name[pkt->nsp_len] = '\0';
    /* v2 clients put the query in the namespace: "/nsp?x=1". */
    char *q = strchr(name, '?');
    if (q)
        *q = '\0';
    if (client_socket_for(c, name, strlen(name)))
        return; /* already connected or connecting there */
    const char *auth = pkt->payload ? pkt->payload : "{}";
    size_t auth_len = pkt->payload ? pkt->payload_len : 2;
    sio_nsp_t *nsp = sio_server_find_nsp(srv, name);
    if (!nsp && srv->h.resolve_nsp)
        nsp = srv->h.resolve_nsp(srv, name, auth, auth_len, srv->ud);
    if (!nsp) {
        client_refuse_nsp(c, name, strlen(name));
        return;
    }
    sio_socket_t *s = socket_new(c, nsp);
    if (!s)
        return;
    if (srv->h.on_connecting)
        srv->h.on_connecting(s, auth, auth_len, srv->ud);
    else
        sio_socket_accept(s, NULL);
}

/* Every whole packet of either parser comes through here. */
static void client_on_packet(sio_client_t *c, const sio_packet_t *pkt, const sio_packet_bin_t *atts)
{
    sio_server_t *srv = client_srv(c);
    srv->stats.packets_received++;
    if (pkt->type == SIO_PACKET_CONNECT) {
        client_on_connect(c, pkt);
        return;
    }
    sio_socket_t *s = client_socket_for(c, pkt->nsp, pkt->nsp_len);
    if (!s || s->state != S_CONNECTED)
        return; /* as the reference: packets for an unjoined namespace are dropped */
    switch (pkt->type) {
    case SIO_PACKET_DISCONNECT:
        client_unlink_socket(c, s);
        socket_gone(s, "client namespace disconnect", 1);
        break;
    case SIO_PACKET_EVENT:
    case SIO_PACKET_BINARY_EVENT:
    case SIO_PACKET_ACK:
    case SIO_PACKET_BINARY_ACK:
        if (srv->h.on_packet)
            srv->h.on_packet(s, pkt, atts, pkt->attachments, srv->ud);
        break;
    default:
        break;
    }
}

/* The client and its handshake block, in the session's allocation. */
static size_t eio_data_size(const sl_http_req_t *req, void *ud)
{
    sio_server_t *srv = ud;
    return offsetof(sio_client_t, hs) + handshake_write(req, NULL, &srv->hs_plan);
}

static void eio_on_open(eio_session_t *e, const sl_http_req_t *req, void *ud)
{
    sio_server_t *srv = ud;
    sio_client_t *c = eio_session_extra(e); /* zeroed */
    client_copy_handshake(c, req);
    sio_packet_reasm_init(&c->reasm);
    if (sl_timerq_start(&srv->connect_due, &c->connect, srv->opts.connect_timeout_ms)) {
        eio_session_close(e);
        return;
    }
    srv->nclients++;
    eio_session_set_data(e, c);
    if (srv->watch & SIO_WATCH_TRAFFIC)
        traffic_add(srv, SIO_TRAFFIC_OPENED, 0);
    if (eio_session_protocol(e) == 3) {
        /* Socket.IO v2 (protocol 4) joins "/" implicitly at open. */
        sio_packet_t pkt = {.type = SIO_PACKET_CONNECT, .nsp = "/", .nsp_len = 1};
        client_on_connect(c, &pkt);
    }
}

/* A client that speaks the other parser (Node closes it too): said at warn
 * level with a hint, since it is a deployment mistake rather than noise.
 * A msgpack packet is a map, whose first byte is 0x80..0x8f for the few
 * keys the parser writes. */
static const char *parser_mismatch(const sio_client_t *c, int err, const char *data, size_t n)
{
    if (err == SIO_PACKET_E_TEXT_MESSAGE)
        return "the server uses the msgpack parser (a client with the default parser?)";
    if (err == SIO_PACKET_E_UNEXPECTED_BINARY && client_srv(c)->opts.parser == SIO_PARSER_DEFAULT && n &&
        ((unsigned char)data[0] & 0xf0) == 0x80)
        return "the server uses the default parser (a client with the msgpack parser?)";
    return NULL;
}

static void client_protocol_error(sio_client_t *c, int err, const char *data, size_t n)
{
    const char *sid = eio_session_id(client_eio(c)), *hint = parser_mismatch(c, err, data, n);
    /* Any client can send a broken packet at will: once per interval. */
    SL_LOG_EVERYF(&client_srv(c)->broken, hint ? SL_LOG_WARN : SL_LOG_INFO, "sio",
                  SL_LOG_FIELDS("sid", sid, "reason", "parse error"), "session %s: %s%s%s, closing", sid,
                  sio_packet_strerror(err), hint ? ": " : "", hint ? hint : "");
    eio_session_t *e = client_eio(c);
    client_close(c, "parse error");
    eio_session_close(e);
}

/* socket.io-msgpack-parser: every packet is one binary message. */
static void client_on_msgpack(sio_client_t *c, int binary, const char *data, size_t n)
{
    sio_server_t *srv = client_srv(c);
    sio_packet_mp_t local = SIO_PACKET_MP_INIT, *mp = srv->mp_busy ? &local : &srv->mp;
    sio_packet_t pkt;
    const sio_packet_bin_t *bins;
    int rc = binary ? sio_packet_msgpack_decode(mp, data, n, &pkt, &bins) : SIO_PACKET_E_TEXT_MESSAGE;
    if (rc) {
        client_protocol_error(c, rc, data, n);
    } else {
        int outer = mp == &srv->mp;
        srv->mp_busy = 1;
        client_on_packet(c, &pkt, bins);
        if (outer)
            srv->mp_busy = 0;
    }
    /* Keep the shared buffers for the next message unless one was large. */
    if (mp == &local || mp->json.cap > 65536 || mp->bins.cap > 4096)
        sio_packet_mp_free(mp);
}

static void eio_on_message(eio_session_t *e, int binary, const char *data, size_t n, void *ud)
{
    sio_server_t *srv = ud;
    sio_client_t *c = eio_session_data(e);
    if (!c || c->closed)
        return;
    if (srv->watch & SIO_WATCH_TRAFFIC)
        traffic_add(srv, SIO_TRAFFIC_PACKETS_IN, n);
    if (client_srv(c)->opts.parser == SIO_PARSER_MSGPACK) {
        client_on_msgpack(c, binary, data, n);
        return;
    }
    sio_packet_t pkt;
    int rc = binary ? sio_packet_reasm_binary(&c->reasm, data, n, &pkt)
                    : sio_packet_reasm_text(&c->reasm, data, n, &pkt);
    if (rc < 0) {
        client_protocol_error(c, rc, data, n);
        return;
    }
    if (rc == SIO_PACKET_READY)
        client_on_packet(c, &pkt, sio_packet_reasm_bins(&c->reasm));
}

static void eio_on_close(eio_session_t *e, const char *reason, void *ud)
{
    sio_server_t *srv = ud;
    sio_client_t *c = eio_session_data(e);
    if (!c)
        return;
    if (srv->watch & SIO_WATCH_TRAFFIC)
        traffic_closed(srv, reason);
    eio_session_set_data(e, NULL);
    /* Engine.IO's reasons are the Socket.IO ones, except a server-side close. */
    if (!strcmp(reason, "forced close"))
        reason = "forced server close";
    client_close(c, reason);
}

/* The dashboard shows each socket's transport: tell the watcher. */
static void eio_on_upgrade(eio_session_t *e, void *ud)
{
    sio_server_t *srv = ud;
    sio_client_t *c = eio_session_data(e);
    if (!c || c->closed || !(srv->watch & SIO_WATCH_EVENTS) || !srv->h.on_transport)
        return;
    for (sio_socket_t *s = c->sockets, *next; s; s = next) {
        next = s->client_next;
        if (s->state == S_CONNECTED)
            srv->h.on_transport(s, eio_session_transport(e), srv->ud);
    }
}

static const char *eio_allow_request(const sl_http_req_t *req, void *ud)
{
    sio_server_t *srv = ud;
    return srv->allow_request ? srv->allow_request(req, srv->allow_ud) : NULL;
}

static const eio_handler_t sio_eio_handler = {
    .allow_request = eio_allow_request,
    .on_open = eio_on_open,
    .on_message = eio_on_message,
    .on_close = eio_on_close,
    .on_upgrade = eio_on_upgrade,
    .data_size = eio_data_size,
    .on_free = eio_on_free,
};

/* ---- server ------------------------------------------------------------- */

sio_server_t *sio_server_new(uv_loop_t *loop, const eio_options_t *eopts,
                             const sio_options_t *opts, const sio_handler_t *h, void *ud)
{
    sio_server_t *srv = calloc(1, sizeof *srv);
    if (!srv)
        return NULL;
    srv->loop = loop;
    srv->opts = *opts;
    srv->h = *h;
    srv->ud = ud;
    srv->eio = eio_server_new(loop, eopts, &sio_eio_handler, srv);
    sl_timerq_init(&srv->connect_due, loop, connect_timeout_cb, srv);
    if (!srv->eio || !sio_server_of(srv, "/")) {
        eio_server_free(srv->eio);
        free(srv);
        return NULL;
    }
    return srv;
}

eio_server_t *sio_server_eio(sio_server_t *srv) { return srv->eio; }
sio_options_t *sio_server_options_mut(sio_server_t *srv) { return &srv->opts; }
size_t sio_server_client_count(const sio_server_t *srv) { return srv->nclients; }
const sio_stats_t *sio_server_stats(const sio_server_t *srv) { return &srv->stats; }

void sio_server_set_allow_request(sio_server_t *srv,
                                  const char *(*cb)(const sl_http_req_t *req, void *ud), void *ud)
{
    srv->allow_request = cb;
    srv->allow_ud = ud;
}

typedef struct session_list {
    eio_session_t **all;
    size_t n;
} session_list_t;

static void session_list_cb(eio_session_t *e, void *ud)
{
    session_list_t *l = ud;
    l->all[l->n++] = e;
}

void sio_server_close_all(sio_server_t *srv)
{
    /* The sessions first, then each client: a client's disconnect
     * handlers may close other sessions (they stay in memory until later
     * in the loop turn, and their clients are then closed already). */
    size_t n = eio_server_session_count(srv->eio);
    session_list_t l = {n ? malloc(n * sizeof *l.all) : NULL, 0};
    if (l.all)
        eio_server_each_session(srv->eio, session_list_cb, &l);
    else if (n)
        SL_ERROR("sio", "out of memory to list the clients at shutdown: their sessions close without them");
    for (size_t i = 0; i < l.n; i++) {
        sio_client_t *c = eio_session_data(l.all[i]);
        if (!c || c->closed)
            continue;
        client_close(c, "server shutting down");
        eio_session_set_data(l.all[i], NULL);
    }
    free(l.all);
    eio_server_close_all(srv->eio);
}

void sio_server_free(sio_server_t *srv)
{
    if (!srv)
        return;
    sl_timerq_close(&srv->connect_due);
    while (srv->nsps) {
        sio_nsp_t *n = srv->nsps;
        srv->nsps = n->next;
        nsp_free(n);
    }
    eio_server_free(srv->eio);
    sio_packet_mp_free(&srv->mp);
    free(srv);
}
