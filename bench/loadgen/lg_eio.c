/* Loadgen L2-5: Engine.IO / Socket.IO client packets (see lg_eio.h). */
#define _GNU_SOURCE
#include "lg_eio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The Socket.IO packet inside an Engine.IO message:
 * <type>[<attachments>-][<nsp>,][<ack id>][<json>] */
static int lg_sio_parse(const char *p, size_t len, lg_pkt_t *pkt)
{
    static const lg_pkt_kind_t kinds[] = {
        LG_PKT_SIO_CONNECT, LG_PKT_SIO_DISCONNECT, LG_PKT_SIO_EVENT, LG_PKT_SIO_ACK,
        LG_PKT_SIO_CONNECT_ERROR, LG_PKT_SIO_BINARY_EVENT, LG_PKT_SIO_BINARY_ACK,
    };
    if (len == 0 || p[0] < '0' || p[0] > '6')
        return -EPROTO;
    pkt->kind = kinds[p[0] - '0'];
    size_t i = 1;
    if (pkt->kind == LG_PKT_SIO_BINARY_EVENT || pkt->kind == LG_PKT_SIO_BINARY_ACK) {
        size_t start = i;
        while (i < len && p[i] >= '0' && p[i] <= '9')
            i++;
        if (i == start || i >= len || p[i] != '-')
            return -EPROTO;
        i++;
    }
    if (i < len && p[i] == '/') {
        const char *comma = memchr(p + i, ',', len - i);
        size_t end = comma ? (size_t)(comma - p) : len;
        pkt->nsp = p + i;
        pkt->nsp_len = end - i;
        i = comma ? end + 1 : len;
    }
    if (i < len && p[i] >= '0' && p[i] <= '9') {
        int64_t id = 0;
        size_t digits = 0;
        while (i < len && p[i] >= '0' && p[i] <= '9') {
            if (++digits > 15)
                return -EPROTO;
            id = id * 10 + (p[i] - '0');
            i++;
        }
        pkt->ack_id = id;
    }
    pkt->data = p + i;
    pkt->data_len = len - i;
    return 0;
}

int lg_pkt_parse(const char *p, size_t len, lg_pkt_t *pkt)
{
    pkt->nsp = "/";
    pkt->nsp_len = 1;
    pkt->ack_id = -1;
    pkt->data = len ? p + 1 : p;
    pkt->data_len = len ? len - 1 : 0;
    if (len == 0)
        return -EPROTO;
    switch (p[0]) {
    case '0': pkt->kind = LG_PKT_OPEN; return 0;
    case '1': pkt->kind = LG_PKT_CLOSE; return 0;
    case '2': pkt->kind = LG_PKT_PING; return 0;
    case '3': pkt->kind = LG_PKT_PONG; return 0;
    case '4': return lg_sio_parse(p + 1, len - 1, pkt);
    case '5': pkt->kind = LG_PKT_UPGRADE; return 0;
    case '6': pkt->kind = LG_PKT_NOOP; return 0;
    default: return -EPROTO;
    }
}

int lg_pkt_nsp_is(const lg_pkt_t *pkt, const char *nsp)
{
    size_t n = strlen(nsp);
    return pkt->nsp_len == n && memcmp(pkt->nsp, nsp, n) == 0;
}

int lg_pkt_event_is(const lg_pkt_t *pkt, const char *name)
{
    size_t n = strlen(name);
    const char *d = pkt->data;
    if (pkt->data_len < n + 4 || d[0] != '[' || d[1] != '"')
        return 0;
    if (memcmp(d + 2, name, n) != 0 || d[2 + n] != '"')
        return 0;
    return d[3 + n] == ',' || d[3 + n] == ']';
}

/* Finds "key": in a flat JSON object and returns where its value starts. A
 * real JSON parser would be wasted on the one object a server sends per
 * session, whose keys are fixed by the protocol. */
static const char *lg_json_value(const char *json, size_t len, const char *key)
{
    char pat[40];
    int n = snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *end = json + len;
    const char *k = memmem(json, len, pat, (size_t)n);
    if (!k)
        return NULL;
    k += n;
    while (k < end && (*k == ' ' || *k == ':'))
        k++;
    return k < end ? k : NULL;
}

static uint32_t lg_json_uint(const char *v, const char *end)
{
    uint64_t x = 0;
    while (v && v < end && *v >= '0' && *v <= '9' && x < 0xffffffffu)
        x = x * 10 + (uint64_t)(*v++ - '0');
    return x > 0xffffffffu ? 0xffffffffu : (uint32_t)x;
}

int lg_open_parse(const char *json, size_t len, char *sid, size_t sid_cap,
                  uint32_t *ping_interval_ms, uint32_t *ping_timeout_ms)
{
    const char *end = json + len;
    const char *s = lg_json_value(json, len, "sid");
    if (!s || *s != '"')
        return -EPROTO;
    s++;
    const char *q = memchr(s, '"', (size_t)(end - s));
    if (!q || (size_t)(q - s) + 1 > sid_cap)
        return -EPROTO;
    memcpy(sid, s, (size_t)(q - s));
    sid[q - s] = '\0';
    const char *pi = lg_json_value(json, len, "pingInterval");
    if (!pi)
        return -EPROTO;
    *ping_interval_ms = lg_json_uint(pi, end);
    *ping_timeout_ms = lg_json_uint(lg_json_value(json, len, "pingTimeout"), end);
    return 0;
}

int lg_sio_connect_encode(char *out, size_t cap, const char *nsp)
{
    int n = strcmp(nsp, "/") == 0 ? snprintf(out, cap, "40") : snprintf(out, cap, "40%s,", nsp);
    return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
}

int lg_sio_event_encode(char *out, size_t cap, const char *nsp, int64_t ack_id,
                        const char *event, const char *args_json, size_t args_len)
{
    char id[24] = "";
    if (ack_id >= 0)
        snprintf(id, sizeof id, "%lld", (long long)ack_id);
    int root = strcmp(nsp, "/") == 0;
    int n = snprintf(out, cap, "42%s%s%s[\"%s\"%s", root ? "" : nsp, root ? "" : ",", id, event,
                     args_len ? "," : "");
    if (n < 0 || (size_t)n + args_len + 1 >= cap)
        return -ENOSPC;
    memcpy(out + n, args_json, args_len);
    n += (int)args_len;
    out[n++] = ']';
    out[n] = '\0';
    return n;
}
