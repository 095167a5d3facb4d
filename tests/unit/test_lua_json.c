/* Unit tests for lua_json: the exact JSON <-> Lua codec of the Socket.IO
 * boundary. Inputs are copied into allocations of exactly their length so
 * ASan/valgrind catch any read past len. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "base/buf.h"
#include "lua/lua_json.h"
#include "testlib.h"

static lua_State *new_state(void)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    luaL_requiref(L, "siolua.json", luaopen_siolua_json, 0);
    lua_setglobal(L, "json");
    return L;
}

/* Decodes exactly n bytes from their own allocation; same contract as
 * sl_lua_json_decode. Checks the stack effect. */
static int decode_exact(lua_State *L, const char *in, size_t n,
                        const sl_lua_json_decode_opts_t *opts, char *err, size_t errlen)
{
    char *copy = malloc(n ? n : 1);
    memcpy(copy, in, n);
    int top = lua_gettop(L);
    int r = sl_lua_json_decode(L, copy, n, opts, err, errlen);
    free(copy);
    CHECK_EQ_INT(lua_gettop(L), r == 0 ? top + 1 : top);
    return r;
}

/* Encodes the value on top of the stack (left there) into out (reset). */
static int encode_top(lua_State *L, sl_buf_t *out, const sl_lua_json_encode_opts_t *opts,
                      char *err, size_t errlen)
{
    int top = lua_gettop(L);
    sl_buf_reset(out);
    int r = sl_lua_json_encode(L, -1, out, opts, err, errlen);
    CHECK_EQ_INT(lua_gettop(L), top);
    return r;
}

/* decode(in) then encode must give expect. */
static void expect_json(lua_State *L, const char *in, size_t n, const char *expect)
{
    char err[256] = "";
    sl_buf_t out = SL_BUF_INIT;
    int r = decode_exact(L, in, n, NULL, err, sizeof err);
    if (r != 0) {
        fprintf(stderr, "  decode of %.*s failed: %s\n", (int)n, in, err);
        CHECK_EQ_INT(r, 0);
        return;
    }
    r = encode_top(L, &out, NULL, err, sizeof err);
    lua_pop(L, 1);
    if (r != 0)
        fprintf(stderr, "  encode of %.*s failed: %s\n", (int)n, in, err);
    CHECK_EQ_INT(r, 0);
    CHECK_STR(out.data ? out.data : "", out.len, expect);
    sl_buf_free(&out);
}

#define EXPECT_RT(L, s) expect_json((L), (s), strlen(s), (s))
#define EXPECT_JSON(L, in, out) expect_json((L), (in), strlen(in), (out))

/* Runs `return <expr>` and leaves the value on the stack. */
static void eval(lua_State *L, const char *expr)
{
    char code[1024];
    snprintf(code, sizeof code, "return %s", expr);
    if (luaL_loadstring(L, code) != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK) {
        fprintf(stderr, "  eval(%s): %s\n", expr, lua_tostring(L, -1));
        CHECK(0);
    }
}

/* Runs a Lua chunk that must succeed. */
static void run(lua_State *L, const char *code)
{
    if (luaL_dostring(L, code) != LUA_OK) {
        fprintf(stderr, "  run(%s): %s\n", code, lua_tostring(L, -1));
        lua_pop(L, 1);
        CHECK(0);
    }
}

/* encode(<expr>) must give expect. */
static void expect_lua(lua_State *L, const char *expr, const char *expect)
{
    char err[256] = "";
    sl_buf_t out = SL_BUF_INIT;
    eval(L, expr);
    int r = encode_top(L, &out, NULL, err, sizeof err);
    lua_pop(L, 1);
    if (r != 0)
        fprintf(stderr, "  encode of %s failed: %s\n", expr, err);
    CHECK_EQ_INT(r, 0);
    if (out.len != strlen(expect) || memcmp(out.data, expect, out.len))
        fprintf(stderr, "  (for %s)\n", expr);
    CHECK_STR(out.data ? out.data : "", out.len, expect);
    sl_buf_free(&out);
}

/* encode(<expr>) must fail with a message containing `needle`, leaving the
 * output buffer as it was. */
static void expect_lua_error(lua_State *L, const char *expr, const char *needle)
{
    char err[256] = "";
    sl_buf_t out = SL_BUF_INIT;
    sl_buf_append_str(&out, "keep");
    eval(L, expr);
    int r = sl_lua_json_encode(L, -1, &out, NULL, err, sizeof err);
    lua_pop(L, 1);
    CHECK_EQ_INT(r, -EINVAL);
    CHECK_STR(out.data, out.len, "keep");
    if (!strstr(err, needle)) {
        fprintf(stderr, "  encode of %s: error \"%s\" lacks \"%s\"\n", expr, err, needle);
        CHECK(0);
    }
    sl_buf_free(&out);
}

static void expect_decode_error(lua_State *L, const char *in, size_t n, const char *needle)
{
    char err[256] = "";
    int r = decode_exact(L, in, n, NULL, err, sizeof err);
    if (r == 0) {
        fprintf(stderr, "  decode of \"%.*s\" (%zu bytes) should fail\n", (int)n, in, n);
        lua_pop(L, 1);
        CHECK(0);
        return;
    }
    CHECK_EQ_INT(r, -EINVAL);
    if (!strstr(err, "at offset ") || (needle && !strstr(err, needle))) {
        fprintf(stderr, "  decode of \"%.*s\": error \"%s\" lacks \"%s\"\n", (int)n, in, err,
                needle ? needle : "at offset");
        CHECK(0);
    }
}

#define EXPECT_BAD(L, s, needle) expect_decode_error((L), (s), strlen(s), (needle))

/* ---- decode -> encode ---------------------------------------------------- */

static void roundtrip_corpus_is_byte_exact(void)
{
    static const char *corpus[] = {
        "{}", "[]", "[1,\"2\",{\"3\":[true]}]", "{\"b\":1,\"a\":2}", "[1,null,3]",
        "[null]", "[null,null]", "{\"a\":null}", "[[],{},[[]],{\"a\":{}},[{}]]",
        "{\"a\":[],\"b\":{},\"c\":[{}]}", "9007199254740993", "123456789012345678",
        "-9223372036854775808", "9223372036854775807", "[0.1,1.5,-1.5,1e+300,5e-324]",
        "1.7976931348623157e+308", "2.2250738585072014e-308", "0.30000000000000004",
        "\"a/b\"", "\"\\\"\\\\\\b\\f\\n\\r\\t\\u0000\\u001f\"", "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"",
        "\"\xe2\x80\xa8\"", "true", "false", "null", "0", "-1", "\"\"",
        "{\"\":\"\"}", "[\"message\",1,\"2\",{\"3\":[true]}]",
        "{\"sid\":\"x1\",\"upgrades\":[\"websocket\"],\"pingInterval\":300}",
        "{\"z\":1,\"1\":2,\"a\":{\"y\":[1,{\"x\":null}],\"b\":false}}",
    };
    lua_State *L = new_state();
    for (size_t i = 0; i < sizeof corpus / sizeof *corpus; i++)
        EXPECT_RT(L, corpus[i]);
    lua_close(L);
}

