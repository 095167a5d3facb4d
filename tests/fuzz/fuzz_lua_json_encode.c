/* tests/fuzz/fuzz_lua_json_encode.c: lua/lua_json's encoder, the outbound path
 * of every emit and ack: the input is a little program that builds a Lua
 * value (integers, floats, strings, nil, json.null, booleans, plain,
 * array- and object-marked tables, json.empty_array, siolua.binary, shared
 * and cyclic references, member-order metatables), which is then encoded
 * with or without a binary callback.
 *
 * Invariants: an encode that succeeds writes UTF-8 JSON that lua_json and
 * the packet validator read back, with exactly the binaries it counted as
 * placeholders, and decoding and encoding that text again gives the same
 * bytes; one that fails says why, leaves the buffer as it was and the Lua
 * stack too. */
#include "fuzz_json.h"

#include <math.h>

#define MAX_OPS 300
#define MAX_STACK 40
/* Tables stored into tables: sharing is allowed, but each shared level
 * doubles what the encoder writes (x = {x, x}, as in JSON.stringify), so
 * their number is capped to keep the output small. Cycles stay free. */
#define MAX_TABLE_SETS 12

/* The binaries the encoder hands out (a copy each, as lua_sio keeps them). */
typedef struct bins {
    sl_buf_t list;  /* of sio_packet_bin_t */
    sl_buf_t bytes; /* their data, one after the other */
    int fail_at;    /* the callback fails on this call (-1: never) */
    int calls;
} bins_t;

static int on_binary(void *ud, const char *data, size_t len)
{
    bins_t *b = ud;
    if (b->calls++ == b->fail_at)
        return -EPERM;
    sio_packet_bin_t e = {(const char *)(uintptr_t)b->bytes.len, len};
    if (sl_buf_append(&b->bytes, data, len) || sl_buf_append(&b->list, &e, sizeof e))
        return -ENOMEM;
    return (int)(b->list.len / sizeof e - 1);
}

static uint64_t take_u64(fuzz_in_t *in)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | fuzz_byte(in);
    return v;
}

/* Runs the program; leaves at least one value on the stack above base. */
static void build(lua_State *L, fuzz_in_t *in, int base)
{
    int table_sets = 0;
    for (int ops = 0; ops < MAX_OPS && in->n > 0; ops++) {
        int top = lua_gettop(L) - base;
        unsigned op = fuzz_byte(in) % 17;
        if (top >= MAX_STACK && op <= 8)
            op = 15; /* full: pop instead of push */
        if ((op == 9 || op == 10) && lua_istable(L, -1) && ++table_sets > MAX_TABLE_SETS)
            op = 15;
        switch (op) {
        case 0: lua_pushinteger(L, (lua_Integer)take_u64(in)); break;
        case 1: {
            uint64_t u = take_u64(in);
            double d;
            memcpy(&d, &u, sizeof d);
            lua_pushnumber(L, d);
            break;
        }
        case 2: {
            size_t n = fuzz_byte(in) % 24;
            n = n < in->n ? n : in->n;
            lua_pushlstring(L, (const char *)in->p, n);
            in->p += n;
            in->n -= n;
            break;
        }
        case 3: lua_pushnil(L); break;
        case 4: sl_lua_json_push_null(L); break;
        case 5: lua_pushboolean(L, (int)(fuzz_byte(in) & 1)); break;
        case 6: lua_createtable(L, 0, 0); break;
        case 7: sl_lua_json_new_array(L, 0); break;
        case 8: sl_lua_json_new_object(L, 0); break;
        case 9: /* t[k] = v, t below k and v */
            if (top >= 3 && lua_istable(L, -3) && !lua_isnil(L, -2) &&
                !(lua_type(L, -2) == LUA_TNUMBER && isnan(lua_tonumber(L, -2)))) {
                lua_rawset(L, -3);
            } else if (top >= 1) {
                lua_pop(L, 1);
            }
            break;
        case 10: /* t[i] = v, i small (holes, 0, negatives) */
            if (top >= 2 && lua_istable(L, -2))
                lua_rawseti(L, -2, (lua_Integer)(fuzz_byte(in) % 24) - 3);
            break;
        case 11: lua_pushlightuserdata(L, NULL); break; /* cjson.null */
        case 12: {
            size_t n = fuzz_byte(in) % 8;
            char bytes[8] = {0, 1, 2, 3, (char)0xfe, (char)0xff, 'x', '\n'};
            sl_lua_json_binary_new(L, bytes, n);
            break;
        }
        case 13: if (top >= 1 && top < MAX_STACK) lua_pushvalue(L, -1); break;
        case 14: /* a value deeper in the stack, for cycles and sharing */
            if (top >= 1 && top < MAX_STACK)
                lua_pushvalue(L, base + 1 + (int)(fuzz_byte(in) % (unsigned)top));
            break;
        case 15: if (top > 1) lua_pop(L, 1); break;
        case 16: /* a member order: setmetatable(t, {__jsontype=..., "b", "a"}) */
            if (top >= 1 && lua_istable(L, -1)) {
                lua_createtable(L, 2, 1);
                lua_pushstring(L, (fuzz_byte(in) & 1) ? "object" : "array");
                lua_setfield(L, -2, SL_LUA_JSON_KIND_FIELD);
                lua_pushstring(L, "b");
                lua_rawseti(L, -2, 1);
                lua_pushstring(L, "a");
                lua_rawseti(L, -2, 2);
                lua_setmetatable(L, -2);
            }
            break;
        }
    }
    if (lua_gettop(L) == base)
        lua_pushnil(L);
}

