/* tests/fuzz/fuzz_sio_packet.c: the inbound decoder chain of a Socket.IO
 * connection, as the server runs it, without a loop: a polling POST body
 * (the first input byte picks Engine.IO v4 text, v3 text or v3 binary; the
 * v3 binary form carries any mix of text and binary messages, as WebSocket
 * frames do) -> Engine.IO packets -> each message through the connection's
 * reassembler (sio_packet_reasm_text / _binary: header decode, placeholder
 * check, attachments) -> for each whole packet, the placeholders and the
 * Lua values the app's handler gets (lua_json with the attachments).
 *
 * Invariants: a whole packet's spans lie in memory the packet owns; its
 * attachments are all there; it encodes (sio_packet_encode) and decodes
 * back to the same fields; the placeholders found are exactly the binaries
 * Lua gets; and a payload the validator passes decodes in Lua (UTF-8, no
 * \u escapes: see fuzz_json.h). */
#include "fuzz_json.h"

#include "eio/eio_packet.h"

typedef struct chain {
    sio_packet_reasm_t reasm;
    sl_buf_t header;   /* the text of the binary packet being reassembled */
    int dead;          /* a protocol error closed the connection */
} chain_t;

static int within(const char *p, size_t n, const char *lo, const char *hi)
{
    return n == 0 || !lo || (p >= lo && p + n <= hi); /* lo NULL: the reassembler's copy */
}

typedef struct ph_walk {
    const sio_packet_bin_t *bins;
    size_t len, count;
    const char *json;
} ph_walk_t;

static int on_placeholder(void *ud, size_t off, size_t len, unsigned num, const sio_packet_bin_t *att)
{
    ph_walk_t *w = ud;
    FUZZ_CHECK(off + len <= w->len && len >= 2);
    FUZZ_CHECK(w->json[off] == '{' && w->json[off + len - 1] == '}');
    FUZZ_CHECK(att == &w->bins[num]);
    w->count++;
    return 0;
}

static int same_packet(const sio_packet_t *a, const sio_packet_t *b)
{
    return a->type == b->type && a->attachments == b->attachments && a->nsp_len == b->nsp_len &&
           !memcmp(a->nsp, b->nsp, a->nsp_len) && a->has_ack == b->has_ack &&
           (!a->has_ack || a->ack_id == b->ack_id) && a->payload_len == b->payload_len &&
           (a->payload_len == 0 || !memcmp(a->payload, b->payload, a->payload_len));
}

/* A whole packet, as client_on_packet gets it; [lo, hi) is the text it
 * was decoded from (the caller's message), or lo NULL for a binary packet
 * (the reassembler's copy, private to sio_packet.c: on_eio_packet compares
 * the packet with the header text decoded again). */