static void whitespace_escapes_and_numbers_come_out_like_json_stringify(void)
{
    lua_State *L = new_state();
    EXPECT_JSON(L, " \t\r\n{ \"a\" : [ 1 , 2 ] ,\n\"b\" : { } }  ", "{\"a\":[1,2],\"b\":{}}");
    EXPECT_JSON(L, "\"\\/\"", "\"/\"");
    EXPECT_JSON(L, "\"\\u00e9\\u00E9\"", "\"\xc3\xa9\xc3\xa9\"");
    EXPECT_JSON(L, "\"\\ud83d\\ude00\"", "\"\xf0\x9f\x98\x80\"");
    EXPECT_JSON(L, "\"\\uD83D\\uDE00x\"", "\"\xf0\x9f\x98\x80x\"");
    EXPECT_JSON(L, "\"\\u0041\\u001F\\u007f\"", "\"A\\u001f\x7f\"");
    EXPECT_JSON(L, "\"\\u2028\"", "\"\xe2\x80\xa8\"");
    EXPECT_JSON(L, "1.0", "1");
    EXPECT_JSON(L, "1E2", "100");
    EXPECT_JSON(L, "1e300", "1e+300");
    EXPECT_JSON(L, "-0", "0");
    EXPECT_JSON(L, "-0.0", "0");
    EXPECT_JSON(L, "0.10", "0.1");
    EXPECT_JSON(L, "1e400", "null");
    EXPECT_JSON(L, "-1e400", "null");
    EXPECT_JSON(L, "1e-400", "0");
    EXPECT_JSON(L, "123456789012345678901", "123456789012345680000");
    EXPECT_JSON(L, "1e21", "1e+21");
    EXPECT_JSON(L, "1e20", "100000000000000000000");
    EXPECT_JSON(L, "1e-7", "1e-7");
    EXPECT_JSON(L, "1E-6", "0.000001");
    EXPECT_JSON(L, "2.5e-5", "0.000025");
    EXPECT_JSON(L, "{\"a\":1,\"a\":2}", "{\"a\":2}");
    EXPECT_JSON(L, "{\"a\":1,\"b\":2,\"a\":3}", "{\"a\":3,\"b\":2}");
    lua_close(L);
}

static void decoded_numbers_are_integers_only_when_exact(void)
{
    static const struct { const char *in; lua_Integer v; } ints[] = {
        {"1", 1}, {"-1", -1}, {"0", 0},
        {"9007199254740993", 9007199254740993LL},
        {"123456789012345678", 123456789012345678LL},
        {"9223372036854775807", LUA_MAXINTEGER},
        {"-9223372036854775808", LUA_MININTEGER},
    };
    static const struct { const char *in; double v; } floats[] = {
        {"1.0", 1.0}, {"1e2", 100.0}, {"9223372036854775808", 9223372036854775808.0},
        {"-9223372036854775809", -9223372036854775809.0}, {"0.1", 0.1}, {"5e-324", 5e-324},
    };
    char err[256];
    lua_State *L = new_state();
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
        CHECK_EQ_INT(decode_exact(L, ints[i].in, strlen(ints[i].in), NULL, err, sizeof err), 0);
        CHECK(lua_isinteger(L, -1));
        CHECK(lua_tointeger(L, -1) == ints[i].v);
        lua_pop(L, 1);
    }
    for (size_t i = 0; i < sizeof floats / sizeof *floats; i++) {
        CHECK_EQ_INT(decode_exact(L, floats[i].in, strlen(floats[i].in), NULL, err, sizeof err), 0);
        CHECK(lua_type(L, -1) == LUA_TNUMBER && !lua_isinteger(L, -1));
        CHECK(lua_tonumber(L, -1) == floats[i].v);
        lua_pop(L, 1);
    }
    /* "-0" is the one integer text a Lua integer can't hold. */
    CHECK_EQ_INT(decode_exact(L, "-0", 2, NULL, err, sizeof err), 0);
    CHECK(!lua_isinteger(L, -1) && lua_tonumber(L, -1) == 0 && signbit(lua_tonumber(L, -1)));
    lua_pop(L, 1);
    lua_close(L);
}

static void nulls_keep_array_length(void)
{
    char err[256];
    lua_State *L = new_state();
    CHECK_EQ_INT(decode_exact(L, "[1,null,3]", 10, NULL, err, sizeof err), 0);
    CHECK_EQ_INT(lua_rawlen(L, -1), 3);
    lua_rawgeti(L, -1, 2);
    CHECK(sl_lua_json_is_null(L, -1));
    lua_pop(L, 2);
    CHECK_EQ_INT(decode_exact(L, "[null,null]", 11, NULL, err, sizeof err), 0);
    CHECK_EQ_INT(lua_rawlen(L, -1), 2);
    lua_pop(L, 1);
    CHECK_EQ_INT(decode_exact(L, "{\"a\":null}", 10, NULL, err, sizeof err), 0);
    lua_getfield(L, -1, "a");
    CHECK(sl_lua_json_is_null(L, -1));
    lua_pop(L, 2);
    lua_close(L);
}

static void member_order_is_kept_and_keys_added_later_follow_sorted(void)
{
    lua_State *L = new_state();
    run(L, "t = json.decode('{\"b\":1,\"a\":2}')");
    expect_lua(L, "t", "{\"b\":1,\"a\":2}");
    run(L, "t.z = 1; t.c = 1; t[5] = true; t[-2] = false");
    expect_lua(L, "t", "{\"b\":1,\"a\":2,\"-2\":false,\"5\":true,\"c\":1,\"z\":1}");
    run(L, "t.b = nil");
    expect_lua(L, "t", "{\"a\":2,\"-2\":false,\"5\":true,\"c\":1,\"z\":1}");
    /* A removed original key that comes back keeps its original place. */
    run(L, "t.b = 3; t.a = json.null");
    expect_lua(L, "t", "{\"b\":3,\"a\":null,\"-2\":false,\"5\":true,\"c\":1,\"z\":1}");
    /* Re-encoding is stable, and json.object keeps the order. */
    expect_lua(L, "json.object(json.decode('{\"y\":1,\"x\":[]}'))", "{\"y\":1,\"x\":[]}");
    lua_close(L);
}

/* ---- floats -------------------------------------------------------------- */

static void floats_print_like_javascript(void)
{
    /* Expected strings are JSON.stringify's output under Node 20. */
    static const struct { double v; const char *js; } cases[] = {
        {0.1, "0.1"}, {1.5, "1.5"}, {1e300, "1e+300"}, {5e-324, "5e-324"},
        {0.1 + 0.2, "0.30000000000000004"}, {1.0 / 3, "0.3333333333333333"},
        {2.0 / 3, "0.6666666666666666"}, {1.0 / 7, "0.14285714285714285"},
        {3.141592653589793, "3.141592653589793"}, {1e21, "1e+21"},
        {1e20, "100000000000000000000"}, {1e-7, "1e-7"}, {1e-6, "0.000001"},
        {123e-20, "1.23e-18"}, {1.7976931348623157e308, "1.7976931348623157e+308"},
        {2.2250738585072014e-308, "2.2250738585072014e-308"},
        {9223372036854775808.0, "9223372036854776000"},
        {9007199254740992.0, "9007199254740992"}, {-1.5, "-1.5"}, {4.35, "4.35"},
        {2.5e-5, "0.000025"}, {123456789012345678.0, "123456789012345680"},
        {1234.5678, "1234.5678"}, {100.0, "100"}, {0.000001234, "0.000001234"},
        {1e-5, "0.00001"}, {5e-7, "5e-7"}, {1.5e-323, "1.5e-323"},
        {1.2345678901234567e-300, "1.2345678901234568e-300"},
        {98765.4321e10, "987654321000000"}, {1.0, "1"}, {-0.0, "0"},
        {NAN, "null"}, {INFINITY, "null"}, {-INFINITY, "null"},
        /* Powers of two, where the closest 16-digit decimal doesn't read
         * back but its upper neighbour does. */
        {0x1p89, "6.189700196426902e+26"}, {0x1p-1007, "7.291122019556398e-304"},
    };
    char err[256];
    sl_buf_t out = SL_BUF_INIT;
    lua_State *L = new_state();
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        lua_pushnumber(L, cases[i].v);
        CHECK_EQ_INT(encode_top(L, &out, NULL, err, sizeof err), 0);
        CHECK_STR(out.data, out.len, cases[i].js);
        lua_pop(L, 1);
    }
    sl_buf_free(&out);
    lua_close(L);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void random_doubles_round_trip_bit_exact(void)
{
    char err[256];
    sl_buf_t out = SL_BUF_INIT;
    lua_State *L = new_state();
    int bad = 0;
    for (int i = 0; i < 20000 && bad < 5; i++) {
        uint64_t bits = rng();
        if (i % 4 == 0)
            bits &= 0x800FFFFFFFFFFFFFULL; /* subnormals */
        double d;
        memcpy(&d, &bits, sizeof d);
        if (isnan(d) || isinf(d) || d == 0)
            continue;
        lua_pushnumber(L, d);
        CHECK_EQ_INT(encode_top(L, &out, NULL, err, sizeof err), 0);
        lua_pop(L, 1);
        CHECK_EQ_INT(decode_exact(L, out.data, out.len, NULL, err, sizeof err), 0);
        double back = lua_tonumber(L, -1);
        lua_pop(L, 1);
        if (memcmp(&back, &d, sizeof d) != 0) {
            fprintf(stderr, "  %.17g -> %.*s -> %.17g\n", d, (int)out.len, out.data, back);
            bad++;
        }
    }
    CHECK_EQ_INT(bad, 0);
    sl_buf_free(&out);
    lua_close(L);
}

