/* L5a cluster/sio_redis: Redis adapter, classic or sharded. See sio_redis.h.
 *
 *   sio_nsp_emit --adapter.broadcast--> mode->broadcast --pub link--> Redis
 *   Redis --sub link (classic) / ssub (sharded)--> msgpack -> JSON + attachments
 *        --> sio_adapter_deliver_broadcast (local sockets only)
 *   sio_adapter_fetch_sockets ... --> request framing (mode) --> pending
 *        <-- answers (on_response / on_cluster_response) <-- Redis
 *
 * The two wire protocols differ in framing, channels and verbs, not in
 * what a request does: what differs is one table of functions per mode
 * (classic_mode, sharded_mode at the end of this file), chosen once in
 * sio_redis_new; the requests, the pending answers and the handling of
 * other servers' requests are written once, above them.
 * JSON requests from other nodes are turned into msgpack first
 * (sl_mpjson_from_json), so one msgpack reader serves both encodings. */
#include "cluster/sio_redis.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <msgpuck.h>

#include "base/log.h"
#include "sio/mpjson.h"
#include "cluster/node_registry.h"
#include "cluster/redis_link.h"
#include "cluster/redis_sub.h"
#include "cluster/sio_cluster.h"

enum {
    REQ_SOCKETS = 0,
    REQ_ALL_ROOMS = 1,
    REQ_REMOTE_JOIN = 2,
    REQ_REMOTE_LEAVE = 3,
    REQ_REMOTE_DISCONNECT = 4,
    REQ_REMOTE_FETCH = 5,
    REQ_SERVER_SIDE_EMIT = 6,
    REQ_BROADCAST = 7,
};

typedef struct redis_mode redis_mode_t;

struct sio_redis {
    uv_loop_t *loop;
    sio_server_t *sio;
    sio_redis_opts_t opts;
    const redis_mode_t *mode;   /* the wire protocol: classic or sharded */
    char uid[8];
    /* Sharded mode: the uid of our ClusterAdapter messages (the node id
     * and 10 more characters, 16 like Node's), naming our response
     * channel, which a room name is then unlikely to collide with. */
    char cuid[20];
    sl_redis_link_t *pub;       /* commands: publishing, counting, keys */
    sl_redis_sub_t *sub;        /* channels and patterns (classic), shard channels (sharded) */
    int publish_down_logged;
    unsigned ping_ms;           /* the subscribers' ping, and their watchdog */
    struct pending *pending;
    /* No sticky sessions: this node's relay address and the others'. */
    sl_node_registry_t *nodes;
    uv_timer_t announce;     /* every second: the registry's tick */
    int announce_on;
};

/* A request of ours waiting for the other servers' answers. */
typedef struct pending {
    struct pending *next;
    sio_redis_t *r;
    char id[16];
    int type;
    char nsp[256];
    const char *field;     /* what to gather from each answer */
    int expected, got;
    sl_buf_t body;         /* the request, published once NUMSUB is known */
    sl_buf_t items;
    sio_reply_cb cb;
    void *ud;
    uv_timer_t timer;
    int done;
    int refs;              /* the timer handle, and the NUMSUB reply */
    unsigned timeout_ms;
    /* Broadcasts with acks: servers that told their client count, the
     * clients that will answer, and the answers so far. */
    int servers_counted;
    long clients_expected;
    long acks;
} pending_t;

/* What differs between the two wire protocols: classic pub/sub
 * (createAdapter: PUBLISH on <key>#..., requests and responses on
 * <key>-request# / <key>-response#, JSON or msgpack) and sharded pub/sub
 * (createShardedAdapter: SPUBLISH, socket.io-adapter's ClusterAdapter
 * messages on <key>#<nsp># and each server's own <key>#<nsp>#<uid>#).
 * kind is a request type as the classic adapter numbers them (REQ_*). */
struct redis_mode {
    const char *publish;       /* the publishing verb */
    const char *numsub;        /* how subscribers of a channel are counted */
    const char *sse_field;     /* where serverSideEmit's arguments go */
    const char *opts_extra;    /* appended inside a request's "opts" */
    int all_rooms;             /* has an allRooms request */
    const char *(*uid)(const sio_redis_t *r);
    /* Starts hearing the cluster (each namespace's channels are added by
     * nsp_created). */
    int (*subscribe)(sio_redis_t *r);
    void (*nsp_created)(void *ud, sio_nsp_t *nsp);
    /* A broadcast of ours: its message and channel. */
    int (*broadcast)(const sio_redis_t *r, sl_buf_t *msg, sl_buf_t *ch, const char *nsp,
                     const sio_target_t *t, unsigned flags, const char *json, size_t len,
                     const sio_packet_bin_t *atts, unsigned natts);
    /* Our requests: where they go (and whose subscribers are counted),
     * and their JSON framing: open, fields, close. */
    void (*request_channel)(sl_buf_t *ch, const sio_redis_t *r, const char *nsp);
    void (*req_open)(const sio_redis_t *r, sl_buf_t *b, int kind);
    void (*req_close)(const sio_redis_t *r, sl_buf_t *b, const char *nsp, const char *request_id);
    /* A broadcast with acks of ours (q->id is its request id). */
    int (*broadcast_with_ack)(const sio_redis_t *r, sl_buf_t *b, const char *request_id,
                              const char *nsp, const sio_target_t *t, const char *json, size_t len,
                              const sio_packet_bin_t *atts, unsigned natts, long ack_id,
                              unsigned timeout_ms);
    /* Answers to other servers' requests. begin_response opens one to
     * request rid (kind: the request answered), the caller appends
     * ,"field":value pairs and finish_response closes and publishes it;
     * -1: rid can't be answered. */
    int (*begin_response)(const sio_redis_t *r, sl_buf_t *b, const char *rid, int kind);
    void (*finish_response)(sio_redis_t *r, sio_nsp_t *nsp, sl_buf_t *body, const char *rid);
    void (*server_side_ack)(sio_redis_t *r, sio_nsp_t *nsp, const char *rid, const char *json,
                            size_t len);
    void (*broadcast_count)(sio_redis_t *r, sio_nsp_t *nsp, const char *rid, long count);
    void (*broadcast_ack)(sio_redis_t *r, sio_nsp_t *nsp, const char *rid, const char *json,
                          size_t len);
    /* Channels per room (NULL: none); see sio_adapter_t. */
    void (*room_created)(void *ud, sio_nsp_t *nsp, const char *room, size_t len, int is_private);
    void (*room_deleted)(void *ud, sio_nsp_t *nsp, const char *room, size_t len, int is_private);
};

void sio_redis_opts_init(sio_redis_opts_t *o)
{
    memset(o, 0, sizeof *o);
    strcpy(o->key, "socket.io");
    o->requests_timeout_ms = 5000;
    o->command_timeout_ms = 5000;
    strcpy(o->label, "redis");
}

const char *sio_redis_uid(const sio_redis_t *r) { return r->mode->uid(r); }

int sio_redis_up(const sio_redis_t *r)
{
    return sl_redis_link_up(r->pub) && sl_redis_sub_up(r->sub);
}

/* ---- msgpack into an sl_buf --------------------------------------------- */

static void mp_put_cstr(sl_buf_t *b, const char *s) { sl_mpjson_put_str(b, s, strlen(s)); }

static void mp_put_rooms(sl_buf_t *b, const sio_slice_t *v, size_t n)
{
    sl_mpjson_put_array(b, (uint32_t)n);
    for (size_t i = 0; i < n; i++)
        sl_mpjson_put_str(b, v[i].p, v[i].len);
}

/* ---- publishing ----------------------------------------------------------- */

static void channel_name(sl_buf_t *ch, const sio_redis_t *r, const char *kind, const char *nsp)
{
    sl_buf_appendf(ch, "%s%s#%s#", r->opts.key, kind, nsp);
}

/* PUBLISH, or SPUBLISH in sharded mode (in a cluster: on the master of
 * the channel's slot). What can't be published is dropped: said once while
 * Redis is away as a whole (a cluster's master between its loss and the
 * failover is told by the link, once). */
static void publish(sio_redis_t *r, const char *channel, size_t clen, const char *msg, size_t mlen)
{
    const char *verb = r->mode->publish;
    const char *argv[3] = {verb, channel, msg};
    size_t lens[3] = {strlen(verb), clen, mlen};
    if (sl_redis_link_command(r->pub, NULL, NULL, 3, argv, lens, 0) == 0)
        return;
    if (!r->publish_down_logged && !sl_redis_link_up(r->pub)) {
        SL_WARN("adapter", "%s is unavailable: broadcasts reach this server's clients only", r->opts.label);
        r->publish_down_logged = 1;
    }
}

/* [uid, {type, data, nsp}, {rooms, except, flags}], keys in the order
 * Node's adapter (and its emitter) produce them. */
/* The event packet {type: 2, data, nsp[, id]} (id < 0: none). */
static int put_packet(sl_buf_t *msg, const char *nsp, const char *json, size_t len,
                      const sio_packet_bin_t *atts, unsigned natts, long id)
{
    sl_mpjson_put_map(msg, id >= 0 ? 4 : 3);
    mp_put_cstr(msg, "type");
    sl_mpjson_put_number(msg, 2);
    mp_put_cstr(msg, "data");
    int rc = sl_mpjson_from_json(msg, json, len, atts, natts);
    if (rc != 0)
        return rc;
    mp_put_cstr(msg, "nsp");
    mp_put_cstr(msg, nsp);
    if (id >= 0) {
        mp_put_cstr(msg, "id");
        sl_mpjson_put_number(msg, (double)id);
    }
    return 0;
}

/* {rooms, except, flags} with flags {volatile: true} or {timeout}, and
 * compress: false for a compress(false) broadcast (as Node's flags object
 * has them), or {}. */
