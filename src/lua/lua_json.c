/* L6 lua/lua_json: exact JSON <-> Lua value codec (see lua_json.h for the
 * mapping contract). Knows nothing of packets or sockets.
 *
 * Both directions run their work under lua_pcall, so a Lua error (out of
 * memory, or our own syntax/misuse error raised with lua_error) unwinds to
 * the public entry point, which turns it into a return code and a message.
 * Memory that is not owned by Lua (the decoder's scratch buffer) lives in
 * the state struct on the C stack of the entry point and is freed there.
 *
 * The decoder reads its tokens (whitespace, literals, numbers, strings and
 * their escapes) with base/json_text, the lexer mpjson and sio_packet share,
 * and builds the Lua values here. */
#include "lua/lua_json.h"
#include "base/json_text.h"
#include "base/utf8.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

/* Unique addresses for the two light userdata sentinels. */
static char json_null_tag;
static char json_empty_array_tag;
#define JSON_NULL ((void *)&json_null_tag)
#define JSON_EMPTY_ARRAY ((void *)&json_empty_array_tag)

#define BUFBOX_MT "siolua.json.buf"

/* ---- shared helpers ------------------------------------------------------ */

typedef struct binary {
    size_t len;
    char data[];
} binary_t;

static int bin_len(lua_State *L)
{
    binary_t *b = luaL_checkudata(L, 1, SL_LUA_JSON_BINARY_MT);
    lua_pushinteger(L, (lua_Integer)b->len);
    return 1;
}

static int bin_tostring(lua_State *L)
{
    binary_t *b = luaL_checkudata(L, 1, SL_LUA_JSON_BINARY_MT);
    lua_pushlstring(L, b->data, b->len);
    return 1;
}

static int bin_eq(lua_State *L)
{
    binary_t *a = luaL_testudata(L, 1, SL_LUA_JSON_BINARY_MT);
    binary_t *b = luaL_testudata(L, 2, SL_LUA_JSON_BINARY_MT);
    lua_pushboolean(L, a && b && a->len == b->len && memcmp(a->data, b->data, a->len) == 0);
    return 1;
}

static const luaL_Reg bin_meta[] = {
    {"__len", bin_len},
    {"__tostring", bin_tostring},
    {"__eq", bin_eq},
    {NULL, NULL},
};

static void push_binary_mt(lua_State *L)
{
    if (luaL_newmetatable(L, SL_LUA_JSON_BINARY_MT))
        luaL_setfuncs(L, bin_meta, 0);
}

/* The shared marker metatables are created on first use, so the C API works
 * without luaopen_siolua_json having run. */
static void push_kind_mt(lua_State *L, const char *tname, const char *kind)
{
    if (luaL_newmetatable(L, tname)) {
        lua_pushstring(L, kind);
        lua_setfield(L, -2, SL_LUA_JSON_KIND_FIELD);
    }
}

static void push_array_mt(lua_State *L) { push_kind_mt(L, SL_LUA_JSON_ARRAY_MT, "array"); }
static void push_object_mt(lua_State *L) { push_kind_mt(L, SL_LUA_JSON_OBJECT_MT, "object"); }

char *sl_lua_json_binary_new(lua_State *L, const void *data, size_t len)
{
    binary_t *b = lua_newuserdatauv(L, sizeof *b + len, 0);
    b->len = len;
    if (data && len)
        memcpy(b->data, data, len);
    push_binary_mt(L);
    lua_setmetatable(L, -2);
    return b->data;
}

int sl_lua_json_is_binary(lua_State *L, int idx)
{
    return luaL_testudata(L, idx, SL_LUA_JSON_BINARY_MT) != NULL;
}

const char *sl_lua_json_binary_data(lua_State *L, int idx, size_t *len)
{
    binary_t *b = luaL_testudata(L, idx, SL_LUA_JSON_BINARY_MT);
    if (!b)
        return NULL;
    if (len)
        *len = b->len;
    return b->data;
}

void sl_lua_json_push_null(lua_State *L) { lua_pushlightuserdata(L, JSON_NULL); }

int sl_lua_json_is_null(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TLIGHTUSERDATA)
        return 0;
    void *p = lua_touserdata(L, idx);
    return p == JSON_NULL || p == NULL;
}

void sl_lua_json_new_array(lua_State *L, int narr)
{
    lua_createtable(L, narr, 0);
    push_array_mt(L);
    lua_setmetatable(L, -2);
}

void sl_lua_json_new_object(lua_State *L, int nrec)
{
    lua_createtable(L, 0, nrec);
    push_object_mt(L);
    lua_setmetatable(L, -2);
}

sl_lua_json_kind_t sl_lua_json_table_kind(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx))
        return SL_LUA_JSON_PLAIN;
    sl_lua_json_kind_t k = SL_LUA_JSON_PLAIN;
    lua_pushliteral(L, SL_LUA_JSON_KIND_FIELD);
    if (lua_rawget(L, -2) == LUA_TSTRING) {
        const char *s = lua_tostring(L, -1);
        if (strcmp(s, "array") == 0)
            k = SL_LUA_JSON_ARRAY;
        else if (strcmp(s, "object") == 0)
            k = SL_LUA_JSON_OBJECT;
    }
    lua_pop(L, 2);
    return k;
}

static void copy_err(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", msg ? msg : "unknown error");
}

/* ---- decoder ------------------------------------------------------------- */

typedef struct dec {
    lua_State *L;
    const unsigned char *start, *p, *end;
    const sl_lua_json_decode_opts_t *opts;
    sl_buf_t scratch; /* unescaped strings; sl_lua_json_decode frees it */
    int depth;
    int code;
    int arr_mt, obj_mt; /* stack slots of the shared metatables: nil until used;
                         * 0: none (looked up at each use) */
    char *err;          /* unprotected: a failure's message, written before it raises */
    size_t errlen;
} dec_t;