/* ---- strings ------------------------------------------------------------- */

static void strings_escape_like_json_stringify(void)
{
    char raw[128], err[256];
    for (int c = 0; c < 128; c++)
        raw[c] = (char)c;
    sl_buf_t expect = SL_BUF_INIT, out = SL_BUF_INIT;
    sl_buf_append_byte(&expect, '"');
    for (int c = 0; c < 128; c++) {
        switch (c) {
        case '\b': sl_buf_append_str(&expect, "\\b"); break;
        case '\f': sl_buf_append_str(&expect, "\\f"); break;
        case '\n': sl_buf_append_str(&expect, "\\n"); break;
        case '\r': sl_buf_append_str(&expect, "\\r"); break;
        case '\t': sl_buf_append_str(&expect, "\\t"); break;
        case '"': sl_buf_append_str(&expect, "\\\""); break;
        case '\\': sl_buf_append_str(&expect, "\\\\"); break;
        default:
            if (c < 0x20)
                sl_buf_appendf(&expect, "\\u%04x", c);
            else
                sl_buf_append_byte(&expect, (char)c);
        }
    }
    sl_buf_append_byte(&expect, '"');
    lua_State *L = new_state();
    lua_pushlstring(L, raw, sizeof raw);
    CHECK_EQ_INT(encode_top(L, &out, NULL, err, sizeof err), 0);
    CHECK_MEM(out.data, out.len, expect.data, expect.len);
    lua_pop(L, 1);
    /* ... and the escaped form decodes back to the same 128 bytes. */
    CHECK_EQ_INT(decode_exact(L, out.data, out.len, NULL, err, sizeof err), 0);
    size_t n;
    const char *back = lua_tolstring(L, -1, &n);
    CHECK_MEM(back, n, raw, sizeof raw);
    lua_pop(L, 1);
    sl_buf_free(&expect);
    sl_buf_free(&out);
    lua_close(L);
}

static void unicode_escapes_and_surrogate_pairs_become_utf8(void)
{
    char err[256];
    size_t n;
    lua_State *L = new_state();
    const char *in = "\"\\u0000\\u00e9\\u20ac\\ud800\\udc00\\udbff\\udfff\"";
    CHECK_EQ_INT(decode_exact(L, in, strlen(in), NULL, err, sizeof err), 0);
    const char *s = lua_tolstring(L, -1, &n);
    CHECK_MEM(s, n, "\0\xc3\xa9\xe2\x82\xac\xf0\x90\x80\x80\xf4\x8f\xbf\xbf", 14);
    lua_pop(L, 1);
    lua_close(L);
}

/* ---- malformed input ----------------------------------------------------- */

static void malformed_inputs_are_errors_with_offsets(void)
{
    static const char *bad[] = {
        "", "   ", "[1,2", "{\"a\":", "{\"a\"", "{\"a\" 1}", "{1:2}", "{\"a\":1,}", "[1,]",
        "[,1]", "[1 2]", "01", "[01]", "-01", "00", "-", "1.", "1.e5", "1e", "1e+", ".5", "+1",
        "tru", "nul", "NaN", "Infinity", "-Infinity", "[1] x", "{} {}", "1 2", "\"abc",
        "\"a\\\"", "\"\\x\"", "\"\\u12G4\"", "\"\\u123\"", "\"\\ud800\"", "\"\\udc00\"",
        "\"\\ud800\\u0041\"", "\"\\ud800x\"", "\"\\udc00\\ud800\"", "\"a\tb\"", "\"\x1f\"",
        "\"\xff\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "\"\xe2\x82\"",
        "\"\xe0\x80\xaf\"", "\"\xf0\x80\x80\xaf\"", "\"\xf5\x80\x80\x80\"", "\"\x80\"",
        "[\"\xe2\x82]", "'a'", "[1,2]]", "{\"a\":1}}", "\xef\xbb\xbf{}", "truex", "nulll",
        "{\"a\":1 \"b\":2}", "[true false]",
    };
    lua_State *L = new_state();
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        EXPECT_BAD(L, bad[i], NULL);
    lua_close(L);
}

static void error_messages_name_the_byte_offset(void)
{
    lua_State *L = new_state();
    EXPECT_BAD(L, "[1,x]", "unexpected character 'x' at offset 3");
    EXPECT_BAD(L, "{\"a\":1,}", "expected string for object member name at offset 7");
    EXPECT_BAD(L, "[1] x", "unexpected data after the JSON value at offset 4");
    EXPECT_BAD(L, "[\"\\ud800\"]", "lone surrogate in \\u escape at offset 2");
    EXPECT_BAD(L, "[01]", "leading zero in number at offset 1");
    EXPECT_BAD(L, "[1,", "unexpected end of input at offset 3");
    EXPECT_BAD(L, " \"abc", "unterminated string at offset 1");
    lua_close(L);
}

static void nul_bytes_inside_input_are_errors(void)
{
    lua_State *L = new_state();
    expect_decode_error(L, "[1,\0]", 5, "unexpected byte 0x00 at offset 3");
    expect_decode_error(L, "\"a\0b\"", 5, "control character 0x00 in string at offset 2");
    expect_decode_error(L, "1\0", 2, "unexpected data after the JSON value at offset 1");
    expect_decode_error(L, "\0", 1, "offset 0");
    expect_decode_error(L, "{\"a\0\":1}", 8, "offset 3");
    lua_close(L);
}

static void truncated_input_never_reads_past_len(void)
{
    const char *doc = "{\"a\":[1,-2.5e+3,true,false,null,\"x\\u00e9\\ud83d\\ude00\\n\xc3\xa9\"],"
                      "\"b\":{\"c\":[]},\"d\":123456789012345678901,\"e\":-0}";
    size_t n = strlen(doc);
    char err[256];
    lua_State *L = new_state();
    for (size_t k = 0; k < n; k++)
        expect_decode_error(L, doc, k, NULL);
    CHECK_EQ_INT(decode_exact(L, doc, n, NULL, err, sizeof err), 0);
    lua_pop(L, 1);
    lua_close(L);
}

static void nesting_deeper_than_128_is_an_error(void)
{
    char err[256];
    sl_buf_t s = SL_BUF_INIT, out = SL_BUF_INIT;
    lua_State *L = new_state();
    for (int i = 0; i < SL_LUA_JSON_MAX_DEPTH; i++)
        sl_buf_append_byte(&s, '[');
    for (int i = 0; i < SL_LUA_JSON_MAX_DEPTH; i++)
        sl_buf_append_byte(&s, ']');
    CHECK_EQ_INT(decode_exact(L, s.data, s.len, NULL, err, sizeof err), 0);
    CHECK_EQ_INT(encode_top(L, &out, NULL, err, sizeof err), 0);
    CHECK_MEM(out.data, out.len, s.data, s.len);
    lua_pop(L, 1);

    sl_buf_reset(&s);
    sl_buf_append_str(&s, "[");
    for (int i = 0; i < SL_LUA_JSON_MAX_DEPTH; i++)
        sl_buf_append_byte(&s, '[');
    for (int i = 0; i <= SL_LUA_JSON_MAX_DEPTH; i++)
        sl_buf_append_byte(&s, ']');
    expect_decode_error(L, s.data, s.len, "nesting deeper than 128");

    sl_buf_reset(&s);
    for (int i = 0; i < 10000; i++)
        sl_buf_append_byte(&s, '[');
    expect_decode_error(L, s.data, s.len, "nesting deeper than 128 at offset 128");
    for (int i = 0; i < 10000; i++)
        sl_buf_append_byte(&s, ']');
    expect_decode_error(L, s.data, s.len, "nesting deeper");

    sl_buf_reset(&s);
    for (int i = 0; i < 10000; i++)
        sl_buf_append_str(&s, "{\"a\":");
    expect_decode_error(L, s.data, s.len, "nesting deeper");
    sl_buf_free(&s);
    sl_buf_free(&out);
    lua_close(L);
}

