/* L6 lua/lua_json: the exact JSON <-> Lua 5.4 value codec used at the Socket.IO
 * boundary (event arguments in, emitted values and ack arguments out).
 * Knows nothing of packets, sockets, namespaces or the event loop; the only
 * protocol detail it knows is the Socket.IO binary placeholder object.
 *
 * Why not lua-cjson: under Lua 5.4 it turns every number into a float, keeps
 * 14 significant digits, cannot tell [] from {}, and escapes '/'. Responses
 * are compared byte for byte with Node's, so this path owns its codec.
 *
 * ---- Mapping contract ---------------------------------------------------
 *
 * JSON -> Lua (decode)
 *   object   table whose metatable has __jsontype = "object". When the object
 *            has members, the metatable is the object's own and its sequence
 *            part (mt[1..n]) lists the member names in their original order;
 *            `{}` gets the shared metatable SL_LUA_JSON_OBJECT_MT. Member names
 *            are always Lua strings (`{"1":2}` gives t["1"], not t[1]). A
 *            repeated name keeps its first position and its last value (as
 *            JSON.parse does).
 *   array    table with the shared metatable SL_LUA_JSON_ARRAY_MT
 *            (__jsontype = "array"), elements at 1..n.
 *   null     json.null, a unique light userdata. It is a value, not nil, so
 *            `[1,null,3]` and `[null]` keep their length and `{"a":null}`
 *            keeps its member; no length needs storing aside.
 *   number   without fraction or exponent and within int64: Lua integer
 *            (`1` stays 1, 9007199254740993 stays exact). Anything else, and
 *            `-0` (the one integer text a Lua integer can't hold): Lua float,
 *            correctly rounded (strtod). Overflow gives +-inf, as in JS.
 *   string   Lua string, UTF-8. All escapes decoded; \uXXXX surrogate pairs
 *            become one 4-byte sequence; a lone surrogate, a bad escape, a raw
 *            control character or invalid UTF-8 is an error. \u0000 gives a
 *            NUL byte.
 *   true/false  booleans.
 *   Top level: any value, surrounded by optional whitespace; anything after
 *   it is an error. Nesting deeper than SL_LUA_JSON_MAX_DEPTH is an error.
 *   With attachments given (BINARY_EVENT / BINARY_ACK), placeholders are
 *   replaced as socket.io-parser's reconstructPacket does, top down: an
 *   object whose "_placeholder" member is true (other members ignored)
 *   becomes a siolua.binary holding a copy of attachment "num", and nothing
 *   inside it is looked at; a missing, non-integer or out-of-range num is an
 *   error ("illegal attachments" in Node). Without attachments such objects
 *   stay plain objects.
 *
 * Lua -> JSON (encode), compact, no spaces
 *   nil, json.null, light userdata NULL (cjson.null)   null
 *   json.empty_array                                    []
 *   boolean                                             true / false
 *   integer                                             decimal digits
 *   float    as JavaScript prints it: shortest digits that read back to the
 *            same double, integral values without ".0" (1.0 -> 1,
 *            1e20 -> 100000000000000000000, 1e21 -> 1e+21), -0 -> 0,
 *            NaN and +-inf -> null (JSON.stringify does the same).
 *   string   escaped like JSON.stringify: \" \\ \b \f \n \r \t, other bytes
 *            below 0x20 as \u00xx; '/' and non-ASCII pass through. A string
 *            that is not valid UTF-8 is an error (send bytes as binary).
 *   table marked "array"   [t[1], ..., t[max]] where max is the highest
 *            integer key; holes (nil) are written as null. Keys other than
 *            positive integers are an error, and so is a very sparse array
 *            (more than 16 holes and more holes than values).
 *   table marked "object"  the names listed in the metatable's sequence part
 *            first, in that order, skipping those now nil; then the other
 *            keys sorted as below. A user table can opt in with
 *            setmetatable(t, {__jsontype = "object", "b", "a"}).
 *   unmarked table  empty -> {} (what a Node app means by `{}`; use
 *            json.array() or json.empty_array for []). Keys exactly 1..n
 *            (n > 0) -> array. Anything else -> object, keys sorted:
 *            integer keys first in numeric order (written as strings, like
 *            JS orders them), then string keys in byte order.
 *   Object keys must be strings or integers; a string key that is also
 *   present as the same integer ("1" and 1) is an error. Tables are read raw
 *   (no __index, __pairs). Nesting deeper than SL_LUA_JSON_MAX_DEPTH is an error,
 *   which is also how cycles are caught. Functions, threads, other userdata
 *   are errors naming the value's path (e.g. "$[2].cb").
 *   siolua.binary   with a binary callback: the callback stores the bytes as
 *            the next attachment and returns its index N; the encoder writes
 *            {"_placeholder":true,"num":N}. Without a callback: an error.
 *
 * Assumes LC_NUMERIC is "C" (the server never calls setlocale for it).
 */