static void put_opts(sl_buf_t *msg, const sio_target_t *t, unsigned flags, unsigned timeout_ms)
{
    sl_mpjson_put_map(msg, 3);
    mp_put_cstr(msg, "rooms");
    mp_put_rooms(msg, t->rooms, t->nrooms);
    mp_put_cstr(msg, "except");
    mp_put_rooms(msg, t->except, t->nexcept);
    mp_put_cstr(msg, "flags");
    int plain = (flags & SIO_FLAG_PLAIN) != 0;
    sl_mpjson_put_map(msg, (timeout_ms || (flags & SIO_FLAG_VOLATILE)) + (uint32_t)plain);
    if (timeout_ms) {
        mp_put_cstr(msg, "timeout");
        sl_mpjson_put_number(msg, timeout_ms);
    } else if (flags & SIO_FLAG_VOLATILE) {
        mp_put_cstr(msg, "volatile");
        sl_mpjson_put_bool(msg, 1);
    }
    if (plain) {
        mp_put_cstr(msg, "compress");
        sl_mpjson_put_bool(msg, 0);
    }
}

static int build_broadcast(sl_buf_t *msg, const char *uid, const char *nsp, const sio_target_t *t,
                           unsigned flags, const char *json, size_t len,
                           const sio_packet_bin_t *atts, unsigned natts)
{
    sl_mpjson_put_array(msg, 3);
    mp_put_cstr(msg, uid);
    int rc = put_packet(msg, nsp, json, len, atts, natts, -1);
    if (rc != 0)
        return rc;
    put_opts(msg, t, flags, 0);
    return 0;
}

/* <key>#<nsp># or, for exactly one room, <key>#<nsp>#<room># */
static void broadcast_channel(sl_buf_t *ch, const char *key, const char *nsp, const sio_target_t *t)
{
    sl_buf_appendf(ch, "%s#%s#", key, nsp);
    if (t->nrooms == 1) {
        sl_buf_append(ch, t->rooms[0].p, t->rooms[0].len);
        sl_buf_append_byte(ch, '#');
    }
}

int sio_redis_emitter_message(sl_buf_t *msg, sl_buf_t *channel, const char *key, const char *nsp,
                              const sio_target_t *t, const char *json, size_t len,
                              const sio_packet_bin_t *atts, unsigned natts)
{
    int rc = build_broadcast(msg, "emitter", nsp, t, 0, json, len, atts, natts);
    if (rc == 0)
        broadcast_channel(channel, key, nsp, t);
    return rc;
}

static void adapter_broadcast(void *ud, sio_nsp_t *nsp, const sio_target_t *t, unsigned flags,
                              const char *json, size_t len, const sio_packet_bin_t *atts,
                              unsigned natts)
{
    sio_redis_t *r = ud;
    sl_buf_t msg = SL_BUF_INIT, ch = SL_BUF_INIT;
    if (r->mode->broadcast(r, &msg, &ch, sio_nsp_name(nsp), t, flags, json, len, atts, natts) != 0)
        SL_ERROR("adapter", "cannot encode a broadcast for %s", r->opts.label);
    else
        publish(r, ch.data, ch.len, msg.data, msg.len);
    sl_buf_free(&msg);
    sl_buf_free(&ch);
}

/* ---- reading msgpack ------------------------------------------------------ */

/* A string (or an integer, as a room name may be a number in Node) at *p,
 * as a slice; integers are printed into scratch. -1 for anything else. */
static int read_name(const char **p, sio_slice_t *out, char *scratch, size_t cap)
{
    switch (mp_typeof(**p)) {
    case MP_STR: {
        uint32_t l;
        out->p = mp_decode_str(p, &l);
        out->len = l;
        return 0;
    }
    case MP_UINT:
        out->len = (size_t)snprintf(scratch, cap, "%llu", (unsigned long long)mp_decode_uint(p));
        out->p = scratch;
        return 0;
    case MP_INT:
        out->len = (size_t)snprintf(scratch, cap, "%lld", (long long)mp_decode_int(p));
        out->p = scratch;
        return 0;
    default:
        mp_next(p);
        return -1;
    }
}

/* Reads the next key of a map when it is a string (the only keys the
 * adapter's messages use); otherwise skips that key and its value and
 * returns 0. */
static int map_key(const char **p, const char **k, uint32_t *kl)
{
    if (mp_typeof(**p) != MP_STR) {
        mp_next(p);
        mp_next(p);
        return 0;
    }
    *k = mp_decode_str(p, kl);
    return 1;
}

static int key_is(const char *k, uint32_t kl, const char *want)
{
    return kl == strlen(want) && !memcmp(k, want, kl);
}

#define MAX_TARGET_ROOMS 64

typedef struct target_buf {
    sio_slice_t rooms[MAX_TARGET_ROOMS], except[MAX_TARGET_ROOMS];
    char scratch[2 * MAX_TARGET_ROOMS][24];
    size_t nrooms, nexcept;
    unsigned timeout_ms;      /* flags.timeout of a broadcast with acks */
    unsigned volatile_ : 1;
    unsigned plain : 1;       /* flags.compress === false */
} target_buf_t;

static void read_room_list(const char **p, sio_slice_t *v, size_t *n, char (*scratch)[24])
{
    *n = 0;
    if (mp_typeof(**p) != MP_ARRAY) {
        mp_next(p);
        return;
    }
    uint32_t count = mp_decode_array(p);
    for (uint32_t i = 0; i < count; i++) {
        if (*n < MAX_TARGET_ROOMS && read_name(p, &v[*n], scratch[*n], 24) == 0)
            (*n)++;
        else if (*n >= MAX_TARGET_ROOMS)
            mp_next(p);
    }
}

/* {rooms, except, flags} */
static void read_opts(const char **p, target_buf_t *t)
{
    memset(t, 0, sizeof *t);
    if (mp_typeof(**p) != MP_MAP) {
        mp_next(p);
        return;
    }
    uint32_t n = mp_decode_map(p);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t kl;
        const char *k;
        if (!map_key(p, &k, &kl))
            continue;
        if (key_is(k, kl, "rooms")) {
            read_room_list(p, t->rooms, &t->nrooms, t->scratch);
        } else if (key_is(k, kl, "except")) {
            read_room_list(p, t->except, &t->nexcept, t->scratch + MAX_TARGET_ROOMS);
        } else if (key_is(k, kl, "flags") && mp_typeof(**p) == MP_MAP) {
            uint32_t fn = mp_decode_map(p);
            for (uint32_t j = 0; j < fn; j++) {
                uint32_t fl;
                const char *f;
                if (!map_key(p, &f, &fl))
                    continue;
                if (key_is(f, fl, "volatile") && mp_typeof(**p) == MP_BOOL)
                    t->volatile_ = mp_decode_bool(p);
                else if (key_is(f, fl, "compress") && mp_typeof(**p) == MP_BOOL)
                    t->plain = !mp_decode_bool(p);
                else if (key_is(f, fl, "timeout") && mp_typeof(**p) == MP_UINT)
                    t->timeout_ms = (unsigned)mp_decode_uint(p);
                else
                    mp_next(p);
            }
        } else {
            mp_next(p);
        }
    }
}

typedef struct att_store {
    sio_packet_bin_t v[SIO_PACKET_MAX_ATTACHMENTS * 4];
    unsigned n;
} att_store_t;

/* Attachments point into the message: it outlives the broadcast. */
static int keep_attachment(void *ud, const char *data, size_t len)
{
    att_store_t *a = ud;
    if (a->n == sizeof a->v / sizeof a->v[0])
        return -1;
    a->v[a->n].data = data;
    a->v[a->n].len = len;
    return (int)a->n++;
}

static void sio_target_from(const target_buf_t *tb, sio_target_t *t)
{
    t->rooms = tb->rooms;
    t->nrooms = tb->nrooms;
    t->except = tb->except;
    t->nexcept = tb->nexcept;
    t->volatile_ = tb->volatile_;
    t->plain = tb->plain;
}

/* A broadcast from another node, delivered to the local sockets: packet
 * {type, data, nsp?, id?} and opts {rooms, except, flags} are positions in
 * an already validated message ending at end. Classic messages name the
 * namespace in the packet (nsp_envelope NULL: "/" when absent);
 * ClusterAdapter publishes the packet before the namespace is set on it,
 * and its envelope's nsp is the one that counts (nsp_envelope). */
static void deliver_broadcast(sio_redis_t *r, const char *nsp_envelope, const char *packet,
                              const char *opts, const char *end)
{
    const char *p = packet;
    if (mp_typeof(*p) != MP_MAP)
        return;
    uint32_t n = mp_decode_map(&p);
    const char *data = NULL;
    char nsp_name[256];
    snprintf(nsp_name, sizeof nsp_name, "%s", nsp_envelope ? nsp_envelope : "/");
    int type = 2, has_id = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t kl;
        const char *k;
        if (!map_key(&p, &k, &kl))
            continue;
        if (key_is(k, kl, "type") && mp_typeof(*p) == MP_UINT) {
            type = (int)mp_decode_uint(&p);
        } else if (key_is(k, kl, "data")) {
            data = p;
            mp_next(&p);
        } else if (key_is(k, kl, "nsp") && mp_typeof(*p) == MP_STR && !nsp_envelope) {
            uint32_t nl;
            const char *s = mp_decode_str(&p, &nl);
            if (nl < sizeof nsp_name) {
                memcpy(nsp_name, s, nl);
                nsp_name[nl] = '\0';
            }
        } else if (key_is(k, kl, "id")) {
            has_id = 1;
            mp_next(&p);
        } else {
            mp_next(&p);
        }
    }
    if (!data || (type != 2 && type != 5) || has_id)
        return; /* acks across nodes go through BROADCAST requests */
    sio_nsp_t *nsp = sio_server_find_nsp(r->sio, nsp_name);
    if (!nsp)
        return;
    target_buf_t tb;
    const char *op = opts;
    if (op)
        read_opts(&op, &tb);
    else
        memset(&tb, 0, sizeof tb);
    sl_buf_t json = SL_BUF_INIT;
    att_store_t atts;
    atts.n = 0;
    const char *dp = data;
    if (sl_mpjson_to_json(&json, &dp, end, keep_attachment, &atts) == 0) {
        sio_target_t t;
        sio_target_from(&tb, &t);
        sio_adapter_deliver_broadcast(nsp, &t, json.data, json.len, atts.v, atts.n);
    } else {
        SL_WARNF("adapter", SL_LOG_FIELDS("nsp", nsp_name), "undecodable broadcast from %s on %s, ignored",
                 r->opts.label, nsp_name);
    }
    sl_buf_free(&json);
}

