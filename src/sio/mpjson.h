/* L4 sio/mpjson: JSON text <-> MessagePack, for the two places MessagePack
 * meets the JSON text the rest of the stack carries: the Redis adapter's
 * wire format (as notepack.io, the encoder of Node's
 * @socket.io/redis-adapter, writes and reads it) and the packets of
 * socket.io-msgpack-parser (sio_packet_msgpack, with exact numbers, see
 * SL_MPJSON_EXACT below). Pure bytes: no event loop, no Lua, no sockets.
 *
 * ---- Mapping contract (verified against notepack.io 3.0.1 under Node 20) --
 *
 * JSON -> MessagePack (sl_mpjson_from_json): the bytes notepack.encode(v) gives
 * for v = JSON.parse(json) with binary placeholders replaced by Buffers.
 *   object  map. Members in the order Object.keys gives: keys that are array
 *           indices ("0".."4294967294", canonical) first in ascending numeric
 *           order, then the others in first-appearance order. A repeated key
 *           keeps its first position and its last value. "__proto__" is an
 *           ordinary key (JSON.parse makes it an own property).
 *   array   array (fixarray / array16 / array32).
 *   string  str (fixstr / str8 / str16 / str32), escapes decoded to UTF-8.
 *           A lone \uD8xx/\uDCxx surrogate becomes U+FFFD, as Node's UTF-8
 *           writer does for strings over 32 UTF-16 units (for shorter ones
 *           notepack writes a garbled 4-byte sequence we don't imitate).
 *   number  the double JSON.parse gives (correctly rounded), then notepack's
 *           rule: a non-integer, NaN or +-Infinity ("1e400") is float64
 *           (0xcb); an integer takes the smallest of fixint, uint8/16/32
 *           (>= 0, -0 included: "-0" is 0x00) or fixint, int8/16/32 (< 0).
 *           Integers from 2^32 up are always uint64 (0xcf) and below -2^31
 *           always int64 (0xd3), even when they'd fit fewer bytes, and hold
 *           the value modulo 2^64: "1e20" is cf 6bc75e2d63100000 and "1e300"
 *           is cf 0000000000000000. That loses data, but it is what every
 *           Node server of the cluster writes and reads, so we match it.
 *   true, false, null  0xc3, 0xc2, 0xc0.
 *   placeholder  when atts is not NULL, an object whose (last) "_placeholder"
 *           member is true is replaced, whole, by atts[num] as bin 8/16/32.
 *           "num" must be a plain non-negative integer below natts (as
 *           sio_packet_placeholders requires), else SL_MPJSON_E_PLACEHOLDER.
 *           With atts == NULL such objects are ordinary data.
 *
 * MessagePack -> JSON (sl_mpjson_to_json): the compact text
 * JSON.stringify(notepack.decode(bytes)) gives, except that binary data
 * becomes placeholders the way socket.io-parser's encoder would send it on:
 *   bin 8/16/32, and ext 8/16/32 of type 0 (notepack: ArrayBuffer)
 *           -> {"_placeholder":true,"num":N}, N = att_cb(ud, data, len).
 *   other ext types (notepack: [type, Buffer])
 *           -> [type,{"_placeholder":true,"num":N}] (N for the payload).
 *   timestamps (ext -1: fixext4, fixext8, ext8 of 12 bytes) and notepack's
 *           old date (fixext8 type 0) -> the Date's ISO string
 *           "2024-01-02T03:04:05.006Z", or null for an invalid Date.
 *   fixext1 type 0 (notepack's undefined) -> null in an array or at the top;
 *           a map member whose value it is is left out.
 *   map     object, members ordered and de-duplicated as Object.keys would
 *           after notepack's `obj[key] = value` (same rules as above), and a
 *           "__proto__" member is dropped (that assignment sets the prototype
 *           instead of making a member). Keys that are not strings become
 *           what JS makes of them: numbers their Number::toString text
 *           (1 -> "1", 1.5 -> "1.5", -0 -> "0", NaN -> "NaN"), nil "null",
 *           booleans "true"/"false", undefined "undefined". Array, map, bin,
 *           ext keys -> SL_MPJSON_E_KEY.
 *   numbers Number::toString text (shortest round trip: 1.0 -> 1, 1e21 ->
 *           1e+21, 5e-324 -> 5e-324), uint64/int64 through a double like
 *           notepack (2^64-1 -> 18446744073709552000); NaN, +-Infinity ->
 *           null. float32 is widened to double first.
 *   strings JSON.stringify escaping: \" \\ \b \f \n \r \t, other controls
 *           \u00xx, '/' and non-ASCII as is. Invalid UTF-8 is an error
 *           (SL_MPJSON_E_UTF8), where Node would substitute U+FFFD.
 *
 * Exact numbers (SL_MPJSON_EXACT, the client-facing msgpack parser): apps
 * must see the Lua values the JSON parser gives them, and MessagePack can
 * say more than a JS number, so the two number rules above change and
 * nothing else does:
 *   JSON -> MessagePack: an integer text that an int64 or uint64 holds is
 *           that integer, exactly (smallest encoding: fixint, (u)int8..64);
 *           any other finite number whose value is integral and within
 *           [-2^63, 2^64) is that integer too (Lua's 2.0 is sent as 2, as
 *           notepack sends JS's 2); every other number is float64, NaN and
 *           +-Infinity included (nothing wraps modulo 2^64).
 *   MessagePack -> JSON: int and uint are their exact decimal digits; a
 *           float32/float64 is written so that it reads back as the same
 *           double and as a float (17 significant digits, ".0" added to
 *           integral values: 2.0 -> "2.0", -0.0 -> "-0.0", 0.1 ->
 *           "0.10000000000000001", 1e21 -> "1e+21"); NaN, +-Infinity ->
 *           null.
 *   Both ways, the members of an object or map stay in the order they
 *   come, repeated names included: the text is lua_json's, which merges
 *   them as JS does (first slot, last value).
 *
 * Nesting: the JSON side is never deeper than SL_MPJSON_MAX_DEPTH arrays and
 * objects (a placeholder counts as an object, [type, placeholder] as two).
 *
 * Errors are negative: the SL_MPJSON_E_* codes below, -ENOMEM, or a negative
 * value returned by att_cb. On any error the output buffer is back to its
 * length on entry and *p is unchanged. */
