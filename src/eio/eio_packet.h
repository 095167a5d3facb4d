/* L2 eio/eio_packet: Engine.IO v4 packet and polling-payload codec. Pure
 * functions, no event loop: text packets are "<type digit><data>", binary
 * packets are raw bytes (WebSocket) or "b<base64>" (polling), and a polling
 * payload joins packets with the record separator 0x1e.
 * Knows nothing of sessions, transports or Socket.IO. */
#ifndef SL_EIO_PACKET_H
#define SL_EIO_PACKET_H

#include <stddef.h>
#include "base/buf.h"

typedef enum {
    EIO_OPEN = 0,
    EIO_CLOSE = 1,
    EIO_PING = 2,
    EIO_PONG = 3,
    EIO_MESSAGE = 4,
    EIO_UPGRADE = 5,
    EIO_NOOP = 6,
} eio_type_t;

#define EIO_RECORD_SEP '\x1e'

typedef struct eio_packet {
    eio_type_t type;
    int binary;          /* a binary message (type is EIO_MESSAGE) */
    const char *data;    /* points into the decoded input */
    size_t len;
} eio_packet_t;

/* Decodes one text packet (a WebSocket text frame, or one polling record
 * that does not start with 'b'). Returns 0 or -1 when malformed. */
int eio_packet_decode_text(const char *p, size_t n, eio_packet_t *out);

typedef int (*eio_payload_cb)(const eio_packet_t *pkt, void *ud);

/* Decodes a polling POST body in place (base64 records are decoded over
 * their own bytes, which is why body is writable) and calls cb for each
 * packet in order; a non-zero return from cb stops and is returned.
 * Returns 0, or -1 when a record is malformed (packets before it have
 * been delivered). */
int eio_payload_decode(char *body, size_t n, eio_payload_cb cb, void *ud);

/* Appends one packet to a polling payload (with the separator when the
 * payload is not empty). Returns 0 or -ENOMEM. */
int eio_payload_append(sl_buf_t *out, eio_type_t type, int binary, const char *data, size_t n);

/* Engine.IO v3 polling payload ("<len>:<packet>" records, len counting
 * UTF-16 units; binary "b4<base64>"), for socket.io-client 2.x. */
int eio3_payload_decode(char *body, size_t n, eio_payload_cb cb, void *ud);
/* The v3 binary payload (XHR2 POST bodies with binary inside): records
 * "<0|1><length as digit bytes><0xFF><bytes>"; 0 = a text packet, 1 = a
 * binary one whose first byte is the packet type. */
int eio3_payload_decode_binary(char *body, size_t n, eio_payload_cb cb, void *ud);
int eio3_payload_append(sl_buf_t *out, eio_type_t type, int binary, const char *data, size_t n);

#endif