static void on_ready(chain_t *c, const sio_packet_t *pkt, const char *lo, const char *hi)
{
    const sio_packet_reasm_t *r = &c->reasm;
    int binary = pkt->type == SIO_PACKET_BINARY_EVENT || pkt->type == SIO_PACKET_BINARY_ACK;
    FUZZ_CHECK(pkt->type >= SIO_PACKET_CONNECT && pkt->type <= SIO_PACKET_BINARY_ACK);
    FUZZ_CHECK(pkt->attachments <= SIO_PACKET_MAX_ATTACHMENTS);
    FUZZ_CHECK(binary || pkt->attachments == 0);
    FUZZ_CHECK(pkt->nsp_len >= 1 && pkt->nsp[0] == '/');
    FUZZ_CHECK(pkt->nsp_len == 1 || within(pkt->nsp, pkt->nsp_len, lo, hi));
    FUZZ_CHECK(within(pkt->payload, pkt->payload_len, lo, hi));
    if (pkt->attachments)
        FUZZ_CHECK(sio_packet_reasm_count(r) == pkt->attachments);

    /* Encoded again, it reads back the same. */
    sl_buf_t enc = SL_BUF_INIT;
    FUZZ_CHECK(sio_packet_encode(&enc, pkt) == 0);
    sio_packet_t back;
    FUZZ_CHECK(sio_packet_decode(enc.data, enc.len, &back) == 0);
    FUZZ_CHECK(same_packet(pkt, &back));
    sl_buf_free(&enc);

    if (!pkt->payload)
        return;
    /* The placeholders, then the values the app gets (lua_sio's
     * on_packet: attachments given only when there are some). */
    size_t natts = binary ? pkt->attachments : 0;
    const sio_packet_bin_t *bins = sio_packet_reasm_bins(r);
    ph_walk_t w = {bins, pkt->payload_len, 0, pkt->payload};
    int rc = binary ? sio_packet_placeholders(pkt->payload, pkt->payload_len, bins, natts,
                                              on_placeholder, &w)
                    : 0;
    FUZZ_CHECK(rc == 0);
    size_t nbin = 0;
    rc = fuzz_lua_decode(pkt->payload, pkt->payload_len, natts ? bins : NULL, natts, &nbin);
    if (fuzz_json_plain(pkt->payload, pkt->payload_len))
        FUZZ_CHECK(rc == 0);
    if (rc == 0)
        FUZZ_CHECK(nbin == (natts ? w.count : 0));
}

static int on_eio_packet(const eio_packet_t *p, void *ud)
{
    chain_t *c = ud;
    if (c->dead || p->type != EIO_MESSAGE)
        return 0;
    sio_packet_t pkt;
    int rc = p->binary ? sio_packet_reasm_binary(&c->reasm, p->data, p->len, &pkt)
                       : sio_packet_reasm_text(&c->reasm, p->data, p->len, &pkt);
    if (rc < 0) {
        /* The reassembler is reset; the connection would be closed. */
        FUZZ_CHECK(!sio_packet_reasm_pending(&c->reasm) && sio_packet_reasm_bins(&c->reasm) == NULL &&
                   sio_packet_reasm_count(&c->reasm) == 0);
        FUZZ_CHECK(strcmp(sio_packet_strerror(rc), "unknown error") != 0);
        c->dead = 1;
        return 0;
    }
    FUZZ_CHECK(rc == SIO_PACKET_READY || rc == SIO_PACKET_PENDING);
    if (rc == SIO_PACKET_PENDING) {
        if (!p->binary) {
            sl_buf_reset(&c->header);
            if (sl_buf_append(&c->header, p->data, p->len))
                abort();
        }
        sio_packet_t hdr;
        FUZZ_CHECK(sio_packet_decode(c->header.data, c->header.len, &hdr) == 0);
        FUZZ_CHECK(sio_packet_reasm_pending(&c->reasm) && sio_packet_reasm_count(&c->reasm) < hdr.attachments);
    } else if (p->binary) {
        /* The reassembler's copy of the header reads as the header did. */
        sio_packet_t hdr;
        FUZZ_CHECK(sio_packet_decode(c->header.data, c->header.len, &hdr) == 0);
        FUZZ_CHECK(same_packet(&pkt, &hdr));
        on_ready(c, &pkt, NULL, NULL);
    } else {
        on_ready(c, &pkt, p->data, p->data + p->len);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in_t in = {data, size};
    int mode = (int)(fuzz_byte(&in) % 3);
    char *body = malloc(in.n ? in.n : 1);
    memcpy(body, in.p, in.n);
    chain_t c = {SIO_PACKET_REASM_INIT, SL_BUF_INIT, 0};
    if (mode == 0)
        eio_payload_decode(body, in.n, on_eio_packet, &c);
    else if (mode == 1)
        eio3_payload_decode(body, in.n, on_eio_packet, &c);
    else
        eio3_payload_decode_binary(body, in.n, on_eio_packet, &c);
    sio_packet_reasm_free(&c.reasm);
    sl_buf_free(&c.header);
    free(body);
    fuzz_lua_settle();
    return 0;
}
