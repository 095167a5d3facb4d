/* L1 net/http_client: an HTTP/1.1 client on the server's libuv loop, for the
 * app's outbound calls (webhooks, token introspection, other services). Name
 * lookup through libuv, TCP, TLS (net/tls) for https://, llhttp reading the
 * responses; a keep-alive pool per origin with a cap, chunked and
 * content-length bodies (and bodies that end with the connection), gzip and
 * deflate bodies decoded, redirects, timeouts for the connection, the
 * response head and the whole exchange, and a body limit. Never blocks.
 * Knows nothing of Lua, Engine.IO or the server's own connections.
 *
 *   sl_httpc_t ---origins---> origin (scheme, host, port, trust)
 *       |                       |--conns--> hconn <-> hconn   (idle ones on a stack)
 *       |                       `--queue--> req -> req         (waiting for a slot)
 *       `---reqs---> req <-> req   every live request (for sl_httpc_close)
 *   req --conn--> hconn (while connecting for it or exchanging on it)
 *
 * A request is queued on its origin; it takes an idle connection (most
 * recently used first), or opens one while the origin holds fewer than
 * max_per_host, or waits for one to come free. A connection opened for a
 * request serves that request first; when a request goes away while its
 * connection is still opening or mid-exchange, that connection is closed
 * (its state is unknown). Idle connections live idle_ms (or less, when the
 * server's `Keep-Alive: timeout=N` says so), checked once a second.
 *
 * A reused connection the server closed in the meantime (the race every
 * keep-alive client has) is noticed when the request's answer never starts:
 * a request with an idempotent method (GET, HEAD, OPTIONS, PUT, DELETE,
 * TRACE) is then sent again once on a new connection (RFC 9112 9.3.1).
 *
 * Errors are one line naming the host, with the words people search for:
 * "DNS lookup for nope.invalid failed: unknown node or service", "cannot
 * connect to 127.0.0.1:1: connection refused", "connect timeout: ...",
 * "timeout: no response headers from ...", "timeout: ... not complete
 * within 30000 ms", "certificate verify failed: self-signed certificate
 * (https://localhost:8443/)", "response body too large: more than 16777216
 * bytes", "too many redirects (more than 5)".
 */
#ifndef SL_HTTP_CLIENT_H
#define SL_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct sl_httpc sl_httpc_t;
typedef struct sl_httpc_req sl_httpc_req_t;

/* Error codes given to the done callback (with a message). */
enum {
    SL_HTTPC_EINVAL = -1,    /* a bad URL, method, header or option */
    SL_HTTPC_EDNS = -2,      /* the name did not resolve */
    SL_HTTPC_ECONNECT = -3,  /* refused, unreachable, reset while connecting */
    SL_HTTPC_ETLS = -4,      /* handshake or verification failed, TLS error */
    SL_HTTPC_ETIMEDOUT = -5, /* one of the three timeouts */
    SL_HTTPC_ETOOBIG = -6,   /* response head or body over its limit */
    SL_HTTPC_EPROTO = -7,    /* not HTTP, a bad body encoding, a bad redirect */
    SL_HTTPC_ECLOSED = -8,   /* the connection ended before the response did */
    SL_HTTPC_EREDIRECT = -9, /* too many redirects, or https -> http */
    SL_HTTPC_ECANCELED = -10,/* sl_httpc_close */
    SL_HTTPC_ENOMEM = -11,
};

#define SL_HTTPC_DEFAULT_TIMEOUT_MS 30000u
#define SL_HTTPC_DEFAULT_CONNECT_TIMEOUT_MS 10000u
#define SL_HTTPC_DEFAULT_MAX_BODY ((size_t)16 << 20)
#define SL_HTTPC_DEFAULT_MAX_REDIRECTS 5
#define SL_HTTPC_DEFAULT_PER_HOST 16u
#define SL_HTTPC_DEFAULT_IDLE_MS 4000u
#define SL_HTTPC_MAX_URL 8192

typedef struct sl_httpc_opts {
    unsigned max_per_host; /* connections per origin, 0: SL_HTTPC_DEFAULT_PER_HOST */
    unsigned idle_ms;      /* idle keep-alive connections kept, 0: default */
    const char *user_agent;/* sent unless the request sets one; NULL: "siolua" */
} sl_httpc_opts_t;

typedef struct sl_httpc_header {
    const char *name;
    const char *value;
} sl_httpc_header_t;

typedef struct sl_httpc_request {
    const char *method;    /* a token, upper case by convention; NULL: GET */
    const char *url;       /* http:// or https:// */
    const sl_httpc_header_t *headers; /* copied; a name may repeat */
    size_t nheaders;
    const void *body;      /* copied; NULL: none */
    size_t body_len;
    unsigned timeout_ms;   /* the whole exchange, redirects included; 0: default */
    unsigned connect_timeout_ms; /* lookup + connect + TLS handshake; 0: default */
    unsigned headers_timeout_ms; /* request sent -> response head; 0: no own limit */
    size_t max_body;       /* decoded body bytes; 0: default */
    int max_redirects;     /* followed at most; < 0: default (5) */
    int manual_redirect;   /* 1: a 3xx answer is the response */
    const char *ca_file;   /* extra trusted CAs (PEM) for this request; NULL:
                              the client's (sl_httpc_set_ca_file) */
} sl_httpc_request_t;

