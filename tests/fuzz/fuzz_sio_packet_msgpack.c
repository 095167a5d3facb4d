/* tests/fuzz/fuzz_sio_packet_msgpack.c: the msgpack parser's decoder
 * (--set parser=msgpack, socket.io-msgpack-parser 3), as the server runs it
 * on every binary message of such a client: sio_packet_msgpack_decode with
 * one decoder state kept from one message to the next (sio.c keeps one per
 * server and frees it when a message made it large), then the Lua values
 * the app's handler gets.
 *
 * Input: one Engine.IO binary message (no control bytes: the whole input
 * is what the client sent).
 *
 * Invariants: a refusal is one of the documented codes; a packet has a
 * known type, binary exactly when it has binary values, a namespace with
 * no NUL and pointing into the message, attachments pointing into the
 * message, a payload sio_packet_check takes; its JSON is "ours" (UTF-8,
 * taken by the validator and by lua_json, placeholders the attachments,
 * which Lua gets as binaries, but those of a value a repeated key
 * overwrote, see fuzz_check_mp_output); encoded again
 * (sio_packet_msgpack_encode, the server's outbound path) it decodes to the
 * same packet and the same attachment bytes, a fixed point from there;
 * and, where the text parser can say the same packet (a namespace "/..."
 * with no comma, at most SIO_PACKET_MAX_ATTACHMENTS), the text codec reads
 * it back the same: both parsers give the layers above one packet. */
#include "fuzz_json.h"

#include "sio/sio_packet_msgpack.h"

static int within(const char *p, size_t n, const char *lo, const char *hi)
{
    return n == 0 || (p >= lo && p + n <= hi);
}

static int same_packet(const sio_packet_t *a, const sio_packet_t *b)
{
    return a->type == b->type && a->attachments == b->attachments && a->nsp_len == b->nsp_len &&
           (a->nsp_len == 0 || !memcmp(a->nsp, b->nsp, a->nsp_len)) && a->has_ack == b->has_ack &&
           (!a->has_ack || a->ack_id == b->ack_id) && a->payload_len == b->payload_len &&
           (a->payload_len == 0 || !memcmp(a->payload, b->payload, a->payload_len));
}

static int same_bins(const sio_packet_bin_t *a, const sio_packet_bin_t *b, unsigned n)
{
    for (unsigned k = 0; k < n; k++)
        if (a[k].len != b[k].len || (a[k].len && memcmp(a[k].data, b[k].data, a[k].len)))
            return 0;
    return 1;
}

/* The server's outbound path on a decoded packet: encoded, it decodes to
 * the same packet (from the second pass on: the first may still normalise
 * numbers, e.g. a float 2.0 is sent as the integer 2, as notepack does). */
static void round_trip(const sio_packet_t *pkt, const sio_packet_bin_t *bins)
{
    sio_packet_mp_t st1 = SIO_PACKET_MP_INIT, st2 = SIO_PACKET_MP_INIT;
    sl_buf_t m1 = SL_BUF_INIT, m2 = SL_BUF_INIT;
    sio_packet_t p1, p2;
    const sio_packet_bin_t *b1, *b2;
    FUZZ_CHECK(sio_packet_msgpack_encode(&m1, pkt, bins, pkt->attachments) == 0);
    FUZZ_CHECK(sio_packet_msgpack_decode(&st1, m1.data, m1.len, &p1, &b1) == 0);
    FUZZ_CHECK(p1.type == pkt->type && p1.attachments == pkt->attachments);
    FUZZ_CHECK(p1.nsp_len == pkt->nsp_len && (!p1.nsp_len || !memcmp(p1.nsp, pkt->nsp, p1.nsp_len)));
    FUZZ_CHECK(p1.has_ack == pkt->has_ack && (!p1.has_ack || p1.ack_id == pkt->ack_id));
    FUZZ_CHECK(same_bins(b1, bins, pkt->attachments));
    FUZZ_CHECK(sio_packet_msgpack_encode(&m2, &p1, b1, p1.attachments) == 0);
    FUZZ_CHECK(sio_packet_msgpack_decode(&st2, m2.data, m2.len, &p2, &b2) == 0);
    FUZZ_CHECK(same_packet(&p1, &p2) && same_bins(b1, b2, p1.attachments));
    sl_buf_free(&m1);
    sl_buf_free(&m2);
    sio_packet_mp_free(&st1);
    sio_packet_mp_free(&st2);
}

