/* L5 sio/sio: the Socket.IO v5 server over an L3 Engine.IO server: one client
 * per Engine.IO session, namespaces multiplexed on it, sockets, rooms,
 * broadcasting (encoded once, the same bytes written to every recipient),
 * acks by id, binary attachments, connect timeout, disconnect reasons.
 * Middlewares, handlers and ack callbacks live above (Lua): this layer
 * calls up through sio_handler_t and is called through the functions here.
 * Knows nothing of Lua, JSON values or transports. */
#ifndef SL_SIO_H
#define SL_SIO_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "base/buf.h"
#include "eio/eio.h"
#include "sio/sio_packet.h"

typedef struct sio_server sio_server_t;
typedef struct sio_nsp sio_nsp_t;
typedef struct sio_socket sio_socket_t;
typedef struct sio_client sio_client_t;
typedef struct sio_target sio_target_t;

/* The longest namespace name a client may join, in bytes (Node has no
 * limit but maxHttpBufferSize). A CONNECT for a longer one, or for a name
 * holding a NUL byte, gets CONNECT_ERROR "Invalid namespace". */
#define SIO_NSP_NAME_MAX 255

/* The packet codec every client of the server speaks (Node's `parser`
 * option): socket.io-parser's text packets and attachments (sio_packet.h),
 * or socket.io-msgpack-parser's maps (sio_packet_msgpack.h). */
enum { SIO_PARSER_DEFAULT = 0, SIO_PARSER_MSGPACK = 1 };

typedef struct sio_options {
    uint32_t connect_timeout_ms;     /* 45000: no namespace joined -> close */
    unsigned parser : 1;             /* SIO_PARSER_* */
    unsigned recovery : 1;           /* connectionStateRecovery enabled */
    uint32_t recovery_max_ms;        /* maxDisconnectionDuration, 120000 */
} sio_options_t;

/* The defaults (Node's socket.io 4.8). The fields are set by name and
 * checked by the typed options table (cmd/options.c). */
void sio_options_init(sio_options_t *o);

/* What the layer above hears. ud is the one given to sio_server_new. */
typedef struct sio_handler {
    /* A CONNECT names a namespace that does not exist: return one (dynamic
     * namespaces) or NULL (the client gets "Invalid namespace"). */
    sio_nsp_t *(*resolve_nsp)(sio_server_t *srv, const char *name, const char *auth,
                              size_t auth_len, void *ud);
    /* A CONNECT for namespace s->nsp: s exists but is not connected. The
     * layer above runs its middlewares and then calls sio_socket_accept or
     * sio_socket_refuse, now or later. auth is the raw JSON object ("{}"
     * when none was sent). */
    void (*on_connecting)(sio_socket_t *s, const char *auth, size_t auth_len, void *ud);
    /* An EVENT/BINARY_EVENT or ACK/BINARY_ACK for a connected socket: args is
     * the raw JSON array (placeholders still in it), atts the attachments. */
    void (*on_packet)(sio_socket_t *s, const sio_packet_t *pkt, const sio_packet_bin_t *atts,
                      unsigned natts, void *ud);
    /* A connected socket is leaving (reason as Node names it): still in its
     * rooms and its namespace during the call ("disconnecting"). */
    void (*on_disconnecting)(sio_socket_t *s, const char *reason, void *ud);
    /* It has left its rooms and its namespace ("disconnect"); still
     * readable (id) during the call; freed after on_free. */
    void (*on_disconnect)(sio_socket_t *s, const char *reason, void *ud);
    /* Last event of every socket, connected or not: drop pointers to it. */
    void (*on_free)(sio_socket_t *s, void *ud);

    /* Optional: what the installed adapter hands in from the other servers
     * of a cluster (see "adapter" below). */
    /* A fetchSockets answer needs the socket as the other servers see it:
     * append {"id":..,"handshake":{..},"rooms":[..],"data":..} to out. */
    void (*describe_socket)(sio_socket_t *s, sl_buf_t *out, void *ud);
    /* Another server's serverSideEmit: args is the JSON arguments array
     * (event first). request_id is non-NULL when that server waits for an
     * answer: the layer above then calls sio_adapter_server_side_ack once
     * with a copy of it. */
    void (*on_server_side_emit)(sio_nsp_t *nsp, const char *args, size_t len,
                                const char *request_id, void *ud);
    /* Another server's broadcast with acks: emit args (JSON array with
     * attachments) with an ack id to the target's local sockets, then call
     * sio_adapter_broadcast_count once and sio_adapter_broadcast_ack per
     * ack, until timeout_ms. */
    void (*on_broadcast_with_ack)(sio_nsp_t *nsp, const sio_target_t *t, const char *args,
                                  size_t len, const sio_packet_bin_t *atts, unsigned natts,
                                  const char *request_id, unsigned timeout_ms, void *ud);
    /* Another server's broadcast, after it was delivered here: with
     * connection state recovery on (not volatile), to be logged for
     * recovery; while SIO_WATCH_EVENTS is on (volatile too), for a
     * dashboard to hear what its recipients here were sent. */
    void (*on_remote_broadcast)(sio_nsp_t *nsp, const sio_target_t *t, const char *args,
                                size_t len, const sio_packet_bin_t *atts, unsigned natts, void *ud);

    /* Optional, and only while sio_server_watch has SIO_WATCH_EVENTS. */
    /* s joined (joined = 1) or left a room, whatever made it: its own-id
     * room at accept, the layer above, another server's socketsJoin, or a
     * disconnect leaving them all (between on_disconnecting and
     * on_disconnect). s must not join or leave rooms during the call. */
    void (*on_room)(sio_socket_t *s, const char *room, size_t len, int joined, void *ud);
    /* The session of s (a connected socket) moved to another transport (an
     * upgrade to "websocket"): called for each of its connected sockets. */
    void (*on_transport)(sio_socket_t *s, const char *transport, void *ud);
} sio_handler_t;

