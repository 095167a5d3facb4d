/* L0 base/json_text: the JSON text core shared by the three codecs above it:
 * lua_json (JSON <-> Lua values), mpjson (JSON <-> MessagePack) and
 * sio_packet (validates Socket.IO payloads, finds binary placeholders).
 * Pure functions on bytes; knows nothing of sockets, packets, Lua or
 * MessagePack.
 *
 * Reading: the lexer pieces of RFC 8259 as JSON.parse applies it, one
 * token at a time. Each codec keeps its own recursive descent (which is
 * where it builds its tree or notes what it looks for) and calls these for
 * whitespace, literals, numbers and strings, so the three accept exactly
 * the same text and differ only where their contracts say so (see the
 * string flags). Every function reads [p, end) and never past end; the
 * text need not be NUL-terminated.
 *
 * Writing: JavaScript's number formatting and JSON.stringify's string
 * escaping. */
#ifndef SL_JSON_TEXT_H
#define SL_JSON_TEXT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/buf.h"

/* ---- reading ------------------------------------------------------------- */

/* Why a token is not JSON. Negative and apart from -errno values; the
 * reader may also return -ENOMEM. sl_json_strerror gives the text. */
enum {
    SL_JSON_E_UNTERMINATED = -3001,   /* string without its closing quote */
    SL_JSON_E_CONTROL = -3002,        /* raw byte below 0x20 in a string */
    SL_JSON_E_UTF8 = -3003,           /* invalid UTF-8 in a string (when checked) */
    SL_JSON_E_ESCAPE = -3004,         /* backslash and a byte that is no escape */
    SL_JSON_E_UNICODE_ESCAPE = -3005, /* \u without four hex digits */
    SL_JSON_E_SURROGATE = -3006,      /* lone surrogate escape (when refused) */
    SL_JSON_E_NUMBER = -3007,         /* '-' without a digit */
    SL_JSON_E_LEADING_ZERO = -3008,   /* "01" */
    SL_JSON_E_FRACTION = -3009,       /* '.' without a digit */
    SL_JSON_E_EXPONENT = -3010,       /* 'e' without a digit */
};

/* One line for a code above (or -ENOMEM), as lua_json's messages say it. */
const char *sl_json_strerror(int code);

