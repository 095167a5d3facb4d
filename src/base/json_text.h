/* L0 base/json_text: the JSON text core shared by the codecs above it
 * (lua_json, mpjson, sio_packet): JavaScript's number formatting and
 * JSON.stringify's string escaping. Pure functions on bytes; knows nothing
 * of sockets, packets, Lua or MessagePack. */
#ifndef SL_JSON_TEXT_H
#define SL_JSON_TEXT_H

#include <stddef.h>

#include "base/buf.h"

/* Writes d as JavaScript's Number.prototype.toString does (shortest text
 * that reads back to d; "NaN", "Infinity", "-Infinity"; -0 gives "0").
 * out needs SL_JSON_NUMBER_MAX bytes; returns the length (no NUL written). */
#define SL_JSON_NUMBER_MAX 32
size_t sl_json_format_number(double d, char *out);

/* Appends s as a JSON string literal, escaped as JSON.stringify does (the
 * one JSON string writer of the C side; s is UTF-8). 0 or -ENOMEM. */
int sl_json_append_string(sl_buf_t *out, const char *s, size_t n);
/* The escape JSON.stringify writes for c (a control character, '"' or
 * '\\') into out; returns its length (2 or 6). Shared with lua_json's
 * encoder, which validates UTF-8 in the same pass and so keeps its own loop. */
size_t sl_json_escape_byte(unsigned char c, char out[6]);

#endif
