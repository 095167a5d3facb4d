/* tests/fuzz/fuzz_lua_json.c: lua/lua_json, the exact JSON <-> Lua codec at the
 * Socket.IO boundary (event arguments in, emits and acks out), with the two
 * other JSON readers of the project held to it (fuzz_json.h), and the JS
 * number formatter of base/json_text that its encoder writes with.
 *
 * Invariants: whatever decodes encodes again; encode(decode(x)) is a fixed
 * point (decoding and encoding it once more gives the same bytes); what
 * lua_json accepts, the packet validator and mpjson accept too, and the
 * other way round for plain text; lua_json's output is read by both; and
 * a double formatted as JS does reads back to the same double. */
#include "fuzz_json.h"

#include <math.h>

#include "base/json_text.h"

/* decode -> encode; 0 and the text in out, or the decode error. */
static int reencode(const char *json, size_t n, sl_buf_t *out)
{
    lua_State *L = fuzz_lua();
    char err[200];
    int rc = sl_lua_json_decode(L, json, n, NULL, err, sizeof err);
    if (rc)
        return rc;
    int enc = sl_lua_json_encode(L, -1, out, NULL, err, sizeof err);
    if (enc != 0)
        fprintf(stderr, "encode failed: %s\n", err);
    FUZZ_CHECK(enc == 0);
    lua_pop(L, 1);
    return 0;
}

static void number_round_trip(const uint8_t *data, size_t size)
{
    if (size < 8)
        return;
    double d;
    memcpy(&d, data, 8);
    char text[SL_JSON_NUMBER_MAX + 1];
    size_t n = sl_json_format_number(d, text);
    FUZZ_CHECK(n > 0 && n < sizeof text);
    text[n] = '\0';
    if (isnan(d)) {
        FUZZ_CHECK(!strcmp(text, "NaN"));
        return;
    }
    double back = strtod(text, NULL);
    FUZZ_CHECK(back == d); /* -0 is written "0", and 0 == -0 */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *json = (const char *)data;
    number_round_trip(data, size);

    sl_buf_t j1 = SL_BUF_INIT, j2 = SL_BUF_INIT, mp = SL_BUF_INIT;
    int lua_ok = reencode(json, size, &j1) == 0;
    int sio_ok = fuzz_sio_json_ok(json, size);
    int mp_rc = sl_mpjson_from_json(&mp, json, size, NULL, 0);
    FUZZ_CHECK(mp_rc == 0 || mp_rc == SL_MPJSON_E_JSON || mp_rc == SL_MPJSON_E_DEPTH ||
               mp_rc == SL_MPJSON_E_UTF8 || mp_rc == SL_MPJSON_E_TOO_BIG);
    int plain = fuzz_json_plain(json, size);

    if (lua_ok) {
        FUZZ_CHECK(sio_ok);
        FUZZ_CHECK(mp_rc == 0);
        /* A fixed point after one pass. */
        FUZZ_CHECK(reencode(j1.data, j1.len, &j2) == 0);
        FUZZ_CHECK(j1.len == j2.len && !memcmp(j1.data, j2.data, j1.len));
        /* The output is one of "ours": the validator and mpjson take it. */
        FUZZ_CHECK(fuzz_sio_json_ok(j1.data, j1.len));
        sl_buf_reset(&mp);
        FUZZ_CHECK(sl_mpjson_from_json(&mp, j1.data, j1.len, NULL, 0) == 0);
    } else if (plain) {
        FUZZ_CHECK(!sio_ok);
        FUZZ_CHECK(mp_rc != 0);
    }
    sl_buf_free(&j1);
    sl_buf_free(&j2);
    sl_buf_free(&mp);
    fuzz_lua_settle();
    return 0;
}