/* Raises the message on top of the stack, written to d->err first when
 * the decode is not protected (whoever catches the error has no other way
 * to read it). */
/* Pushes the shared metatable that push makes: kept in the stack slot
 * (looked up when first needed, while the slot is nil), or looked up at
 * each use when there is no slot (0: an unprotected decode). */
static void push_shared_mt(lua_State *L, int slot, void (*push)(lua_State *L))
{
    if (!slot) {
        push(L);
        return;
    }
    if (lua_isnil(L, slot)) {
        push(L);
        lua_replace(L, slot);
    }
    lua_pushvalue(L, slot);
}

__attribute__((noreturn))
static void dec_raise(dec_t *d)
{
    if (d->err)
        copy_err(d->err, d->errlen, lua_tostring(d->L, -1));
    lua_error(d->L);
    abort(); /* not reached: lua_error longjmps */
}

/* luaL_checkstack's check and message, raised through dec_raise. */
static void dec_checkstack(dec_t *d, int n, const char *what)
{
    if (!lua_checkstack(d->L, n)) {
        lua_pushfstring(d->L, "stack overflow (%s)", what);
        dec_raise(d);
    }
}

__attribute__((noreturn, format(printf, 3, 4)))
static void dec_fail(dec_t *d, const unsigned char *at, const char *fmt, ...)
{
    char msg[160];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof msg)
        n = sizeof msg - 1;
    snprintf(msg + n, sizeof msg - (size_t)n, " at offset %zu", (size_t)(at - d->start));
    if (!d->code)
        d->code = -EINVAL;
    lua_pushstring(d->L, msg);
    dec_raise(d);
}

__attribute__((noreturn))
static void dec_oom(dec_t *d)
{
    d->code = -ENOMEM;
    lua_pushliteral(d->L, "out of memory");
    dec_raise(d);
}

__attribute__((noreturn))
static void dec_unexpected(dec_t *d)
{
    if (d->p >= d->end)
        dec_fail(d, d->p, "unexpected end of input");
    unsigned c = *d->p;
    if (c > 0x20 && c < 0x7f)
        dec_fail(d, d->p, "unexpected character '%c'", (int)c);
    dec_fail(d, d->p, "unexpected byte 0x%02x", c);
}

static inline void skip_ws(dec_t *d)
{
    d->p = (const unsigned char *)sl_json_skip_ws((const char *)d->p, (const char *)d->end);
}

/* A token the reader refused: its message, at the byte it names. */
__attribute__((noreturn))
static void dec_token_fail(dec_t *d, int rc, const char *at)
{
    if (rc == -ENOMEM)
        dec_oom(d);
    if (rc == SL_JSON_E_CONTROL)
        dec_fail(d, (const unsigned char *)at, "control character 0x%02x in string",
                 (unsigned char)*at);
    dec_fail(d, (const unsigned char *)at, "%s", sl_json_strerror(rc));
}

/* At '"'. Pushes the decoded string: UTF-8 checked, a lone surrogate
 * refused (see lua_json.h). Strings without escapes (the common case) are
 * pushed straight from the input; the others are rebuilt in the scratch
 * buffer, which is empty between strings. */
static inline int push_plain_string(dec_t *d)
{
    const char *e = sl_json_plain_string_end((const char *)d->p, (const char *)d->end, 1);
    if (!e)
        return 0;
    /* no escape, all ASCII: the text as it is */
    lua_pushlstring(d->L, (const char *)d->p + 1, (size_t)(e - 2 - (const char *)d->p));
    d->p = (const unsigned char *)e;
    return 1;
}

static void parse_string(dec_t *d)
{
    if (push_plain_string(d))
        return;
    sl_json_string_t str;
    int rc = sl_json_scan_string((const char *)d->p, (const char *)d->end,
                                 SL_JSON_STR_UTF8 | SL_JSON_STR_LONE_ERROR, &d->scratch, &str);
    if (rc)
        dec_token_fail(d, rc, str.at);
    if (str.escaped) {
        lua_pushlstring(d->L, d->scratch.data ? d->scratch.data : "", d->scratch.len);
        sl_buf_reset(&d->scratch);
    } else
        lua_pushlstring(d->L, (const char *)d->p + 1, (size_t)(str.end - 1 - ((const char *)d->p + 1)));
    d->p = (const unsigned char *)str.end;
}

/* At '-' or a digit. Integers that fit in int64 become Lua integers; the rest
 * (and -0) becomes a float, correctly rounded. */
static void parse_number(dec_t *d)
{
    sl_json_number_t num;
    const char *at;
    int64_t i;
    double v;
    int rc = sl_json_scan_number((const char *)d->p, (const char *)d->end, &num, &at);
    if (rc)
        dec_token_fail(d, rc, at);
    d->p = (const unsigned char *)num.end;
    if (sl_json_number_int64(&num, &i)) {
        lua_pushinteger(d->L, (lua_Integer)i);
        return;
    }
    if (sl_json_number_double(&num, &v))
        dec_oom(d);
    lua_pushnumber(d->L, v);
}

static void parse_value(dec_t *d);

static void enter(dec_t *d)
{
    if (++d->depth > SL_LUA_JSON_MAX_DEPTH)
        dec_fail(d, d->p, "nesting deeper than %d", SL_LUA_JSON_MAX_DEPTH);
    dec_checkstack(d, 8, "json nesting");
}

/* Past an array's '[': its elements up to the closing ']', each set in
 * the table at t, or with t = 0 each left on the stack (an event's
 * arguments). */
