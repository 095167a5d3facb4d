/* L5a cluster/redis_url: the one reader of Redis URLs, shared by the adapter, the
 * emitter, `siolua emit` and sio.redis, so every place accepts the same forms:
 *
 *   redis://[[user]:password@]host[:port][,host[:port]]...[/db][?query]
 *   rediss://...                  the same over TLS (net/tls)
 *   unix:/path/to.sock[?query]    (also unix:///path, or a bare /path)
 *   query: db=N, password=P, user=U (percent-encoded), cluster=true|false,
 *          ca=FILE, cert=FILE, key=FILE (rediss:// only)
 *
 * Hosts: a name, an IPv4 address or an IPv6 one in [] ([::1]:7000); ports
 * default to 6379. Several hosts are the seeds of a Redis Cluster (so is one
 * with cluster=true), which has database 0 only. Knows nothing of sockets. */
#ifndef SL_REDIS_URL_H
#define SL_REDIS_URL_H

#include <stddef.h>

#define SL_REDIS_DB_MAX 1000000
#define SL_REDIS_SEEDS_MAX 16

typedef struct sl_redis_addr {
    char host[256];      /* without the [] of an IPv6 address */
    int port;
} sl_redis_addr_t;

typedef struct sl_redis_url {
    int is_unix;
    char path[108];      /* unix socket path (sizeof sun_path) */
    sl_redis_addr_t seeds[SL_REDIS_SEEDS_MAX]; /* TCP: 127.0.0.1:6379 unless given */
    int nseeds;
    char user[128];      /* ACL user for AUTH (Redis 6+), "" for none */
    char password[256];
    int has_password;    /* an empty password is still sent */
    int db;
    int cluster;         /* a Redis Cluster: several seeds, or cluster=true */
    int cluster_given;   /* cluster= said so (true or false) */
    int tls;             /* rediss:// */
    char ca_file[256];   /* ca=: trusted besides the system's CAs */
    char cert_file[256]; /* cert= and key=: a client certificate (mutual TLS) */
    char key_file[256];
    /* What the endpoint is, for logs: "redis", or "local bus" for the
     * in-memory bus of `siolua run --workers N` (set by its user). */
    char label[16];
} sl_redis_url_t;

/* Fills out; 0, or -1 with a one-line reason in err. */
int sl_redis_url_parse(const char *url, sl_redis_url_t *out, char *err, size_t errlen);

/* What the redisCluster option says: */
enum { SL_REDIS_CLUSTER_AUTO = 0, SL_REDIS_CLUSTER_ON, SL_REDIS_CLUSTER_OFF };
/* Applies it to a parsed URL: ON makes one seed a cluster, OFF refuses
 * several; AUTO keeps what the URL says. 0, or -1 with the reason. */
int sl_redis_url_set_cluster(sl_redis_url_t *u, int mode, char *err, size_t errlen);

/* Same servers, credentials, db and TLS settings. */
int sl_redis_url_equal(const sl_redis_url_t *a, const sl_redis_url_t *b);
/* The URL for log lines, never with the password. Returns buf. */
const char *sl_redis_url_text(const sl_redis_url_t *u, char *buf, size_t cap);
/* "host:port" ("[::1]:7000" for IPv6), for log lines. Returns buf. */
const char *sl_redis_addr_text(const char *host, int port, char *buf, size_t cap);

#endif
