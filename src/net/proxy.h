/* L1 net/proxy: hands one HTTP request, as it came, to another server of the
 * cluster and relays the answer byte for byte: a long-poll, a POST, or a
 * WebSocket upgrade (then both directions are piped until either side
 * closes). The client's connection is taken from HTTP and closed after.
 * This is what lets a cluster run without sticky sessions: a request for a
 * session another instance owns goes there. Knows TCP and HTTP framing
 * only. */
#ifndef SL_PROXY_H
#define SL_PROXY_H

#include <uv.h>
#include "net/http.h"

/* Takes req (answered or relayed; do not touch it afterwards). host is an
 * IPv4/IPv6 literal. A connect failure answers 502. Returns 0, or -1 when
 * req was answered with an error at once. */
int sl_proxy_request(uv_loop_t *loop, sl_http_req_t *req, const char *host, int port);

/* The header a relayed request carries, so the owner never relays it on. */
#define SL_PROXY_HEADER "X-Siolua-Relayed"

#endif