static void parse_elements(dec_t *d, int t)
{
    lua_State *L = d->L;
    skip_ws(d);
    if (d->p < d->end && *d->p == ']') {
        d->p++;
        return;
    }
    for (lua_Integer n = 1;; n++) {
        /* Left on the stack: room for eight at a time, and for the
         * working space of the next (a nested value checks its own). */
        if (!t && (n & 7) == 1)
            dec_checkstack(d, 16, "too many arguments");
        skip_ws(d);
        /* A plain string (an event's name, most arguments) without the
         * calls down to parse_string; anything else as any value. */
        if (!(d->p < d->end && *d->p == '"' && push_plain_string(d)))
            parse_value(d);
        if (t)
            lua_rawseti(L, t, n);
        skip_ws(d);
        if (d->p < d->end && *d->p == ',') {
            d->p++;
            continue;
        }
        if (d->p < d->end && *d->p == ']') {
            d->p++;
            return;
        }
        if (d->p >= d->end)
            dec_unexpected(d);
        dec_fail(d, d->p, "expected ',' or ']'");
    }
}

static void parse_array(dec_t *d)
{
    lua_State *L = d->L;
    enter(d);
    d->p++;
    /* A top-level array is most often an event's arguments: room for an
     * event name, two arguments and the ack function Lua appends, so that
     * none of them grows the table. */
    lua_createtable(L, d->depth == 1 ? 4 : 0, 0);
    push_shared_mt(L, d->arr_mt, push_array_mt);
    lua_setmetatable(L, -2);
    parse_elements(d, lua_gettop(L));
    d->depth--;
}

/* Socket.IO binary, done like socket.io-parser's reconstructPacket, after
 * parsing and top down: any object whose "_placeholder" member is true is
 * replaced by attachment "num" (an integer below the attachment count, else
 * the whole decode fails), and nothing inside it is looked at. Returns the
 * attachment index for the table at t, or -1 when it is no placeholder. */
static lua_Integer placeholder_num(dec_t *d, int t)
{
    lua_State *L = d->L;
    lua_pushliteral(L, "_placeholder");
    int is_ph = lua_rawget(L, t) == LUA_TBOOLEAN && lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (!is_ph)
        return -1;
    lua_pushliteral(L, "num");
    int isnum = 0;
    lua_Integer num = -1;
    if (lua_rawget(L, t) == LUA_TNUMBER)
        num = lua_tointegerx(L, -1, &isnum);
    lua_pop(L, 1);
    if (!isnum || num < 0 || (uint64_t)num >= d->opts->nattachments) {
        d->code = -EINVAL;
        lua_pushliteral(L, "illegal attachment placeholder");
        dec_raise(d);
    }
    return num;
}

static void push_attachment(dec_t *d, lua_Integer num)
{
    const sl_lua_json_blob_t *b = &d->opts->attachments[num];
    sl_lua_json_binary_new(d->L, b->data, b->len);
}

/* Walks the values of table t (depth is already bounded by the parse). */
static void reconstruct(dec_t *d, int t)
{
    lua_State *L = d->L;
    luaL_checkstack(L, 6, "json nesting");
    lua_pushnil(L);
    while (lua_next(L, t)) {
        int v = lua_gettop(L);
        if (lua_type(L, v) == LUA_TTABLE) {
            lua_Integer num = placeholder_num(d, v);
            if (num >= 0) { /* assigning an existing field is fine in lua_next */
                lua_pushvalue(L, v - 1);
                push_attachment(d, num);
                lua_rawset(L, t);
            } else {
                reconstruct(d, v);
            }
        }
        lua_pop(L, 1);
    }
}

static void parse_object(dec_t *d)
{
    lua_State *L = d->L;
    enter(d);
    d->p++;
    lua_createtable(L, 0, 0);
    int t = lua_gettop(L);
    skip_ws(d);
    if (d->p < d->end && *d->p == '}') {
        d->p++;
        push_shared_mt(L, d->obj_mt, push_object_mt);
        lua_setmetatable(L, t);
        d->depth--;
        return;
    }
    /* The object's own metatable: marker + member names in order. */
    lua_createtable(L, 2, 1);
    lua_pushliteral(L, "object");
    lua_setfield(L, t + 1, SL_LUA_JSON_KIND_FIELD);
    lua_Integer nkeys = 0;
    for (;;) {
        skip_ws(d);
        if (d->p >= d->end || *d->p != '"') {
            if (d->p >= d->end)
                dec_unexpected(d);
            dec_fail(d, d->p, "expected string for object member name");
        }
        parse_string(d); /* t+2 */
        skip_ws(d);
        if (d->p >= d->end || *d->p != ':') {
            if (d->p >= d->end)
                dec_unexpected(d);
            dec_fail(d, d->p, "expected ':'");
        }
        d->p++;
        parse_value(d); /* t+3 */
        lua_pushvalue(L, t + 2);
        if (lua_rawget(L, t) == LUA_TNIL) { /* first time: remember order */
            lua_pushvalue(L, t + 2);
            lua_rawseti(L, t + 1, ++nkeys);
        }
        lua_pop(L, 1);
        lua_rawset(L, t);
        skip_ws(d);
        if (d->p < d->end && *d->p == ',') {
            d->p++;
            continue;
        }
        if (d->p < d->end && *d->p == '}') {
            d->p++;
            break;
        }
        if (d->p >= d->end)
            dec_unexpected(d);
        dec_fail(d, d->p, "expected ',' or '}'");
    }
    lua_setmetatable(L, t);
    d->depth--;
}

static void expect_literal(dec_t *d, const char *lit)
{
    size_t n = sl_json_literal((const char *)d->p, (const char *)d->end);
    if (!n)
        dec_fail(d, d->p, "invalid literal (expected %s)", lit);
    d->p += n;
}