/* ---- Lua -> JSON --------------------------------------------------------- */

static void lua_values_encode_as_documented(void)
{
    lua_State *L = new_state();
    expect_lua(L, "{1, 2, 3}", "[1,2,3]");
    expect_lua(L, "{}", "{}");
    expect_lua(L, "json.array({})", "[]");
    expect_lua(L, "json.array()", "[]");
    expect_lua(L, "json.empty_array", "[]");
    expect_lua(L, "{json.empty_array, json.null, {}}", "[[],null,{}]");
    expect_lua(L, "json.object({})", "{}");
    expect_lua(L, "json.object()", "{}");
    expect_lua(L, "json.object({1, 2})", "{\"1\":1,\"2\":2}");
    expect_lua(L, "{b = 1, a = 2, c = {}}", "{\"a\":2,\"b\":1,\"c\":{}}");
    expect_lua(L, "{1, 2, x = 3}", "{\"1\":1,\"2\":2,\"x\":3}");
    expect_lua(L, "{[1] = 1, [3] = 3}", "{\"1\":1,\"3\":3}");
    expect_lua(L, "{[-1] = 'a', [0] = 'b', [10] = 'c', [2] = 'd', B = 1, a = 2, ['10a'] = 3}",
               "{\"-1\":\"a\",\"0\":\"b\",\"2\":\"d\",\"10\":\"c\",\"10a\":3,\"B\":1,\"a\":2}");
    expect_lua(L, "json.array({1, nil, 3})", "[1,null,3]");
    expect_lua(L, "json.array({[3] = 3})", "[null,null,3]");
    expect_lua(L, "{json.null}", "[null]");
    expect_lua(L, "{1.0, 1, 0.5, -0.0, 2^53, 2^63, 0.1 + 0.2, 1e21}",
               "[1,1,0.5,0,9007199254740992,9223372036854776000,0.30000000000000004,1e+21]");
    expect_lua(L, "{math.huge, -math.huge, 0/0}", "[null,null,null]");
    expect_lua(L, "{math.maxinteger, math.mininteger, 123456789012345678}",
               "[9223372036854775807,-9223372036854775808,123456789012345678]");
    expect_lua(L, "{true, false}", "[true,false]");
    expect_lua(L, "nil", "null");
    expect_lua(L, "'a/b'", "\"a/b\"");
    expect_lua(L, "{['a\\0b'] = '\\u{e9}'}", "{\"a\\u0000b\":\"\xc3\xa9\"}");
    expect_lua(L, "setmetatable({c = 1, a = 2, b = 3}, {__jsontype = 'object', 'c', 'b'})",
               "{\"c\":1,\"b\":3,\"a\":2}");
    expect_lua(L, "setmetatable({1, 2}, {__index = {}})", "[1,2]");
    lua_close(L);
}

static void unencodable_lua_values_fail_with_their_path(void)
{
    lua_State *L = new_state();
    expect_lua_error(L, "function() end", "cannot encode a function value at $");
    expect_lua_error(L, "{1, {x = print}}", "cannot encode a function value at $[2].x");
    expect_lua_error(L, "coroutine.create(function() end)", "cannot encode a thread value");
    expect_lua_error(L, "{f = io.stdout}", "cannot encode a userdata value at $.f");
    expect_lua_error(L, "(function() local t = {} t.t = t return t end)()", "nesting deeper");
    expect_lua_error(L, "{[{}] = 1}", "table key of type table");
    expect_lua_error(L, "{[1.5] = 1}", "table key 1.5 is not an integer");
    expect_lua_error(L, "{[1] = 1, ['1'] = 2}", "both as a string and as an integer");
    expect_lua_error(L, "{a = '\\xff'}", "not valid UTF-8 (use json.binary for bytes) at $.a");
    expect_lua_error(L, "{['\\xc0\\xaf'] = 1}", "not valid UTF-8");
    expect_lua_error(L, "json.array({1, x = 2})", "not a positive integer at $.x");
    expect_lua_error(L, "json.array({[100] = 1})", "too sparse");
    expect_lua_error(L, "{json.binary('x')}", "Socket.IO attachment at $[1]");
    lua_close(L);
}

static void lua_module_follows_nil_msg_and_raise_conventions(void)
{
    static const char script[] =
        "local v, err = json.decode('[1,')\n"
        "assert(v == nil and err:find('at offset 3'), err)\n"
        "assert(json.decode('null') == json.null)\n"
        "local a = json.decode('[1,null,3]')\n"
        "assert(#a == 3 and a[2] == json.null and a[3] == 3)\n"
        "assert(math.type(json.decode('1')) == 'integer')\n"
        "assert(math.type(json.decode('1.0')) == 'float')\n"
        "assert(json.decode('{\"1\":2}')['1'] == 2)\n"
        "local ok, e = pcall(json.encode, function() end)\n"
        "assert(not ok and e:find('json.encode: cannot encode a function'), e)\n"
        "assert(not pcall(json.encode))\n"
        "local b = json.binary('a\\0b')\n"
        "assert(#b == 3 and tostring(b) == 'a\\0b')\n"
        "assert(b == json.binary('a\\0b') and b ~= json.binary('x'))\n"
        "assert(json.is_binary(b) and not json.is_binary('a\\0b'))\n"
        "assert(json.encode(json.decode('{\"b\":1,\"a\":2}')) == '{\"b\":1,\"a\":2}')\n"
        "assert(not pcall(json.array, setmetatable({}, {})))\n"
        "assert(not pcall(json.object, 1))\n"
        "local o = json.decode('{\"b\":1,\"a\":2}')\n"
        "assert(json.object(o) == o and json.encode(o) == '{\"b\":1,\"a\":2}')\n"
        "assert(json.encode(json.array(json.decode('{}'))) == '[]')\n"
        "assert(json.encode(json.object(json.decode('[]'))) == '{}')\n"
        "assert(getmetatable(json.decode('[]')).__jsontype == 'array')\n"
        "assert(getmetatable(json.decode('{}')).__jsontype == 'object')\n"
        "assert(json.encode({json.decode('{}'), json.decode('[]')}) == '[{},[]]')\n"
        "assert(json.encode('x\\n') == '\"x\\\\n\"')\n"
        "assert(require('siolua.json') == json)\n";
    lua_State *L = new_state();
    if (luaL_dostring(L, script) != LUA_OK) {
        fprintf(stderr, "  %s\n", lua_tostring(L, -1));
        CHECK(0);
    }
    lua_close(L);
}

static void c_helpers_make_marked_tables(void)
{
    char err[256];
    sl_buf_t out = SL_BUF_INIT;
    lua_State *L = new_state();
    sl_lua_json_new_object(L, 0);
    CHECK_EQ_INT(sl_lua_json_table_kind(L, -1), SL_LUA_JSON_OBJECT);
    CHECK_EQ_INT(encode_top(L, &out, NULL, err, sizeof err), 0);
    CHECK_STR(out.data, out.len, "{}");
    lua_pop(L, 1);
    sl_lua_json_new_array(L, 2);
    CHECK_EQ_INT(sl_lua_json_table_kind(L, -1), SL_LUA_JSON_ARRAY);
    CHECK_EQ_INT(encode_top(L, &out, NULL, err, sizeof err), 0);
    CHECK_STR(out.data, out.len, "[]");
    sl_lua_json_push_null(L);
    lua_rawseti(L, -2, 1);
    CHECK_EQ_INT(encode_top(L, &out, NULL, err, sizeof err), 0);
    CHECK_STR(out.data, out.len, "[null]");
    lua_pop(L, 1);
    lua_newtable(L);
    CHECK_EQ_INT(sl_lua_json_table_kind(L, -1), SL_LUA_JSON_PLAIN);
    lua_pop(L, 1);
    lua_pushinteger(L, 1);
    CHECK_EQ_INT(sl_lua_json_table_kind(L, -1), SL_LUA_JSON_PLAIN);
    CHECK(!sl_lua_json_is_null(L, -1));
    lua_pop(L, 1);
    lua_pushlightuserdata(L, NULL); /* cjson.null */
    CHECK(sl_lua_json_is_null(L, -1));
    CHECK_EQ_INT(encode_top(L, &out, NULL, err, sizeof err), 0);
    CHECK_STR(out.data, out.len, "null");
    lua_pop(L, 1);
    /* Encoding appends. */
    sl_buf_reset(&out);
    sl_buf_append_str(&out, "42");
    lua_pushinteger(L, 7);
    CHECK_EQ_INT(sl_lua_json_encode(L, -1, &out, NULL, NULL, 0), 0);
    CHECK_STR(out.data, out.len, "427");
    lua_pop(L, 1);
    CHECK_EQ_INT(lua_gettop(L), 0);
    sl_buf_free(&out);
    lua_close(L);
}