#ifndef SL_MPJSON_H
#define SL_MPJSON_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/json_text.h"
#include "sio/sio_packet.h"

/* The L6 JSON codec's and the packet validator's limit, so whatever we
 * produce is accepted by both. */
#ifndef SL_MPJSON_MAX_DEPTH
#define SL_MPJSON_MAX_DEPTH 128
#endif

enum {
    SL_MPJSON_E_JSON = -2001,        /* not one well-formed JSON value */
    SL_MPJSON_E_DEPTH = -2002,       /* nesting deeper than SL_MPJSON_MAX_DEPTH */
    SL_MPJSON_E_PLACEHOLDER = -2003, /* placeholder whose num is not < natts */
    SL_MPJSON_E_TOO_BIG = -2004,     /* string/array/object over 2^32-1 */
    SL_MPJSON_E_MSGPACK = -2005,     /* malformed or truncated MessagePack */
    SL_MPJSON_E_UTF8 = -2006,        /* invalid UTF-8 in JSON text or in a str */
    SL_MPJSON_E_KEY = -2007,         /* map key JS can't turn into a name */
    SL_MPJSON_E_TYPE = -2008,        /* sl_mpjson_read_*: value of another type */
};

/* Flags of the _opt variants. */
enum { SL_MPJSON_EXACT = 1 };