sio_server_t *sio_server_new(uv_loop_t *loop, const eio_options_t *eopts,
                             const sio_options_t *opts, const sio_handler_t *h, void *ud);
eio_server_t *sio_server_eio(sio_server_t *srv);
/* Options may change until the server listens (the app configures it). */
sio_options_t *sio_server_options_mut(sio_server_t *srv);
/* Disconnects every socket ("server shutting down") and closes sessions. */
void sio_server_close_all(sio_server_t *srv);
void sio_server_free(sio_server_t *srv);
size_t sio_server_client_count(const sio_server_t *srv);

/* Plain counters kept as packets go (an addition each), read at scrape
 * time; connected sockets per namespace are sio_nsp_socket_count. */
typedef struct sio_stats {
    uint64_t packets_received; /* whole packets from clients (attachments included) */
    uint64_t packets_sent;     /* packets written to clients, one per recipient */
    uint64_t broadcasts;       /* sio_nsp_emit calls: broadcasts made here */
} sio_stats_t;
const sio_stats_t *sio_server_stats(const sio_server_t *srv);

/* Namespaces. Names start with '/'. of() creates it when missing. */
sio_nsp_t *sio_server_of(sio_server_t *srv, const char *name);
sio_nsp_t *sio_server_find_nsp(sio_server_t *srv, const char *name);
/* Removes a namespace that has no socket ("/" stays). 0, or -EBUSY. */
int sio_server_remove_nsp(sio_server_t *srv, sio_nsp_t *nsp);
const char *sio_nsp_name(const sio_nsp_t *nsp);
sio_server_t *sio_nsp_server(const sio_nsp_t *nsp);
void sio_nsp_set_data(sio_nsp_t *nsp, void *data);
void *sio_nsp_data(const sio_nsp_t *nsp);
size_t sio_nsp_socket_count(const sio_nsp_t *nsp);

/* ---- outgoing packets --------------------------------------------------- */

/* One encoded packet: its first frame and the binary attachments that
 * follow it, each laid out once for every transport (eio_msg_t: one
 * refcounted buffer shared by every recipient's queue, WebSocket frame
 * header included, with the cache of its compressed frame, which fills as
 * the packet is written). With the default parser the first frame is text;
 * with the msgpack parser it is the whole packet, binary (text.binary), and
 * there are no attachments. */
typedef struct sio_out {
    eio_msg_t text;
    eio_msg_t *atts;
    unsigned natts;
    unsigned plain : 1;       /* never compressed: compress(false) */
} sio_out_t;

