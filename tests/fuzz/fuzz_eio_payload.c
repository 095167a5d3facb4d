/* tests/fuzz/fuzz_eio_payload.c: the Engine.IO polling payload decoders
 * (eio/eio_packet): v4 text ("4hello\x1ebAQID"), v3 text ("6:4hello",
 * lengths in UTF-16 units, "b4<base64>") and v3 binary (XHR2 bodies,
 * "<0|1><digits>\xff<bytes>"). The first input byte picks the decoder, the
 * rest is the POST body.
 *
 * Invariants: every packet lies inside the body and has a known type; and
 * what the server would write back for the same packets (eio_payload_append
 * / eio3_payload_append) decodes to the same packets (for v3, when the
 * text is UTF-8: its lengths count UTF-16 units, which only UTF-8 has). */
#include "fuzz.h"

#include "eio/eio_packet.h"

typedef struct pkts {
    sl_buf_t list;   /* of eio_packet_t, pointing into bytes copies below */
    sl_buf_t bytes;  /* the packets' data, copied (decoding is in place) */
    const char *lo, *hi; /* the body being decoded */
    int all_utf8;
} pkts_t;

typedef struct rec {
    int type, binary;
    size_t off, len;
} rec_t;

static int collect(const eio_packet_t *p, void *ud)
{
    pkts_t *c = ud;
    FUZZ_CHECK(p->type >= EIO_OPEN && p->type <= EIO_NOOP);
    FUZZ_CHECK(!p->binary || p->type == EIO_MESSAGE);
    FUZZ_CHECK(p->len == 0 || (p->data >= c->lo && p->data + p->len <= c->hi));
    if (!p->binary && !fuzz_utf8_valid(p->data, p->len))
        c->all_utf8 = 0;
    rec_t r = {p->type, p->binary, c->bytes.len, p->len};
    if (sl_buf_append(&c->bytes, p->data, p->len) || sl_buf_append(&c->list, &r, sizeof r))
        abort();
    return 0;
}

static int decode(int mode, const char *in, size_t n, pkts_t *out)
{
    char *body = malloc(n ? n : 1);
    memcpy(body, in, n);
    out->lo = body;
    out->hi = body + n;
    out->all_utf8 = 1;
    int rc = mode == 0   ? eio_payload_decode(body, n, collect, out)
             : mode == 1 ? eio3_payload_decode(body, n, collect, out)
                         : eio3_payload_decode_binary(body, n, collect, out);
    free(body);
    FUZZ_CHECK(rc == 0 || rc == -1);
    return rc;
}

static void pkts_free(pkts_t *c)
{
    sl_buf_free(&c->list);
    sl_buf_free(&c->bytes);
}

static int same(const pkts_t *a, const pkts_t *b)
{
    if (a->list.len != b->list.len)
        return 0;
    const rec_t *x = (const rec_t *)(void *)a->list.data, *y = (const rec_t *)(void *)b->list.data;
    for (size_t i = 0; i < a->list.len / sizeof(rec_t); i++) {
        if (x[i].type != y[i].type || x[i].binary != y[i].binary || x[i].len != y[i].len ||
            (x[i].len && memcmp(a->bytes.data + x[i].off, b->bytes.data + y[i].off, x[i].len)))
            return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in_t in = {data, size};
    int mode = (int)(fuzz_byte(&in) % 3);
    pkts_t got = {0};
    if (decode(mode, (const char *)in.p, in.n, &got) == 0 && got.list.len &&
        (mode == 0 || got.all_utf8)) {
        /* Written back as the server writes payloads: v4 for v4, v3 text
         * for both v3 forms (the server never writes the binary form). */
        sl_buf_t enc = SL_BUF_INIT;
        const rec_t *r = (const rec_t *)(void *)got.list.data;
        for (size_t i = 0; i < got.list.len / sizeof *r; i++) {
            const char *d = got.bytes.data ? got.bytes.data + r[i].off : "";
            int rc = mode == 0 ? eio_payload_append(&enc, r[i].type, r[i].binary, d, r[i].len)
                               : eio3_payload_append(&enc, r[i].type, r[i].binary, d, r[i].len);
            FUZZ_CHECK(rc == 0);
        }
        pkts_t back = {0};
        FUZZ_CHECK(decode(mode == 0 ? 0 : 1, enc.data, enc.len, &back) == 0);
        FUZZ_CHECK(same(&got, &back));
        pkts_free(&back);
        sl_buf_free(&enc);
    }
    pkts_free(&got);
    return 0;
}