#ifndef SL_LUA_JSON_H
#define SL_LUA_JSON_H

#include <stddef.h>
#include <lua.h>

#include "base/buf.h"

/* Deepest nesting of arrays/objects accepted by decode and encode. Both
 * recurse on the C stack (a few hundred bytes per level). */
#ifndef SL_LUA_JSON_MAX_DEPTH
#define SL_LUA_JSON_MAX_DEPTH 128
#endif

/* Registry names of the shared metatables, and the marker field. */
#define SL_LUA_JSON_ARRAY_MT "siolua.json.array"
#define SL_LUA_JSON_OBJECT_MT "siolua.json.object"
#define SL_LUA_JSON_BINARY_MT "siolua.binary"
#define SL_LUA_JSON_KIND_FIELD "__jsontype"

/* One binary attachment as received (bytes are copied by decode). */
typedef struct sl_lua_json_blob {
    const char *data;
    size_t len;
} sl_lua_json_blob_t;

typedef struct sl_lua_json_decode_opts {
    /* NULL: no placeholder substitution (EVENT, ACK). Non-NULL: the
     * attachments of a BINARY_EVENT / BINARY_ACK, in order. */
    const sl_lua_json_blob_t *attachments;
    size_t nattachments;
} sl_lua_json_decode_opts_t;

/* Called once per siolua.binary met, in document order (depth first, array
 * order, object members in emission order). Must copy the bytes (they live
 * in a Lua userdata) and return the attachment's index (0, 1, ...), or a
 * negative error code to abort the encode. Must not call into Lua. */
typedef int (*sl_lua_json_binary_cb)(void *ud, const char *data, size_t len);

typedef struct sl_lua_json_encode_opts {
    sl_lua_json_binary_cb on_binary; /* NULL: a binary value is an error */
    void *ud;
} sl_lua_json_encode_opts_t;

/* Decodes len bytes of JSON text (not NUL-terminated; never read past len)
 * and pushes one Lua value. opts may be NULL. Returns 0, or a negative error
 * code (-EINVAL malformed, -ENOMEM) with nothing pushed and err (if not NULL)
 * set to a message; syntax errors end in "at offset N" (0-based byte
 * offset), a bad placeholder gives "illegal attachment placeholder".
 * Never raises: runs under lua_pcall. */
int sl_lua_json_decode(lua_State *L, const char *json, size_t len,
                    const sl_lua_json_decode_opts_t *opts, char *err, size_t errlen);
/* Decodes a JSON array and pushes its elements as separate values (an
 * event's arguments, handed to a listener as they are: no table is made
 * for the array itself). Returns how many it pushed, or a negative error
 * code as sl_lua_json_decode does (anything but an array is -EINVAL).
 * Never raises. */
int sl_lua_json_decode_args(lua_State *L, const char *json, size_t len,
                            const sl_lua_json_decode_opts_t *opts, char *err, size_t errlen);
