/* L2 eio/eio_packet: Engine.IO packet/payload codec. See eio_packet.h. */
#include "eio/eio_packet.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int eio_packet_decode_text(const char *p, size_t n, eio_packet_t *out)
{
    if (n == 0 || p[0] < '0' || p[0] > '6')
        return -1;
    out->type = (eio_type_t)(p[0] - '0');
    out->binary = 0;
    out->data = p + 1;
    out->len = n - 1;
    return 0;
}

static int decode_record(char *rec, size_t n, eio_packet_t *pkt)
{
    if (n > 0 && rec[0] == 'b') {
        long m = sl_base64_decode(rec + 1, n - 1, (unsigned char *)rec);
        if (m < 0)
            return -1;
        pkt->type = EIO_MESSAGE;
        pkt->binary = 1;
        pkt->data = rec;
        pkt->len = (size_t)m;
        return 0;
    }
    return eio_packet_decode_text(rec, n, pkt);
}

int eio_payload_decode(char *body, size_t n, eio_payload_cb cb, void *ud)
{
    size_t start = 0;
    for (;;) {
        char *sep = memchr(body + start, EIO_RECORD_SEP, n - start);
        size_t end = sep ? (size_t)(sep - body) : n;
        eio_packet_t pkt;
        if (decode_record(body + start, end - start, &pkt))
            return -1;
        int rc = cb(&pkt, ud);
        if (rc)
            return rc;
        if (!sep)
            return 0;
        start = end + 1;
    }
}

int eio_payload_append(sl_buf_t *out, eio_type_t type, int binary, const char *data, size_t n)
{
    if (out->len && sl_buf_append_byte(out, EIO_RECORD_SEP))
        return -ENOMEM;
    if (binary) {
        if (sl_buf_append_byte(out, 'b'))
            return -ENOMEM;
        return sl_base64_encode_append(out, (const unsigned char *)data, n);
    }
    if (sl_buf_append_byte(out, (char)('0' + type)))
        return -ENOMEM;
    return sl_buf_append(out, data, n);
}

/* ---- Engine.IO v3 ------------------------------------------------------- */

/* v3 lengths count UTF-16 code units of the JS string; for the UTF-8 bytes
 * we hold, that is one unit per character and two for 4-byte sequences. */
static size_t utf16_units(const char *p, size_t n)
{
    size_t u = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if ((c & 0xC0) != 0x80)
            u += (c >= 0xF0) ? 2 : 1;
    }
    return u;
}

/* Byte length of the first `units` UTF-16 units of p, or -1 if p is short. */
static long utf16_prefix_bytes(const char *p, size_t n, size_t units)
{
    size_t i = 0, u = 0;
    while (u < units) {
        if (i >= n)
            return -1;
        unsigned char c = (unsigned char)p[i];
        size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        u += len == 4 ? 2 : 1;
        i += len;
    }
    /* u > units: the length ends inside a surrogate pair. */
    return i <= n && u == units ? (long)i : -1;
}

int eio3_payload_decode(char *body, size_t n, eio_payload_cb cb, void *ud)
{
    size_t i = 0;
    if (n == 0)
        return -1;
    while (i < n) {
        size_t units = 0, digits = 0;
        while (i < n && body[i] >= '0' && body[i] <= '9' && digits < 10) {
            units = units * 10 + (size_t)(body[i] - '0');
            i++;
            digits++;
        }
        if (digits == 0 || i >= n || body[i] != ':' || units == 0)
            return -1;
        i++;
        long bytes = utf16_prefix_bytes(body + i, n - i, units);
        if (bytes < 0)
            return -1;
        eio_packet_t pkt;
        char *rec = body + i;
        if (rec[0] == 'b') {
            /* "b4<base64>": the type digit sits between 'b' and the data. */
            if (bytes < 2 || rec[1] != '4')
                return -1;
            long m = sl_base64_decode(rec + 2, (size_t)bytes - 2, (unsigned char *)rec);
            if (m < 0)
                return -1;
            pkt.type = EIO_MESSAGE;
            pkt.binary = 1;
            pkt.data = rec;
            pkt.len = (size_t)m;
        } else if (eio_packet_decode_text(rec, (size_t)bytes, &pkt)) {
            return -1;
        }
        int rc = cb(&pkt, ud);
        if (rc)
            return rc;
        i += (size_t)bytes;
    }
    return 0;
}

int eio3_payload_decode_binary(char *body, size_t n, eio_payload_cb cb, void *ud)
{
    size_t i = 0;
    if (n == 0)
        return -1;
    while (i < n) {
        int is_binary = (unsigned char)body[i];
        if (is_binary != 0 && is_binary != 1)
            return -1;
        i++;
        size_t len = 0, digits = 0;
        while (i < n && (unsigned char)body[i] != 0xFF) {
            if ((unsigned char)body[i] > 9 || ++digits > 10)
                return -1;
            len = len * 10 + (unsigned char)body[i];
            i++;
        }
        if (i >= n || digits == 0 || len == 0 || len > n - i - 1)
            return -1;
        i++; /* 0xFF */
        char *rec = body + i;
        eio_packet_t pkt;
        if (is_binary) {
            if (rec[0] != EIO_MESSAGE)
                return -1;
            pkt.type = EIO_MESSAGE;
            pkt.binary = 1;
            pkt.data = rec + 1;
            pkt.len = len - 1;
        } else if (eio_packet_decode_text(rec, len, &pkt)) {
            return -1;
        }
        int rc = cb(&pkt, ud);
        if (rc)
            return rc;
        i += len;
    }
    return 0;
}

int eio3_payload_append(sl_buf_t *out, eio_type_t type, int binary, const char *data, size_t n)
{
    char head[32];
    if (binary) {
        size_t units = 2 + sl_base64_encoded_len(n);
        int hl = snprintf(head, sizeof head, "%zu:b4", units);
        if (sl_buf_append(out, head, (size_t)hl))
            return -ENOMEM;
        return sl_base64_encode_append(out, (const unsigned char *)data, n);
    }
    int hl = snprintf(head, sizeof head, "%zu:%c", utf16_units(data, n) + 1, '0' + type);
    if (sl_buf_append(out, head, (size_t)hl))
        return -ENOMEM;
    return sl_buf_append(out, data, n);
}