static void parse_value(dec_t *d)
{
    skip_ws(d);
    if (d->p >= d->end)
        dec_unexpected(d);
    switch (*d->p) {
    case '{': parse_object(d); return;
    case '[': parse_array(d); return;
    case '"': parse_string(d); return;
    case 't': expect_literal(d, "true"); lua_pushboolean(d->L, 1); return;
    case 'f': expect_literal(d, "false"); lua_pushboolean(d->L, 0); return;
    case 'n': expect_literal(d, "null"); sl_lua_json_push_null(d->L); return;
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        parse_number(d);
        return;
    default:
        dec_unexpected(d);
    }
}

static int dec_run(lua_State *L)
{
    dec_t *d = lua_touserdata(L, 1);
    lua_pushnil(L); /* the shared metatables, looked up when first needed */
    d->arr_mt = lua_gettop(L);
    lua_pushnil(L); /* (the object one: only `{}` needs it) */
    d->obj_mt = lua_gettop(L);
    parse_value(d);
    skip_ws(d);
    if (d->p < d->end)
        dec_fail(d, d->p, "unexpected data after the JSON value");
    if (d->opts && d->opts->attachments && lua_type(L, -1) == LUA_TTABLE) {
        int v = lua_gettop(L);
        lua_Integer num = placeholder_num(d, v);
        if (num >= 0) {
            lua_pop(L, 1);
            push_attachment(d, num);
        } else {
            reconstruct(d, v);
        }
    }
    return 1;
}

/* The elements of a top-level array, each on the stack, with placeholders
 * replaced in each as dec_run does in the array. */
static int dec_args(dec_t *d)
{
    lua_State *L = d->L;
    int base = lua_gettop(L);
    skip_ws(d);
    if (d->p >= d->end || *d->p != '[')
        dec_fail(d, d->p, "expected an array");
    d->depth++; /* the array's own level, as when it is a table (its
                 * elements check the stack for themselves) */
    d->p++;
    parse_elements(d, 0);
    d->depth--;
    skip_ws(d);
    if (d->p < d->end)
        dec_fail(d, d->p, "unexpected data after the JSON value");
    int top = lua_gettop(L);
    if (d->opts && d->opts->attachments) {
        for (int v = base + 1; v <= top; v++) {
            if (lua_type(L, v) != LUA_TTABLE)
                continue;
            lua_Integer num = placeholder_num(d, v);
            if (num >= 0) {
                push_attachment(d, num);
                lua_replace(L, v);
            } else {
                reconstruct(d, v);
            }
        }
    }
    return top - base;
}

static int dec_args_run(lua_State *L)
{
    dec_t *d = lua_touserdata(L, 1);
    lua_pushnil(L); /* the shared metatables, looked up when first needed */
    d->arr_mt = lua_gettop(L);
    lua_pushnil(L);
    d->obj_mt = lua_gettop(L);
    return dec_args(d);
}

/* Runs fn (dec_run or dec_args_run) protected; nres as lua_pcall's.
 * Returns what it pushed (>= 0) or a negative code with err set. */
static int dec_call(lua_State *L, lua_CFunction fn, int nres, const char *json, size_t len,
                    const sl_lua_json_decode_opts_t *opts, char *err, size_t errlen)
{
    if (!lua_checkstack(L, 4)) {
        copy_err(err, errlen, "Lua stack overflow");
        return -ENOMEM;
    }
    static const char empty[1] = "";
    const unsigned char *p = (const unsigned char *)(json ? json : empty);
    dec_t d = {.L = L, .start = p, .p = p, .end = p + (json ? len : 0),
               .opts = opts, .scratch = SL_BUF_INIT};
    int top = lua_gettop(L);
    lua_pushcfunction(L, fn);
    lua_pushlightuserdata(L, &d);
    int st = lua_pcall(L, 1, nres, 0);
    sl_buf_free(&d.scratch);
    if (st == LUA_OK)
        return lua_gettop(L) - top;
    int code = st == LUA_ERRMEM ? -ENOMEM : d.code ? d.code : -EINVAL;
    copy_err(err, errlen, lua_tostring(L, -1));
    lua_pop(L, 1);
    return code;
}

int sl_lua_json_decode(lua_State *L, const char *json, size_t len,
                    const sl_lua_json_decode_opts_t *opts, char *err, size_t errlen)
{
    int rc = dec_call(L, dec_run, 1, json, len, opts, err, errlen);
    return rc < 0 ? rc : 0;
}

int sl_lua_json_decode_args(lua_State *L, const char *json, size_t len,
                            const sl_lua_json_decode_opts_t *opts, char *err, size_t errlen)
{
    return dec_call(L, dec_args_run, LUA_MULTRET, json, len, opts, err, errlen);
}

/* Without escapes no string needs the scratch buffer, the one thing a
 * decode owns that an error jumping out would leak; without attachments
 * nothing else is made on the side. Such text, most events', decodes
 * here without the protected call. */
int sl_lua_json_decode_args_raising(lua_State *L, const char *json, size_t len,
                                    const sl_lua_json_decode_opts_t *opts, char *err,
                                    size_t errlen)
{
    if (opts || !json || memchr(json, '\\', len))
        return sl_lua_json_decode_args(L, json, len, opts, err, errlen);
    const unsigned char *p = (const unsigned char *)json;
    dec_t d = {.L = L, .start = p, .p = p, .end = p + len, .scratch = SL_BUF_INIT,
               .err = err, .errlen = errlen};
    return dec_args(&d);
}

/* ---- encoder ------------------------------------------------------------- */

/* One step of the path to the value being encoded, for error messages. */
typedef struct path_el {
    const char *s; /* member name, or NULL for an integer index/key */
    size_t len;
    lua_Integer i;
    int set;       /* 0 while a table has no current member yet */
} path_el_t;

typedef struct enc {
    lua_State *L;
    sl_buf_t *out;
    const sl_lua_json_encode_opts_t *opts;
    int nbinary;
    int code;
    int depth;
    path_el_t path[SL_LUA_JSON_MAX_DEPTH + 1];
} enc_t;

