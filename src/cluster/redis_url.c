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

/* "?db=N&password=P&user=U" */
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
        if (kl == 2 && !memcmp(q, "db", 2)) {
            long db = parse_num(v, vl, 0, SL_REDIS_DB_MAX);
            if (db < 0) {
                snprintf(err, errlen, "bad database number '%.*s'", (int)vl, v);
                return -1;
            }
            c->db = (int)db;
        } else if (kl == 8 && !memcmp(q, "password", 8)) {
            if (pct_decode(v, vl, c->password, sizeof c->password) < 0) {
                snprintf(err, errlen, "bad password in the URL");
                return -1;
            }
            c->has_password = 1;
        } else if (kl == 4 && !memcmp(q, "user", 4)) {
            if (pct_decode(v, vl, c->user, sizeof c->user) < 0) {
                snprintf(err, errlen, "bad user name in the URL");
                return -1;
            }
        } else {
            snprintf(err, errlen, "unknown URL parameter '%.*s' (db, password, user)", (int)kl, q);
            return -1;
        }
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

int sl_redis_url_parse(const char *url, sl_redis_url_t *c, char *err, size_t errlen)
{
    char shown[512];
    url_masked(url, shown, sizeof shown);
    memset(c, 0, sizeof *c);
    strcpy(c->label, "redis");
    snprintf(c->host, sizeof c->host, "127.0.0.1");
    c->port = 6379;
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
    } else if (!strncmp(url, "redis://", 8)) {
        const char *s = url + 8;
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
        const char *hend, *portp = NULL;
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
        if (hl >= sizeof c->host) {
            snprintf(err, errlen, "host name too long");
            return -1;
        }
        if (hl) {
            memcpy(c->host, s, hl);
            c->host[hl] = '\0';
        }
        if (portp) {
            long port = parse_num(portp, (size_t)(end - portp), 1, 65535);
            if (port < 0) {
                snprintf(err, errlen, "'%s': bad port", shown);
                return -1;
            }
            c->port = (int)port;
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
    } else if (!strncmp(url, "rediss://", 9)) {
        snprintf(err, errlen, "rediss:// is not supported (hiredis 0.14 has no TLS): use a TLS tunnel");
        return -1;
    } else {
        snprintf(err, errlen, "'%s': use redis://[[user]:password@]host[:port][/db] or unix:/path/to.sock",
                 shown);
        return -1;
    }
    if (query && parse_query(query, c, err, errlen) < 0)
        return -1;
    return 0;
}

const char *sl_redis_url_text(const sl_redis_url_t *u, char *buf, size_t cap)
{
    char db[24] = "";
    if (u->db)
        snprintf(db, sizeof db, u->is_unix ? "?db=%d" : "/%d", u->db);
    if (u->is_unix) {
        snprintf(buf, cap, "unix:%s%s", u->path, db);
    } else {
        int v6 = strchr(u->host, ':') != NULL;
        snprintf(buf, cap, "redis://%s%s%s%s%s:%d%s", u->user, u->user[0] ? "@" : "", v6 ? "[" : "",
                 u->host, v6 ? "]" : "", u->port, db);
    }
    return buf;
}

int sl_redis_url_equal(const sl_redis_url_t *a, const sl_redis_url_t *b)
{
    return a->is_unix == b->is_unix && !strcmp(a->path, b->path) && !strcmp(a->host, b->host) &&
           a->port == b->port && !strcmp(a->user, b->user) && !strcmp(a->password, b->password) &&
           a->has_password == b->has_password && a->db == b->db;
}