/* ---- requests from other nodes --------------------------------------------- */

typedef struct request {
    int type;
    char request_id[136];     /* sharded: "<uid>#<requestId>" */
    char uid[64];
    sio_slice_t sid, room;
    const char *rooms;        /* msgpack array position, or NULL */
    const char *opts;         /* msgpack map position, or NULL */
    const char *data;         /* serverSideEmit arguments, or NULL */
    const char *packet;       /* a broadcast's packet, or NULL */
    int close;
} request_t;

static void copy_str(const char **p, char *out, size_t cap)
{
    if (mp_typeof(**p) != MP_STR) {
        mp_next(p);
        return;
    }
    uint32_t l;
    const char *s = mp_decode_str(p, &l);
    if (l < cap) {
        memcpy(out, s, l);
        out[l] = '\0';
    }
}

static int read_request(const char *p, const char *end, request_t *q)
{
    memset(q, 0, sizeof *q);
    q->type = -1;
    const char *check = p;
    if (sl_mpjson_skip(&check, end) != 0 || mp_typeof(*p) != MP_MAP)
        return -1;
    uint32_t n = mp_decode_map(&p);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t kl;
        const char *k;
        if (!map_key(&p, &k, &kl))
            continue;
        char scratch[24];
        if (key_is(k, kl, "type") && mp_typeof(*p) == MP_UINT)
            q->type = (int)mp_decode_uint(&p);
        else if (key_is(k, kl, "requestId"))
            copy_str(&p, q->request_id, sizeof q->request_id);
        else if (key_is(k, kl, "uid"))
            copy_str(&p, q->uid, sizeof q->uid);
        else if (key_is(k, kl, "sid") && mp_typeof(*p) == MP_STR)
            read_name(&p, &q->sid, scratch, sizeof scratch);
        else if (key_is(k, kl, "room") && mp_typeof(*p) == MP_STR)
            read_name(&p, &q->room, scratch, sizeof scratch);
        else if (key_is(k, kl, "rooms")) {
            q->rooms = p;
            mp_next(&p);
        } else if (key_is(k, kl, "opts")) {
            q->opts = p;
            mp_next(&p);
        } else if (key_is(k, kl, "data")) {
            q->data = p;
            mp_next(&p);
        } else if (key_is(k, kl, "packet")) {
            q->packet = p;
            mp_next(&p);
        } else if (key_is(k, kl, "close") && mp_typeof(*p) == MP_BOOL)
            q->close = mp_decode_bool(&p);
        else
            mp_next(&p);
    }
    return q->type >= 0 ? 0 : -1;
}

static void json_str(sl_buf_t *b, const char *s, size_t n) { sl_json_append_string(b, s, n); }

typedef struct list_ctx {
    sl_buf_t *b;
    int first;
} list_ctx_t;

static void add_room_json(const char *room, size_t len, void *ud)
{
    list_ctx_t *c = ud;
    if (!c->first)
        sl_buf_append_byte(c->b, ',');
    c->first = 0;
    json_str(c->b, room, len);
}

static void add_socket_id(sio_socket_t *s, void *ud)
{
    const char *id = sio_socket_id(s);
    add_room_json(id, strlen(id), ud);
}

static void add_socket_json(sio_socket_t *s, void *ud)
{
    list_ctx_t *c = ud;
    if (!c->first)
        sl_buf_append_byte(c->b, ',');
    c->first = 0;
    sio_adapter_describe_socket(s, c->b);
}

typedef struct rooms_op {
    sio_slice_t rooms[MAX_TARGET_ROOMS];
    char scratch[MAX_TARGET_ROOMS][24];
    size_t n;
    int close;
} rooms_op_t;

static void op_join(sio_socket_t *s, void *ud)
{
    rooms_op_t *o = ud;
    for (size_t i = 0; i < o->n; i++)
        sio_socket_join(s, o->rooms[i].p, o->rooms[i].len);
}

static void op_leave(sio_socket_t *s, void *ud)
{
    rooms_op_t *o = ud;
    for (size_t i = 0; i < o->n; i++)
        sio_socket_leave(s, o->rooms[i].p, o->rooms[i].len);
}

static void op_disconnect(sio_socket_t *s, void *ud)
{
    rooms_op_t *o = ud;
    sio_socket_disconnect(s, o->close);
}

/* Does what another server asks (both modes): q's positions are in a
 * validated message ending at end. */
static void run_request(sio_redis_t *r, sio_nsp_t *nsp, const request_t *qp, const char *end)
{
    request_t q = *qp;
    sl_buf_t body = SL_BUF_INIT;
    target_buf_t tb;
    sio_target_t t;
    rooms_op_t op;
    memset(&op, 0, sizeof op);
    if (q.opts) {
        const char *o = q.opts;
        read_opts(&o, &tb);
        sio_target_from(&tb, &t);
    }
    if (q.rooms) {
        const char *rp = q.rooms;
        read_room_list(&rp, op.rooms, &op.n, op.scratch);
    }
    switch (q.type) {
    case REQ_SOCKETS: {
        r->mode->begin_response(r, &body, q.request_id, REQ_SOCKETS);
        sl_buf_append_str(&body, ",\"sockets\":[");
        list_ctx_t lc = {&body, 1};
        sio_target_t st = {op.rooms, op.n, NULL, 0, 0, 0};
        sio_nsp_select(nsp, &st, add_socket_id, &lc);
        sl_buf_append_str(&body, "]");
        r->mode->finish_response(r, nsp, &body, q.request_id);
        break;
    }
    case REQ_ALL_ROOMS: {
        r->mode->begin_response(r, &body, q.request_id, REQ_ALL_ROOMS);
        sl_buf_append_str(&body, ",\"rooms\":[");
        list_ctx_t lc = {&body, 1};
        sio_nsp_each_room(nsp, add_room_json, &lc);
        sl_buf_append_str(&body, "]");
        r->mode->finish_response(r, nsp, &body, q.request_id);
        break;
    }
    case REQ_REMOTE_JOIN:
    case REQ_REMOTE_LEAVE:
    case REQ_REMOTE_DISCONNECT: {
        void (*fn)(sio_socket_t *, void *) =
            q.type == REQ_REMOTE_JOIN ? op_join : q.type == REQ_REMOTE_LEAVE ? op_leave : op_disconnect;
        op.close = q.close;
        if (q.opts) {
            sio_nsp_select(nsp, &t, fn, &op);
            break; /* no answer in this form, as Node */
        }
        sio_socket_t *s = q.sid.p ? sio_nsp_find_socket(nsp, q.sid.p, q.sid.len) : NULL;
        if (!s)
            break;
        if (q.room.p) {
            op.rooms[0] = q.room;
            op.n = 1;
        }
        fn(s, &op);
        r->mode->begin_response(r, &body, q.request_id, q.type);
        r->mode->finish_response(r, nsp, &body, q.request_id);
        break;
    }
    case REQ_REMOTE_FETCH: {
        if (!q.opts)
            break;
        if (r->mode->begin_response(r, &body, q.request_id, REQ_REMOTE_FETCH) != 0)
            break;
        sl_buf_append_str(&body, ",\"sockets\":[");
        list_ctx_t fc = {&body, 1};
        sio_nsp_select(nsp, &t, add_socket_json, &fc);
        sl_buf_append_str(&body, "]");
        r->mode->finish_response(r, nsp, &body, q.request_id);
        break;
    }
    case REQ_SERVER_SIDE_EMIT: {
        if (!q.data)
            break;
        const char *dp = q.data;
        sl_buf_t args = SL_BUF_INIT;
        if (sl_mpjson_to_json(&args, &dp, end, NULL, NULL) == 0 && args.len && args.data[0] == '[')
            sio_adapter_deliver_server_side_emit(nsp, args.data, args.len,
                                                 q.request_id[0] ? q.request_id : NULL);
        sl_buf_free(&args);
        break;
    }
    case REQ_BROADCAST: {
        if (!q.packet || !q.opts)
            break;
        /* packet: {type, data, nsp, id} */
        const char *pp = q.packet;
        if (mp_typeof(*pp) != MP_MAP)
            break;
        uint32_t pn = mp_decode_map(&pp);
        const char *data = NULL;
        for (uint32_t i = 0; i < pn; i++) {
            uint32_t kl;
            const char *k;
            if (!map_key(&pp, &k, &kl))
                continue;
            if (key_is(k, kl, "data"))
                data = pp;
            mp_next(&pp);
        }
        unsigned timeout_ms = r->opts.requests_timeout_ms;
        if (tb.timeout_ms)
            timeout_ms = tb.timeout_ms;
        sl_buf_t args = SL_BUF_INIT;
        att_store_t atts;
        atts.n = 0;
        const char *dp = data;
        if (data && sl_mpjson_to_json(&args, &dp, end, keep_attachment, &atts) == 0 && args.len &&
            args.data[0] == '[')
            sio_adapter_deliver_broadcast_with_ack(nsp, &t, args.data, args.len, atts.v, atts.n,
                                                   q.request_id, timeout_ms);
        sl_buf_free(&args);
        break;
    }
    default:
        SL_DEBUG("adapter", "request type %d on %s not handled", q.type, sio_nsp_name(nsp));
        break;
    }
    sl_buf_free(&body);
}

/* ---- our requests -------------------------------------------------------------- */

static void pending_unref(pending_t *q)
{
    if (--q->refs > 0)
        return;
    sl_buf_free(&q->body);
    sl_buf_free(&q->items);
    free(q);
}

static void pending_timer_closed(uv_handle_t *h) { pending_unref(h->data); }

/* Calls back once, unlinks, frees (after the timer handle closes). */
static void pending_finish(pending_t *q, int complete)
{
    if (q->done)
        return;
    q->done = 1;
    for (pending_t **pp = &q->r->pending; *pp; pp = &(*pp)->next) {
        if (*pp == q) {
            *pp = q->next;
            break;
        }
    }
    uv_timer_stop(&q->timer);
    q->cb(q->items.data ? q->items.data : "", q->items.len, complete, q->ud);
    uv_close((uv_handle_t *)&q->timer, pending_timer_closed);
}