/* The text parser's form of the same packet reads back the same. */
static void as_text(const sio_packet_t *pkt)
{
    if (pkt->nsp_len == 0 || pkt->nsp[0] != '/' || memchr(pkt->nsp, ',', pkt->nsp_len) ||
        pkt->attachments > SIO_PACKET_MAX_ATTACHMENTS)
        return;
    sl_buf_t t = SL_BUF_INIT;
    sio_packet_t back;
    FUZZ_CHECK(sio_packet_encode(&t, pkt) == 0);
    FUZZ_CHECK(sio_packet_decode(t.data, t.len, &back) == 0);
    FUZZ_CHECK(same_packet(pkt, &back));
    sl_buf_free(&t);
}

static void on_packet(const sio_packet_t *pkt, const sio_packet_bin_t *bins, const char *lo,
                      const char *hi)
{
    int binary = pkt->type == SIO_PACKET_BINARY_EVENT || pkt->type == SIO_PACKET_BINARY_ACK;
    FUZZ_CHECK(pkt->type >= SIO_PACKET_CONNECT && pkt->type <= SIO_PACKET_BINARY_ACK);
    FUZZ_CHECK(binary == (pkt->attachments > 0) && binary == (bins != NULL));
    FUZZ_CHECK(pkt->nsp && within(pkt->nsp, pkt->nsp_len, lo, hi));
    /* A name may hold NUL: passed on as the text parser passes it (sio.c
     * answers a CONNECT for it with CONNECT_ERROR). */
    FUZZ_CHECK(!pkt->has_ack || pkt->ack_id <= (uint64_t)INT64_MAX);
    FUZZ_CHECK(sio_packet_check(pkt) == 0);
    for (unsigned k = 0; k < pkt->attachments; k++)
        FUZZ_CHECK(within(bins[k].data, bins[k].len, lo, hi));
    if (pkt->payload) {
        /* What the validator, lua_json (attachments as binaries) and the
         * cluster's encoder make of it. */
        fuzz_check_mp_output(pkt->payload, pkt->payload_len, bins, pkt->attachments,
                             SL_MPJSON_EXACT);
    } else {
        FUZZ_CHECK(pkt->type == SIO_PACKET_CONNECT || pkt->type == SIO_PACKET_DISCONNECT);
    }
    /* A payload holding objects that look like placeholders (the data had
     * a map with a "_placeholder" key) cannot be told from the real ones
     * on the way back, by Node neither. */
    if (!pkt->payload || fuzz_mp_placeholders_exact(pkt->payload, pkt->payload_len, pkt->attachments))
        round_trip(pkt, bins);
    as_text(pkt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* One state for the run, as the server keeps one; freed when a message
     * made it large, as client_on_msgpack does. */
    static sio_packet_mp_t st = SIO_PACKET_MP_INIT;
    char *msg = malloc(size ? size : 1);
    memcpy(msg, data, size);
    sio_packet_t pkt;
    const sio_packet_bin_t *bins;
    int rc = sio_packet_msgpack_decode(&st, msg, size, &pkt, &bins);
    if (rc == 0) {
        on_packet(&pkt, bins, msg, msg + size);
    } else {
        FUZZ_CHECK(rc == SIO_PACKET_E_MSGPACK || rc == SIO_PACKET_E_TYPE ||
                   rc == SIO_PACKET_E_PAYLOAD || rc == SIO_PACKET_E_ACK_ID ||
                   rc == SIO_PACKET_E_EVENT_NAME || rc == -ENOMEM);
        FUZZ_CHECK(strcmp(sio_packet_strerror(rc), "unknown error") != 0);
    }
    if (st.json.cap > 65536 || st.bins.cap > 4096)
        sio_packet_mp_free(&st);
    free(msg);
    fuzz_lua_settle();
    return 0;
}
