/* L1 net/trust: which peers may tell us who the client is (Express's
 * `trust proxy` as a list). A request from a trusted proxy has its
 * client's address taken from X-Forwarded-For; from anyone else the header
 * is ignored, so a client can't choose the address the app and the logs
 * see. Knows addresses and one header, nothing of Engine.IO. */
#ifndef SL_TRUST_H
#define SL_TRUST_H

#include <stddef.h>

#define SL_TRUST_MAX 32

/* An IPv4 network is kept as its IPv4-mapped IPv6 form (::ffff:a.b.c.d,
 * prefix + 96), so one comparison serves both families and an IPv4 client
 * seen on a dual-stack socket (::ffff:10.0.0.1) matches 10.0.0.0/8. */
typedef struct sl_trust_net {
    unsigned char addr[16];
    int bits;
} sl_trust_net_t;

typedef struct sl_trust {
    int n;                    /* 0: nobody is trusted (the default) */
    sl_trust_net_t nets[SL_TRUST_MAX];
} sl_trust_t;

struct sl_http_req;

/* Parses a comma list of addresses, CIDR networks and the names loopback
 * (127.0.0.0/8, ::1), linklocal (169.254.0.0/16, fe80::/10) and
 * uniquelocal (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fc00::/7);
 * "" or "false" trusts nobody. 0, or -1 with the reason in why (t is then
 * unchanged). */
int sl_trust_parse(sl_trust_t *t, const char *spec, char *why, size_t whylen);

/* Whether the address text (IPv4, IPv6, IPv4-mapped) is in the list. */
int sl_trust_has(const sl_trust_t *t, const char *addr);

/* The client's address for req from peer: peer itself, or out (46 bytes
 * hold any) when a trusted hop named another:
 * walking X-Forwarded-For from its right end (every such header, last
 * first), each hop is believed only while the one that reported it is
 * trusted, as Express's proxy-addr does; the first untrusted address is the
 * client (all trusted: the leftmost). An entry that is not an address
 * stops the walk at the hop that sent it. t NULL or empty: peer. */
const char *sl_trust_client_address(const sl_trust_t *t, const char *peer, const struct sl_http_req *req,
                                    char *out, size_t cap);

#endif