static void conformance_payloads_round_trip(void)
{
    lua_State *L = new_state();
    EXPECT_RT(L, "[\"message\",1,\"2\",{\"3\":[true]}]");
    EXPECT_RT(L, "[1,\"2\",{\"3\":[false]}]");
    EXPECT_RT(L, "{\"token\":\"123\"}");
    EXPECT_RT(L, "{\"message\":\"Invalid namespace\"}");
    EXPECT_RT(L, "[\"auth\",{}]");
    lua_close(L);
}

/* ---- binary placeholders ------------------------------------------------- */

typedef struct collected {
    sl_buf_t bufs[8];
    int n;
    int fail_with;
} collected_t;

static int collect_cb(void *ud, const char *data, size_t len)
{
    collected_t *c = ud;
    if (c->fail_with)
        return c->fail_with;
    if (c->n == 8)
        return -ENOBUFS;
    c->bufs[c->n] = (sl_buf_t)SL_BUF_INIT;
    sl_buf_append(&c->bufs[c->n], data, len);
    return c->n++;
}

static void collected_free(collected_t *c)
{
    for (int i = 0; i < c->n; i++)
        sl_buf_free(&c->bufs[i]);
    c->n = 0;
}

static void binary_values_encode_as_placeholders_in_order(void)
{
    char err[256];
    sl_buf_t out = SL_BUF_INIT;
    collected_t c = {0};
    sl_lua_json_encode_opts_t opts = {collect_cb, &c};
    lua_State *L = new_state();
    eval(L, "{'x', json.binary('ab'), {k = json.binary('c\\0d'), j = 1}}");
    CHECK(sl_lua_json_has_binary(L, -1));
    CHECK_EQ_INT(encode_top(L, &out, &opts, err, sizeof err), 2);
    CHECK_STR(out.data, out.len,
              "[\"x\",{\"_placeholder\":true,\"num\":0},{\"j\":1,\"k\":{\"_placeholder\":true,\"num\":1}}]");
    CHECK_EQ_INT(c.n, 2);
    CHECK_STR(c.bufs[0].data, c.bufs[0].len, "ab");
    CHECK_MEM(c.bufs[1].data, c.bufs[1].len, "c\0d", 3);
    lua_pop(L, 1);
    collected_free(&c);

    eval(L, "{'x', {{}, 'y'}}");
    CHECK(!sl_lua_json_has_binary(L, -1));
    CHECK_EQ_INT(encode_top(L, &out, &opts, err, sizeof err), 0);
    lua_pop(L, 1);
    eval(L, "json.binary('')");
    CHECK(sl_lua_json_has_binary(L, -1));
    CHECK_EQ_INT(encode_top(L, &out, &opts, err, sizeof err), 1);
    CHECK_STR(out.data, out.len, "{\"_placeholder\":true,\"num\":0}");
    CHECK_EQ_INT(c.bufs[0].len, 0);
    lua_pop(L, 1);
    collected_free(&c);
    sl_buf_free(&out);
    lua_close(L);
}

static void binary_without_callback_or_with_failing_callback_is_an_error(void)
{
    char err[256];
    sl_buf_t out = SL_BUF_INIT;
    collected_t c = {.fail_with = -ENOBUFS};
    sl_lua_json_encode_opts_t opts = {collect_cb, &c};
    lua_State *L = new_state();
    eval(L, "{json.binary('ab')}");
    CHECK_EQ_INT(encode_top(L, &out, NULL, err, sizeof err), -EINVAL);
    CHECK(strstr(err, "attachment") != NULL);
    CHECK_EQ_INT(encode_top(L, &out, &opts, err, sizeof err), -ENOBUFS);
    CHECK_EQ_INT(out.len, 0);
    lua_pop(L, 1);
    sl_buf_free(&out);
    lua_close(L);
}

static void placeholders_decode_to_attachments_and_back(void)
{
    const char *in = "[\"m\",{\"_placeholder\":true,\"num\":1},{\"k\":{\"num\":0,\"_placeholder\":true}},"
                     "{\"_placeholder\":false,\"num\":0}]";
    sl_lua_json_blob_t att[2] = {{"\x01\x02", 2}, {"\x03", 1}};
    sl_lua_json_decode_opts_t dopts = {att, 2};
    char err[256];
    size_t n;
    sl_buf_t out = SL_BUF_INIT;
    collected_t c = {0};
    sl_lua_json_encode_opts_t eopts = {collect_cb, &c};
    lua_State *L = new_state();
    CHECK_EQ_INT(decode_exact(L, in, strlen(in), &dopts, err, sizeof err), 0);
    lua_rawgeti(L, -1, 2);
    CHECK(sl_lua_json_is_binary(L, -1));
    const char *b = sl_lua_json_binary_data(L, -1, &n);
    CHECK_MEM(b, n, "\x03", 1);
    lua_pop(L, 1);
    lua_rawgeti(L, -1, 3);
    lua_getfield(L, -1, "k");
    b = sl_lua_json_binary_data(L, -1, &n);
    CHECK(b != NULL);
    if (b)
        CHECK_MEM(b, n, "\x01\x02", 2);
    lua_pop(L, 2);
    CHECK(sl_lua_json_has_binary(L, -1));
    /* Re-encoding numbers the attachments in document order. */
    CHECK_EQ_INT(encode_top(L, &out, &eopts, err, sizeof err), 2);
    CHECK_STR(out.data, out.len,
              "[\"m\",{\"_placeholder\":true,\"num\":0},{\"k\":{\"_placeholder\":true,\"num\":1}},"
              "{\"_placeholder\":false,\"num\":0}]");
    CHECK_MEM(c.bufs[0].data, c.bufs[0].len, "\x03", 1);
    CHECK_MEM(c.bufs[1].data, c.bufs[1].len, "\x01\x02", 2);
    collected_free(&c);
    lua_pop(L, 1);

    /* The conformance suite's echo: same text, same attachments. */
    const char *echo = "[\"message-back\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]";
    CHECK_EQ_INT(decode_exact(L, echo, strlen(echo), &dopts, err, sizeof err), 0);
    CHECK_EQ_INT(encode_top(L, &out, &eopts, err, sizeof err), 2);
    CHECK_STR(out.data, out.len, echo);
    CHECK_MEM(c.bufs[0].data, c.bufs[0].len, "\x01\x02", 2);
    CHECK_MEM(c.bufs[1].data, c.bufs[1].len, "\x03", 1);
    collected_free(&c);
    lua_pop(L, 1);

    /* Without attachments (a plain EVENT) a placeholder is just an object. */
    const char *plain = "[{\"_placeholder\":true,\"num\":0}]";
    EXPECT_RT(L, plain);
    sl_buf_free(&out);
    lua_close(L);
}