static void pending_timeout(uv_timer_t *t)
{
    pending_t *q = t->data;
    SL_INFOF("adapter", SL_LOG_FIELDS("nsp", q->nsp, "request", q->id),
             "request %s on %s: %d of %d servers answered in time", q->id, q->nsp, q->got, q->expected);
    pending_finish(q, 0);
}

static void broadcast_maybe_done(pending_t *q);

/* How many servers the request waits for: (SHARD)NUMSUB, summed over the
 * nodes that have subscribers (redis_link.c), counts this server too. */
static void on_numsub(void *priv, long n)
{
    pending_t *q = priv;
    if (q->done) {
        pending_unref(q);
        return;
    }
    q->refs--; /* this count came; the timer still holds q */
    if (n < 0) {
        pending_finish(q, 0);
        return;
    }
    q->expected = (int)n - 1;
    if (q->expected <= 0) {
        pending_finish(q, 1);
        return;
    }
    if (q->type == REQ_BROADCAST)
        broadcast_maybe_done(q); /* answers may have come before this count */
    sl_buf_t ch = SL_BUF_INIT;
    q->r->mode->request_channel(&ch, q->r, q->nsp);
    publish(q->r, ch.data, ch.len, q->body.data, q->body.len);
    sl_buf_free(&ch);
}

/* A new request with its id; the caller writes q->body, then launches. */
static pending_t *pending_new(sio_redis_t *r, sio_nsp_t *nsp, int type, const char *field,
                              unsigned timeout_ms, sio_reply_cb cb, void *ud)
{
    if (!sl_redis_link_up(r->pub))
        return NULL;
    pending_t *q = calloc(1, sizeof *q);
    char rid[21];
    if (!q || eio_random_id(rid)) {
        free(q);
        return NULL;
    }
    q->r = r;
    memcpy(q->id, rid, 10);
    q->id[10] = '\0';
    q->type = type;
    snprintf(q->nsp, sizeof q->nsp, "%s", sio_nsp_name(nsp));
    q->field = field;
    q->cb = cb;
    q->ud = ud;
    q->timeout_ms = timeout_ms ? timeout_ms : r->opts.requests_timeout_ms;
    return q;
}

/* Counts the other servers (PUBSUB NUMSUB, or SHARDNUMSUB: on every node
 * of a cluster that may have them), then publishes q->body. */
static void pending_launch(pending_t *q)
{
    sio_redis_t *r = q->r;
    uv_timer_init(r->loop, &q->timer);
    q->timer.data = q;
    q->refs = 2;
    uv_timer_start(&q->timer, pending_timeout, q->timeout_ms, 0);
    q->next = r->pending;
    r->pending = q;
    sl_buf_t ch = SL_BUF_INIT;
    r->mode->request_channel(&ch, r, q->nsp);
    if (sl_redis_link_numsub(r->pub, r->opts.sharded, ch.data, ch.len, on_numsub, q) != 0) {
        q->refs--; /* no reply will come */
        pending_finish(q, 0);
    }
    sl_buf_free(&ch);
}

/* A JSON request is written in three steps, the same in both modes:
 * mode->req_open, then fields (sio_cluster_field), then request_start
 * (waits for answers) or publish_request (fire and forget), which close
 * it with mode->req_close. */
static int request_start(sio_redis_t *r, sio_nsp_t *nsp, int type, sl_buf_t *body,
                         const char *field, sio_reply_cb cb, void *ud)
{
    pending_t *q = pending_new(r, nsp, type, field, 0, cb, ud);
    if (!q)
        return -1;
    q->body = *body;
    memset(body, 0, sizeof *body);
    r->mode->req_close(r, &q->body, q->nsp, q->id);
    pending_launch(q);
    return 0;
}

static int publish_request(sio_redis_t *r, sio_nsp_t *nsp, sl_buf_t *b)
{
    if (!sl_redis_link_up(r->pub))
        return -1;
    r->mode->req_close(r, b, sio_nsp_name(nsp), NULL);
    sl_buf_t ch = SL_BUF_INIT;
    r->mode->request_channel(&ch, r, sio_nsp_name(nsp));
    publish(r, ch.data, ch.len, b->data, b->len);
    sl_buf_free(&ch);
    return 0;
}

static void append_item_sep(pending_t *q)
{
    if (q->items.len)
        sl_buf_append_byte(&q->items, ',');
}

/* The bookkeeping of a broadcast with acks is done once the other servers
 * all said how many clients they reached and that many acks came. */
static void broadcast_maybe_done(pending_t *q)
{
    if (q->expected > 0 && q->servers_counted >= q->expected && q->acks >= q->clients_expected)
        pending_finish(q, 1);
}

static void broadcast_counted(pending_t *q, long count)
{
    q->servers_counted++;
    q->clients_expected += count;
    broadcast_maybe_done(q);
}

static void broadcast_acked(pending_t *q, const char *packet, const char *end)
{
    append_item_sep(q);
    const char *v = packet;
    if (!v || sl_mpjson_to_json(&q->items, &v, end, NULL, NULL) != 0)
        sl_buf_append_str(&q->items, "null");
    q->acks++;
    broadcast_maybe_done(q);
}

/* One server's answer: a list ("sockets", "rooms") whose items are
 * gathered, or a serverSideEmit ack value (NULL when it had none). */
static void pending_answered(pending_t *q, const char *value, const char *end)
{
    if (value) {
        const char *v = value;
        if (q->type == REQ_SERVER_SIDE_EMIT) {
            append_item_sep(q);
            sl_mpjson_to_json(&q->items, &v, end, NULL, NULL);
        } else if (mp_typeof(*v) == MP_ARRAY) {
            uint32_t count = mp_decode_array(&v);
            for (uint32_t i = 0; i < count; i++) {
                append_item_sep(q);
                if (sl_mpjson_to_json(&q->items, &v, end, NULL, NULL) != 0)
                    break;
            }
        }
    }
    if (++q->got >= q->expected)
        pending_finish(q, 1);
}

static pending_t *pending_find(sio_redis_t *r, const char *rid)
{
    for (pending_t *it = r->pending; it; it = it->next)
        if (!strcmp(it->id, rid))
            return it->done ? NULL : it;
    return NULL;
}

static void json_rooms(sl_buf_t *b, const sio_slice_t *v, size_t n)
{
    sl_buf_append_byte(b, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            sl_buf_append_byte(b, ',');
        json_str(b, v[i].p, v[i].len);
    }
    sl_buf_append_byte(b, ']');
}

/* "opts":{rooms, except} (and what the mode adds: "flags":{} in sharded
 * mode, as Node's ClusterAdapter always sends one). */
static void json_opts(const sio_redis_t *r, sl_buf_t *b, const sio_target_t *t)
{
    sio_cluster_field(b, "opts");
    sl_buf_append_str(b, "{\"rooms\":");
    json_rooms(b, t->rooms, t->nrooms);
    sl_buf_append_str(b, ",\"except\":");
    json_rooms(b, t->except, t->nexcept);
    sl_buf_append_str(b, r->mode->opts_extra);
    sl_buf_append_byte(b, '}');
}

/* ---- the adapter's requests (sio_adapter_t), the same in both modes ------- */

static int adapter_fetch_sockets(void *ud, sio_nsp_t *nsp, const sio_target_t *t, sio_reply_cb cb,
                                 void *cb_ud)
{
    sio_redis_t *r = ud;
    sl_buf_t b = SL_BUF_INIT;
    r->mode->req_open(r, &b, REQ_REMOTE_FETCH);
    json_opts(r, &b, t);
    int rc = request_start(r, nsp, REQ_REMOTE_FETCH, &b, "sockets", cb, cb_ud);
    sl_buf_free(&b);
    return rc;
}

static int adapter_all_rooms(void *ud, sio_nsp_t *nsp, sio_reply_cb cb, void *cb_ud)
{
    sio_redis_t *r = ud;
    /* socket.io-adapter's ClusterAdapter has no message for allRooms (the
     * sharded Node adapter has no allRooms either). */
    if (!r->mode->all_rooms)
        return -ENOTSUP;
    sl_buf_t b = SL_BUF_INIT;
    r->mode->req_open(r, &b, REQ_ALL_ROOMS);
    int rc = request_start(r, nsp, REQ_ALL_ROOMS, &b, "rooms", cb, cb_ud);
    sl_buf_free(&b);
    return rc;
}

static int remote_rooms(sio_redis_t *r, sio_nsp_t *nsp, const sio_target_t *t, int kind,
                        const sio_slice_t *rooms, size_t nrooms)
{
    sl_buf_t b = SL_BUF_INIT;
    r->mode->req_open(r, &b, kind);
    json_opts(r, &b, t);
    sio_cluster_field(&b, "rooms");
    json_rooms(&b, rooms, nrooms);
    int rc = publish_request(r, nsp, &b);
    sl_buf_free(&b);
    return rc;
}

static int adapter_sockets_join(void *ud, sio_nsp_t *nsp, const sio_target_t *t,
                                const sio_slice_t *rooms, size_t nrooms)
{
    return remote_rooms(ud, nsp, t, REQ_REMOTE_JOIN, rooms, nrooms);
}

static int adapter_sockets_leave(void *ud, sio_nsp_t *nsp, const sio_target_t *t,
                                 const sio_slice_t *rooms, size_t nrooms)
{
    return remote_rooms(ud, nsp, t, REQ_REMOTE_LEAVE, rooms, nrooms);
}

static int adapter_disconnect_sockets(void *ud, sio_nsp_t *nsp, const sio_target_t *t, int close)
{
    sio_redis_t *r = ud;
    sl_buf_t b = SL_BUF_INIT;
    r->mode->req_open(r, &b, REQ_REMOTE_DISCONNECT);
    json_opts(r, &b, t);
    sio_cluster_field(&b, "close");
    sl_buf_append_str(&b, close ? "true" : "false");
    int rc = publish_request(r, nsp, &b);
    sl_buf_free(&b);
    return rc;
}

