/* L4 sio/sio_packet: the Socket.IO v5 packet codec (text <-> header + raw JSON,
 * placeholders, reassembly of binary attachments). Pure bytes and spans:
 * knows nothing of the event loop, transports, sessions, namespaces or Lua. */
#ifndef SL_SIO_PACKET_H
#define SL_SIO_PACKET_H

#include <stddef.h>
#include <stdint.h>
#include "base/buf.h"

/* The reference decoder (socket.io-parser, option maxAttachments) refuses
 * more than 10 attachments per packet by default; we refuse the same, so a
 * peer can't make us wait for (and buffer) an unbounded number of frames. */
#ifndef SIO_PACKET_MAX_ATTACHMENTS
#define SIO_PACKET_MAX_ATTACHMENTS 10
#endif

/* Nesting limit of arrays/objects in a payload. The validator recurses, so it
 * needs a bound; it is the L6 JSON codec's (SL_LUA_JSON_MAX_DEPTH), so whatever
 * we let through the Lua side decodes too. */
#ifndef SIO_PACKET_MAX_DEPTH
#define SIO_PACKET_MAX_DEPTH 128 /* the Lua JSON codec's limit (SL_LUA_JSON_MAX_DEPTH) */
#endif

typedef enum sio_packet_type {
    SIO_PACKET_CONNECT = 0,
    SIO_PACKET_DISCONNECT = 1,
    SIO_PACKET_EVENT = 2,
    SIO_PACKET_ACK = 3,
    SIO_PACKET_CONNECT_ERROR = 4,
    SIO_PACKET_BINARY_EVENT = 5,
    SIO_PACKET_BINARY_ACK = 6,
} sio_packet_type_t;

/* Decode errors. Each is a protocol error: the reference server closes the
 * whole connection on any of them. Distinct values only so the log line can
 * say why (sio_packet_strerror). The encoder returns -EINVAL / -ENOMEM. */
enum {
    SIO_PACKET_E_EMPTY = -1001,        /* no bytes at all */
    SIO_PACKET_E_TYPE = -1002,         /* first byte is not '0'..'6' */
    SIO_PACKET_E_ATTACHMENTS = -1003,  /* binary type without "<n>-" */
    SIO_PACKET_E_TOO_MANY = -1004,     /* n > SIO_PACKET_MAX_ATTACHMENTS */
    SIO_PACKET_E_ACK_ID = -1005,       /* ack id above 2^63 - 1 */
    SIO_PACKET_E_PAYLOAD = -1006,      /* payload missing, extra or wrong kind */
    SIO_PACKET_E_JSON = -1007,         /* payload is not well-formed JSON */
    SIO_PACKET_E_EVENT_NAME = -1008,   /* event name not string/number, or reserved */
    SIO_PACKET_E_PLACEHOLDER = -1009,  /* placeholder with a bad "num" */
    SIO_PACKET_E_UNEXPECTED_TEXT = -1010,   /* text while attachments pending */
    SIO_PACKET_E_UNEXPECTED_BINARY = -1011, /* binary with none pending */
    SIO_PACKET_E_MSGPACK = -1012,      /* msgpack parser: not a packet map */
    SIO_PACKET_E_TEXT_MESSAGE = -1013, /* msgpack parser: a text message */
};

/* One decoded packet, or the header to encode.
 *
 * After sio_packet_decode() every pointer points into the caller's input
 * (except nsp for the main namespace, which points to a static "/"), so the
 * packet is valid exactly as long as that input. Nothing is NUL-terminated. */
typedef struct sio_packet {
    sio_packet_type_t type;
    unsigned attachments;   /* BINARY_* only; 0 for the other types */
    const char *nsp;        /* "/" or "/name"; encode: NULL means "/" */
    size_t nsp_len;
    int has_ack;            /* an ack id was present / is to be written */
    uint64_t ack_id;
    const char *payload;    /* raw JSON, surrounding whitespace trimmed; */
    size_t payload_len;     /* NULL/0 when the packet has no payload */
} sio_packet_t;

/* One binary attachment (bytes of one Engine.IO binary message). */
typedef struct sio_packet_bin {
    const char *data;
    size_t len;
} sio_packet_bin_t;

/* Parses the payload of one Engine.IO text message (the bytes after the EIO
 * '4') of n bytes; p need not be NUL-terminated and is never read past n.
 * Validates as the reference parser does: known type, "<n>-" for (and only
 * for) binary types, ack id in range (0 to 2^63 - 1), payload well-formed JSON of the kind
 * the type needs (CONNECT: none or object; DISCONNECT: none; EVENT and
 * BINARY_EVENT: array whose first element is a number or a non-reserved
 * event name; ACK and BINARY_ACK: array; CONNECT_ERROR: none, object or
 * string). Returns 0 and fills *out, or a SIO_PACKET_E_* code. Placeholders
 * are not checked here (see sio_packet_placeholders). */
int sio_packet_decode(const char *p, size_t n, sio_packet_t *out);

/* The payload checks sio_packet_decode makes, for a packet another codec
 * built (sio_packet_msgpack): the kind of payload its type needs and, for
 * an EVENT, the event name. The payload (if any) must be well-formed JSON:
 * it is not checked again. Returns 0 or a SIO_PACKET_E_* code. */
