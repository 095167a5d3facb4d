/* L5a cluster/redis_url: the one reader of Redis URLs, shared by the adapter, the
 * emitter and sio.redis, so every place accepts the same forms:
 *
 *   redis://[[user]:password@]host[:port][/db][?query]   (IPv6 host in [])
 *   unix:/path/to.sock[?query]   (also unix:///path, or a bare /path)
 *   query: db=N, password=P, user=U (percent-encoded)
 *
 * rediss:// is refused with a reason: Debian's hiredis 0.14 has no TLS. */
#ifndef SL_REDIS_URL_H
#define SL_REDIS_URL_H

#include <stddef.h>

typedef struct sl_redis_url {
    int is_unix;
    char path[108];      /* unix socket path (sizeof sun_path) */
    char host[256];      /* "127.0.0.1" unless given */
    int port;            /* 6379 unless given */
    char user[128];      /* ACL user for AUTH (Redis 6+), "" for none */
    char password[256];
    int has_password;    /* an empty password is still sent */
    int db;
    /* What the endpoint is, for logs: "redis", or "local bus" for the
     * in-memory bus of `siolua run --workers N` (set by its user). */
    char label[16];
} sl_redis_url_t;

#define SL_REDIS_DB_MAX 1000000

/* Fills out; 0, or -1 with a one-line reason in err. */
int sl_redis_url_parse(const char *url, sl_redis_url_t *out, char *err, size_t errlen);
/* Same server, credentials and db. */
int sl_redis_url_equal(const sl_redis_url_t *a, const sl_redis_url_t *b);
/* The URL for log lines, never with the password. Returns buf. */
const char *sl_redis_url_text(const sl_redis_url_t *u, char *buf, size_t cap);

#endif