/* JSON's four whitespace bytes. */
static inline int sl_json_is_ws(unsigned char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

/* Compact JSON has no whitespace: one compare says so for most bytes. */
static inline const char *sl_json_skip_ws(const char *p, const char *end)
{
    while (p < end && (unsigned char)*p <= ' ' && sl_json_is_ws((unsigned char)*p))
        p++;
    return p;
}

/* The literal that the byte at p announces ('t' true, 'f' false, 'n' null):
 * its length when the text there is exactly it, else 0. */
static inline size_t sl_json_literal(const char *p, const char *end)
{
    const char *lit = *p == 't' ? "true" : *p == 'f' ? "false" : *p == 'n' ? "null" : NULL;
    size_t n = *p == 'f' ? 5 : 4;
    return lit && (size_t)(end - p) >= n && memcmp(p, lit, n) == 0 ? n : 0;
}

/* A number token, as scanned: the text stays where it is. */
typedef struct sl_json_number {
    const char *start, *end; /* the whole token */
    const char *int_end;     /* past the integer part's digits */
    uint8_t neg;             /* starts with '-' */
    uint8_t integer;         /* no fraction and no exponent */
} sl_json_number_t;

/* Scans the number grammar at p (p < end, *p is '-' or a digit). Returns 0
 * and fills *num, or an SL_JSON_E_* code (NUMBER, LEADING_ZERO, FRACTION,
 * EXPONENT) with *at on the byte at fault: the token's start for the first
 * two, the byte where a digit was due for the others. */
int sl_json_scan_number(const char *p, const char *end, sl_json_number_t *num, const char **at);

/* 1 and the value when the token is an integer (no fraction, no exponent)
 * that an int64 holds; 0 otherwise, "-0" included (an int64 has no -0). */
int sl_json_number_int64(const sl_json_number_t *num, int64_t *out);
/* 1 and the value when the token is a plain non-negative integer (digits
 * only) no greater than max; 0 otherwise. */
int sl_json_number_uint(const sl_json_number_t *num, uint64_t max, uint64_t *out);
/* The double JSON.parse gives: correctly rounded (strtod), +-inf past the
 * range, -0 for "-0". 0, or -ENOMEM for a very long token that needed a
 * copy. */
int sl_json_number_double(const sl_json_number_t *num, double *out);

/* JavaScript's StrDecimalLiteral at p, the decimal form parseFloat and
 * Number() read beyond JSON: [+-]? (Infinity | digits [. [digits]] |
 * . digits) ([eE] [+-]? digits)?, leading zeros allowed. Returns the length
 * of the longest such prefix (0: none) and its value, rounded as
 * JavaScript rounds it. HTTP and WebSocket header parameters are read
 * with it, as Node's packages read them. */
size_t sl_json_js_decimal(const char *p, const char *end, double *out);

/* What a string scan checks beyond the grammar. */
enum {
    /* Raw bytes from 0x80 up must be well-formed UTF-8 (sl_utf8_seq_len),
     * else SL_JSON_E_UTF8. Without it they pass as they are. */
    SL_JSON_STR_UTF8 = 1,
    /* A \uD800-\uDFFF escape that is not half of a pair is
     * SL_JSON_E_SURROGATE. Without it, it is accepted (as JSON.parse does)
     * and decodes to U+FFFD (what Node's UTF-8 writer makes of it). */
    SL_JSON_STR_LONE_ERROR = 2,
};

typedef struct sl_json_string {
    const char *end; /* past the closing quote */
    const char *at;  /* on failure: the byte at fault (the opening quote
                      * when unterminated, the backslash for an escape) */
    int escaped;     /* the string had an escape */
} sl_json_string_t;

/* Scans the string literal whose opening quote is at p. Returns 0 and fills
 * *s, or an SL_JSON_E_* code (or -ENOMEM) with s->at set. With out NULL it
 * only checks. With out, a string that has escapes is decoded and its whole
 * text appended to out (\uXXXX as UTF-8, a surrogate pair as one 4-byte
 * sequence); one without is not copied: its text is p + 1 .. s->end - 1. */
int sl_json_scan_string(const char *p, const char *end, unsigned flags, sl_buf_t *out,
                        sl_json_string_t *s);

/* How many of the n bytes at p are plain string text, written as they are:
 * none is '"', '\\' or below 0x20, nor (with high set) 0x80 or above (the
 * bytes whose UTF-8 must be checked). Eight bytes a step: the run of plain
 * text is most of what reading and writing a string literal costs. */
size_t sl_json_plain_len(const char *p, size_t n, int high);

/* The common case of sl_json_scan_string, inline: the string literal
 * whose opening quote is at p has no escape and, with high, no byte from
 * 0x80 up (the bytes whose UTF-8 must be checked). Returns the end of it
 * (past its closing quote), or NULL when it has any of those or is not
 * terminated: sl_json_scan_string then says what it is. Saves that call
 * for most strings of most payloads. */
static inline const char *sl_json_plain_string_end(const char *p, const char *end, int high)
{
    const char *q = p + 1;
    if (q < end)
        q += sl_json_plain_len(q, (size_t)(end - q), high);
    return q < end && *q == '"' ? q + 1 : NULL;
}

/* Whether the body of a well-formed string literal (between its quotes)
 * reads as the ASCII text lit once its escapes are decoded: so that
 * "\u005fplaceholder" is the key "_placeholder", as JSON.parse sees it. */
int sl_json_string_eq(const char *body, const char *body_end, const char *lit);

/* ---- writing ------------------------------------------------------------- */

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