static void illegal_placeholders_are_errors(void)
{
    static const char *bad[] = {
        "[{\"_placeholder\":true,\"num\":2}]", "[{\"_placeholder\":true,\"num\":-1}]",
        "[{\"_placeholder\":true,\"num\":\"0\"}]", "[{\"_placeholder\":true,\"num\":0.5}]",
        "[{\"_placeholder\":true}]", "{\"_placeholder\":true,\"num\":null}",
    };
    sl_lua_json_blob_t att[2] = {{"a", 1}, {"b", 1}};
    sl_lua_json_decode_opts_t dopts = {att, 2};
    char err[256];
    lua_State *L = new_state();
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK_EQ_INT(decode_exact(L, bad[i], strlen(bad[i]), &dopts, err, sizeof err), -EINVAL);
        CHECK(strstr(err, "illegal attachment placeholder") != NULL);
    }
    /* Like Node's reconstructPacket: a placeholder's insides are not looked
     * at, other members are ignored, the top level counts too. */
    const char *nested = "[{\"x\":{\"_placeholder\":true,\"num\":9},\"_placeholder\":true,\"num\":1}]";
    CHECK_EQ_INT(decode_exact(L, nested, strlen(nested), &dopts, err, sizeof err), 0);
    lua_rawgeti(L, -1, 1);
    size_t n;
    const char *b = sl_lua_json_binary_data(L, -1, &n);
    CHECK(b && n == 1 && b[0] == 'b');
    lua_pop(L, 2);
    /* An integral float index is accepted, like Node's buffers[1.0]. */
    CHECK_EQ_INT(decode_exact(L, "{\"_placeholder\":true,\"num\":1.0}", 31, &dopts, err, sizeof err), 0);
    CHECK(sl_lua_json_is_binary(L, -1));
    lua_pop(L, 1);
    lua_close(L);
}

/* The search for binaries turned back only at the nesting limit, so a
 * table reachable from itself in two ways (t.a = t, t.b = t) had 2^128
 * paths to walk (found by tests/fuzz/fuzz_lua_json_encode). */
static void has_binary_ends_on_a_cycle_with_two_ways_back(void)
{
    lua_State *L = new_state();
    /* A guard, not a timing: the old search never returned. */
    alarm(60);
    CHECK_EQ_INT(luaL_dostring(L, "local t = {}; t.a = t; t.b = t; t.c = {t, t}; return t"), 0);
    CHECK_EQ_INT(sl_lua_json_has_binary(L, -1), 0);
    /* It cannot be encoded either: the encoder says so at the limit. */
    sl_buf_t out = SL_BUF_INIT;
    char err[256] = "";
    CHECK(sl_lua_json_encode(L, -1, &out, NULL, err, sizeof err) < 0);
    CHECK(strstr(err, "nesting deeper") != NULL);
    CHECK_EQ_INT(out.len, 0);
    alarm(0);
    sl_buf_free(&out);
    lua_close(L);
}

/* An ack's arguments, encoded straight from the stack: nil anywhere is
 * null, no values is [], binaries become placeholders, a bad value names
 * its place and leaves out and the stack as they were. */
static void values_encode_as_one_array_from_the_stack(void)
{
    lua_State *L = new_state();
    char err[256];
    sl_buf_t out = SL_BUF_INIT;
    int top = lua_gettop(L);
    CHECK_EQ_INT(sl_lua_json_encode_values(L, top + 1, 0, &out, NULL, err, sizeof err), 0);
    CHECK_STR(out.data, out.len, "[]");
    lua_pushnil(L);
    lua_pushinteger(L, 1);
    lua_pushnil(L);
    eval(L, "{a = json.null, b = {1, 2}}");
    lua_pushnil(L);
    sl_buf_reset(&out);
    CHECK_EQ_INT(sl_lua_json_encode_values(L, top + 1, 5, &out, NULL, err, sizeof err), 0);
    CHECK_STR(out.data, out.len, "[null,1,null,{\"a\":null,\"b\":[1,2]},null]");
    CHECK_EQ_INT(lua_gettop(L), top + 5);
    lua_settop(L, top);
    eval(L, "'x'");
    eval(L, "json.binary('ab')");
    eval(L, "{json.binary('cd')}");
    collected_t c = {0};
    sl_lua_json_encode_opts_t o = {collect_cb, &c};
    sl_buf_reset(&out);
    CHECK_EQ_INT(sl_lua_json_encode_values(L, top + 1, 3, &out, &o, err, sizeof err), 2);
    CHECK_STR(out.data, out.len,
              "[\"x\",{\"_placeholder\":true,\"num\":0},[{\"_placeholder\":true,\"num\":1}]]");
    CHECK_EQ_INT(c.n, 2);
    collected_free(&c);
    lua_settop(L, top);
    lua_pushinteger(L, 1);
    eval(L, "print");
    sl_buf_reset(&out);
    sl_buf_append(&out, "kept", 4);
    CHECK_EQ_INT(sl_lua_json_encode_values(L, top + 1, 2, &out, NULL, err, sizeof err), -EINVAL);
    CHECK(strstr(err, "$[2]") != NULL);
    CHECK_STR(out.data, out.len, "kept");
    CHECK_EQ_INT(lua_gettop(L), top + 2);
    /* Scalars only (written without the protected call): the same text as
     * the general encoder's; a bad string still fails with its path. */
    lua_settop(L, top);
    eval(L, "'a\"b\\\\c\\n\\1 caf\\xc3\\xa9'");
    lua_pushnumber(L, 0.1);
    lua_pushnumber(L, 1e21);
    lua_pushnumber(L, -0.0);
    lua_pushnumber(L, HUGE_VAL);
    eval(L, "math.mininteger");
    eval(L, "json.null");
    eval(L, "json.empty_array");
    lua_pushboolean(L, 0);
    lua_pushnil(L);
    sl_buf_reset(&out);
    CHECK_EQ_INT(sl_lua_json_encode_values(L, top + 1, 10, &out, NULL, err, sizeof err), 0);
    CHECK_STR(out.data, out.len,
              "[\"a\\\"b\\\\c\\n\\u0001 caf\xc3\xa9\",0.1,1e+21,0,null,-9223372036854775808,null,[],false,null]");
    lua_settop(L, top);
    lua_pushinteger(L, 7);
    eval(L, "'\\xff'");
    sl_buf_reset(&out);
    CHECK_EQ_INT(sl_lua_json_encode_values(L, top + 1, 2, &out, NULL, err, sizeof err), -EINVAL);
    CHECK(strstr(err, "not valid UTF-8") != NULL && strstr(err, "$[2]") != NULL);
    CHECK_EQ_INT(out.len, 0);
    sl_buf_free(&out);
    lua_close(L);
}

/* An event's arguments go onto the stack one by one (no table for the
 * array): the same values, placeholders replaced the same way, as the
 * array decoded whole; anything else pushes nothing. */