/* Appends the MessagePack encoding of the one JSON value in json[0..len)
 * (whitespace around it allowed; need not be NUL-terminated; never read
 * past len). atts/natts: the attachments of a binary packet, or NULL/0 for
 * a plain one (see "placeholder" above). Returns 0 or a negative error. */
int sl_mpjson_from_json(sl_buf_t *out, const char *json, size_t len,
                     const sio_packet_bin_t *atts, size_t natts);
/* The same with flags (SL_MPJSON_EXACT). */
int sl_mpjson_from_json_opt(sl_buf_t *out, const char *json, size_t len,
                            const sio_packet_bin_t *atts, size_t natts, unsigned flags);

/* Called once per binary value, in the order the placeholders appear in the
 * JSON written. data/len point into the MessagePack input (nothing copied).
 * Returns the placeholder's num (>= 0) or a negative value to abort, which
 * sl_mpjson_to_json then returns. The calls made before a later failure are
 * not undone: the caller drops what it kept when sl_mpjson_to_json fails. */
typedef int (*sl_mpjson_att_cb)(void *ud, const char *data, size_t len);

/* Decodes the one MessagePack value at *p (bytes up to end; what follows the
 * value is not looked at) and appends its JSON. The value is validated
 * whole (structure, lengths, 0xc1) before anything is written. On success
 * advances *p past the value. att_cb may be NULL when the caller refuses
 * binary data: a bin/ext then fails with SL_MPJSON_E_TYPE. */
int sl_mpjson_to_json(sl_buf_t *out, const char **p, const char *end,
                   sl_mpjson_att_cb att_cb, void *ud);
/* The same with flags (SL_MPJSON_EXACT). */
int sl_mpjson_to_json_opt(sl_buf_t *out, const char **p, const char *end,
                          sl_mpjson_att_cb att_cb, void *ud, unsigned flags);

/* ---- pieces for the adapter's envelopes ----------------------------------
 *
 * Readers: check bounds and type; on success advance *p, on failure leave
 * it. Use sl_mpjson_skip, not msgpuck's mp_check, to validate a message from
 * the network: mp_check keeps its element count in an int and takes
 * "dd ff ff ff ff" (an array of 2^32-1 elements in 5 bytes) and 0xc1 as
 * valid, after which mp_decode_array/mp_next run off the end. sl_mpjson_skip
 * counts in 64 bits, refuses a count larger than the bytes left, and refuses
 * 0xc1. After it succeeds on a whole value, msgpuck's unchecked mp_decode_*
 * and mp_next are safe inside that value. */
int sl_mpjson_skip(const char **p, const char *end);
int sl_mpjson_read_array(const char **p, const char *end, uint32_t *n);
int sl_mpjson_read_map(const char **p, const char *end, uint32_t *n);
/* A str (not bin); s points into the input, not NUL-terminated. */
int sl_mpjson_read_str(const char **p, const char *end, const char **s,
                    uint32_t *len);
/* Any int/uint/float32/float64, as the JS number notepack would give. */
int sl_mpjson_read_number(const char **p, const char *end, double *v);

/* Writers: notepack's choice of encoding for each kind of value, so an
 * envelope built from them is byte-identical to Node's. Return 0, -ENOMEM,
 * or SL_MPJSON_E_TOO_BIG for a str/bin of 2^32 bytes or more. */
int sl_mpjson_put_nil(sl_buf_t *out);
int sl_mpjson_put_bool(sl_buf_t *out, int v);
int sl_mpjson_put_number(sl_buf_t *out, double v); /* the "number" rule above */
int sl_mpjson_put_str(sl_buf_t *out, const char *s, size_t len); /* UTF-8 */
int sl_mpjson_put_bin(sl_buf_t *out, const void *data, size_t len);
int sl_mpjson_put_array(sl_buf_t *out, uint32_t n);
int sl_mpjson_put_map(sl_buf_t *out, uint32_t n);

/* One-line reason for a code returned above (including -ENOMEM). */
const char *sl_mpjson_strerror(int err);

#endif
