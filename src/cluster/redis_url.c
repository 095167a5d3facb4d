/* L5a cluster/redis_url: Redis URLs. See redis_url.h. */
#include "cluster/redis_url.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>


static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = tolower(ch);
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* Percent-decodes n bytes into out (NUL-terminated); -1 if bad or too long. */
static int pct_decode(const char *s, size_t n, char *out, size_t outsz)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int ch = (unsigned char)s[i];
        if (ch == '%') {
            if (i + 2 >= n)
                return -1;
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            ch = hi * 16 + lo;
            i += 2;
        }
        if (ch == 0 || o + 1 >= outsz)
            return -1;
        out[o++] = (char)ch;
    }
    out[o] = '\0';
    return 0;
}

/* A decimal number in [lo, hi] from exactly n bytes; -1 if not. */
static long parse_num(const char *s, size_t n, long lo, long hi)
{
    if (n == 0 || n > 9)
        return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v < lo || v > hi ? -1 : v;
}

/* A file name given in the query (ca=, cert=, key=). */
static int query_file(const char *v, size_t vl, char *out, size_t cap, const char *what, char *err,
                      size_t errlen)
{
    if (vl == 0 || pct_decode(v, vl, out, cap) < 0) {
        snprintf(err, errlen, "bad %s file name in the URL", what);
        return -1;
    }
    return 0;
}

/* "?db=N&password=P&user=U&cluster=B&ca=F&cert=F&key=F" */
static int parse_query(const char *q, sl_redis_url_t *c, char *err, size_t errlen)
{
    while (*q) {
        size_t n = strcspn(q, "&");
        const char *eq = memchr(q, '=', n);
        if (!eq) {
            snprintf(err, errlen, "bad URL query '%.*s'", (int)n, q);
            return -1;
        }
        size_t kl = (size_t)(eq - q), vl = n - kl - 1;
        const char *v = eq + 1;
#define KEY_IS(k) (kl == sizeof(k) - 1 && !memcmp(q, k, kl))
        if (KEY_IS("db")) {
            long db = parse_num(v, vl, 0, SL_REDIS_DB_MAX);
            if (db < 0) {
                snprintf(err, errlen, "bad database number '%.*s'", (int)vl, v);
                return -1;
            }
            c->db = (int)db;
        } else if (KEY_IS("password")) {
            if (pct_decode(v, vl, c->password, sizeof c->password) < 0) {
                snprintf(err, errlen, "bad password in the URL");
                return -1;
            }
            c->has_password = 1;
        } else if (KEY_IS("user")) {
            if (pct_decode(v, vl, c->user, sizeof c->user) < 0) {
                snprintf(err, errlen, "bad user name in the URL");
                return -1;
            }
        } else if (KEY_IS("cluster")) {
            if ((vl == 4 && !memcmp(v, "true", 4)) || (vl == 1 && v[0] == '1'))
                c->cluster = 1;
            else if ((vl == 5 && !memcmp(v, "false", 5)) || (vl == 1 && v[0] == '0'))
                c->cluster = 0;
            else {
                snprintf(err, errlen, "bad cluster= value '%.*s' (true or false)", (int)vl, v);
                return -1;
            }
            c->cluster_given = 1;
        } else if (KEY_IS("ca")) {
            if (query_file(v, vl, c->ca_file, sizeof c->ca_file, "CA", err, errlen))
                return -1;
        } else if (KEY_IS("cert")) {
            if (query_file(v, vl, c->cert_file, sizeof c->cert_file, "certificate", err, errlen))
                return -1;
        } else if (KEY_IS("key")) {
            if (query_file(v, vl, c->key_file, sizeof c->key_file, "key", err, errlen))
                return -1;
        } else {
            snprintf(err, errlen, "unknown URL parameter '%.*s' (db, password, user, cluster, ca, cert, key)",
                     (int)kl, q);
            return -1;
        }
#undef KEY_IS
        q += n;
        if (*q == '&')
            q++;
    }
    return 0;
}

/* The URL as given, for an error message: a password in it (user:PASS@
 * or password=PASS) is shown as "***", since these messages reach logs
 * and terminals. */
static void url_masked(const char *url, char *out, size_t cap)
{
    size_t o = 0;
    const char *auth = strstr(url, "://");
    auth = auth ? auth + 3 : NULL;
    const char *at = NULL, *colon = NULL;
    if (auth) {
        const char *aend = auth + strcspn(auth, "/?");
        for (const char *x = auth; x < aend; x++)
            if (*x == '@')
                at = x;
        colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    }
    const char *query = strchr(url, '?');
    for (const char *x = url; *x && o + 13 < cap;) {
        if (colon && x == colon + 1) { /* user:PASS@ */
            memcpy(out + o, "***", 3);
            o += 3;
            x = at;
        } else if (query && x > query && (x[-1] == '?' || x[-1] == '&') && !strncmp(x, "password=", 9)) {
            memcpy(out + o, "password=***", 12);
            o += 12;
            x += strcspn(x, "&");
        } else {
            out[o++] = *x++;
        }
    }
    out[o] = '\0';
}