int sio_packet_check(const sio_packet_t *pkt);

/* Appends the text form of pkt to out: type, "<n>-" for binary types, "/nsp,"
 * unless the namespace is "/", the ack id, then the payload bytes verbatim.
 * The caller supplies compact JSON; only its first byte is checked, against
 * the kind the type needs, so a bug can't produce an ambiguous frame (a
 * payload starting with a digit would read back as an ack id). Returns 0,
 * -EINVAL (bad type, attachments on a non-binary type, namespace not starting
 * with '/' or containing ',', payload of the wrong kind or missing) or
 * -ENOMEM; on failure out is unchanged. */
int sio_packet_encode(sl_buf_t *out, const sio_packet_t *pkt);
/* The same into dst, which holds sio_packet_encoded_max(pkt) bytes (a
 * message's own buffer, with no copy between): the length written, or
 * -EINVAL as above. */
long sio_packet_encode_to(char *dst, const sio_packet_t *pkt);
size_t sio_packet_encoded_max(const sio_packet_t *pkt);

/* Appends {"_placeholder":true,"num":N}, byte for byte as the reference
 * encoder writes it (that key order), for whoever builds a binary payload. */
int sio_packet_placeholder_append(sl_buf_t *out, unsigned num);

/* Called once per placeholder, in document order. off/len give the span of
 * the whole object ('{' to '}') inside the json text; att is &atts[num]
 * (NULL when atts is NULL).
 * A non-zero return stops the walk and is returned by
 * sio_packet_placeholders(). */
typedef int (*sio_packet_placeholder_cb)(void *ud, size_t off, size_t len,
                                         unsigned num,
                                         const sio_packet_bin_t *att);

/* Finds the placeholders of a binary packet's payload so the caller can put
 * the attachments in their place. Like the reference reconstructor, any
 * object whose "_placeholder" member is true is a placeholder (whitespace,
 * key order, escapes in keys and other members don't matter, the last of
 * duplicate keys wins), its "num" must be an integer below natt, and
 * objects nested inside a placeholder are not looked at. Text inside JSON
 * strings is never matched. All-or-nothing: the JSON is checked and every
 * placeholder validated before the first callback, so a failure means no
 * callback ran. cb may be NULL to only validate.
 * Returns 0, SIO_PACKET_E_JSON, SIO_PACKET_E_PLACEHOLDER, -ENOMEM, or the
 * callback's non-zero value. Only for BINARY_* packets: in a plain EVENT
 * such an object is ordinary data. */
int sio_packet_placeholders(const char *json, size_t n,
                            const sio_packet_bin_t *atts, size_t natt,
                            sio_packet_placeholder_cb cb, void *ud);

/* Binary reassembly: the per-connection decoder front end. Every Engine.IO
 * message of the connection goes through it, text to _text, binary to
 * _binary; it returns SIO_PACKET_READY with a whole packet, SIO_PACKET_PENDING
 * while attachments are still awaited, or a negative code (protocol error:
 * close the connection; the state is already reset).
 *
 * Ownership: for a packet without attachments *out points into the text the
 * caller passed (nothing copied). For a binary packet the header text and
 * every attachment are copied into memory owned by r; *out points into it
 * and bins[0..out->attachments) are the attachments. Both stay valid until
 * the next call on r or sio_packet_reasm_free(r). Like the reference, a text
 * message while attachments are pending is an error, and so is a binary
 * message when none is expected. */
enum { SIO_PACKET_PENDING = 0, SIO_PACKET_READY = 1 };

/* One pointer per connection: the state of a binary packet being put
 * together exists only from its header to the next message after its last
 * attachment (most connections never send one). */
typedef struct sio_packet_reasm {
    struct sio_packet_reasm_state *st; /* NULL while no binary packet is held */
} sio_packet_reasm_t;

#define SIO_PACKET_REASM_INIT {NULL}

void sio_packet_reasm_init(sio_packet_reasm_t *r);
int sio_packet_reasm_text(sio_packet_reasm_t *r, const char *p, size_t n,
                          sio_packet_t *out);
int sio_packet_reasm_binary(sio_packet_reasm_t *r, const char *p, size_t n,
                            sio_packet_t *out);
/* The attachments received so far for the packet held (owned by r, valid
 * as *out is), and how many; NULL and 0 when none is held. */
const sio_packet_bin_t *sio_packet_reasm_bins(const sio_packet_reasm_t *r);
unsigned sio_packet_reasm_count(const sio_packet_reasm_t *r);
/* Whether attachments are still awaited. */
int sio_packet_reasm_pending(const sio_packet_reasm_t *r);
/* Releases everything r holds (pending or complete); r is reusable. */
void sio_packet_reasm_free(sio_packet_reasm_t *r);

/* "EVENT", "BINARY_ACK", ... or "?" for logs. */
const char *sio_packet_type_name(int type);
/* One-line reason for a code returned above (including -EINVAL, -ENOMEM). */
const char *sio_packet_strerror(int err);

#endif