static void format_path(const enc_t *e, char *o, size_t cap)
{
    size_t n = 0;
    n += (size_t)snprintf(o, cap, "$");
    for (int k = 1; k <= e->depth && n < cap; k++) {
        const path_el_t *pe = &e->path[k];
        if (!pe->set)
            continue;
        if (pe->s)
            n += (size_t)snprintf(o + n, cap - n, ".%.*s", pe->len > 40 ? 40 : (int)pe->len, pe->s);
        else
            n += (size_t)snprintf(o + n, cap - n, "[%lld]", (long long)pe->i);
    }
}

__attribute__((noreturn, format(printf, 2, 3)))
static void enc_fail(enc_t *e, const char *fmt, ...)
{
    char msg[256], path[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    format_path(e, path, sizeof path);
    if (!e->code)
        e->code = -EINVAL;
    lua_pushfstring(e->L, "%s at %s", msg, path);
    lua_error(e->L);
    abort();
}

__attribute__((noreturn))
static void enc_oom(enc_t *e)
{
    e->code = -ENOMEM;
    lua_pushliteral(e->L, "out of memory");
    lua_error(e->L);
    abort();
}

static void put(enc_t *e, const void *p, size_t n)
{
    if (sl_buf_append(e->out, p, n))
        enc_oom(e);
}

#define PUTS(e, lit) put((e), (lit), sizeof(lit) - 1)

/* Appends str as a JSON string literal. 0, -EINVAL when it is not valid
 * UTF-8, -ENOMEM; on failure out may hold part of it. Never raises. */
static int put_string(sl_buf_t *out, const char *str, size_t n)
{
    const unsigned char *p = (const unsigned char *)str, *end = p + n, *run = p;
    if (sl_buf_reserve(out, n + 2))
        return -ENOMEM;
    size_t plain = sl_json_plain_len(str, n, 1);
    if (plain == n) { /* no escape, all ASCII (most strings): one copy */
        char *o = out->data + out->len;
        o[0] = '"';
        memcpy(o + 1, str, n);
        o[n + 1] = '"';
        out->len += n + 2;
        return 0;
    }
    out->data[out->len++] = '"';
    p += plain;
    while ((p += sl_json_plain_len((const char *)p, (size_t)(end - p), 1)) < end) {
        unsigned c = *p;
        if (c >= 0x80) {
            size_t k = sl_utf8_seq_len(p, (size_t)(end - p));
            if (!k)
                return -EINVAL;
            p += k;
            continue;
        }
        char esc[6];
        if (sl_buf_append(out, run, (size_t)(p - run)) ||
            sl_buf_append(out, esc, sl_json_escape_byte(c, esc)))
            return -ENOMEM;
        run = ++p;
    }
    if (sl_buf_append(out, run, (size_t)(p - run)) || sl_buf_append(out, "\"", 1))
        return -ENOMEM;
    return 0;
}

static void enc_string(enc_t *e, const char *str, size_t n)
{
    int rc = put_string(e->out, str, n);
    if (rc == -EINVAL)
        enc_fail(e, "string is not valid UTF-8 (use json.binary for bytes)");
    if (rc)
        enc_oom(e);
}

static int put_integer(sl_buf_t *out, lua_Integer i)
{
    char b[32];
    int n = snprintf(b, sizeof b, LUA_INTEGER_FMT, (LUAI_UACINT)i);
    return sl_buf_append(out, b, (size_t)n);
}

static void enc_integer(enc_t *e, lua_Integer i)
{
    if (put_integer(e->out, i))
        enc_oom(e);
}

/* Numbers print as JavaScript prints them (shortest digits that read back
 * exactly; mpjson's formatter, shared with the Redis adapter). JSON has no
 * NaN or Infinity: null, as JSON.stringify writes them. */
static int put_double(sl_buf_t *out, double d)
{
    if (isnan(d) || isinf(d))
        return sl_buf_append(out, "null", 4);
    char b[SL_JSON_NUMBER_MAX];
    return sl_buf_append(out, b, sl_json_format_number(d, b));
}

/* Appends the value at idx when it is one of the values written without
 * looking inside anything (nil, boolean, number, string, json.null,
 * json.empty_array): 0, or -EINVAL (a string that is not UTF-8), -ENOMEM;
 * 1 for any other value, nothing appended. Never raises, and allocates no
 * Lua memory. */
static int put_scalar(lua_State *L, int idx, sl_buf_t *out)
{
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        return sl_buf_append(out, "null", 4);
    case LUA_TBOOLEAN:
        return lua_toboolean(L, idx) ? sl_buf_append(out, "true", 4) : sl_buf_append(out, "false", 5);
    case LUA_TNUMBER:
        return lua_isinteger(L, idx) ? put_integer(out, lua_tointeger(L, idx))
                                     : put_double(out, lua_tonumber(L, idx));
    case LUA_TSTRING: {
        size_t n;
        const char *str = lua_tolstring(L, idx, &n);
        return put_string(out, str, n);
    }
    case LUA_TLIGHTUSERDATA: {
        void *p = lua_touserdata(L, idx);
        if (p == JSON_NULL || p == NULL)
            return sl_buf_append(out, "null", 4);
        if (p == JSON_EMPTY_ARRAY)
            return sl_buf_append(out, "[]", 2);
        return 1;
    }
    default:
        return 1;
    }
}

static void enc_value(enc_t *e, int idx);

