/* Loadgen L2-5: the Engine.IO v4 and Socket.IO v5 text packets a client reads
 * and writes, as pure functions over bytes (docs/engine.io-protocol/v4 and
 * docs/socket.io-protocol/v5 of the socket.io repository). Knows no sockets
 * and no transports: a packet is the same text in a WebSocket frame and in a
 * long-polling payload. */
#ifndef LG_EIO_H
#define LG_EIO_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    LG_PKT_OPEN,               /* Engine.IO */
    LG_PKT_CLOSE,
    LG_PKT_PING,
    LG_PKT_PONG,
    LG_PKT_UPGRADE,
    LG_PKT_NOOP,
    LG_PKT_SIO_CONNECT,        /* Socket.IO, inside an Engine.IO message */
    LG_PKT_SIO_DISCONNECT,
    LG_PKT_SIO_EVENT,
    LG_PKT_SIO_ACK,
    LG_PKT_SIO_CONNECT_ERROR,
    LG_PKT_SIO_BINARY_EVENT,
    LG_PKT_SIO_BINARY_ACK,
} lg_pkt_kind_t;

typedef struct lg_pkt_s {
    lg_pkt_kind_t kind;
    const char *nsp;           /* "/" when the packet names none */
    size_t nsp_len;
    int64_t ack_id;            /* -1 without one */
    const char *data;          /* the JSON (Socket.IO) or the payload (Engine.IO) */
    size_t data_len;
} lg_pkt_t;

/* Splits one Engine.IO packet (and the Socket.IO packet in a message).
 * Returns 0, or -EPROTO for text that is neither. Pointers point into p. */
int lg_pkt_parse(const char *p, size_t len, lg_pkt_t *pkt);

/* Whether the packet is for namespace nsp ("/" or "/name"). */
int lg_pkt_nsp_is(const lg_pkt_t *pkt, const char *nsp);

/* Whether an EVENT's data starts with the event name `name`. */
int lg_pkt_event_is(const lg_pkt_t *pkt, const char *name);

/* Reads what a client needs from the open packet's JSON: the sid (copied,
 * NUL-terminated) and the heartbeat interval and timeout. Returns 0, or
 * -EPROTO when sid or pingInterval is missing or sid doesn't fit. */
int lg_open_parse(const char *json, size_t len, char *sid, size_t sid_cap,
                  uint32_t *ping_interval_ms, uint32_t *ping_timeout_ms);

/* Engine.IO message + Socket.IO CONNECT for nsp: "40" or "40/name,".
 * Returns the length written, or -ENOSPC. */
int lg_sio_connect_encode(char *out, size_t cap, const char *nsp);

/* Engine.IO message + Socket.IO EVENT: 42[/nsp,][ack_id]["event",args]
 * where args_json is the already-encoded list of arguments without the
 * brackets (may be empty); ack_id < 0 asks for no ack. Returns the length
 * written, or -ENOSPC. */
int lg_sio_event_encode(char *out, size_t cap, const char *nsp, int64_t ack_id,
                        const char *event, const char *args_json, size_t args_len);

#endif