static void arguments_decode_onto_the_stack_like_the_array(void)
{
    static const char *corpus[] = {
        "[]", "[\"echo\"]", " [ \"m\" , 1 , null ] ", "[\"m\",{\"b\":1,\"a\":[2,{}]},[],[[null]],-0,1.5]",
        "[\"m\",{\"_placeholder\":true,\"num\":1},[{\"_placeholder\":true,\"num\":0}]]",
        "[{\"_placeholder\":true,\"num\":0},\"x\"]",
    };
    sl_lua_json_blob_t att[2] = {{"\x01\x02", 2}, {"\x03", 1}};
    sl_lua_json_decode_opts_t dopts = {att, 2};
    lua_State *L = new_state();
    char err[256];
    sl_buf_t whole = SL_BUF_INIT, spread = SL_BUF_INIT;
    for (size_t i = 0; i < sizeof corpus / sizeof *corpus; i++) {
        for (int with_atts = 0; with_atts < 2; with_atts++) {
            const sl_lua_json_decode_opts_t *o = with_atts ? &dopts : NULL;
            collected_t c1 = {0}, c2 = {0};
            sl_lua_json_encode_opts_t e1 = {collect_cb, &c1}, e2 = {collect_cb, &c2};
            int top = lua_gettop(L);
            CHECK_EQ_INT(decode_exact(L, corpus[i], strlen(corpus[i]), o, err, sizeof err), 0);
            sl_buf_reset(&whole);
            CHECK(sl_lua_json_encode(L, -1, &whole, &e1, err, sizeof err) >= 0);
            size_t len = lua_rawlen(L, -1);
            lua_settop(L, top);
            char *copy = malloc(strlen(corpus[i]));
            memcpy(copy, corpus[i], strlen(corpus[i]));
            int n = sl_lua_json_decode_args(L, copy, strlen(corpus[i]), o, err, sizeof err);
            free(copy);
            CHECK_EQ_INT(n, (int)len);
            CHECK_EQ_INT(lua_gettop(L), top + n);
            sl_buf_reset(&spread);
            CHECK(sl_lua_json_encode_values(L, top + 1, n, &spread, &e2, err, sizeof err) >= 0);
            CHECK_MEM(spread.data, spread.len, whole.data, whole.len);
            CHECK_EQ_INT(c1.n, c2.n);
            for (int k = 0; k < c1.n && k < c2.n; k++)
                CHECK_MEM(c2.bufs[k].data, c2.bufs[k].len, c1.bufs[k].data, c1.bufs[k].len);
            collected_free(&c1);
            collected_free(&c2);
            lua_settop(L, top);
        }
    }
    static const char *bad[] = {"{}", "\"x\"", "1", "[1,", "[1] 2", "[\"\\ud800\"]", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int top = lua_gettop(L);
        err[0] = '\0';
        CHECK(sl_lua_json_decode_args(L, bad[i], strlen(bad[i]), NULL, err, sizeof err) == -EINVAL);
        CHECK(err[0] != '\0');
        CHECK_EQ_INT(lua_gettop(L), top);
    }
    const char *ph = "[{\"_placeholder\":true,\"num\":2}]";
    CHECK(sl_lua_json_decode_args(L, ph, strlen(ph), &dopts, err, sizeof err) == -EINVAL);
    CHECK(strstr(err, "illegal attachment placeholder") != NULL);
    sl_buf_free(&whole);
    sl_buf_free(&spread);
    lua_close(L);
}

/* The unprotected decode of an event's arguments, run as event_cf runs
 * it: inside a protected call that only catches. */
typedef struct raising_args {
    const char *text;
    size_t len;
    const sl_lua_json_decode_opts_t *opts;
    char err[256];
    int n;
} raising_args_t;

static int raising_cf(lua_State *L)
{
    raising_args_t *a = lua_touserdata(L, 1);
    lua_settop(L, 0);
    a->n = sl_lua_json_decode_args_raising(L, a->text, a->len, a->opts, a->err, sizeof a->err);
    return a->n < 0 ? 0 : a->n;
}

/* Runs it on text (in its own allocation); returns lua_pcall's status
 * with the values (status 0) on the stack. */
static int decode_raising(lua_State *L, raising_args_t *a, const char *text,
                          const sl_lua_json_decode_opts_t *opts)
{
    size_t len = strlen(text);
    char *copy = malloc(len ? len : 1);
    memcpy(copy, text, len);
    a->text = copy;
    a->len = len;
    a->opts = opts;
    snprintf(a->err, sizeof a->err, "untouched");
    a->n = -100;
    lua_pushcfunction(L, raising_cf);
    lua_pushlightuserdata(L, a);
    int st = lua_pcall(L, 1, LUA_MULTRET, 0);
    free(copy);
    return st;
}

/* Without a backslash (no string needs rebuilding) and without
 * attachments, the arguments decode without a protected call of their
 * own: the same values as the protected decode, long strings, UTF-8 and
 * nested tables included; a failure raises with the same message, written
 * to err first. Other text goes the protected way and returns its
 * failure. */
static void raising_argument_decode_matches_the_protected_one(void)
{
    char long_ascii[400], long_utf8[400];
    memset(long_ascii, 0, sizeof long_ascii);
    strcpy(long_ascii, "[\"echo\",\"");
    for (int i = 0; i < 300; i++)
        long_ascii[strlen(long_ascii)] = (char)('a' + i % 26);
    strcat(long_ascii, "\"]");
    snprintf(long_utf8, sizeof long_utf8, "[\"m\",\"%s\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80%s\"]",
             "abcdefghijklmnopqrstuvwxyz0123", "tail after the multibyte ones, past a block");
    const char *good[] = {
        "[\"echo\"]", " [ \"m\" , 1 , null , true , false ] ", long_ascii, long_utf8,
        "[\"m\",{\"b\":1,\"a\":[2,{}]},[],[[null]],-0,1.5,{}]", "[7,\"numbered\"]",
        /* with a backslash: the protected way */
        "[\"m\",\"a\\\"b\\\\c\\n\\u00e9\\ud83d\\ude00\"]",
    };
    lua_State *L = new_state();
    sl_buf_t want = SL_BUF_INIT, got = SL_BUF_INIT;
    char err[256];
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        int top = lua_gettop(L);
        int n = sl_lua_json_decode_args(L, good[i], strlen(good[i]), NULL, err, sizeof err);
        CHECK(n > 0);
        sl_buf_reset(&want);
        CHECK(sl_lua_json_encode_values(L, top + 1, n, &want, NULL, err, sizeof err) >= 0);
        lua_settop(L, top);
        raising_args_t a;
        CHECK_EQ_INT(decode_raising(L, &a, good[i], NULL), LUA_OK);
        CHECK_EQ_INT(a.n, n);
        CHECK_EQ_INT(lua_gettop(L), top + n);
        sl_buf_reset(&got);
        CHECK(sl_lua_json_encode_values(L, top + 1, n, &got, NULL, err, sizeof err) >= 0);
        CHECK_MEM(got.data, got.len, want.data, want.len);
        CHECK(strcmp(a.err, "untouched") == 0); /* written only on failure */
        lua_settop(L, top);
    }
    /* Failures: the raising way (no backslash) raises, its message in err
     * and as the error; with a backslash the failure is returned. */
    const char *bad[] = {"[\"m\",\"\xff\"]", "[\"m\",\"ok\xc3\"]", "[1,", "[1] 2", "{}", "[\"\x01\"]",
                         "[\"\\ud800\"]"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int top = lua_gettop(L);
        err[0] = '\0';
        CHECK_EQ_INT(sl_lua_json_decode_args(L, bad[i], strlen(bad[i]), NULL, err, sizeof err), -EINVAL);
        raising_args_t a;
        int st = decode_raising(L, &a, bad[i], NULL);
        if (strchr(bad[i], '\\')) {
            CHECK_EQ_INT(st, LUA_OK);
            CHECK_EQ_INT(a.n, -EINVAL);
        } else {
            CHECK_EQ_INT(st, LUA_ERRRUN);
            CHECK(lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), err) == 0);
        }
        CHECK(strcmp(a.err, err) == 0);
        lua_settop(L, top);
    }
    /* Deeper than the limit: the same message either way. */
    sl_buf_t deep = SL_BUF_INIT;
    sl_buf_append(&deep, "[\"m\",", 5);
    for (int i = 0; i < SL_LUA_JSON_MAX_DEPTH + 5; i++)
        sl_buf_append(&deep, "[", 1);
    for (int i = 0; i < SL_LUA_JSON_MAX_DEPTH + 5; i++)
        sl_buf_append(&deep, "]", 1);
    sl_buf_append(&deep, "]\0", 2);
    CHECK_EQ_INT(sl_lua_json_decode_args(L, deep.data, deep.len - 1, NULL, err, sizeof err), -EINVAL);
    raising_args_t a;
    CHECK_EQ_INT(decode_raising(L, &a, deep.data, NULL), LUA_ERRRUN);
    CHECK(strcmp(a.err, err) == 0 && strstr(err, "nesting deeper") != NULL);
    lua_settop(L, 0);
    /* Attachments: the protected way, placeholders replaced. */
    sl_lua_json_blob_t att[1] = {{"\x01\x02", 2}};
    sl_lua_json_decode_opts_t dopts = {att, 1};
    CHECK_EQ_INT(decode_raising(L, &a, "[\"m\",{\"_placeholder\":true,\"num\":0}]", &dopts), LUA_OK);
    CHECK_EQ_INT(a.n, 2);
    CHECK(sl_lua_json_is_binary(L, 2));
    lua_settop(L, 0);
    CHECK_EQ_INT(decode_raising(L, &a, "[\"m\",{\"_placeholder\":true,\"num\":3}]", &dopts), LUA_OK);
    CHECK_EQ_INT(a.n, -EINVAL);
    CHECK(strstr(a.err, "illegal attachment placeholder") != NULL);
    lua_settop(L, 0);
    sl_buf_free(&deep);
    sl_buf_free(&want);
    sl_buf_free(&got);
    lua_close(L);
}

