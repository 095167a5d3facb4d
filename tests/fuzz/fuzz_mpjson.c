/* tests/fuzz/fuzz_mpjson.c: sio/mpjson from the JSON side, the path of
 * every broadcast to a cluster: JSON text (with binary placeholders and the
 * attachments they name) -> MessagePack as notepack writes it -> JSON again
 * (what another node of the cluster makes of it); and, with exact numbers,
 * of every packet the server sends a client of the msgpack parser.
 *
 * Input: one byte of options (bit 7: the packet has attachments, bits 0-2:
 * how many; bit 6: exact numbers, SL_MPJSON_EXACT), then the JSON text.
 *
 * Invariants: an accepted text gives one well-formed MessagePack value
 * (sl_mpjson_skip takes exactly it) that decodes again; what comes back is
 * "ours" (UTF-8, taken by the packet validator and lua_json, placeholders
 * exactly the attachments) and reaches a fixed point after one more pass;
 * a refusal leaves the output as it was. */
#include "fuzz_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in_t in = {data, size};
    unsigned opt = fuzz_byte(&in);
    /* Up to 7 attachments, the i-th made of i*5 bytes of value i (empty
     * ones included: a zero-length Buffer is legal). */
    static char att_bytes[7][30];
    sio_packet_bin_t atts[7];
    size_t natts = (opt & 0x80) ? opt & 7 : 0;
    for (size_t i = 0; i < natts; i++) {
        memset(att_bytes[i], (int)i, sizeof att_bytes[i]);
        atts[i].data = att_bytes[i];
        atts[i].len = i * 5;
    }
    const char *json = (const char *)in.p;

    sl_buf_t mp = SL_BUF_INIT;
    sl_buf_append(&mp, "pre", 3); /* appends, never overwrites */
    unsigned flags = (opt & 0x40) ? SL_MPJSON_EXACT : 0;
    int rc = sl_mpjson_from_json_opt(&mp, json, in.n, (opt & 0x80) ? atts : NULL, natts, flags);
    if (rc != 0) {
        FUZZ_CHECK(mp.len == 3);
        FUZZ_CHECK(rc < 0 && strcmp(sl_mpjson_strerror(rc), "unknown error") != 0);
        /* Text that is not ours to refuse: the packet validator agrees it
         * is not JSON, or it held a bad placeholder or an unplain string. */
        if (rc == SL_MPJSON_E_JSON && fuzz_json_plain(json, in.n))
            FUZZ_CHECK(!fuzz_sio_json_ok(json, in.n));
    } else {
        FUZZ_CHECK(mp.len > 3 && !memcmp(mp.data, "pre", 3));
        FUZZ_CHECK(fuzz_mp_check_value(mp.data + 3, mp.len - 3, 1, flags) == 0);
    }
    sl_buf_free(&mp);
    fuzz_lua_settle();
    return 0;
}