/* Writes t[1..n] as a JSON array; holes (nil) are written as null. */
static void enc_items(enc_t *e, int t, lua_Integer n)
{
    lua_State *L = e->L;
    PUTS(e, "[");
    for (lua_Integer i = 1; i <= n; i++) {
        if (i > 1)
            PUTS(e, ",");
        e->path[e->depth] = (path_el_t){NULL, 0, i, 1};
        lua_rawgeti(L, t, i);
        enc_value(e, lua_gettop(L));
        lua_pop(L, 1);
    }
    PUTS(e, "]");
}

/* A key collected for sorting; string pointers stay valid because the
 * table keeps the strings alive and no Lua code runs meanwhile. */
typedef struct skey {
    const char *s; /* NULL: integer key */
    size_t len;
    lua_Integer i;
} skey_t;

static int skey_cmp(const void *a, const void *b)
{
    const skey_t *x = a, *y = b;
    if (!x->s || !y->s) {
        if (x->s) return 1;
        if (y->s) return -1;
        return x->i < y->i ? -1 : x->i > y->i;
    }
    size_t m = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->s, y->s, m);
    if (c)
        return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

/* Fills *k from the key at idx; raises for keys JSON can't name. */
static void read_key(enc_t *e, int idx, skey_t *k)
{
    lua_State *L = e->L;
    if (lua_type(L, idx) == LUA_TSTRING) {
        k->s = lua_tolstring(L, idx, &k->len);
        k->i = 0;
    } else if (lua_isinteger(L, idx)) {
        k->s = NULL;
        k->len = 0;
        k->i = lua_tointeger(L, idx);
    } else if (lua_type(L, idx) == LUA_TNUMBER) {
        enc_fail(e, "table key %s is not an integer", lua_tostring(L, idx));
    } else {
        enc_fail(e, "table key of type %s cannot be a JSON member name", luaL_typename(L, idx));
    }
}

/* A string key spelling an integer exactly as JSON would write the integer
 * key (no sign '+', no leading zeros, no "-0"). */
static int canonical_int(const char *s, size_t n, lua_Integer *out)
{
    size_t i = 0;
    int neg = 0;
    if (n && s[0] == '-')
        neg = 1, i = 1;
    if (i >= n || n - i > 19 || (s[i] == '0' && n - i > 1) || (neg && s[i] == '0'))
        return 0;
    uint64_t v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > (uint64_t)LUA_MAXINTEGER + (uint64_t)neg)
        return 0;
    *out = neg ? (lua_Integer)(0 - v) : (lua_Integer)v;
    return 1;
}

/* Writes `,"key":value` for the value on top of the stack (and pops it). */
static void enc_member(enc_t *e, int t, const skey_t *k, int *first)
{
    lua_State *L = e->L;
    if (!*first)
        PUTS(e, ",");
    *first = 0;
    e->path[e->depth] = (path_el_t){k->s, k->len, k->i, 1};
    if (k->s) {
        lua_Integer alias;
        if (k->len && (k->s[0] == '-' || (k->s[0] >= '0' && k->s[0] <= '9')) &&
            canonical_int(k->s, k->len, &alias)) {
            int clash = lua_rawgeti(L, t, alias) != LUA_TNIL;
            lua_pop(L, 1);
            if (clash)
                enc_fail(e, "key is present both as a string and as an integer");
        }
        enc_string(e, k->s, k->len);
    } else {
        PUTS(e, "\"");
        enc_integer(e, k->i);
        PUTS(e, "\"");
    }
    PUTS(e, ":");
    enc_value(e, lua_gettop(L));
    lua_pop(L, 1);
}

/* Writes the members of t whose keys are not in the set at `skip` (0: none),
 * sorted; n is an upper bound of their count. */
static void enc_sorted_members(enc_t *e, int t, size_t n, int skip, int *first)
{
    lua_State *L = e->L;
    if (n > SIZE_MAX / sizeof(skey_t))
        enc_oom(e);
    skey_t *keys = lua_newuserdatauv(L, n * sizeof(skey_t), 0);
    size_t m = 0;
    e->path[e->depth].set = 0; /* a bad key is reported at the table */
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        if (skip) {
            lua_pushvalue(L, -1);
            int listed = lua_rawget(L, skip) != LUA_TNIL;
            lua_pop(L, 1);
            if (listed)
                continue;
        }
        if (m < n)
            read_key(e, lua_gettop(L), &keys[m++]);
    }
    qsort(keys, m, sizeof *keys, skey_cmp);
    for (size_t j = 0; j < m; j++) {
        if (keys[j].s) {
            lua_pushlstring(L, keys[j].s, keys[j].len);
            lua_rawget(L, t);
        } else {
            lua_rawgeti(L, t, keys[j].i);
        }
        enc_member(e, t, &keys[j], first);
    }
    lua_pop(L, 1); /* keys */
}

/* An object carrying its member order in its metatable's sequence part. */
static void enc_ordered_object(enc_t *e, int t)
{
    lua_State *L = e->L;
    lua_getmetatable(L, t);
    int mt = lua_gettop(L);
    lua_Integer nlist = (lua_Integer)lua_rawlen(L, mt);
    size_t emitted = 0;
    int first = 1;
    PUTS(e, "{");
    for (lua_Integer i = 1; i <= nlist; i++) {
        if (lua_rawgeti(L, mt, i) == LUA_TNIL) { /* a hole in a hand-made list */
            lua_pop(L, 1);
            continue;
        }
        skey_t k;
        read_key(e, lua_gettop(L), &k);
        lua_pushvalue(L, -1);
        if (lua_rawget(L, t) == LUA_TNIL) {
            lua_pop(L, 2);
            continue;
        }
        emitted++;
        enc_member(e, t, &k, &first);
        lua_pop(L, 1); /* the key: k.s stays valid until here */
    }
    size_t total = 0;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        total++;
    }
    if (total > emitted) { /* keys Lua added: after the original ones */
        lua_createtable(L, 0, (int)(nlist < INT32_MAX ? nlist : 0));
        int set = lua_gettop(L);
        for (lua_Integer i = 1; i <= nlist; i++) {
            if (lua_rawgeti(L, mt, i) == LUA_TNIL) {
                lua_pop(L, 1);
                continue;
            }
            lua_pushboolean(L, 1);
            lua_rawset(L, set);
        }
        enc_sorted_members(e, t, total - emitted, set, &first);
        lua_pop(L, 1);
    }
    PUTS(e, "}");
    lua_pop(L, 1); /* mt */
}