/* The same, without a protected call of its own when the text allows it
 * (no backslash in it, no attachments): for a caller that is a protected
 * run itself and reports the failure (a handler made quiet with
 * sl_lua_handler_quiet). Such a decode raises on failure, with the
 * message written to err first, except when memory runs out (err is then
 * as the caller left it); any other text is decoded as by
 * sl_lua_json_decode_args, which returns the failure. The values are the
 * same either way. */
int sl_lua_json_decode_args_raising(lua_State *L, const char *json, size_t len,
                                    const sl_lua_json_decode_opts_t *opts, char *err,
                                    size_t errlen);

/* Appends the JSON text of the value at idx to out. opts may be NULL.
 * Returns the number of binary placeholders written (>= 0), or a negative
 * error code (-EINVAL unencodable value, -ENOMEM, or the callback's code)
 * with out restored to its previous length and err set. On failure the
 * callback may already have stored some attachments: discard them. The Lua
 * stack is left as it was. Never raises. */
int sl_lua_json_encode(lua_State *L, int idx, sl_buf_t *out,
                    const sl_lua_json_encode_opts_t *opts, char *err, size_t errlen);

/* The same for the n values from stack index first, written as one array
 * (nil, which a table can't hold, is null): an ack's arguments, encoded
 * straight from the call's arguments without a table. */
int sl_lua_json_encode_values(lua_State *L, int first, int n, sl_buf_t *out,
                              const sl_lua_json_encode_opts_t *opts, char *err, size_t errlen);

/* 1 when the value at idx is, or holds (in table values, recursively, up to
 * SL_LUA_JSON_MAX_DEPTH), a siolua.binary: choose BINARY_EVENT over EVENT.
 * 0 for a value nested deeper (a cycle included), which cannot be encoded. */
int sl_lua_json_has_binary(lua_State *L, int idx);

/* Pushes a new siolua.binary of len bytes, copied from data, or left
 * uninitialised for the caller to fill when data is NULL; returns a pointer
 * to its bytes. Raises on out-of-memory, like any lua_push*. The type has
 * __len (byte count), __tostring (the bytes as a Lua string) and __eq (same
 * bytes). */
char *sl_lua_json_binary_new(lua_State *L, const void *data, size_t len);
int sl_lua_json_is_binary(lua_State *L, int idx);
/* The bytes of the siolua.binary at idx (valid while it lives), or NULL. */
const char *sl_lua_json_binary_data(lua_State *L, int idx, size_t *len);

/* json.null, and a test for it (also true for light userdata NULL). */
void sl_lua_json_push_null(lua_State *L);
int sl_lua_json_is_null(lua_State *L, int idx);

/* Push new marked tables (C code building values, e.g. the `{}` auth
 * payload). Raise on out-of-memory, like lua_createtable. */
void sl_lua_json_new_array(lua_State *L, int narr);
void sl_lua_json_new_object(lua_State *L, int nrec);

typedef enum sl_lua_json_kind {
    SL_LUA_JSON_PLAIN = 0,  /* not a table, or a table without a JSON marker */
    SL_LUA_JSON_ARRAY,
    SL_LUA_JSON_OBJECT,
} sl_lua_json_kind_t;
/* The marker of the table at idx (a decoded payload's "is it an array?"). */
sl_lua_json_kind_t sl_lua_json_table_kind(lua_State *L, int idx);

/* require "siolua.json": a table with
 *   decode(str)        -> value | nil, msg     (bad input is not misuse)
 *   encode(v)          -> string; raises on unencodable values (binary too)
 *   null               json.null
 *   empty_array        immutable value encoded as []
 *   array([t])         marks t (or a new table) as an array, returns it
 *   object([t])        marks t (or a new table) as an object, returns it;
 *                      keeps a decoded object's member order
 *   binary(str)        -> siolua.binary copy of str
 *   is_binary(v)       -> boolean
 * array/object raise if t already has a metatable that is not a JSON one. */
int luaopen_siolua_json(lua_State *L);

#endif
