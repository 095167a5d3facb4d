/* Loadgen L1-5, client side: one Socket.IO client over a WebSocket or over
 * HTTP long-polling. It binds a source address, connects, does the HTTP
 * and RFC 6455 handshakes, answers Engine.IO pings, joins the namespace
 * with a Socket.IO CONNECT and hands events and acks to the scenario
 * through lg_client_cbs_t. It must not know what a scenario measures.
 *
 *   lg_client_start -> TCP -> HTTP (101 | polling handshake) -> OPEN (waits "0{...}")
 *     -> JOIN (sent "40", waits the CONNECT ack) -> READY -> CLOSING -> DEAD -> closed_cb
 */
#ifndef LG_CLIENT_H
#define LG_CLIENT_H

#include <netinet/in.h>
#include <stdint.h>
#include <uv.h>
#include <llhttp.h>

#include "lg_eio.h"

/* Why a client failed or went away; counted per kind in the report. The
 * last few are the scenario's, kept here so that one table names them all. */
typedef enum {
    LG_ERR_NONE = 0,
    LG_ERR_REFUSED,            /* ECONNREFUSED */
    LG_ERR_TIMEOUT,            /* no CONNECT ack within --connect-timeout */
    LG_ERR_ADDR,               /* bind/connect: no address or port left */
    LG_ERR_FDLIMIT,            /* EMFILE/ENFILE */
    LG_ERR_CONNECT,            /* any other connect error */
    LG_ERR_RESET,              /* ECONNRESET, EPIPE */
    LG_ERR_EOF,                /* the server closed the TCP connection */
    LG_ERR_HTTP_STATUS,        /* not 101 (websocket) or 200 (polling) */
    LG_ERR_WS_ACCEPT,          /* missing or wrong Sec-WebSocket-Accept */
    LG_ERR_WS_PROTOCOL,        /* a frame a server must not send */
    LG_ERR_EIO_PROTOCOL,       /* an unexpected Engine.IO / Socket.IO packet */
    LG_ERR_SIO_CONNECT_ERROR,  /* the namespace refused us */
    LG_ERR_SERVER_CLOSE,       /* Engine.IO close, Socket.IO DISCONNECT, WS close */
    LG_ERR_WRITE,              /* a write failed */
    LG_ERR_INFLIGHT_FULL,      /* echo: too many unanswered on one client, not sent */
    LG_ERR_ACK_LOST,           /* echo: no ack by the end of the drain */
    LG_ERR_ACK_UNEXPECTED,     /* an ack for nothing we sent */
    LG_ERR_ACK_MISMATCH,       /* an ack whose arguments are not what we sent */
    LG_ERR_OTHER_EVENT,        /* an event the scenario doesn't expect */
    LG_ERR_COUNT
} lg_err_t;

const char *lg_err_name(lg_err_t e);

typedef enum { LG_TRANSPORT_WEBSOCKET, LG_TRANSPORT_POLLING } lg_transport_t;

typedef enum {
    LG_ST_FREE = 0,            /* never started, or closed and reusable */
    LG_ST_TCP,
    LG_ST_HTTP,
    LG_ST_OPEN,
    LG_ST_JOIN,
    LG_ST_READY,
    LG_ST_CLOSING,
    LG_ST_DEAD,                /* handles closing; closed_cb follows */
} lg_client_state_t;

typedef struct lg_client_s lg_client_t;

typedef struct lg_client_cbs_s {
    void (*connected_cb)(lg_client_t *c);                       /* CONNECT ack */
    void (*event_cb)(lg_client_t *c, const lg_pkt_t *pkt);     /* EVENT, BINARY_EVENT */
    void (*ack_cb)(lg_client_t *c, const lg_pkt_t *pkt);       /* ACK, BINARY_ACK */
    /* Every handle is closed; c->error says why (LG_ERR_NONE when we asked).
     * The slot may be started again after this returns, not during it.
     * May run inside lg_client_abort when the client had nothing open. */
    void (*closed_cb)(lg_client_t *c);
} lg_client_cbs_t;

/* What every client of a process shares. */
typedef struct lg_env_s {
    uv_loop_t *loop;
    struct sockaddr_in server;
    lg_transport_t transport;
    char host[64];             /* Host header */
    const char *path;          /* "/socket.io/" */
    const char *nsp;           /* "/" or "/name" */
    uint32_t connect_timeout_ms;
    uint32_t close_timeout_ms;
    const lg_client_cbs_t *cbs;
    void *user;                /* the scenario's */
    llhttp_settings_t ws_settings, poll_settings;
    uint64_t pings;            /* Engine.IO pings answered, all clients */
} lg_env_t;

typedef struct lg_poll_s lg_poll_t;
typedef struct lg_ws_hs_s lg_ws_hs_t;

struct lg_client_s {
    lg_env_t *env;
    uint8_t state;             /* lg_client_state_t */
    uint8_t error;             /* lg_err_t: the first reason it failed */
    uint8_t was_ready;         /* got its CONNECT ack at some point */
    uint8_t handles;           /* open uv handles */
    uint8_t frag_op;           /* opcode of a fragmented message, 0 = none */
    uint8_t tcp_open;          /* tcp initialised and not yet closing */
    uint32_t src_addr;         /* source address, host order; 0 = the kernel's */
    uint64_t start_ns;         /* when lg_client_start ran (uv_hrtime) */
    uint64_t deadline_ms;      /* handshake or close deadline (uv_now) */
    uv_tcp_t tcp;              /* websocket transport */
    uv_connect_t connect_req;
    lg_ws_hs_t *hs;            /* during the websocket handshake only */
    char *rbuf;                /* an incomplete frame, kept between reads */
    size_t rlen, rcap;
    char *frag;                /* a fragmented message being gathered */
    size_t flen, fcap;
    lg_poll_t *poll;           /* polling transport */
};

/* Initialises a slot once; lg_client_start may then run on it again every
 * time its closed_cb has run. */
void lg_env_init(lg_env_t *env);
void lg_client_init(lg_client_t *c, lg_env_t *env);

/* Starts connecting. Returns 0 (closed_cb will run once, at the end) or a
 * negative libuv error when not even a socket could be made (then nothing
 * is open and closed_cb won't run). */
int lg_client_start(lg_client_t *c, uint32_t src_addr);

/* Sends one Engine.IO packet (e.g. an encoded "42[...]"). Returns 0, or
 * UV_ENOTCONN when the client isn't READY. */
int lg_client_send(lg_client_t *c, const char *text, size_t len);

/* Leaves politely: a WebSocket close frame, or an Engine.IO close over
 * polling; the handles close when the server answers or at the deadline. */
void lg_client_close(lg_client_t *c);

/* Closes every handle now; err is kept unless an error came first. */
void lg_client_abort(lg_client_t *c, lg_err_t err);

/* Enforces the handshake and close deadlines; call now and then. */
void lg_client_sweep(lg_client_t *c, uint64_t now_ms);

#endif
