/* L1 net/trust: trusted proxies and X-Forwarded-For. See trust.h. */
#include "net/trust.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "net/http.h"

/* text (IPv4 or IPv6, no brackets) -> 16 bytes, IPv4 mapped. 1 if v4. */
static int addr_parse(const char *s, size_t n, unsigned char out[16], int *is_v4)
{
    char tmp[64];
    if (n == 0 || n >= sizeof tmp)
        return -1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    unsigned char v4[4];
    if (inet_pton(AF_INET, tmp, v4) == 1) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, v4, 4);
        *is_v4 = 1;
        return 0;
    }
    *is_v4 = 0;
    return inet_pton(AF_INET6, tmp, out) == 1 ? 0 : -1;
}

static int net_has(const sl_trust_net_t *net, const unsigned char a[16])
{
    int full = net->bits / 8, rest = net->bits % 8;
    if (memcmp(net->addr, a, (size_t)full) != 0)
        return 0;
    if (!rest)
        return 1;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (net->addr[full] & mask) == (a[full] & mask);
}

static int has_bytes(const sl_trust_t *t, const unsigned char a[16])
{
    for (int i = 0; t && i < t->n; i++)
        if (net_has(&t->nets[i], a))
            return 1;
    return 0;
}

int sl_trust_has(const sl_trust_t *t, const char *addr)
{
    unsigned char a[16];
    int v4;
    return addr_parse(addr, strlen(addr), a, &v4) == 0 && has_bytes(t, a);
}

static const struct {
    const char *name;
    const char *nets;
} named[] = {
    {"loopback", "127.0.0.0/8,::1/128"},
    {"linklocal", "169.254.0.0/16,fe80::/10"},
    {"uniquelocal", "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"},
};

static int add_item(sl_trust_t *t, const char *s, size_t n, char *why, size_t whylen)
{
    for (size_t i = 0; i < sizeof named / sizeof *named; i++) {
        if (strlen(named[i].name) == n && !strncasecmp(s, named[i].name, n)) {
            const char *p = named[i].nets;
            while (*p) {
                size_t k = strcspn(p, ",");
                if (add_item(t, p, k, why, whylen))
                    return -1;
                p += k + (p[k] == ',');
            }
            return 0;
        }
    }
    const char *slash = memchr(s, '/', n);
    size_t alen = slash ? (size_t)(slash - s) : n;
    sl_trust_net_t net;
    int v4;
    if (addr_parse(s, alen, net.addr, &v4) != 0) {
        snprintf(why, whylen, "'%.*s' is not an address, a network (10.0.0.0/8) or loopback, linklocal, "
                 "uniquelocal", (int)n, s);
        return -1;
    }
    int max = v4 ? 32 : 128;
    net.bits = max;
    if (slash) {
        char *end;
        char num[8];
        size_t bl = n - alen - 1;
        if (bl == 0 || bl >= sizeof num) {
            snprintf(why, whylen, "'%.*s': bad prefix length", (int)n, s);
            return -1;
        }
        memcpy(num, slash + 1, bl);
        num[bl] = '\0';
        long b = strtol(num, &end, 10);
        if (*end || b < 0 || b > max) {
            snprintf(why, whylen, "'%.*s': the prefix length must be 0 to %d", (int)n, s, max);
            return -1;
        }
        net.bits = (int)b;
    }
    if (v4)
        net.bits += 96;
    if (t->n == SL_TRUST_MAX) {
        snprintf(why, whylen, "more than %d networks", SL_TRUST_MAX);
        return -1;
    }
    t->nets[t->n++] = net;
    return 0;
}

int sl_trust_parse(sl_trust_t *t, const char *spec, char *why, size_t whylen)
{
    sl_trust_t nt;
    memset(&nt, 0, sizeof nt); /* whole, so equal lists compare equal */
    if (!strcmp(spec, "false")) {
        *t = nt;
        return 0;
    }
    const char *p = spec;
    while (*p) {
        size_t k = strcspn(p, ",");
        const char *s = p;
        size_t n = k;
        while (n && (*s == ' ' || *s == '\t'))
            s++, n--;
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            n--;
        if (n && add_item(&nt, s, n, why, whylen))
            return -1;
        p += k + (p[k] == ',');
    }
    *t = nt;
    return 0;
}

/* One X-Forwarded-For entry: "1.2.3.4", "2001:db8::1", "[2001:db8::1]:443"
 * or "1.2.3.4:5678"; surrounding spaces allowed. */
static int entry_parse(const char *s, size_t n, unsigned char out[16], char *text, size_t cap)
{
    while (n && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n && s[0] == '[') {
        const char *rb = memchr(s, ']', n);
        if (!rb)
            return -1;
        s++;
        n = (size_t)(rb - s);
    } else {
        const char *c1 = memchr(s, ':', n);
        if (c1 && !memchr(c1 + 1, ':', n - (size_t)(c1 + 1 - s)))
            n = (size_t)(c1 - s); /* IPv4 with a port */
    }
    int v4;
    if (addr_parse(s, n, out, &v4))
        return -1;
    /* Written back in its canonical form: what the app and the logs see. */
    if (v4)
        inet_ntop(AF_INET, out + 12, text, (socklen_t)cap);
    else
        inet_ntop(AF_INET6, out, text, (socklen_t)cap);
    return 0;
}

const char *sl_trust_client_address(const sl_trust_t *t, const char *peer, const struct sl_http_req *req,
                                    char *out, size_t cap)
{
    unsigned char hop[16];
    int v4;
    /* Most servers trust no proxy: the peer itself, not a copy (every
     * request asks). */
    if (!t || !t->n || addr_parse(peer, strlen(peer), hop, &v4) || !has_bytes(t, hop))
        return peer;
    snprintf(out, cap, "%s", peer);
    /* The last header's last entry was written by the nearest proxy. */
    for (int i = req->nheaders - 1; i >= 0; i--) {
        if (strcasecmp(req->headers[i].name, "x-forwarded-for") != 0)
            continue;
        const char *v = req->headers[i].value;
        size_t end = strlen(v);
        for (;;) {
            size_t start = end;
            while (start > 0 && v[start - 1] != ',')
                start--;
            char text[64];
            if (entry_parse(v + start, end - start, hop, text, sizeof text) != 0)
                return out; /* garbage from a trusted hop: that hop is what we know */
            snprintf(out, cap, "%s", text);
            if (!has_bytes(t, hop))
                return out;
            if (start == 0)
                break;
            end = start - 1;
        }
    }
    return out;
}