/* One "host[:port]" or "[v6]:port" of the host list, s..end. */
static int parse_host(const char *s, const char *end, sl_redis_addr_t *a, const char *shown, char *err,
                      size_t errlen)
{
    const char *hend, *portp = NULL;
    snprintf(a->host, sizeof a->host, "127.0.0.1");
    a->port = 6379;
    if (*s == '[') {
        const char *rb = memchr(s, ']', (size_t)(end - s));
        if (!rb) {
            snprintf(err, errlen, "'%s': unclosed '[' in the host", shown);
            return -1;
        }
        hend = rb;
        s++;
        if (rb + 1 < end) {
            if (rb[1] != ':') {
                snprintf(err, errlen, "'%s': bad host", shown);
                return -1;
            }
            portp = rb + 2;
        }
    } else {
        hend = memchr(s, ':', (size_t)(end - s));
        if (hend)
            portp = hend + 1;
        else
            hend = end;
    }
    size_t hl = (size_t)(hend - s);
    if (hl >= sizeof a->host) {
        snprintf(err, errlen, "host name too long");
        return -1;
    }
    if (hl) {
        memcpy(a->host, s, hl);
        a->host[hl] = '\0';
    }
    if (portp) {
        long port = parse_num(portp, (size_t)(end - portp), 1, 65535);
        if (port < 0) {
            snprintf(err, errlen, "'%s': bad port", shown);
            return -1;
        }
        a->port = (int)port;
    }
    return 0;
}

/* The checks that need the whole URL: cluster mode and TLS files. */
static int url_finish(sl_redis_url_t *c, const char *shown, char *err, size_t errlen)
{
    if (c->nseeds > 1) {
        if (c->cluster_given && !c->cluster) {
            snprintf(err, errlen, "'%s': several hosts are the seeds of a Redis Cluster (drop cluster=false)",
                     shown);
            return -1;
        }
        c->cluster = 1;
    }
    if (c->cluster && c->is_unix) {
        snprintf(err, errlen, "'%s': a Redis Cluster is reached over TCP (redis://host:port,...)", shown);
        return -1;
    }
    if (c->cluster && c->db) {
        snprintf(err, errlen, "'%s': a Redis Cluster has database 0 only (drop the /%d)", shown, c->db);
        return -1;
    }
    if (!c->tls && (c->ca_file[0] || c->cert_file[0] || c->key_file[0])) {
        snprintf(err, errlen, "'%s': ca=, cert= and key= need rediss://", shown);
        return -1;
    }
    if (!c->cert_file[0] != !c->key_file[0]) {
        snprintf(err, errlen, "'%s': a client certificate needs both cert= and key=", shown);
        return -1;
    }
    return 0;
}