static void enc_table(enc_t *e, int t)
{
    lua_State *L = e->L;
    if (e->depth >= SL_LUA_JSON_MAX_DEPTH)
        enc_fail(e, "nesting deeper than %d (a cycle?)", SL_LUA_JSON_MAX_DEPTH);
    luaL_checkstack(L, 10, "json nesting");
    sl_lua_json_kind_t kind = sl_lua_json_table_kind(L, t);
    e->depth++;
    e->path[e->depth].set = 0;
    if (kind == SL_LUA_JSON_OBJECT) {
        enc_ordered_object(e, t);
        e->depth--;
        return;
    }
    /* Count keys; note whether they are all positive integers. */
    size_t n = 0;
    lua_Integer max = 0;
    int allpos = 1;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        n++;
        if (allpos) {
            lua_Integer i = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : 0;
            if (i <= 0)
                allpos = 0;
            else if (i > max)
                max = i;
        }
        if (!allpos && kind == SL_LUA_JSON_ARRAY) {
            skey_t k;
            read_key(e, lua_gettop(L), &k);
            e->path[e->depth] = (path_el_t){k.s, k.len, k.i, 1};
            enc_fail(e, "array has a key that is not a positive integer");
        }
    }
    if (kind == SL_LUA_JSON_ARRAY) {
        uint64_t holes = (uint64_t)max - n;
        if (holes > 16 && holes > n)
            enc_fail(e, "array is too sparse (%zu values, highest index %lld)", n, (long long)max);
        enc_items(e, t, max);
    } else if (n == 0) {
        PUTS(e, "{}");
    } else if (allpos && (uint64_t)max == n) {
        enc_items(e, t, max);
    } else {
        int first = 1;
        PUTS(e, "{");
        enc_sorted_members(e, t, n, 0, &first);
        PUTS(e, "}");
    }
    e->depth--;
}

static void enc_binary(enc_t *e, int idx)
{
    size_t len = 0;
    const char *data = sl_lua_json_binary_data(e->L, idx, &len);
    if (!e->opts || !e->opts->on_binary)
        enc_fail(e, "binary data can only be sent as a Socket.IO attachment");
    int num = e->opts->on_binary(e->opts->ud, data, len);
    if (num < 0) {
        e->code = num;
        enc_fail(e, "binary attachment callback failed (%d)", num);
    }
    char b[64];
    int n = snprintf(b, sizeof b, "{\"_placeholder\":true,\"num\":%d}", num);
    put(e, b, (size_t)n);
    e->nbinary++;
}

static void enc_value(enc_t *e, int idx)
{
    lua_State *L = e->L;
    int rc = put_scalar(L, idx, e->out);
    if (rc == 0)
        return;
    if (rc == -EINVAL)
        enc_fail(e, "string is not valid UTF-8 (use json.binary for bytes)");
    if (rc < 0)
        enc_oom(e);
    switch (lua_type(L, idx)) {
    case LUA_TTABLE:
        enc_table(e, idx);
        return;
    case LUA_TLIGHTUSERDATA:
        enc_fail(e, "cannot encode a light userdata value");
    case LUA_TUSERDATA:
        if (sl_lua_json_is_binary(L, idx)) {
            enc_binary(e, idx);
            return;
        }
        enc_fail(e, "cannot encode a userdata value");
    default:
        enc_fail(e, "cannot encode a %s value", luaL_typename(L, idx));
    }
}

/* fn(e, values...) in protected mode: the n values from stack index
 * first are its arguments after the encoder state. */
static int enc_call(lua_State *L, lua_CFunction fn, int first, int n, sl_buf_t *out,
                    const sl_lua_json_encode_opts_t *opts, char *err, size_t errlen)
{
    if (n < 0 || !lua_checkstack(L, n + 4)) {
        copy_err(err, errlen, "Lua stack overflow");
        return -ENOMEM;
    }
    size_t start = out->len;
    /* Not zeroed whole: the path (4 KiB) is written level by level before
     * it is read, and an encode is on every emit's and ack's path. */
    enc_t e;
    e.L = L;
    e.out = out;
    e.opts = opts;
    e.nbinary = e.code = e.depth = 0;
    lua_pushcfunction(L, fn);
    lua_pushlightuserdata(L, &e);
    for (int i = 0; i < n; i++)
        lua_pushvalue(L, first + i);
    int st = lua_pcall(L, n + 1, 0, 0);
    if (st == LUA_OK)
        return e.nbinary;
    out->len = start;
    int code = st == LUA_ERRMEM ? -ENOMEM : e.code ? e.code : -EINVAL;
    copy_err(err, errlen, lua_tostring(L, -1));
    lua_pop(L, 1);
    return code;
}

static int enc_run(lua_State *L)
{
    enc_value(lua_touserdata(L, 1), 2);
    return 0;
}

int sl_lua_json_encode(lua_State *L, int idx, sl_buf_t *out,
                    const sl_lua_json_encode_opts_t *opts, char *err, size_t errlen)
{
    return enc_call(L, enc_run, lua_absindex(L, idx), 1, out, opts, err, errlen);
}

