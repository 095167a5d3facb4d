/* L4 sio/sio_packet_msgpack: socket.io-msgpack-parser packets <-> sio_packet_t
 * (see sio_packet_msgpack.h). The data is converted by sio/mpjson with
 * exact numbers; this file reads and writes the envelope around it.
 * No event loop, no sessions, no Lua: only bytes and spans. */
#include "sio/sio_packet_msgpack.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include <msgpuck.h>

#include "sio/mpjson.h"

void sio_packet_mp_free(sio_packet_mp_t *st)
{
    sl_buf_free(&st->json);
    sl_buf_free(&st->bins);
}

/* ---- decode ------------------------------------------------------------- */

/* notepack's undefined: fixext 1 of type 0. A field holding it is absent. */
static int is_undefined(const char *v) { return (unsigned char)v[0] == 0xd4 && v[1] == 0; }

/* A JS number that Number.isInteger accepts, as the 64-bit integer it
 * names: any int or uint, or an integral float. */
static int read_integer(const char *v, const char *end, int64_t *i, uint64_t *u, int *neg)
{
    const char *q = v;
    *neg = 0;
    switch (mp_typeof(*q)) {
    case MP_UINT:
        *u = mp_decode_uint(&q);
        return 0;
    case MP_INT:
        *i = mp_decode_int(&q);
        *neg = *i < 0;
        *u = (uint64_t)*i;
        return 0;
    case MP_FLOAT:
    case MP_DOUBLE: {
        double d;
        if (sl_mpjson_read_number(&q, end, &d) || !isfinite(d) || floor(d) != d)
            return -1;
        if (d < 0) {
            *neg = 1;
            *i = d >= -0x1p63 ? (int64_t)d : INT64_MIN;
            return 0;
        }
        if (d >= 0x1p64)
            return -1;
        *u = (uint64_t)d;
        return 0;
    }
    default:
        return -1;
    }
}

/* Each binary value of the data: one more attachment. */
static int note_bin(void *ud, const char *data, size_t len)
{
    sl_buf_t *bins = ud;
    size_t n = bins->len / sizeof(sio_packet_bin_t);
    if (n >= 0x7fffffff)
        return -ENOMEM;
    sio_packet_bin_t b = {data, len};
    if (sl_buf_append(bins, &b, sizeof b))
        return -ENOMEM;
    return (int)n;
}

/* The kind of data each type needs, read off its first byte. */
static int data_fits(int type, const char *v)
{
    if (!v)
        return type == SIO_PACKET_CONNECT || type == SIO_PACKET_DISCONNECT;
    enum mp_type k = mp_typeof(*v);
    switch (type) {
    case SIO_PACKET_CONNECT: return k == MP_MAP;
    case SIO_PACKET_DISCONNECT: return 0;
    case SIO_PACKET_CONNECT_ERROR: return k == MP_MAP || k == MP_STR;
    default: return k == MP_ARRAY;
    }
}

static int key_is(const char *k, uint32_t n, const char *lit)
{
    return n == strlen(lit) && memcmp(k, lit, n) == 0;
}