static int adapter_server_side_emit(void *ud, sio_nsp_t *nsp, const char *json, size_t len,
                                    sio_reply_cb cb, void *cb_ud)
{
    sio_redis_t *r = ud;
    const char *field = r->mode->sse_field;
    sl_buf_t b = SL_BUF_INIT;
    r->mode->req_open(r, &b, REQ_SERVER_SIDE_EMIT);
    sio_cluster_field(&b, field);
    sl_buf_append(&b, json, len);
    int rc;
    if (cb)
        rc = request_start(r, nsp, REQ_SERVER_SIDE_EMIT, &b, field, cb, cb_ud);
    else
        rc = publish_request(r, nsp, &b);
    sl_buf_free(&b);
    return rc;
}

static void adapter_server_side_ack(void *ud, sio_nsp_t *nsp, const char *request_id,
                                    const char *json, size_t len)
{
    sio_redis_t *r = ud;
    r->mode->server_side_ack(r, nsp, request_id, json, len);
}

static int adapter_broadcast_with_ack(void *ud, sio_nsp_t *nsp, const sio_target_t *t,
                                      const char *json, size_t len, const sio_packet_bin_t *atts,
                                      unsigned natts, long ack_id, unsigned timeout_ms,
                                      sio_reply_cb cb, void *cb_ud)
{
    sio_redis_t *r = ud;
    pending_t *q = pending_new(r, nsp, REQ_BROADCAST, NULL, timeout_ms, cb, cb_ud);
    if (!q)
        return -1;
    if (r->mode->broadcast_with_ack(r, &q->body, q->id, sio_nsp_name(nsp), t, json, len, atts,
                                    natts, ack_id, timeout_ms) != 0) {
        sl_buf_free(&q->body);
        free(q);
        return -1;
    }
    pending_launch(q);
    return 0;
}

static void adapter_broadcast_count(void *ud, sio_nsp_t *nsp, const char *request_id, long count)
{
    sio_redis_t *r = ud;
    r->mode->broadcast_count(r, nsp, request_id, count);
}

static void adapter_broadcast_ack(void *ud, sio_nsp_t *nsp, const char *request_id,
                                  const char *json, size_t len)
{
    sio_redis_t *r = ud;
    r->mode->broadcast_ack(r, nsp, request_id, json, len);
}

/* ---- recovery across servers -------------------------------------------------- */

static int adapter_session_put(void *ud, const char *pid, const char *json, size_t len,
                               unsigned ttl_ms)
{
    sio_redis_t *r = ud;
    char key[160];
    snprintf(key, sizeof key, "%s-session#%s", r->opts.key, pid);
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%u", ttl_ms ? ttl_ms : 1);
    const char *argv[5] = {"SET", key, json, "PX", ttl};
    size_t lens[5] = {3, strlen(key), len, 2, strlen(ttl)};
    return sl_redis_link_command(r->pub, NULL, NULL, 5, argv, lens, SL_REDIS_WAIT);
}

typedef struct take_wait {
    sio_session_cb cb;
    void *ud;
} take_wait_t;

static void on_session_taken(void *priv, redisReply *m, const char *why)
{
    (void)why;
    take_wait_t *w = priv;
    if (m && m->type == REDIS_REPLY_STRING)
        w->cb(m->str, m->len, w->ud);
    else
        w->cb(NULL, 0, w->ud);
    free(w);
}

static int adapter_session_take(void *ud_, const char *pid, sio_session_cb cb, void *ud)
{
    sio_redis_t *r = ud_;
    take_wait_t *w = calloc(1, sizeof *w);
    if (!w)
        return -1;
    w->cb = cb;
    w->ud = ud;
    /* GETDEL: a session comes back once, on one server. */
    char key[160];
    snprintf(key, sizeof key, "%s-session#%s", r->opts.key, pid);
    const char *argv[2] = {"GETDEL", key};
    size_t lens[2] = {6, strlen(key)};
    if (sl_redis_link_command(r->pub, on_session_taken, w, 2, argv, lens, SL_REDIS_WAIT)) {
        free(w);
        return -1;
    }
    return 0;
}

/* ---- no sticky sessions ------------------------------------------------------ */

/* The node registry (node_registry.c) keeps this node's relay address in
 * Redis and finds the others'; its clock is this timer, whose handle also
 * outlives r's last hiredis callbacks (r is freed in its close callback). */
#define TICK_MS 1000

static void announce_cb(uv_timer_t *t)
{
    sio_redis_t *r = t->data;
    sl_node_registry_tick(r->nodes);
}

void sio_redis_set_address(sio_redis_t *r, const char *host_port)
{
    sl_node_registry_set_address(r->nodes, host_port);
}

sl_node_registry_t *sio_redis_nodes(sio_redis_t *r) { return r->nodes; }

static void on_pub_state(sl_redis_link_t *l, int up, const char *why, void *ud)
{
    (void)l;
    (void)why;
    sio_redis_t *r = ud;
    if (up)
        sl_node_registry_announce(r->nodes);
    if (up && r->publish_down_logged) {
        SL_INFO("adapter", "%s is back: broadcasts reach the cluster again", r->opts.label);
        r->publish_down_logged = 0;
    }
}

/* ---- classic mode ------------------------------------------------------------
 * createAdapter's wire: broadcasts [uid, packet, opts] in msgpack on
 * <key>#<nsp># (or <key>#<nsp>#<room># for one room), heard with
 * PSUBSCRIBE <key>#*; requests as JSON {uid, type, ...} on
 * <key>-request#<nsp>#, answers on <key>-response#<nsp>#, where every
 * server listens; broadcasts with acks and their answers in msgpack. */

static const char *classic_uid(const sio_redis_t *r) { return r->uid; }

static int classic_broadcast(const sio_redis_t *r, sl_buf_t *msg, sl_buf_t *ch, const char *nsp,
                             const sio_target_t *t, unsigned flags, const char *json, size_t len,
                             const sio_packet_bin_t *atts, unsigned natts)
{
    int rc = build_broadcast(msg, r->uid, nsp, t, flags, json, len, atts, natts);
    if (rc == 0)
        broadcast_channel(ch, r->opts.key, nsp, t);
    return rc;
}

static void classic_request_channel(sl_buf_t *ch, const sio_redis_t *r, const char *nsp)
{
    channel_name(ch, r, "-request", nsp);
}

static void classic_req_open(const sio_redis_t *r, sl_buf_t *b, int kind)
{
    sl_buf_appendf(b, "{\"uid\":\"%s\",\"type\":%d", r->uid, kind);
}

static void classic_req_close(const sio_redis_t *r, sl_buf_t *b, const char *nsp,
                              const char *request_id)
{
    (void)r;
    (void)nsp;
    if (request_id) {
        sio_cluster_field(b, "requestId");
        json_str(b, request_id, strlen(request_id));
    }
    sl_buf_append_byte(b, '}');
}

/* msgpack, as Node's adapter sends it: {uid, requestId, type, packet,
 * opts} with packet {type, data, nsp, id}. */
static int classic_broadcast_with_ack(const sio_redis_t *r, sl_buf_t *b, const char *request_id,
                                      const char *nsp, const sio_target_t *t, const char *json,
                                      size_t len, const sio_packet_bin_t *atts, unsigned natts,
                                      long ack_id, unsigned timeout_ms)
{
    sl_mpjson_put_map(b, 5);
    mp_put_cstr(b, "uid");
    mp_put_cstr(b, r->uid);
    mp_put_cstr(b, "requestId");
    mp_put_cstr(b, request_id);
    mp_put_cstr(b, "type");
    sl_mpjson_put_number(b, REQ_BROADCAST);
    mp_put_cstr(b, "packet");
    int rc = put_packet(b, nsp, json, len, atts, natts, ack_id);
    if (rc == 0) {
        mp_put_cstr(b, "opts");
        put_opts(b, t, 0, timeout_ms);
    }
    return rc;
}

/* {"requestId":R, then the caller's fields, then '}'. */
static int classic_begin_response(const sio_redis_t *r, sl_buf_t *b, const char *rid, int kind)
{
    (void)r;
    (void)kind;
    sl_buf_append_str(b, "{\"requestId\":");
    json_str(b, rid, strlen(rid));
    return 0;
}

/* Every answer goes to <key>-response#<nsp>#, where every server listens. */
static void publish_response(sio_redis_t *r, sio_nsp_t *nsp, const sl_buf_t *body)
{
    sl_buf_t ch = SL_BUF_INIT;
    channel_name(&ch, r, "-response", sio_nsp_name(nsp));
    publish(r, ch.data, ch.len, body->data, body->len);
    sl_buf_free(&ch);
}

static void classic_finish_response(sio_redis_t *r, sio_nsp_t *nsp, sl_buf_t *body,
                                    const char *rid)
{
    (void)rid;
    sl_buf_append_byte(body, '}');
    publish_response(r, nsp, body);
}

static void classic_server_side_ack(sio_redis_t *r, sio_nsp_t *nsp, const char *request_id,
                                    const char *json, size_t len)
{
    sl_buf_t b = SL_BUF_INIT;
    sl_buf_appendf(&b, "{\"type\":%d,\"requestId\":", REQ_SERVER_SIDE_EMIT);
    json_str(&b, request_id, strlen(request_id));
    sl_buf_append_str(&b, ",\"data\":");
    if (len)
        sl_buf_append(&b, json, len);
    else
        sl_buf_append_str(&b, "null");
    sl_buf_append_byte(&b, '}');
    publish_response(r, nsp, &b);
    sl_buf_free(&b);
}

static void classic_broadcast_count(sio_redis_t *r, sio_nsp_t *nsp, const char *request_id,
                                    long count)
{
    sl_buf_t b = SL_BUF_INIT;
    sl_buf_appendf(&b, "{\"type\":8,\"requestId\":");
    json_str(&b, request_id, strlen(request_id));
    sl_buf_appendf(&b, ",\"clientCount\":%ld}", count);
    publish_response(r, nsp, &b);
    sl_buf_free(&b);
}

static void classic_broadcast_ack(sio_redis_t *r, sio_nsp_t *nsp, const char *request_id,
                                  const char *json, size_t len)
{
    sl_buf_t b = SL_BUF_INIT;
    sl_mpjson_put_map(&b, 3);
    mp_put_cstr(&b, "type");
    sl_mpjson_put_number(&b, 9);
    mp_put_cstr(&b, "requestId");
    mp_put_cstr(&b, request_id);
    mp_put_cstr(&b, "packet");
    if (!len || sl_mpjson_from_json(&b, json, len, NULL, 0) != 0)
        sl_mpjson_put_nil(&b);
    publish_response(r, nsp, &b);
    sl_buf_free(&b);
}