/* Builds the packet `type` (EVENT, ACK, CONNECT_ERROR, DISCONNECT...) for
 * namespace nsp with the JSON payload (may be NULL) and attachments (the
 * payload holds their placeholders), in the parser of srv. EVENT/ACK
 * become BINARY_* when natts > 0. ack_id < 0: none. Returns 0 or a
 * negative error. */
int sio_out_build(sio_out_t *out, const sio_server_t *srv, sio_packet_type_t type, const char *nsp,
                  int64_t ack_id, const char *json, size_t json_len, const sio_packet_bin_t *atts,
                  unsigned natts);
void sio_out_release(sio_out_t *out);

/* ---- sockets ------------------------------------------------------------ */

/* Finish a pending CONNECT: send the CONNECT reply (with pid, the private
 * session id of connection state recovery, unless it is NULL), join the
 * room named after the id, and count the socket in the namespace. */
int sio_socket_accept(sio_socket_t *s, const char *pid);
/* Before accepting: the id of a restored session. -EINVAL after accept. */
int sio_socket_set_identity(sio_socket_t *s, const char *id);
void sio_server_recovery(const sio_server_t *srv, int *enabled, uint32_t *max_ms);

/* Refuse a pending CONNECT with CONNECT_ERROR {"message":msg,"data":data}
 * (data_json may be NULL); the socket is freed. */
void sio_socket_refuse(sio_socket_t *s, const char *msg, const char *data_json, size_t data_len);
/* Writes one packet to this socket, connected or still connecting (an
 * EVENT before the CONNECT reply, as Node's socket.emit in a middleware:
 * the client keeps it until it is connected). Returns 0, -EPIPE when
 * gone. */
int sio_socket_send(sio_socket_t *s, sio_out_t *out);
/* Whether a volatile packet would be written now (no backlog). */
int sio_socket_writable(const sio_socket_t *s);
/* Server-side disconnect: DISCONNECT packet, reason "server namespace
 * disconnect"; with close_conn the whole Engine.IO session closes too. */
void sio_socket_disconnect(sio_socket_t *s, int close_conn);

int sio_socket_join(sio_socket_t *s, const char *room, size_t len);
int sio_socket_leave(sio_socket_t *s, const char *room, size_t len);
/* Calls cb for each room the socket is in (first is its own id). */
void sio_socket_each_room(const sio_socket_t *s, void (*cb)(const char *room, size_t len, void *ud),
                          void *ud);
int sio_socket_in_room(const sio_socket_t *s, const char *room, size_t len);

const char *sio_socket_id(const sio_socket_t *s);
/* The id of its Engine.IO session (Node's socket.conn.id). */
const char *sio_socket_session_id(const sio_socket_t *s);
sio_nsp_t *sio_socket_nsp(const sio_socket_t *s);
int sio_socket_connected(const sio_socket_t *s);
void sio_socket_set_data(sio_socket_t *s, void *data);
void *sio_socket_data(const sio_socket_t *s);
/* The session's Engine.IO transport name, and whether this socket was
 * restored by connection state recovery. */
const char *sio_socket_transport(const sio_socket_t *s);
int sio_socket_recovered(const sio_socket_t *s);

/* The handshake of the socket's connection, copied at Engine.IO open into
 * one block with the client: the URL, the address and the headers, back to
 * back, nothing else (the query is the URL's own tail), the headers most
 * clients send as a byte each (see sio.c). */
typedef struct sio_handshake {
    const char *headers;  /* nheaders records: read them in turn with
                             sio_handshake_header */
    int nheaders;
    const char *query;    /* raw query string */
    const char *url;      /* request target */
    const char *address;  /* peer address */
    uint64_t time_ms;     /* wall clock at handshake, ms since epoch */
    int secure;
} sio_handshake_t;
/* Fills *out; its strings live as long as the socket. */
void sio_socket_handshake(const sio_socket_t *s, sio_handshake_t *out);
/* The header record at *at (start at hs.headers): its name (lower-cased)
 * and value; *at moves to the next record. */
void sio_handshake_header(const char **at, const char **name, const char **value);

/* ---- selecting and broadcasting ----------------------------------------- */

typedef struct sio_slice {
    const char *p;
    size_t len;
} sio_slice_t;

/* Which sockets of a namespace: members of any of `rooms` (all sockets when
 * nrooms == 0), minus members of any of `except`. Each socket at most once. */
