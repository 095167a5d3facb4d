/* L5a cluster/sio_cluster: ClusterAdapter message envelope. See sio_cluster.h. */
#include "cluster/sio_cluster.h"

#include <string.h>
#include <msgpuck.h>

#include "sio/mpjson.h"

static int key_is(const char *k, uint32_t kl, const char *want)
{
    return kl == strlen(want) && !memcmp(k, want, kl);
}

/* A str value into out (NUL-terminated); -1 when not a str or too long. */
static int copy_str(const char **p, char *out, size_t cap)
{
    if (mp_typeof(**p) != MP_STR)
        return -1;
    uint32_t l;
    const char *s = mp_decode_str(p, &l);
    if (l >= cap)
        return -1;
    memcpy(out, s, l);
    out[l] = '\0';
    return 0;
}

static int read_data(const char **p, sio_cluster_msg_t *m)
{
    if (mp_typeof(**p) == MP_NIL) { /* JSON null: heartbeats have no data */
        mp_next(p);
        return 0;
    }
    if (mp_typeof(**p) != MP_MAP)
        return -1;
    uint32_t n = mp_decode_map(p);
    for (uint32_t i = 0; i < n; i++) {
        if (mp_typeof(**p) != MP_STR) {
            mp_next(p);
            mp_next(p);
            continue;
        }
        uint32_t kl;
        const char *k = mp_decode_str(p, &kl);
        if (key_is(k, kl, "requestId")) {
            /* Node's ids are strings; anything else is not ours to answer. */
            if (copy_str(p, m->request_id, sizeof m->request_id) != 0)
                return -1;
        } else if (key_is(k, kl, "opts")) {
            if (mp_typeof(**p) != MP_MAP)
                return -1;
            m->opts = *p;
            mp_next(p);
        } else if (key_is(k, kl, "rooms")) {
            if (mp_typeof(**p) != MP_ARRAY)
                return -1;
            m->rooms = *p;
            mp_next(p);
        } else if (key_is(k, kl, "packet")) {
            m->packet = *p;
            mp_next(p);
        } else if (key_is(k, kl, "sockets")) {
            if (mp_typeof(**p) != MP_ARRAY)
                return -1;
            m->sockets = *p;
            mp_next(p);
        } else if (key_is(k, kl, "clientCount")) {
            if (mp_typeof(**p) != MP_UINT)
                return -1;
            m->client_count = (long)mp_decode_uint(p);
        } else if (key_is(k, kl, "close")) {
            if (mp_typeof(**p) == MP_BOOL)
                m->close = mp_decode_bool(p);
            else
                mp_next(p);
        } else {
            mp_next(p);
        }
    }
    return 0;
}

int sio_cluster_decode(const char *msg, size_t len, sl_buf_t *scratch, sio_cluster_msg_t *out)
{
    memset(out, 0, sizeof *out);
    out->type = -1;
    out->client_count = -1;
    const char *p = msg, *end = msg + len;
    if (len && msg[0] == '{') {
        scratch->len = 0;
        if (sl_mpjson_from_json(scratch, msg, len, NULL, 0) != 0)
            return -1;
        p = scratch->data;
        end = scratch->data + scratch->len;
    }
    out->end = end;
    /* Validated whole first: msgpuck's readers below trust the bytes. */
    const char *check = p;
    if (!len || sl_mpjson_skip(&check, end) != 0 || mp_typeof(*p) != MP_MAP)
        return -1;
    uint32_t n = mp_decode_map(&p);
    int has_uid = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (mp_typeof(*p) != MP_STR) {
            mp_next(&p);
            mp_next(&p);
            continue;
        }
        uint32_t kl;
        const char *k = mp_decode_str(&p, &kl);
        if (key_is(k, kl, "type")) {
            if (mp_typeof(*p) != MP_UINT)
                return -1;
            uint64_t t = mp_decode_uint(&p);
            out->type = t > 255 ? 255 : (int)t;
        } else if (key_is(k, kl, "uid")) {
            if (copy_str(&p, out->uid, sizeof out->uid) != 0)
                return -1;
            has_uid = 1;
        } else if (key_is(k, kl, "nsp")) {
            if (copy_str(&p, out->nsp, sizeof out->nsp) != 0)
                return -1;
        } else if (key_is(k, kl, "data")) {
            if (read_data(&p, out) != 0)
                return -1;
        } else {
            mp_next(&p);
        }
    }
    return out->type >= 0 && has_uid ? 0 : -1;
}

int sio_cluster_is_response(int type)
{
    return type == SIO_CLUSTER_FETCH_SOCKETS_RESPONSE ||
           type == SIO_CLUSTER_SERVER_SIDE_EMIT_RESPONSE ||
           type == SIO_CLUSTER_BROADCAST_CLIENT_COUNT || type == SIO_CLUSTER_BROADCAST_ACK;
}

void sio_cluster_json_open(sl_buf_t *b, int type)
{
    sl_buf_appendf(b, "{\"type\":%d,\"data\":{", type);
}

void sio_cluster_field(sl_buf_t *b, const char *name)
{
    if (b->len && b->data[b->len - 1] != '{')
        sl_buf_append_byte(b, ',');
    sl_json_append_string(b, name, strlen(name));
    sl_buf_append_byte(b, ':');
}

void sio_cluster_json_close(sl_buf_t *b, const char *request_id, const char *uid, const char *nsp)
{
    if (request_id) {
        sio_cluster_field(b, "requestId");
        sl_json_append_string(b, request_id, strlen(request_id));
    }
    sl_buf_append_str(b, "},\"uid\":");
    sl_json_append_string(b, uid, strlen(uid));
    sl_buf_append_str(b, ",\"nsp\":");
    sl_json_append_string(b, nsp, strlen(nsp));
    sl_buf_append_byte(b, '}');
}