/* Classic mode: [uid, {type, data, nsp, id?}, opts]. */
static void on_broadcast_message(sio_redis_t *r, const char *msg, size_t len)
{
    const char *p = msg, *end = msg + len;
    const char *check = msg;
    if (sl_mpjson_skip(&check, end) != 0 || mp_typeof(*p) != MP_ARRAY || mp_decode_array(&p) < 3)
        return;
    if (mp_typeof(*p) != MP_STR) /* the emitter sends "emitter" */
        return;
    uint32_t ul;
    const char *uid = mp_decode_str(&p, &ul);
    if (ul == strlen(r->uid) && !memcmp(uid, r->uid, ul))
        return; /* our own */
    const char *packet = p;
    mp_next(&p);
    deliver_broadcast(r, NULL, packet, p, end);
}

/* Classic mode: a request on <key>-request#<nsp>#, JSON or msgpack. */
static void on_request(sio_redis_t *r, sio_nsp_t *nsp, const char *msg, size_t len)
{
    sl_buf_t conv = SL_BUF_INIT;
    const char *p = msg, *end = msg + len;
    if (len && msg[0] == '{') {
        /* JSON requests: read through the msgpack reader. */
        if (sl_mpjson_from_json(&conv, msg, len, NULL, 0) != 0)
            goto out;
        p = conv.data;
        end = conv.data + conv.len;
    }
    request_t q;
    if (read_request(p, end, &q) != 0)
        goto out;
    if (strcmp(q.uid, r->uid) != 0) /* not our own request */
        run_request(r, nsp, &q, end);
out:
    sl_buf_free(&conv);
}

/* Classic: {type: 8, clientCount} or {type: 9, packet: the client's first
 * ack argument}. p is past the map header. */
static void on_broadcast_response(pending_t *q, const char *p, const char *end, uint32_t n)
{
    int type = -1;
    long count = 0;
    const char *packet = NULL;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t kl;
        const char *k;
        if (!map_key(&p, &k, &kl))
            continue;
        if (key_is(k, kl, "type") && mp_typeof(*p) == MP_UINT)
            type = (int)mp_decode_uint(&p);
        else if (key_is(k, kl, "clientCount") && mp_typeof(*p) == MP_UINT)
            count = (long)mp_decode_uint(&p);
        else if (key_is(k, kl, "packet")) {
            packet = p;
            mp_next(&p);
        } else
            mp_next(&p);
    }
    if (type == 8)
        broadcast_counted(q, count);
    else if (type == 9 && packet)
        broadcast_acked(q, packet, end);
}

/* Classic: an answer to one of our requests: {requestId, sockets|rooms|data}. */
static void on_response(sio_redis_t *r, const char *msg, size_t len)
{
    sl_buf_t conv = SL_BUF_INIT;
    const char *p = msg, *end = msg + len;
    if (len && msg[0] == '{') {
        if (sl_mpjson_from_json(&conv, msg, len, NULL, 0) != 0)
            goto out;
        p = conv.data;
        end = conv.data + conv.len;
    }
    const char *check = p;
    uint32_t n;
    if (sl_mpjson_skip(&check, end) != 0 || mp_typeof(*p) != MP_MAP)
        goto out;
    n = mp_decode_map(&p);
    char rid[64] = "";
    const char *value = NULL;
    /* requestId may come after the list: find it first. */
    const char *scan = p;
    for (uint32_t i = 0; i < n; i++) {
        if (mp_typeof(*scan) == MP_STR) {
            uint32_t kl;
            const char *k = mp_decode_str(&scan, &kl);
            if (key_is(k, kl, "requestId")) {
                copy_str(&scan, rid, sizeof rid);
                continue;
            }
        } else {
            mp_next(&scan);
        }
        mp_next(&scan);
    }
    pending_t *q = pending_find(r, rid);
    if (!q)
        goto out;
    if (q->type == REQ_BROADCAST) {
        on_broadcast_response(q, p, end, n);
        goto out;
    }
    for (uint32_t i = 0; i < n; i++) {
        uint32_t kl;
        const char *k;
        if (!map_key(&p, &k, &kl))
            continue;
        if (key_is(k, kl, q->field))
            value = p;
        mp_next(&p);
    }
    pending_answered(q, value, end);
out:
    sl_buf_free(&conv);
}

/* "<key>#<nsp>#..." or "<key>-request#<nsp>#": the namespace part. */
static sio_nsp_t *nsp_of_channel(sio_redis_t *r, const char *ch, size_t len, const char *kind)
{
    size_t kl = strlen(r->opts.key), tl = strlen(kind);
    if (len < kl + tl + 2 || memcmp(ch, r->opts.key, kl) || memcmp(ch + kl, kind, tl) ||
        ch[kl + tl] != '#')
        return NULL;
    const char *s = ch + kl + tl + 1;
    const char *e = memchr(s, '#', len - kl - tl - 1);
    if (!e || (size_t)(e - s) >= 256)
        return NULL;
    char name[256];
    memcpy(name, s, (size_t)(e - s));
    name[e - s] = '\0';
    return sio_server_find_nsp(r->sio, name);
}

static void on_sub_message(int kind, const char *ch, size_t clen, const char *msg, size_t mlen, void *ud)
{
    sio_redis_t *r = ud;
    if (kind == SL_REDIS_SUB_PATTERN) {
        on_broadcast_message(r, msg, mlen);
        return;
    }
    sio_nsp_t *nsp = nsp_of_channel(r, ch, clen, "-request");
    if (nsp)
        on_request(r, nsp, msg, mlen);
    else if (nsp_of_channel(r, ch, clen, "-response"))
        on_response(r, msg, mlen);
}

/* The request channel is also how the cluster counts its servers (PUBSUB
 * NUMSUB), so every namespace holds it as Node does, with the response
 * channel and this server's own response channel. */
static void classic_nsp_created(void *ud, sio_nsp_t *nsp)
{
    sio_redis_t *r = ud;
    sl_buf_t ch = SL_BUF_INIT;
    channel_name(&ch, r, "-request", sio_nsp_name(nsp));
    sl_redis_sub_add(r->sub, SL_REDIS_SUB_CHANNEL, ch.data, ch.len);
    sl_buf_reset(&ch);
    channel_name(&ch, r, "-response", sio_nsp_name(nsp));
    sl_redis_sub_add(r->sub, SL_REDIS_SUB_CHANNEL, ch.data, ch.len);
    sl_buf_appendf(&ch, "%s#", r->uid);
    sl_redis_sub_add(r->sub, SL_REDIS_SUB_CHANNEL, ch.data, ch.len);
    sl_buf_free(&ch);
}

static int classic_subscribe(sio_redis_t *r)
{
    r->sub = sl_redis_sub_new(r->loop, r->pub, "adapter sub", r->ping_ms, on_sub_message, r);
    if (!r->sub)
        return -1;
    char pattern[80];
    int n = snprintf(pattern, sizeof pattern, "%s#*", r->opts.key);
    return sl_redis_sub_add(r->sub, SL_REDIS_SUB_PATTERN, pattern, (size_t)n);
}

static const redis_mode_t classic_mode = {
    .publish = "PUBLISH",
    .numsub = "NUMSUB",
    .sse_field = "data",
    .opts_extra = "",
    .all_rooms = 1,
    .uid = classic_uid,
    .subscribe = classic_subscribe,
    .nsp_created = classic_nsp_created,
    .broadcast = classic_broadcast,
    .request_channel = classic_request_channel,
    .req_open = classic_req_open,
    .req_close = classic_req_close,
    .broadcast_with_ack = classic_broadcast_with_ack,
    .begin_response = classic_begin_response,
    .finish_response = classic_finish_response,
    .server_side_ack = classic_server_side_ack,
    .broadcast_count = classic_broadcast_count,
    .broadcast_ack = classic_broadcast_ack,
};

/* ---- sharded mode ------------------------------------------------------------
 * createShardedAdapter's wire: socket.io-adapter's ClusterAdapter messages
 * {type, data, uid, nsp} (JSON, msgpack when binary) with SPUBLISH on
 * <key>#<nsp># (every server), <key>#<nsp>#<room># (the dynamic modes)
 * and <key>#<nsp>#<uid># (answers to one server's requests). */

static const char *sharded_uid(const sio_redis_t *r) { return r->cuid; }

/* Sharded mode: a ClusterAdapter BROADCAST, {type: 3, data: {packet,
 * opts, requestId?}, uid, nsp}, in JSON unless it carries binary (as Node
 * encodes it). */
static int build_cluster_broadcast(sl_buf_t *out, const sio_redis_t *r, const char *nsp,
                                   const sio_target_t *t, unsigned flags, const char *json,
                                   size_t len, const sio_packet_bin_t *atts, unsigned natts,
                                   const char *request_id, unsigned timeout_ms)
{
    sl_buf_t mp = SL_BUF_INIT;
    sl_mpjson_put_map(&mp, 4);
    mp_put_cstr(&mp, "type");
    sl_mpjson_put_number(&mp, SIO_CLUSTER_BROADCAST);
    mp_put_cstr(&mp, "data");
    sl_mpjson_put_map(&mp, request_id ? 3 : 2);
    mp_put_cstr(&mp, "packet");
    int rc = put_packet(&mp, nsp, json, len, atts, natts, -1);
    if (rc == 0) {
        if (request_id) {
            mp_put_cstr(&mp, "requestId");
            mp_put_cstr(&mp, request_id);
        }
        mp_put_cstr(&mp, "opts");
        put_opts(&mp, t, flags, timeout_ms);
        mp_put_cstr(&mp, "uid");
        mp_put_cstr(&mp, r->cuid);
        mp_put_cstr(&mp, "nsp");
        mp_put_cstr(&mp, nsp);
        if (natts) {
            sl_buf_append(out, mp.data, mp.len);
        } else {
            const char *p = mp.data;
            rc = sl_mpjson_to_json(out, &p, mp.data + mp.len, NULL, NULL);
        }
    }
    sl_buf_free(&mp);
    return rc;
}