struct sio_target {
    const sio_slice_t *rooms;
    size_t nrooms;
    const sio_slice_t *except;
    size_t nexcept;
    unsigned volatile_ : 1;   /* skip sockets that can't take it now */
    unsigned plain : 1;       /* never compressed: compress(false) */
};

/* Calls cb for every selected connected socket; cb must not disconnect or
 * free sockets other than the one it is given (the iteration is safe
 * against the current one leaving rooms or disconnecting). Returns count. */
size_t sio_nsp_select(sio_nsp_t *nsp, const sio_target_t *t,
                      void (*cb)(sio_socket_t *s, void *ud), void *ud);
/* Writes out to every selected socket. Returns the number of recipients. */
size_t sio_nsp_broadcast(sio_nsp_t *nsp, const sio_target_t *t, sio_out_t *out);

/* ---- adapter (cluster) --------------------------------------------------- */

/* Broadcast flags that cross the adapter. */
enum { SIO_FLAG_VOLATILE = 1, SIO_FLAG_LOCAL = 2, SIO_FLAG_PLAIN = 4 /* compress(false) */ };

/* What a cluster request gathered: the items of every server's answer
 * list ("sockets", "rooms", or serverSideEmit/broadcast acks) joined as
 * the inside of one JSON array (no brackets), and whether every server
 * answered in time. */
typedef void (*sio_reply_cb)(const char *items, size_t len, int complete, void *ud);
/* A recovery session taken back: its JSON, or NULL when there is none. */
typedef void (*sio_session_cb)(const char *json, size_t len, void *ud);

/* What the server tells a cluster adapter (e.g. Redis): every namespace
 * that exists (to subscribe its channels) and every broadcast that is not
 * local (to publish it). json/atts are the event's arguments array and its
 * attachments. */
typedef struct sio_adapter {
    void (*nsp_created)(void *ud, sio_nsp_t *nsp);
    void (*broadcast)(void *ud, sio_nsp_t *nsp, const sio_target_t *t, unsigned flags,
                      const char *json, size_t len, const sio_packet_bin_t *atts, unsigned natts);
    void *ud;
    /* Optional: a room of nsp got its first member / lost its last one
     * (a sharded adapter holds a channel per room). is_private: the room
     * is a socket's own-id room. Not called for rooms freed with their
     * namespace. */
    void (*room_created)(void *ud, sio_nsp_t *nsp, const char *room, size_t len, int is_private);
    void (*room_deleted)(void *ud, sio_nsp_t *nsp, const char *room, size_t len, int is_private);

    /* Optional: the requests to the other servers, as Node's adapters
     * have them (called through the sio_adapter_* functions below, which
     * document them). A request that gathers answers returns 0 when it is
     * under way (its callback is then called once, later) or a negative
     * error (its callback is not called); the others are fire and forget. */
    int (*fetch_sockets)(void *ud, sio_nsp_t *nsp, const sio_target_t *t, sio_reply_cb cb,
                         void *cb_ud);
    int (*all_rooms)(void *ud, sio_nsp_t *nsp, sio_reply_cb cb, void *cb_ud);
    int (*sockets_join)(void *ud, sio_nsp_t *nsp, const sio_target_t *t, const sio_slice_t *rooms,
                        size_t nrooms);
    int (*sockets_leave)(void *ud, sio_nsp_t *nsp, const sio_target_t *t,
                         const sio_slice_t *rooms, size_t nrooms);
    int (*disconnect_sockets)(void *ud, sio_nsp_t *nsp, const sio_target_t *t, int close);
    int (*server_side_emit)(void *ud, sio_nsp_t *nsp, const char *json, size_t len,
                            sio_reply_cb cb, void *cb_ud);
    void (*server_side_ack)(void *ud, sio_nsp_t *nsp, const char *request_id, const char *json,
                            size_t len);
    int (*broadcast_with_ack)(void *ud, sio_nsp_t *nsp, const sio_target_t *t, const char *json,
                              size_t len, const sio_packet_bin_t *atts, unsigned natts,
                              long ack_id, unsigned timeout_ms, sio_reply_cb cb, void *cb_ud);
    void (*broadcast_count)(void *ud, sio_nsp_t *nsp, const char *request_id, long count);
    void (*broadcast_ack)(void *ud, sio_nsp_t *nsp, const char *request_id, const char *json,
                          size_t len);
    int (*session_put)(void *ud, const char *pid, const char *json, size_t len, unsigned ttl_ms);
    int (*session_take)(void *ud, const char *pid, sio_session_cb cb, void *cb_ud);
} sio_adapter_t;

