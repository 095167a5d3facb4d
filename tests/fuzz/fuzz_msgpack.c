/* tests/fuzz/fuzz_msgpack.c: the MessagePack readers of the cluster, which
 * take bytes from Redis that any server of the cluster (or anyone with
 * access to Redis) may have written: sio_cluster_decode (the envelope of
 * the sharded adapter's messages; JSON when the first byte is '{'),
 * sl_mpjson_to_json (notepack's values as JSON text with placeholders), and
 * the envelope readers sl_mpjson_skip / _read_*. The same values are read
 * with exact numbers too (SL_MPJSON_EXACT, how the msgpack parser reads a
 * client's data; its packet envelope has fuzz_sio_packet_msgpack).
 *
 * Invariants: no reader runs past the end; to_json takes exactly the bytes
 * skip says the value has; what to_json writes is "ours" (UTF-8, taken by
 * the packet validator and lua_json, placeholders exactly the attachments)
 * and reaches a fixed point after one more pass; the members of a decoded
 * envelope point into it and are whole values. */
#include "fuzz_json.h"

#include "cluster/sio_cluster.h"

static void readers(const char *p0, const char *end)
{
    const char *p = p0;
    uint32_t n;
    const char *s;
    double d;
    if (sl_mpjson_read_array(&p, end, &n) == 0)
        FUZZ_CHECK(p > p0 && p <= end);
    else
        FUZZ_CHECK(p == p0);
    p = p0;
    if (sl_mpjson_read_map(&p, end, &n) == 0)
        FUZZ_CHECK(p > p0 && p <= end);
    else
        FUZZ_CHECK(p == p0);
    p = p0;
    if (sl_mpjson_read_str(&p, end, &s, &n) == 0)
        FUZZ_CHECK(p > p0 && p <= end && s >= p0 && s + n <= end);
    else
        FUZZ_CHECK(p == p0);
    p = p0;
    if (sl_mpjson_read_number(&p, end, &d) == 0)
        FUZZ_CHECK(p > p0 && p <= end);
    else
        FUZZ_CHECK(p == p0);
}

/* A member of a decoded envelope: a whole value inside the message. */
static void member(const char *v, const char *lo, const char *end)
{
    if (!v)
        return;
    FUZZ_CHECK(v >= lo && v < end);
    const char *q = v;
    FUZZ_CHECK(sl_mpjson_skip(&q, end) == 0);
    fuzz_mp_check_value(v, (size_t)(end - v), 0, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact copy: the readers must stop at `end`. */
    char *msg = malloc(size ? size : 1);
    memcpy(msg, data, size);
    const char *end = msg + size;

    readers(msg, end);

    /* As the adapter reads it, and as the msgpack parser reads a client's
     * data (exact numbers). */
    fuzz_mp_check_value(msg, size, 1, 0);
    fuzz_mp_check_value(msg, size, 1, SL_MPJSON_EXACT);

    sl_buf_t scratch = SL_BUF_INIT;
    sio_cluster_msg_t m;
    if (sio_cluster_decode(msg, size, &scratch, &m) == 0) {
        FUZZ_CHECK(m.type >= 0 && m.type <= 255);
        FUZZ_CHECK(memchr(m.uid, 0, sizeof m.uid) && memchr(m.nsp, 0, sizeof m.nsp) &&
                   memchr(m.request_id, 0, sizeof m.request_id));
        const char *lo = (size && msg[0] == '{') ? scratch.data : msg;
        FUZZ_CHECK(m.end == ((size && msg[0] == '{') ? scratch.data + scratch.len : end));
        member(m.opts, lo, m.end);
        member(m.rooms, lo, m.end);
        member(m.packet, lo, m.end);
        member(m.sockets, lo, m.end);
    }
    sl_buf_free(&scratch);
    free(msg);
    fuzz_lua_settle();
    return 0;
}