/* JSON.stringify's escaping, written the long way: the reference for
 * the encoder's run finder and its whole-string copy. */
static void ref_escape(sl_buf_t *o, const char *s, size_t n)
{
    sl_buf_append(o, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char e[8];
        if (c == '"') sl_buf_append(o, "\\\"", 2);
        else if (c == '\\') sl_buf_append(o, "\\\\", 2);
        else if (c == '\n') sl_buf_append(o, "\\n", 2);
        else if (c == '\r') sl_buf_append(o, "\\r", 2);
        else if (c == '\t') sl_buf_append(o, "\\t", 2);
        else if (c == '\b') sl_buf_append(o, "\\b", 2);
        else if (c == '\f') sl_buf_append(o, "\\f", 2);
        else if (c < 0x20) sl_buf_append(o, e, (size_t)snprintf(e, sizeof e, "\\u%04x", c));
        else sl_buf_append(o, (const char *)&c, 1);
    }
    sl_buf_append(o, "\"", 1);
}

/* Strings of every length to 70 (past the sixteen-byte blocks of the run
 * finder and its last overlapping one), plain, or with one piece at each
 * position: a quote, a backslash, control bytes, UTF-8 of two, three and
 * four bytes, bytes that are not UTF-8. Each encodes as JSON.stringify
 * writes it (or is refused, not UTF-8, as before), and decodes back to
 * itself, through the protected decode and the raising one. */
static void strings_round_trip_at_every_length_and_position(void)
{
    static const char *pieces[] = {"", "\"", "\\", "\n", "\x01", "\x1f", "\x7f", "\xc3\xa9",
                                   "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xff", "\xc3", "\xed\xa0\x80"};
    lua_State *L = new_state();
    sl_buf_t str = SL_BUF_INIT, want = SL_BUF_INIT, got = SL_BUF_INIT, arr = SL_BUF_INIT;
    char err[256];
    int ok = 1;
    for (size_t len = 0; len <= 70; len++) {
        for (size_t k = 0; k < sizeof pieces / sizeof *pieces; k++) {
            for (size_t at = 0; at <= len; at += (k == 0 ? len + 1 : 1)) {
                sl_buf_reset(&str);
                for (size_t i = 0; i < at; i++)
                    sl_buf_append_byte(&str, (char)('a' + i % 26));
                sl_buf_append(&str, pieces[k], strlen(pieces[k]));
                for (size_t i = at; i < len; i++)
                    sl_buf_append_byte(&str, (char)('A' + i % 26));
                int utf8 = k < 10;
                lua_pushlstring(L, str.data ? str.data : "", str.len);
                sl_buf_reset(&got);
                int rc = sl_lua_json_encode_values(L, -1, 1, &got, NULL, err, sizeof err);
                lua_pop(L, 1);
                if (!utf8) {
                    ok &= rc == -EINVAL && strstr(err, "not valid UTF-8") != NULL;
                    continue;
                }
                sl_buf_reset(&want);
                sl_buf_append(&want, "[", 1);
                ref_escape(&want, str.data ? str.data : "", str.len);
                sl_buf_append(&want, "]", 1);
                ok &= rc == 0 && got.len == want.len && memcmp(got.data, want.data, got.len) == 0;
                /* back: ["e", <the string>] */
                sl_buf_reset(&arr);
                sl_buf_append(&arr, "[\"e\",", 5);
                sl_buf_append(&arr, want.data + 1, want.len - 1);
                sl_buf_append(&arr, "\0", 1);
                int top = lua_gettop(L);
                int n = sl_lua_json_decode_args(L, arr.data, arr.len - 1, NULL, err, sizeof err);
                size_t dl = 0;
                const char *d = n == 2 ? lua_tolstring(L, -1, &dl) : NULL;
                ok &= n == 2 && d && dl == str.len && memcmp(d, str.data ? str.data : "", dl) == 0;
                lua_settop(L, top);
                raising_args_t a;
                ok &= decode_raising(L, &a, arr.data, NULL) == LUA_OK && a.n == 2;
                d = lua_tolstring(L, -1, &dl);
                ok &= d && dl == str.len && memcmp(d, str.data ? str.data : "", dl) == 0;
                lua_settop(L, top);
            }
        }
    }
    CHECK(ok);
    /* Not UTF-8 in the text: refused by both decodes, with one message. */
    raising_args_t a;
    const char *bad = "[\"e\",\"0123456789abcdef0123\xff\"]";
    CHECK_EQ_INT(sl_lua_json_decode_args(L, bad, strlen(bad), NULL, err, sizeof err), -EINVAL);
    CHECK_EQ_INT(decode_raising(L, &a, bad, NULL), LUA_ERRRUN);
    CHECK(strcmp(a.err, err) == 0 && strstr(err, "invalid UTF-8") != NULL);
    lua_settop(L, 0);
    sl_buf_free(&str);
    sl_buf_free(&want);
    sl_buf_free(&got);
    sl_buf_free(&arr);
    lua_close(L);
}

static void has_binary_finds_them_within_the_limit_only(void)
{
    lua_State *L = new_state();
    CHECK_EQ_INT(luaL_dostring(L, "local shared = {x = json.binary('b')}; "
                                  "return {1, {shared, shared}, {y = {z = shared}}}"), 0);
    CHECK_EQ_INT(sl_lua_json_has_binary(L, -1), 1);
    CHECK_EQ_INT(luaL_dostring(L, "local v = json.binary('b'); for i = 1, 127 do v = {v} end; return v"), 0);
    CHECK_EQ_INT(sl_lua_json_has_binary(L, -1), 1);
    CHECK_EQ_INT(luaL_dostring(L, "local v = json.binary('b'); for i = 1, 200 do v = {v} end; return v"), 0);
    CHECK_EQ_INT(sl_lua_json_has_binary(L, -1), 0);
    lua_close(L);
}

TL_SUITE(lua_json, NULL, NULL,
         TL_TEST(values_encode_as_one_array_from_the_stack),
         TL_TEST(arguments_decode_onto_the_stack_like_the_array),
         TL_TEST(raising_argument_decode_matches_the_protected_one),
         TL_TEST(strings_round_trip_at_every_length_and_position),
         TL_TEST(roundtrip_corpus_is_byte_exact),
         TL_TEST(whitespace_escapes_and_numbers_come_out_like_json_stringify),
         TL_TEST(decoded_numbers_are_integers_only_when_exact),
         TL_TEST(nulls_keep_array_length),
         TL_TEST(member_order_is_kept_and_keys_added_later_follow_sorted),
         TL_TEST(floats_print_like_javascript),
         TL_TEST(random_doubles_round_trip_bit_exact),
         TL_TEST(strings_escape_like_json_stringify),
         TL_TEST(unicode_escapes_and_surrogate_pairs_become_utf8),
         TL_TEST(malformed_inputs_are_errors_with_offsets),
         TL_TEST(error_messages_name_the_byte_offset),
         TL_TEST(nul_bytes_inside_input_are_errors),
         TL_TEST(truncated_input_never_reads_past_len),
         TL_TEST(nesting_deeper_than_128_is_an_error),
         TL_TEST(lua_values_encode_as_documented),
         TL_TEST(unencodable_lua_values_fail_with_their_path),
         TL_TEST(lua_module_follows_nil_msg_and_raise_conventions),
         TL_TEST(c_helpers_make_marked_tables),
         TL_TEST(conformance_payloads_round_trip),
         TL_TEST(binary_values_encode_as_placeholders_in_order),
         TL_TEST(binary_without_callback_or_with_failing_callback_is_an_error),
         TL_TEST(placeholders_decode_to_attachments_and_back),
         TL_TEST(illegal_placeholders_are_errors),
         TL_TEST(has_binary_ends_on_a_cycle_with_two_ways_back),
         TL_TEST(has_binary_finds_them_within_the_limit_only));