/* Installs the adapter (NULL: in-memory only); it is told of the
 * namespaces that exist already. */
void sio_server_set_adapter(sio_server_t *srv, const sio_adapter_t *a);

/* ---- cluster requests, through whatever adapter is installed ------------- */

/* The layer above asks "the adapter" without knowing which one is
 * installed (none, Redis classic or sharded, the workers' local bus). Each
 * call reaches the OTHER servers only: the caller does this server's part
 * itself. With no adapter installed (or one without that request), calls
 * that gather answers return -ENOTSUP at once (there are no other servers:
 * the local part is the whole answer) and the others do nothing. */

/* Whether an adapter is installed (requests then reach other servers). */
int sio_adapter_installed(const sio_server_t *srv);
/* fetchSockets of the target's sockets on the other servers; cb gets the
 * items {id, handshake, rooms, data} (see sio_reply_cb). */
int sio_adapter_fetch_sockets(sio_nsp_t *nsp, const sio_target_t *t, sio_reply_cb cb, void *ud);
/* Every room of the namespace on the other servers. */
int sio_adapter_all_rooms(sio_nsp_t *nsp, sio_reply_cb cb, void *ud);
/* socketsJoin / socketsLeave / disconnectSockets on the other servers. */
int sio_adapter_sockets_join(sio_nsp_t *nsp, const sio_target_t *t, const sio_slice_t *rooms,
                             size_t nrooms);
int sio_adapter_sockets_leave(sio_nsp_t *nsp, const sio_target_t *t, const sio_slice_t *rooms,
                              size_t nrooms);
int sio_adapter_disconnect_sockets(sio_nsp_t *nsp, const sio_target_t *t, int close);
/* serverSideEmit: json is the arguments array, event name first. Without
 * cb fire and forget; with cb the other servers' acks are gathered. */
int sio_adapter_server_side_emit(sio_nsp_t *nsp, const char *json, size_t len, sio_reply_cb cb,
                                 void *ud);
/* The answer (a JSON value; len 0: null) to another server's serverSideEmit. */
void sio_adapter_server_side_ack(sio_nsp_t *nsp, const char *request_id, const char *json,
                                 size_t len);
/* A broadcast with acks to the other servers' clients (this server's got
 * it from the caller): cb gets their acks (each client's first ack
 * argument) once every server told its client count and that many acks
 * came, or at timeout_ms. */
int sio_adapter_broadcast_with_ack(sio_nsp_t *nsp, const sio_target_t *t, const char *json,
                                   size_t len, const sio_packet_bin_t *atts, unsigned natts,
                                   long ack_id, unsigned timeout_ms, sio_reply_cb cb, void *ud);
/* The answers to another server's broadcast with acks: how many clients
 * got it here, then each one's first ack argument (JSON; len 0: null). */
void sio_adapter_broadcast_count(sio_nsp_t *nsp, const char *request_id, long count);
void sio_adapter_broadcast_ack(sio_nsp_t *nsp, const char *request_id, const char *json,
                               size_t len);
/* Connection state recovery across servers: a session (JSON) kept for
 * ttl_ms under its private id, taken back (once) by whichever server the
 * client comes back to; take's cb gets NULL when there is none. */
int sio_adapter_session_put(sio_server_t *srv, const char *pid, const char *json, size_t len,
                            unsigned ttl_ms);
int sio_adapter_session_take(sio_server_t *srv, const char *pid, sio_session_cb cb, void *ud);

/* What an adapter hands in from the other servers; the layer above hears
 * it through sio_handler_t. */
/* A broadcast: written to the target's sockets here (and, with recovery
 * on and unless volatile, told to on_remote_broadcast). 0, or a negative
 * error when the packet can't be built. */
int sio_adapter_deliver_broadcast(sio_nsp_t *nsp, const sio_target_t *t, const char *json,
                                  size_t len, const sio_packet_bin_t *atts, unsigned natts);
void sio_adapter_deliver_server_side_emit(sio_nsp_t *nsp, const char *args, size_t len,
                                          const char *request_id);