int sio_packet_msgpack_decode(sio_packet_mp_t *st, const char *p, size_t n, sio_packet_t *out,
                              const sio_packet_bin_t **bins)
{
    const char *end = p + n, *q = p;
    memset(out, 0, sizeof *out);
    *bins = NULL;
    st->json.len = st->bins.len = 0;
    /* One whole value and nothing after it (notepack throws on trailing
     * bytes); once it is checked, msgpuck's unchecked readers are safe. */
    uint32_t nkeys;
    if (sl_mpjson_skip(&q, end) || q != end || sl_mpjson_read_map(&p, end, &nkeys))
        return SIO_PACKET_E_MSGPACK;
    const char *type = NULL, *nsp = NULL, *data = NULL, *id = NULL;
    for (uint32_t k = 0; k < nkeys; k++) {
        const char *key = NULL;
        uint32_t klen = 0;
        if (mp_typeof(*p) == MP_STR)
            key = mp_decode_str(&p, &klen);
        else
            mp_next(&p);
        const char *v = p;
        mp_next(&p);
        if (!key)
            continue;
        const char *val = is_undefined(v) ? NULL : v;
        if (key_is(key, klen, "type"))
            type = val;
        else if (key_is(key, klen, "nsp"))
            nsp = val;
        else if (key_is(key, klen, "data"))
            data = val;
        else if (key_is(key, klen, "id"))
            id = val;
    }

    int64_t i = 0;
    uint64_t u = 0;
    int neg;
    if (!type || read_integer(type, end, &i, &u, &neg) || neg || u > SIO_PACKET_CONNECT_ERROR)
        return SIO_PACKET_E_TYPE;
    out->type = (sio_packet_type_t)u;

    uint32_t nsp_len;
    if (!nsp || sl_mpjson_read_str(&nsp, end, &out->nsp, &nsp_len))
        return SIO_PACKET_E_MSGPACK;
    out->nsp_len = nsp_len;
    /* A name holding NUL is passed on as the text parser passes it: a
     * CONNECT for it gets CONNECT_ERROR under the name as sent (sio.c),
     * any other packet matches no namespace joined. */

    if (id) {
        /* At most 2^63 - 1, as the text parser: an id is a Lua integer
         * above, and a larger one would turn negative there. */
        if (read_integer(id, end, &i, &u, &neg) || neg || u > (uint64_t)INT64_MAX)
            return SIO_PACKET_E_ACK_ID;
        out->has_ack = 1;
        out->ack_id = u;
    }

    if (!data_fits(out->type, data))
        return SIO_PACKET_E_PAYLOAD;
    if (data) {
        int rc = sl_mpjson_to_json_opt(&st->json, &data, end, note_bin, &st->bins, SL_MPJSON_EXACT);
        if (rc)
            return rc == -ENOMEM ? rc : SIO_PACKET_E_MSGPACK;
        out->payload = st->json.data;
        out->payload_len = st->json.len;
    }
    unsigned natts = (unsigned)(st->bins.len / sizeof(sio_packet_bin_t));
    if (natts) {
        /* Only an EVENT or an ACK carries binary data as attachments; in a
         * CONNECT's auth or a CONNECT_ERROR the placeholders stay objects
         * (the text parser refuses binary there). */
        if (out->type == SIO_PACKET_EVENT)
            out->type = SIO_PACKET_BINARY_EVENT;
        else if (out->type == SIO_PACKET_ACK)
            out->type = SIO_PACKET_BINARY_ACK;
        else
            return SIO_PACKET_E_PAYLOAD;
        out->attachments = natts;
        *bins = (const sio_packet_bin_t *)(const void *)st->bins.data;
    }
    return sio_packet_check(out);
}

/* ---- encode ------------------------------------------------------------- */

static int put_key(sl_buf_t *out, const char *k) { return sl_mpjson_put_str(out, k, strlen(k)); }

static int put_id(sl_buf_t *out, const sio_packet_t *pkt)
{
    char *w;
    if (put_key(out, "id") || sl_buf_reserve(out, 9))
        return -ENOMEM;
    w = mp_encode_uint(out->data + out->len, pkt->ack_id);
    out->len = (size_t)(w - out->data);
    return 0;
}

int sio_packet_msgpack_encode(sl_buf_t *out, const sio_packet_t *pkt, const sio_packet_bin_t *atts,
                              unsigned natts)
{
    int t = (int)pkt->type;
    if (t < SIO_PACKET_CONNECT || t > SIO_PACKET_BINARY_ACK || (pkt->payload_len && !pkt->payload) ||
        sio_packet_check(pkt) == SIO_PACKET_E_PAYLOAD)
        return -EINVAL;
    int binary = t == SIO_PACKET_BINARY_EVENT || t == SIO_PACKET_BINARY_ACK;
    int wire_type = t == SIO_PACKET_BINARY_EVENT ? SIO_PACKET_EVENT
                    : t == SIO_PACKET_BINARY_ACK ? SIO_PACKET_ACK : t;
    int ack_first = wire_type == SIO_PACKET_ACK && pkt->has_ack;
    const char *nsp = pkt->nsp ? pkt->nsp : "/";
    size_t nsp_len = pkt->nsp ? pkt->nsp_len : 1;

    /* About as long as the JSON it comes from (floats grow, strings and
     * small integers shrink) plus the attachments it holds: most packets
     * then take one allocation. */
    size_t need = pkt->payload_len + nsp_len + 40;
    for (unsigned k = 0; binary && k < natts; k++)
        need += atts[k].len + 5;
    size_t len0 = out->len;
    int rc = sl_buf_reserve(out, need) ? -ENOMEM
                                       : sl_mpjson_put_map(out, 2u + (pkt->payload_len != 0) + (pkt->has_ack != 0));
    if (!rc && ack_first)
        rc = put_id(out, pkt);
    if (!rc && !(rc = put_key(out, "type")))
        rc = sl_buf_append_byte(out, (char)wire_type); /* a positive fixint */
    if (!rc && pkt->payload_len && !(rc = put_key(out, "data"))) {
        rc = sl_mpjson_from_json_opt(out, pkt->payload, pkt->payload_len, binary ? atts : NULL,
                                     binary ? natts : 0, SL_MPJSON_EXACT);
        if (rc && rc != -ENOMEM)
            rc = -EINVAL;
    }
    if (!rc && pkt->has_ack && !ack_first)
        rc = put_id(out, pkt);
    if (!rc && !(rc = put_key(out, "nsp")))
        rc = sl_mpjson_put_str(out, nsp, nsp_len);
    if (rc) {
        out->len = len0;
        return rc == -ENOMEM ? rc : -EINVAL;
    }
    return 0;
}