/* Node's test for "a socket id" when choosing a broadcast's channel. */
static int looks_like_a_sid(const sio_slice_t *room) { return room->len == 20; }

/* <key>#<nsp># or, in the dynamic modes, <key>#<nsp>#<room># for a plain
 * broadcast to exactly one room (public only, unless dynamic-private):
 * the servers holding members of that room listen there. */
static void sharded_channel(sl_buf_t *ch, const sio_redis_t *r, const char *nsp,
                            const sio_target_t *t, int with_ack)
{
    sl_buf_appendf(ch, "%s#%s#", r->opts.key, nsp);
    int mode = r->opts.subscription_mode;
    if (with_ack || t->nrooms != 1 || mode == SIO_REDIS_SUB_STATIC)
        return;
    if (mode == SIO_REDIS_SUB_DYNAMIC && looks_like_a_sid(&t->rooms[0]))
        return;
    sl_buf_append(ch, t->rooms[0].p, t->rooms[0].len);
    sl_buf_append_byte(ch, '#');
}

static int sharded_broadcast(const sio_redis_t *r, sl_buf_t *msg, sl_buf_t *ch, const char *nsp,
                             const sio_target_t *t, unsigned flags, const char *json, size_t len,
                             const sio_packet_bin_t *atts, unsigned natts)
{
    int rc = build_cluster_broadcast(msg, r, nsp, t, flags, json, len, atts, natts, NULL, 0);
    if (rc == 0)
        sharded_channel(ch, r, nsp, t, 0);
    return rc;
}

/* Requests go on the namespace's main channel, whose subscribers are the
 * servers to wait for. */
static void sharded_request_channel(sl_buf_t *ch, const sio_redis_t *r, const char *nsp)
{
    sl_buf_appendf(ch, "%s#%s#", r->opts.key, nsp);
}

/* The ClusterAdapter type of a request, by its classic number. */
static int cluster_type(int kind)
{
    switch (kind) {
    case REQ_REMOTE_JOIN: return SIO_CLUSTER_SOCKETS_JOIN;
    case REQ_REMOTE_LEAVE: return SIO_CLUSTER_SOCKETS_LEAVE;
    case REQ_REMOTE_DISCONNECT: return SIO_CLUSTER_DISCONNECT_SOCKETS;
    case REQ_REMOTE_FETCH: return SIO_CLUSTER_FETCH_SOCKETS;
    case REQ_SERVER_SIDE_EMIT: return SIO_CLUSTER_SERVER_SIDE_EMIT;
    case REQ_BROADCAST: return SIO_CLUSTER_BROADCAST;
    default: return 0;
    }
}

static void sharded_req_open(const sio_redis_t *r, sl_buf_t *b, int kind)
{
    (void)r;
    sio_cluster_json_open(b, cluster_type(kind));
}

static void sharded_req_close(const sio_redis_t *r, sl_buf_t *b, const char *nsp,
                              const char *request_id)
{
    sio_cluster_json_close(b, request_id, r->cuid, nsp);
}

/* Always on the main channel: the expected answers are counted over every
 * server of the namespace. */
static int sharded_broadcast_with_ack(const sio_redis_t *r, sl_buf_t *b, const char *request_id,
                                      const char *nsp, const sio_target_t *t, const char *json,
                                      size_t len, const sio_packet_bin_t *atts, unsigned natts,
                                      long ack_id, unsigned timeout_ms)
{
    (void)ack_id; /* ClusterAdapter's receivers number the acks themselves */
    return build_cluster_broadcast(b, r, nsp, t, 0, json, len, atts, natts, request_id, timeout_ms);
}

/* In sharded mode, answers go to the requester's own channel, so the
 * request id handed to the layer above (and back with the answer) is
 * "<requester uid>#<request id>" (on_smessage); uids never hold a '#'. */
static int split_rid(const char *rid, char *uid, size_t cap, const char **id)
{
    const char *hash = strchr(rid, '#');
    if (!hash || (size_t)(hash - rid) >= cap)
        return -1;
    memcpy(uid, rid, (size_t)(hash - rid));
    uid[hash - rid] = '\0';
    *id = hash + 1;
    return 0;
}

/* {"type":T,"data":{"requestId":R, then the caller's fields; rid is
 * "<requester uid>#<request id>", T a ClusterAdapter response type. */
static int open_response(sl_buf_t *b, const char *rid, int type)
{
    char uid[64];
    const char *id;
    if (split_rid(rid, uid, sizeof uid, &id) != 0)
        return -1;
    sio_cluster_json_open(b, type);
    sl_buf_append_str(b, "\"requestId\":");
    json_str(b, id, strlen(id));
    return 0;
}

/* Of the requests run_request answers, ClusterAdapter sends fetchSockets
 * only (the others come with opts and get no answer, as in Node). */
static int sharded_begin_response(const sio_redis_t *r, sl_buf_t *b, const char *rid, int kind)
{
    (void)r;
    return open_response(b, rid, kind == REQ_REMOTE_FETCH ? SIO_CLUSTER_FETCH_SOCKETS_RESPONSE : 0);
}

/* On <key>#<nsp>#<requester uid>#. */
static void sharded_finish_response(sio_redis_t *r, sio_nsp_t *nsp, sl_buf_t *body,
                                    const char *rid)
{
    char uid[64];
    const char *id;
    if (split_rid(rid, uid, sizeof uid, &id) != 0)
        return;
    const char *name = sio_nsp_name(nsp);
    sio_cluster_json_close(body, NULL, r->cuid, name);
    sl_buf_t ch = SL_BUF_INIT;
    sl_buf_appendf(&ch, "%s#%s#%s#", r->opts.key, name, uid);
    publish(r, ch.data, ch.len, body->data, body->len);
    sl_buf_free(&ch);
}

/* An answer carrying one JSON value as its "packet" (an ack). */
static void sharded_packet_response(sio_redis_t *r, sio_nsp_t *nsp, const char *request_id, int type,
                                    const char *json, size_t len)
{
    sl_buf_t b = SL_BUF_INIT;
    if (open_response(&b, request_id, type) == 0) {
        sio_cluster_field(&b, "packet");
        if (len)
            sl_buf_append(&b, json, len);
        else
            sl_buf_append_str(&b, "null");
        sharded_finish_response(r, nsp, &b, request_id);
    }
    sl_buf_free(&b);
}

static void sharded_server_side_ack(sio_redis_t *r, sio_nsp_t *nsp, const char *request_id,
                                    const char *json, size_t len)
{
    sharded_packet_response(r, nsp, request_id, SIO_CLUSTER_SERVER_SIDE_EMIT_RESPONSE, json, len);
}

static void sharded_broadcast_count(sio_redis_t *r, sio_nsp_t *nsp, const char *request_id,
                                    long count)
{
    sl_buf_t b = SL_BUF_INIT;
    if (open_response(&b, request_id, SIO_CLUSTER_BROADCAST_CLIENT_COUNT) == 0) {
        sl_buf_appendf(&b, ",\"clientCount\":%ld", count);
        sharded_finish_response(r, nsp, &b, request_id);
    }
    sl_buf_free(&b);
}

static void sharded_broadcast_ack(sio_redis_t *r, sio_nsp_t *nsp, const char *request_id,
                                  const char *json, size_t len)
{
    sharded_packet_response(r, nsp, request_id, SIO_CLUSTER_BROADCAST_ACK, json, len);
}

/* Sharded: a ClusterAdapter response to one of our requests. */
static void on_cluster_response(sio_redis_t *r, const sio_cluster_msg_t *m)
{
    pending_t *q = pending_find(r, m->request_id);
    if (!q)
        return;
    switch (m->type) {
    case SIO_CLUSTER_FETCH_SOCKETS_RESPONSE:
        if (q->type == REQ_REMOTE_FETCH)
            pending_answered(q, m->sockets, m->end);
        break;
    case SIO_CLUSTER_SERVER_SIDE_EMIT_RESPONSE:
        if (q->type == REQ_SERVER_SIDE_EMIT)
            pending_answered(q, m->packet, m->end);
        break;
    case SIO_CLUSTER_BROADCAST_CLIENT_COUNT:
        if (q->type == REQ_BROADCAST && m->client_count >= 0)
            broadcast_counted(q, m->client_count);
        break;
    case SIO_CLUSTER_BROADCAST_ACK:
        if (q->type == REQ_BROADCAST)
            broadcast_acked(q, m->packet, m->end);
        break;
    }
}

/* A ClusterAdapter message on one of our shard channels. Which channel it
 * came on doesn't matter: its type tells a response from a request, as in
 * Node's ClusterAdapter.onMessage. */