void sio_adapter_deliver_broadcast_with_ack(sio_nsp_t *nsp, const sio_target_t *t,
                                            const char *args, size_t len,
                                            const sio_packet_bin_t *atts, unsigned natts,
                                            const char *request_id, unsigned timeout_ms);
/* Appends s as a fetchSockets answer item (describe_socket, or its id and
 * rooms with an empty handshake and data when the layer above has none). */
void sio_adapter_describe_socket(sio_socket_t *s, sl_buf_t *out);

/* Emits the EVENT whose arguments array is json (with attachments) to the
 * selected sockets here, and through the adapter to the other servers
 * unless flags has SIO_FLAG_LOCAL. Returns the local recipient count, or a
 * negative error when the packet can't be built. */
long sio_nsp_emit(sio_nsp_t *nsp, const sio_target_t *t, unsigned flags, const char *json,
                  size_t len, const sio_packet_bin_t *atts, unsigned natts);

/* Every room of the namespace (own-id rooms included, as Node's adapter
 * lists them), in no particular order; cb must not join or leave. */
void sio_nsp_each_room(const sio_nsp_t *nsp, void (*cb)(const char *room, size_t len, void *ud),
                       void *ud);
/* A connected socket of the namespace by id, or NULL. */
sio_socket_t *sio_nsp_find_socket(sio_nsp_t *nsp, const char *id, size_t len);
/* The namespace's sockets as Node's namespace.sockets lists them: the
 * connected ones and those in their "disconnecting" handlers. By id (NULL:
 * none), and each in turn (cb must not connect or disconnect any). */
sio_socket_t *sio_nsp_listed_socket(sio_nsp_t *nsp, const char *id, size_t len);
void sio_nsp_each_socket(const sio_nsp_t *nsp, void (*cb)(sio_socket_t *s, void *ud), void *ud);
/* Each namespace of the server, in creation order. */
void sio_server_each_nsp(sio_server_t *srv, void (*cb)(sio_nsp_t *nsp, void *ud), void *ud);

/* ---- watching: what a dashboard shows (the Admin UI) --------------------- */

/* What sio_server_watch turns on. Off (0) by default, when watching costs
 * one test per room change and per message.
 * SIO_WATCH_TRAFFIC: the traffic of the server's sessions is counted per
 *   second of wall clock: sessions opened and closed (with Engine.IO's
 *   reason: "transport close", "ping timeout", "forced close", ...), and
 *   messages in and out with their bytes (every Engine.IO message, each
 *   binary attachment one more; pings and pongs carry none).
 * SIO_WATCH_EVENTS: the handler's on_room and on_transport are called. */
enum { SIO_WATCH_TRAFFIC = 1, SIO_WATCH_EVENTS = 2 };
void sio_server_watch(sio_server_t *srv, unsigned what);

/* The kinds of sio_traffic_t.count. */
enum { SIO_TRAFFIC_OPENED, SIO_TRAFFIC_PACKETS_IN, SIO_TRAFFIC_BYTES_IN, SIO_TRAFFIC_PACKETS_OUT,
       SIO_TRAFFIC_BYTES_OUT, SIO_TRAFFIC_KINDS };

#define SIO_TRAFFIC_REASONS 8
/* One second of traffic. */
typedef struct sio_traffic {
    int64_t sec;                       /* wall clock, seconds since the epoch */
    uint64_t count[SIO_TRAFFIC_KINDS];
    struct {
        const char *reason;            /* static strings of the eio layer */
        uint64_t n;
    } closed[SIO_TRAFFIC_REASONS];     /* sessions closed, per reason */
} sio_traffic_t;

/* Calls cb for each second counted since the last take (at most the last
 * 16: a watcher takes every few seconds), oldest first, and forgets them. */
void sio_server_traffic_take(sio_server_t *srv, void (*cb)(const sio_traffic_t *t, void *ud),
                             void *ud);
/* Sessions whose transport is long-polling now. */
size_t sio_server_polling_count(const sio_server_t *srv);

/* ---- raw Engine.IO under the Socket.IO layer ---------------------------- */

/* Handshake-time hook, e.g. for allowRequest from Lua: return NULL to accept
 * or a message for 403. */
void sio_server_set_allow_request(sio_server_t *srv,
                                  const char *(*cb)(const sl_http_req_t *req, void *ud), void *ud);

#endif
