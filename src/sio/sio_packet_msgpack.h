/* L4 sio/sio_packet_msgpack: the packets of socket.io-msgpack-parser 3 (the
 * npm package a Node server takes as `new Server({ parser })`): one
 * MessagePack map per packet, {type, data, id, nsp}, in one binary
 * Engine.IO message, binary values inline (no attachments on the wire).
 * Converts to and from the one packet representation the stack above uses
 * (sio_packet_t: header + JSON text with placeholders, plus attachments),
 * with exact numbers (sio/mpjson.h, SL_MPJSON_EXACT), so both parsers share
 * everything above the codec: acks, broadcasts encoded once, the Lua side.
 * Pure bytes and spans: no event loop, no sessions, no Lua. */
#ifndef SL_SIO_PACKET_MSGPACK_H
#define SL_SIO_PACKET_MSGPACK_H

#include <stddef.h>

#include "base/buf.h"
#include "sio/sio_packet.h"

/* What a decoded packet points into: the JSON text of its data and its
 * binary values (sio_packet_bin_t[], pointing into the caller's message).
 * Reused from one message to the next. */
typedef struct sio_packet_mp {
    sl_buf_t json;
    sl_buf_t bins;
} sio_packet_mp_t;

#define SIO_PACKET_MP_INIT {SL_BUF_INIT, SL_BUF_INIT}

/* Decodes one Engine.IO binary message p[0..n) as the reference decoder
 * (notepack.decode, then checkPacket) does: one MessagePack value and
 * nothing after it; a map whose "type" is an integer from 0 (CONNECT) to 4
 * (CONNECT_ERROR); "nsp" a string; "data" what the type needs (CONNECT:
 * none or a map; DISCONNECT: none; CONNECT_ERROR: a string or a map; EVENT
 * and ACK: an array); "id" none or an integer (here: from 0 to 2^64-1).
 * Other keys are ignored, the last of repeated keys wins, undefined (ext 0)
 * is none. On top, an EVENT's name is checked as the text parser checks it
 * (sio_packet_check). The data becomes JSON text with a placeholder for
 * each binary value (see sio/mpjson.h: bin and ext 0 are binary), so an
 * EVENT or ACK that has any is a BINARY_EVENT / BINARY_ACK and *bins its
 * attachments (out->attachments of them).
 * Returns 0, or SIO_PACKET_E_MSGPACK (not one MessagePack map, a namespace
 * that is no string, data that does not convert), SIO_PACKET_E_TYPE,
 * SIO_PACKET_E_PAYLOAD,
 * SIO_PACKET_E_ACK_ID, SIO_PACKET_E_EVENT_NAME, -ENOMEM. On success *out
 * and *bins point into st and into p: valid until the next call on st and
 * while p lives. */
int sio_packet_msgpack_decode(sio_packet_mp_t *st, const char *p, size_t n, sio_packet_t *out,
                              const sio_packet_bin_t **bins);

/* Releases what st holds; st is reusable. */
void sio_packet_mp_free(sio_packet_mp_t *st);

/* Appends the MessagePack form of pkt, keys in the order Node's server
 * writes them ({type, data, id, nsp}; an ACK {id, type, data, nsp}):
 * BINARY_EVENT and BINARY_ACK are written as EVENT and ACK, the payload
 * (JSON, placeholders naming atts[0..natts) in a binary packet) with exact
 * numbers and each placeholder replaced by its attachment as bin. Returns
 * 0, -EINVAL (bad type, a payload of the wrong kind or a bad placeholder),
 * -ENOMEM; on failure out is unchanged. */
int sio_packet_msgpack_encode(sl_buf_t *out, const sio_packet_t *pkt, const sio_packet_bin_t *atts,
                              unsigned natts);

#endif