static int encode(lua_State *L, int idx, sl_buf_t *out, bins_t *b)
{
    char err[256] = "";
    sl_lua_json_encode_opts_t o = {on_binary, b};
    int top = lua_gettop(L);
    size_t len0 = out->len;
    int rc = sl_lua_json_encode(L, idx, out, b ? &o : NULL, err, sizeof err);
    FUZZ_CHECK(lua_gettop(L) == top);
    if (rc < 0) {
        FUZZ_CHECK(out->len == len0 && err[0] != '\0');
        FUZZ_CHECK(rc == -EINVAL || rc == -ENOMEM || rc == -EPERM);
    }
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in_t in = {data, size};
    unsigned opt = fuzz_byte(&in);
    lua_State *L = fuzz_lua();
    int base = lua_gettop(L);
    build(L, &in, base);

    bins_t b = {SL_BUF_INIT, SL_BUF_INIT, (opt & 0x40) ? (int)(opt & 7) : -1, 0};
    int with_cb = opt & 0x80;
    sl_buf_t out = SL_BUF_INIT, again = SL_BUF_INIT;
    sl_buf_append(&out, "pre", 3); /* appends, never overwrites */
    int rc = encode(L, -1, &out, with_cb ? &b : NULL);
    FUZZ_CHECK(sl_lua_json_has_binary(L, -1) || rc <= 0);
    if (rc >= 0) {
        FUZZ_CHECK(out.len > 3 && !memcmp(out.data, "pre", 3));
        const char *j = out.data + 3;
        size_t n = out.len - 3;
        size_t nb = b.list.len / sizeof(sio_packet_bin_t);
        FUZZ_CHECK((size_t)rc == nb);
        /* The attachments as a packet would carry them. */
        sio_packet_bin_t *atts = (sio_packet_bin_t *)(void *)b.list.data;
        for (size_t i = 0; i < nb; i++)
            atts[i].data = (b.bytes.data ? b.bytes.data : "") + (uintptr_t)atts[i].data;
        FUZZ_CHECK(fuzz_utf8_valid(j, n));
        FUZZ_CHECK(fuzz_sio_json_ok(j, n));
        if (fuzz_mp_placeholders_exact(j, n, nb)) {
            fuzz_ph_count_t c = {atts, 0};
            FUZZ_CHECK(sio_packet_placeholders(j, n, atts, nb, fuzz_ph_count, &c) == 0);
            FUZZ_CHECK(c.seen == nb);
        }
        /* Read back (with the attachments) and written again: the same. */
        char err[200];
        sl_lua_json_decode_opts_t o = {(const sl_lua_json_blob_t *)atts, nb};
        int exact = fuzz_mp_placeholders_exact(j, n, nb);
        FUZZ_CHECK(sl_lua_json_decode(L, j, n, nb && exact ? &o : NULL, err, sizeof err) == 0);
        bins_t b2 = {SL_BUF_INIT, SL_BUF_INIT, -1, 0};
        FUZZ_CHECK(encode(L, -1, &again, nb && exact ? &b2 : NULL) >= 0);
        FUZZ_CHECK(again.len == n && !memcmp(again.data, j, n));
        lua_pop(L, 1);
        sl_buf_free(&b2.list);
        sl_buf_free(&b2.bytes);
    }
    lua_settop(L, base);
    sl_buf_free(&out);
    sl_buf_free(&again);
    sl_buf_free(&b.list);
    sl_buf_free(&b.bytes);
    fuzz_lua_settle();
    return 0;
}