int sl_redis_url_parse(const char *url, sl_redis_url_t *c, char *err, size_t errlen)
{
    char shown[512];
    url_masked(url, shown, sizeof shown);
    memset(c, 0, sizeof *c);
    strcpy(c->label, "redis");
    const char *query = NULL;
    if (!strncmp(url, "unix:", 5) || url[0] == '/') {
        const char *s = url[0] == '/' ? url : url + 5;
        if (!strncmp(s, "//", 2))
            s += 2;
        size_t n = strcspn(s, "?");
        if (n == 0) {
            snprintf(err, errlen, "'%s': no socket path", shown);
            return -1;
        }
        if (n >= sizeof c->path) {
            snprintf(err, errlen, "socket path too long (%zu bytes, at most %zu)", n, sizeof c->path - 1);
            return -1;
        }
        memcpy(c->path, s, n);
        c->path[n] = '\0';
        c->is_unix = 1;
        if (s[n] == '?')
            query = s + n + 1;
    } else if (!strncmp(url, "redis://", 8) || !strncmp(url, "rediss://", 9)) {
        c->tls = url[5] == 's';
        const char *s = url + (c->tls ? 9 : 8);
        const char *end = s + strcspn(s, "/?");
        const char *at = NULL;
        for (const char *x = s; x < end; x++)
            if (*x == '@')
                at = x;
        if (at) {
            const char *colon = memchr(s, ':', (size_t)(at - s));
            const char *uend = colon ? colon : at;
            if (pct_decode(s, (size_t)(uend - s), c->user, sizeof c->user) < 0) {
                snprintf(err, errlen, "bad user name in the URL");
                return -1;
            }
            if (colon) {
                if (pct_decode(colon + 1, (size_t)(at - colon - 1), c->password, sizeof c->password) < 0) {
                    snprintf(err, errlen, "bad password in the URL");
                    return -1;
                }
                c->has_password = 1;
            }
            s = at + 1;
        }
        /* host[:port], host[:port], ... */
        for (;;) {
            const char *comma = memchr(s, ',', (size_t)(end - s));
            const char *hend = comma ? comma : end;
            if (c->nseeds == SL_REDIS_SEEDS_MAX) {
                snprintf(err, errlen, "'%s': more than %d hosts", shown, SL_REDIS_SEEDS_MAX);
                return -1;
            }
            if (comma && hend == s) {
                snprintf(err, errlen, "'%s': an empty host in the list", shown);
                return -1;
            }
            if (parse_host(s, hend, &c->seeds[c->nseeds++], shown, err, errlen))
                return -1;
            if (!comma)
                break;
            s = comma + 1;
        }
        if (*end == '/') {
            const char *d = end + 1;
            size_t dl = strcspn(d, "?");
            if (dl) {
                long db = parse_num(d, dl, 0, SL_REDIS_DB_MAX);
                if (db < 0) {
                    snprintf(err, errlen, "'%s': bad database number", shown);
                    return -1;
                }
                c->db = (int)db;
            }
            end = d + dl;
        }
        if (*end == '?')
            query = end + 1;
    } else {
        snprintf(err, errlen,
                 "'%s': use redis://[[user]:password@]host[:port][,host[:port]...][/db], rediss://... or "
                 "unix:/path/to.sock",
                 shown);
        return -1;
    }
    if (query && parse_query(query, c, err, errlen) < 0)
        return -1;
    return url_finish(c, shown, err, errlen);
}

int sl_redis_url_set_cluster(sl_redis_url_t *u, int mode, char *err, size_t errlen)
{
    char shown[512];
    if (mode == SL_REDIS_CLUSTER_AUTO)
        return 0;
    sl_redis_url_text(u, shown, sizeof shown);
    if (mode == SL_REDIS_CLUSTER_OFF && u->nseeds > 1) {
        snprintf(err, errlen, "redisCluster=false, but %s names several hosts (the seeds of a cluster)", shown);
        return -1;
    }
    sl_redis_url_t t = *u;
    t.cluster = mode == SL_REDIS_CLUSTER_ON;
    t.cluster_given = 1;
    if (url_finish(&t, shown, err, errlen))
        return -1;
    *u = t;
    return 0;
}

const char *sl_redis_addr_text(const char *host, int port, char *buf, size_t cap)
{
    int v6 = strchr(host, ':') != NULL;
    snprintf(buf, cap, "%s%s%s:%d", v6 ? "[" : "", host, v6 ? "]" : "", port);
    return buf;
}

const char *sl_redis_url_text(const sl_redis_url_t *u, char *buf, size_t cap)
{
    char db[24] = "";
    if (u->db)
        snprintf(db, sizeof db, u->is_unix ? "?db=%d" : "/%d", u->db);
    if (u->is_unix) {
        snprintf(buf, cap, "unix:%s%s", u->path, db);
        return buf;
    }
    size_t o = (size_t)snprintf(buf, cap, "%s://%s%s", u->tls ? "rediss" : "redis", u->user, u->user[0] ? "@" : "");
    for (int i = 0; i < u->nseeds && o < cap; i++) {
        char a[300];
        o += (size_t)snprintf(buf + o, cap - o, "%s%s", i ? "," : "",
                              sl_redis_addr_text(u->seeds[i].host, u->seeds[i].port, a, sizeof a));
    }
    if (o < cap)
        o += (size_t)snprintf(buf + o, cap - o, "%s", db);
    /* One seed in cluster mode: say so, or the line reads as one Redis. */
    if (o < cap && u->cluster && u->nseeds == 1)
        snprintf(buf + o, cap - o, "?cluster=true");
    return buf;
}

int sl_redis_url_equal(const sl_redis_url_t *a, const sl_redis_url_t *b)
{
    if (a->is_unix != b->is_unix || strcmp(a->path, b->path) || a->nseeds != b->nseeds)
        return 0;
    for (int i = 0; i < a->nseeds; i++)
        if (strcmp(a->seeds[i].host, b->seeds[i].host) || a->seeds[i].port != b->seeds[i].port)
            return 0;
    return !strcmp(a->user, b->user) && !strcmp(a->password, b->password) && a->has_password == b->has_password &&
           a->db == b->db && a->cluster == b->cluster && a->tls == b->tls && !strcmp(a->ca_file, b->ca_file) &&
           !strcmp(a->cert_file, b->cert_file) && !strcmp(a->key_file, b->key_file);
}