/* The values after e as one array: nil is null, as in an array table. */
static int enc_values_run(lua_State *L)
{
    enc_t *e = lua_touserdata(L, 1);
    int n = lua_gettop(L) - 1;
    e->depth = 1;
    PUTS(e, "[");
    for (int i = 1; i <= n; i++) {
        if (i > 1)
            PUTS(e, ",");
        e->path[1] = (path_el_t){NULL, 0, i, 1};
        enc_value(e, i + 1);
    }
    PUTS(e, "]");
    return 0;
}

/* The values as one array when each is a scalar (nil, boolean, number,
 * string, json.null, json.empty_array), without the protected call the
 * general encoder needs: nothing here raises or allocates Lua memory.
 * Returns 0, or -1 (out as it was) for the general encoder to do it,
 * errors included, as it always does. An ack's arguments are most often
 * such values. */
static int enc_values_flat(lua_State *L, int first, int n, sl_buf_t *out)
{
    size_t start = out->len;
    int rc = sl_buf_append(out, "[", 1);
    for (int i = 0; i < n && rc == 0; i++) {
        if (i > 0)
            rc = sl_buf_append(out, ",", 1);
        if (rc == 0)
            rc = put_scalar(L, first + i, out);
    }
    if (rc == 0)
        rc = sl_buf_append(out, "]", 1);
    if (rc) {
        out->len = start;
        return -1;
    }
    return 0;
}

int sl_lua_json_encode_values(lua_State *L, int first, int n, sl_buf_t *out,
                              const sl_lua_json_encode_opts_t *opts, char *err, size_t errlen)
{
    first = lua_absindex(L, first);
    if (n >= 0 && enc_values_flat(L, first, n, out) == 0)
        return 0;
    return enc_call(L, enc_values_run, first, n, out, opts, err, errlen);
}

/* 1: a binary is in there; 0: none; -1: nested past the limit, which ends
 * the whole search at once (found by tests/fuzz/fuzz_lua_json_encode): a
 * cycle with two ways back, t.a = t and t.b = t, has 2^128 paths down to
 * the limit, and a search that only turned back there never ended. Such a
 * value cannot be encoded anyway (the encoder stops at the limit too). */
static int has_binary(lua_State *L, int idx, int depth)
{
    int t = lua_type(L, idx);
    if (t == LUA_TUSERDATA)
        return sl_lua_json_is_binary(L, idx);
    if (t != LUA_TTABLE)
        return 0;
    if (depth >= SL_LUA_JSON_MAX_DEPTH || !lua_checkstack(L, 4))
        return -1;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int rc = has_binary(L, lua_gettop(L), depth + 1);
        if (rc != 0) {
            lua_pop(L, 2);
            return rc;
        }
        lua_pop(L, 1);
    }
    return 0;
}

int sl_lua_json_has_binary(lua_State *L, int idx)
{
    return has_binary(L, lua_absindex(L, idx), 0) == 1;
}

/* ---- Lua module ---------------------------------------------------------- */

static int l_decode(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    char err[200];
    if (sl_lua_json_decode(L, s, n, NULL, err, sizeof err) < 0) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    return 1;
}

/* The output buffer lives in a userdata whose __gc frees it, so a Lua error
 * between encoding and pushing the result can't leak it. */
static int bufbox_gc(lua_State *L)
{
    sl_buf_free(luaL_checkudata(L, 1, BUFBOX_MT));
    return 0;
}

static int l_encode(lua_State *L)
{
    luaL_checkany(L, 1);
    lua_settop(L, 1);
    sl_buf_t *b = lua_newuserdatauv(L, sizeof *b, 0);
    *b = (sl_buf_t)SL_BUF_INIT;
    if (luaL_newmetatable(L, BUFBOX_MT)) {
        lua_pushcfunction(L, bufbox_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    char err[300];
    if (sl_lua_json_encode(L, 1, b, NULL, err, sizeof err) < 0) {
        sl_buf_free(b);
        return luaL_error(L, "json.encode: %s", err);
    }
    lua_pushlstring(L, b->data ? b->data : "", b->len);
    sl_buf_free(b);
    return 1;
}

/* Marks the table at 1 (or a new one) as `kind`. A foreign metatable is
 * never replaced silently. */
static int mark(lua_State *L, sl_lua_json_kind_t kind)
{
    if (lua_isnoneornil(L, 1)) {
        lua_settop(L, 0);
        lua_newtable(L);
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    sl_lua_json_kind_t cur = sl_lua_json_table_kind(L, 1);
    if (cur == SL_LUA_JSON_PLAIN && lua_getmetatable(L, 1))
        return luaL_argerror(L, 1, "table already has a metatable that is not a JSON marker");
    if (cur == kind) /* keeps a decoded object's member order */
        return 1;
    if (kind == SL_LUA_JSON_ARRAY)
        push_array_mt(L);
    else
        push_object_mt(L);
    lua_setmetatable(L, 1);
    return 1;
}

static int l_array(lua_State *L) { return mark(L, SL_LUA_JSON_ARRAY); }
static int l_object(lua_State *L) { return mark(L, SL_LUA_JSON_OBJECT); }

static int l_binary(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    sl_lua_json_binary_new(L, s, n);
    return 1;
}

static int l_is_binary(lua_State *L)
{
    lua_pushboolean(L, sl_lua_json_is_binary(L, 1));
    return 1;
}

int luaopen_siolua_json(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"decode", l_decode},   {"encode", l_encode},
        {"array", l_array},     {"object", l_object},
        {"binary", l_binary},   {"is_binary", l_is_binary},
        {NULL, NULL},
    };
    push_binary_mt(L);
    push_array_mt(L);
    push_object_mt(L);
    lua_pop(L, 3);
    luaL_newlib(L, fns);
    sl_lua_json_push_null(L);
    lua_setfield(L, -2, "null");
    lua_pushlightuserdata(L, JSON_EMPTY_ARRAY);
    lua_setfield(L, -2, "empty_array");
    return 1;
}