typedef struct sl_httpc_response {
    int status;
    const char *reason;    /* "OK" */
    const char *url;       /* the URL that answered (after redirects) */
    int redirects;         /* redirects followed */
    const sl_httpc_header_t *headers; /* in order; names lower case, values trimmed */
    size_t nheaders;
    const char *body;      /* decoded; not NUL-terminated */
    size_t body_len;
} sl_httpc_response_t;

/* Called once per request, never inside sl_httpc_request: with res (code
 * 0, err NULL) or with a negative code and err. res and err live during the
 * call only; r is gone once it returns. The callback may start requests
 * (and close the client). */
typedef void (*sl_httpc_done_cb)(sl_httpc_req_t *r, int code, const sl_httpc_response_t *res,
                                 const char *err, void *ud);

/* NULL when memory is short. o may be NULL. */
sl_httpc_t *sl_httpc_new(uv_loop_t *loop, const sl_httpc_opts_t *o);

/* Extra CAs trusted by every https request without its own ca_file, besides
 * the system store (NULL: none). The file is read now: -1 with err set when
 * it can't be ("cannot read CA file /x.pem: No such file or directory"), and
 * the previous setting stays. Connections already open keep their trust. */
int sl_httpc_set_ca_file(sl_httpc_t *c, const char *ca_file, char *err, size_t errlen);

/* Starts a request. 0 and *out (for sl_httpc_cancel; may be NULL), or a
 * negative code with err set and no callback to come: SL_HTTPC_EINVAL for a
 * bad URL, method, header or CA file, SL_HTTPC_ECANCELED once the client is
 * closed, SL_HTTPC_ENOMEM. The client manages Host (unless given),
 * Content-Length, Connection, User-Agent, Accept and Accept-Encoding
 * (unless given); Transfer-Encoding, Connection (other than "close"),
 * Keep-Alive, Upgrade, TE, Trailer, Expect and Content-Length are refused. */
int sl_httpc_request(sl_httpc_t *c, const sl_httpc_request_t *rq, sl_httpc_done_cb cb, void *ud,
                     sl_httpc_req_t **out, char *err, size_t errlen);

/* The checks sl_httpc_request makes of rq's method and headers (not of its
 * URL), for callers that treat a bad header as misuse rather than as a
 * failed request: 0, or -1 with err set ("bad header name 'a b'", "bad
 * value for header 'x' (line breaks are not allowed)", "header
 * 'Transfer-Encoding' is managed by the HTTP client", "bad method 'G T'"). */
int sl_httpc_check(const sl_httpc_request_t *rq, char *err, size_t errlen);

/* Ends a request with no callback (its owner is going away). Must not be
 * called once its callback has run. */
void sl_httpc_cancel(sl_httpc_req_t *r);

/* Every pending request's callback runs now with SL_HTTPC_ECANCELED and
 * reason (NULL: "cancelled: the HTTP client is closing"); connections close;
 * later requests are refused. The memory goes once the last handle has
 * closed (a loop run). Idempotent; NULL is fine. */
void sl_httpc_close(sl_httpc_t *c, const char *reason);

/* Open connections (idle ones included), for tests and metrics. */
unsigned sl_httpc_connections(const sl_httpc_t *c);

/* The seconds a "Keep-Alive: timeout=5, max=100" value gives (the
 * parameter named timeout exactly, any case, digits only; over a day
 * counts as a day), or -1 when it names none or a malformed one: a
 * server's hint, so a bad one is ignored rather than an error. Exposed
 * for tests. */
int sl_httpc_keepalive_timeout(const char *value, size_t len);

/* ---- URLs (exposed for tests) ------------------------------------------------ */

typedef struct sl_httpc_url {
    int tls;               /* https */
    int port;
    char host[256];        /* as looked up: no brackets */
    char authority[270];   /* for Host: brackets for IPv6, :port unless default */
    char *target;          /* path and query ("/" at least), percent-encoded;
                              malloc'd, sl_httpc_url_free releases it */
} sl_httpc_url_t;

/* "http[s]://host[:port][/path][?query][#fragment]" (scheme and host case
 * insensitive, host lower-cased; the fragment is dropped; spaces, controls
 * and non-ASCII bytes of the path are percent-encoded). 0, or -1 with err
 * set: "unsupported scheme 'ftp' (http or https)", "credentials in the URL
 * are not supported (send an Authorization header)", "bad port", ... */
int sl_httpc_url_parse(const char *url, sl_httpc_url_t *u, char *err, size_t errlen);
void sl_httpc_url_free(sl_httpc_url_t *u);

/* The absolute URL a Location header (or any reference) names from base
 * (RFC 3986 5.2, with dot segments removed), malloc'd; NULL when ref is
 * unusable or memory is short. */
char *sl_httpc_url_resolve(const char *base, const char *ref);

#endif