static void on_smessage(int kind, const char *ch, size_t clen, const char *msg, size_t len, void *ud)
{
    (void)kind;
    sio_redis_t *r = ud;
    sl_buf_t scratch = SL_BUF_INIT;
    sio_cluster_msg_t m;
    if (sio_cluster_decode(msg, len, &scratch, &m) != 0) {
        SL_WARN("adapter", "malformed cluster message (%zu bytes) on %.*s, dropped", len, (int)clen,
                ch);
        goto out;
    }
    if (!strcmp(m.uid, r->cuid))
        goto out; /* our own */
    SL_DEBUG("adapter", "cluster message type %d from %s on %.*s", m.type, m.uid, (int)clen, ch);
    if (sio_cluster_is_response(m.type)) {
        on_cluster_response(r, &m);
        goto out;
    }
    sio_nsp_t *nsp = sio_server_find_nsp(r->sio, m.nsp);
    if (!nsp)
        goto out;
    request_t q;
    memset(&q, 0, sizeof q);
    snprintf(q.uid, sizeof q.uid, "%s", m.uid);
    if (m.request_id[0])
        snprintf(q.request_id, sizeof q.request_id, "%s#%s", m.uid, m.request_id);
    q.opts = m.opts;
    q.rooms = m.rooms;
    q.close = m.close;
    switch (m.type) {
    case SIO_CLUSTER_BROADCAST:
        if (!m.packet || !m.opts)
            break;
        if (!m.request_id[0]) {
            deliver_broadcast(r, m.nsp, m.packet, m.opts, m.end);
            break;
        }
        q.type = REQ_BROADCAST;
        q.packet = m.packet;
        run_request(r, nsp, &q, m.end);
        break;
    case SIO_CLUSTER_SOCKETS_JOIN:
    case SIO_CLUSTER_SOCKETS_LEAVE:
    case SIO_CLUSTER_DISCONNECT_SOCKETS:
        if (!m.opts)
            break;
        q.type = m.type == SIO_CLUSTER_SOCKETS_JOIN    ? REQ_REMOTE_JOIN
                 : m.type == SIO_CLUSTER_SOCKETS_LEAVE ? REQ_REMOTE_LEAVE
                                                       : REQ_REMOTE_DISCONNECT;
        run_request(r, nsp, &q, m.end);
        break;
    case SIO_CLUSTER_FETCH_SOCKETS:
        if (!m.opts || !m.request_id[0])
            break;
        q.type = REQ_REMOTE_FETCH;
        run_request(r, nsp, &q, m.end);
        break;
    case SIO_CLUSTER_SERVER_SIDE_EMIT:
        if (!m.packet)
            break;
        q.type = REQ_SERVER_SIDE_EMIT;
        q.data = m.packet;
        run_request(r, nsp, &q, m.end);
        break;
    case SIO_CLUSTER_INITIAL_HEARTBEAT:
    case SIO_CLUSTER_HEARTBEAT:
    case SIO_CLUSTER_ADAPTER_CLOSE:
        break; /* ClusterAdapterWithHeartbeat's; the Redis adapters count with (SHARD)NUMSUB */
    default:
        SL_DEBUG("adapter", "cluster message type %d on %s not handled", m.type, m.nsp);
        break;
    }
out:
    sl_buf_free(&scratch);
}

static void sharded_nsp_created(void *ud, sio_nsp_t *nsp)
{
    sio_redis_t *r = ud;
    sl_buf_t ch = SL_BUF_INIT;
    sl_buf_appendf(&ch, "%s#%s#", r->opts.key, sio_nsp_name(nsp));
    sl_redis_sub_add(r->sub, SL_REDIS_SUB_SHARD, ch.data, ch.len);
    sl_buf_appendf(&ch, "%s#", r->cuid);
    sl_redis_sub_add(r->sub, SL_REDIS_SUB_SHARD, ch.data, ch.len);
    sl_buf_free(&ch);
}

/* Whether a room gets a channel of its own: every room a publisher may
 * send to on <key>#<nsp>#<room>#. In "dynamic" mode publishers (Node's
 * rule) keep 20-character names, which look like socket ids, on the main
 * channel; any other name, own-id room or not, is published on its own. */
static int room_has_channel(const sio_redis_t *r, size_t len, int is_private)
{
    switch (r->opts.subscription_mode) {
    case SIO_REDIS_SUB_DYNAMIC_PRIVATE:
        return 1;
    case SIO_REDIS_SUB_DYNAMIC:
        return !is_private || len != 20;
    default:
        return 0;
    }
}

static void room_channel(sl_buf_t *ch, const sio_redis_t *r, sio_nsp_t *nsp, const char *room,
                         size_t len)
{
    sl_buf_appendf(ch, "%s#%s#", r->opts.key, sio_nsp_name(nsp));
    sl_buf_append(ch, room, len);
    sl_buf_append_byte(ch, '#');
}

static void sharded_room_created(void *ud, sio_nsp_t *nsp, const char *room, size_t len,
                                 int is_private)
{
    sio_redis_t *r = ud;
    if (!room_has_channel(r, len, is_private))
        return;
    sl_buf_t ch = SL_BUF_INIT;
    room_channel(&ch, r, nsp, room, len);
    if (sl_redis_sub_add(r->sub, SL_REDIS_SUB_SHARD, ch.data, ch.len) != 0)
        SL_ERROR("adapter", "out of memory: room %.*s gets no channel", (int)len, room);
    sl_buf_free(&ch);
}

static void sharded_room_deleted(void *ud, sio_nsp_t *nsp, const char *room, size_t len,
                                 int is_private)
{
    sio_redis_t *r = ud;
    if (!room_has_channel(r, len, is_private))
        return;
    sl_buf_t ch = SL_BUF_INIT;
    room_channel(&ch, r, nsp, room, len);
    sl_redis_sub_remove(r->sub, SL_REDIS_SUB_SHARD, ch.data, ch.len);
    sl_buf_free(&ch);
}

static int sharded_subscribe(sio_redis_t *r)
{
    r->sub = sl_redis_sub_new(r->loop, r->pub, "adapter ssub", r->ping_ms, on_smessage, r);
    return r->sub ? 0 : -1;
}

static const redis_mode_t sharded_mode = {
    .publish = "SPUBLISH",
    .numsub = "SHARDNUMSUB",
    .sse_field = "packet",
    .opts_extra = ",\"flags\":{}",
    .all_rooms = 0,
    .uid = sharded_uid,
    .subscribe = sharded_subscribe,
    .nsp_created = sharded_nsp_created,
    .broadcast = sharded_broadcast,
    .request_channel = sharded_request_channel,
    .req_open = sharded_req_open,
    .req_close = sharded_req_close,
    .broadcast_with_ack = sharded_broadcast_with_ack,
    .begin_response = sharded_begin_response,
    .finish_response = sharded_finish_response,
    .server_side_ack = sharded_server_side_ack,
    .broadcast_count = sharded_broadcast_count,
    .broadcast_ack = sharded_broadcast_ack,
    .room_created = sharded_room_created,
    .room_deleted = sharded_room_deleted,
};

/* ---- life cycle ----------------------------------------------------------- */

sio_redis_t *sio_redis_new(uv_loop_t *loop, sio_server_t *srv, const char *url,
                           const sio_redis_opts_t *opts)
{
    sl_redis_url_t u;
    char why[256];
    if (sl_redis_url_parse(url, &u, why, sizeof why) != 0)
        return NULL; /* the caller checked the URL and told why */
    sio_redis_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->loop = loop;
    r->sio = srv;
    if (opts)
        r->opts = *opts;
    else
        sio_redis_opts_init(&r->opts);
    r->mode = r->opts.sharded ? &sharded_mode : &classic_mode;
    if (!r->opts.label[0])
        strcpy(r->opts.label, "redis");
    snprintf(u.label, sizeof u.label, "%s", r->opts.label);
    if (sl_redis_url_set_cluster(&u, r->opts.cluster, why, sizeof why)) {
        SL_ERROR("adapter", "%s", why);
        free(r);
        return NULL;
    }
    /* A subscriber hears nothing on a quiet cluster: it pings as often as
     * a command may wait, so a hung Redis is noticed there too. */
    r->ping_ms = r->opts.command_timeout_ms ? r->opts.command_timeout_ms : 5000;
    /* 6 characters of [a-z0-9], as uid2(6) makes. */
    char id[21];
    if (eio_random_id(id)) {
        free(r);
        return NULL;
    }
    static const char alnum[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    for (int i = 0; i < 6; i++)
        r->uid[i] = alnum[(unsigned char)id[i] % 36];
    r->uid[6] = '\0';
    memcpy(r->cuid, r->uid, 6);
    for (int i = 0; i < 10; i++)
        r->cuid[6 + i] = alnum[(unsigned char)id[6 + i] % 36];
    r->cuid[16] = '\0';
    /* Requests count the servers on every node of a cluster: the link keeps
     * a connection to each. */
    sl_redis_link_opts_t lo = {
        .name = "adapter pub",
        .command_timeout_ms = r->opts.command_timeout_ms,
        .all_nodes = 1,
    };
    r->pub = sl_redis_link_new(loop, &u, &lo, on_pub_state, r, why, sizeof why);
    if (!r->pub)
        SL_ERROR("adapter", "cannot use %s: %s", r->opts.label, why);
    r->nodes = r->pub ? sl_node_registry_new(loop, r->pub, r->opts.key, r->uid) : NULL;
    if (!r->nodes || r->mode->subscribe(r) != 0) {
        sl_node_registry_close(r->nodes);
        sl_redis_sub_close(r->sub);
        sl_redis_link_close(r->pub);
        free(r);
        return NULL;
    }
    /* Sessions carry this node's id, so any node can find their owner. */
    eio_options_t *eo = eio_server_options_mut(sio_server_eio(srv));
    memcpy(eo->sid_prefix, r->uid, 7);
    uv_timer_init(loop, &r->announce);
    r->announce.data = r;
    uv_timer_start(&r->announce, announce_cb, TICK_MS, TICK_MS);
    r->announce_on = 1;
    sio_adapter_t a = {
        .nsp_created = r->mode->nsp_created,
        .broadcast = adapter_broadcast,
        .ud = r,
        .fetch_sockets = adapter_fetch_sockets,
        .all_rooms = adapter_all_rooms,
        .sockets_join = adapter_sockets_join,
        .sockets_leave = adapter_sockets_leave,
        .disconnect_sockets = adapter_disconnect_sockets,
        .server_side_emit = adapter_server_side_emit,
        .server_side_ack = adapter_server_side_ack,
        .broadcast_with_ack = adapter_broadcast_with_ack,
        .broadcast_count = adapter_broadcast_count,
        .broadcast_ack = adapter_broadcast_ack,
        .session_put = adapter_session_put,
        .session_take = adapter_session_take,
    };
    /* Per-room channels only where a mode needs them: no cost per join
     * otherwise. */
    if (r->mode->room_created && r->opts.subscription_mode != SIO_REDIS_SUB_STATIC) {
        a.room_created = r->mode->room_created;
        a.room_deleted = r->mode->room_deleted;
    }
    sio_server_set_adapter(srv, &a);
    return r;
}

static void redis_freed(uv_handle_t *h) { free(h->data); }

void sio_redis_close(sio_redis_t *r)
{
    if (!r)
        return;
    while (r->pending)
        pending_finish(r->pending, 0);
    sl_node_registry_close(r->nodes); /* lookups still waiting: unknown */
    r->nodes = NULL;
    sio_server_set_adapter(r->sio, NULL);
    sl_redis_sub_close(r->sub);
    sl_redis_link_close(r->pub);
    if (r->announce_on)
        uv_close((uv_handle_t *)&r->announce, redis_freed);
    else
        free(r);
}
