/* L1 net/http: HTTP/1.1 requests on an L1 conn, parsed with llhttp.
 * Delivers one whole request at a time (headers + bounded body) and writes
 * its response; keep-alive, pipelining (held until the previous response),
 * header size/time limits, hand-over of the conn on an Upgrade request.
 * Knows nothing of Engine.IO, sids or packets. */
#ifndef SL_HTTP_H
#define SL_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include "base/buf.h"
#include "base/log.h"
#include "net/conn.h"
#include "net/deflate.h"

typedef struct sl_http_conn sl_http_conn_t;
typedef struct sl_http_req sl_http_req_t;

typedef struct sl_http_limits {
    size_t max_header_bytes;      /* request line + headers; over -> 431 */
    size_t max_headers;           /* header lines; over -> 431 (Node's maxHeadersCount) */
    size_t max_body_bytes;        /* over -> req->body_too_large, body empty */
    uint64_t header_timeout_ms;   /* whole header must arrive within this */
    uint64_t request_timeout_ms;  /* whole request, headers and body; over -> 408 */
    uint64_t keepalive_timeout_ms;/* idle keep-alive connection is closed */
    size_t write_queue_cap;       /* per-connection user-space output cap */
    size_t max_buffered_bytes;    /* request bodies held by every conn sharing
                                     one sl_http_shared_t; over -> 503 */
    size_t max_output_total;      /* output all of a server's queues may hold
                                     (base/budget.h), 0 no limit (read by
                                     the router, eio/server) */
    size_t max_connections;       /* conns a server keeps open, 0 no limit;
                                     over -> 503 (read by the router that
                                     accepts them, eio/server) */
    /* Whose X-Forwarded-For to believe (net/trust.h); NULL: nobody's. */
    const struct sl_trust *trust_proxy;
} sl_http_limits_t;

/* What the HTTP conns of one server share: the request body bytes they
 * hold between them (checked against max_buffered_bytes), and the
 * counters and log throttles of the problems clients can cause, so that a
 * flood of bad requests is one log line per interval, not one per request. */
typedef struct sl_http_shared {
    size_t body_bytes;            /* request bodies buffered (or reserved) now */
    sl_log_every_t busy;          /* bodies refused with 503: over the cap */
    sl_log_every_t timeout;       /* requests cut off with 408 */
    sl_log_every_t bad;           /* refused with 400, 431 or 505 */
} sl_http_shared_t;

/* Called once per complete request. The handler answers with
 * sl_http_respond() now or later; until then the request stays valid, and if
 * the peer goes away first the request's on_abort (when set) is called and
 * the request is freed. */
typedef void (*sl_http_request_cb)(sl_http_req_t *req, void *ud);

typedef struct sl_http_header {
    const char *name;   /* as sent; compare with sl_http_header_get */
    const char *value;
} sl_http_header_t;

struct sl_http_req {
    sl_http_conn_t *hc;
    const char *method;      /* "GET", "POST", ... */
    const char *url;         /* raw request target */
    const char *path;        /* target up to '?', not decoded */
    const char *query;       /* after '?', "" when none */
    /* One entry per header name, as Node's req.headers has them: a
     * repeated name is merged into its first entry, joined with ", " ("; "
     * for Cookie), except the names that take one value only
     * (Authorization, Host, Content-Type, ...), whose first one is kept.
     * At most max_headers lines were sent. */
    sl_http_header_t *headers;
    int nheaders;
    sl_buf_t body;
    unsigned keep_alive : 1;
    unsigned upgrade : 1;        /* Connection: upgrade + Upgrade: x */
    unsigned body_too_large : 1; /* body exceeded max_body_bytes (discarded) */
    unsigned is_head : 1;
    unsigned secure : 1;         /* it came over TLS (net/conn.h) */
    unsigned aborted : 1;        /* the peer left before the body was whole:
                                    delivered once so owners can react; the
                                    response is discarded */
    const char *peer;            /* remote address text */
    const char *address;         /* the client's: peer, or from X-Forwarded-For
                                    when peer is a trusted proxy (net/trust.h) */
    char address_buf[64];
    char peer_buf[SL_CONN_PEER_MAX]; /* what peer points to */
    /* Set by whoever holds the request past on_request. */
    void (*on_abort)(sl_http_req_t *req, void *abort_ud);
    void *abort_ud;
    sl_buf_t resp_headers;       /* extra "Name: value\r\n" lines */
    /* private */
    sl_buf_t strings;
    sl_http_shared_t *shared;    /* where body_held is counted */
    size_t body_held;
};

/* Wraps an accepted conn. The http conn owns it from now on; shared
 * (may be NULL: no body cap across conns) must outlive it. */
sl_http_conn_t *sl_http_conn_new(sl_conn_t *c, const sl_http_limits_t *lim,
                                 sl_http_shared_t *shared, sl_http_request_cb cb, void *ud);

const char *sl_http_header_get(const sl_http_req_t *req, const char *name);
/* Finds key in the query string and copies its %-decoded value to out.
 * Returns the value length, -1 when absent, or -2 when it is longer than
 * outlen - 1 (then out holds nothing useful): an over-long value is a bad
 * one, never an absent one. */
int sl_http_query_get(const sl_http_req_t *req, const char *key, char *out, size_t outlen);
/* Every value of header name, trimmed, joined with ", " as Node joins a
 * repeated header, into out. 1 when present (out may be empty), 0 when
 * absent. */
int sl_http_header_join(const sl_http_req_t *req, const char *name, sl_buf_t *out);
/* Whether the comma-separated header contains token (case-insensitive). */
int sl_http_header_has_token(const sl_http_req_t *req, const char *name, const char *token);

int sl_http_resp_header(sl_http_req_t *req, const char *name, const char *value);

/* Writes the response and frees req (do not touch it afterwards).
 * Content-Length is added; for HEAD the body is not sent. */
int sl_http_respond(sl_http_req_t *req, int status, const char *content_type,
                    const void *body, size_t len);
/* Compression of response bodies, Node's httpCompression option. */
typedef struct sl_http_compress {
    unsigned enabled : 1; /* on, as in Node */
    size_t threshold;     /* 1024: smaller bodies go as they are */
    uint8_t level;        /* zlib's 0..9; 6, its default */
} sl_http_compress_t;
void sl_http_compress_init(sl_http_compress_t *z);

/* The coding Node's engine.io picks for the request's Accept-Encoding
 * among gzip and deflate (`accepts(req).encodings(["gzip", "deflate"])`,
 * negotiator 0.6: by q, then an exact name over "*", then the order of
 * the header, then gzip): SL_ZCODING_IDENTITY when neither is
 * acceptable, as with no header, "identity" or only "br". */
sl_zcoding_t sl_http_accepted_coding(const sl_http_req_t *req);

/* sl_http_respond, with the body gzip- or deflate-encoded (and a
 * Content-Encoding header) when z is on, the body has at least
 * z->threshold bytes and the request accepts a coding; as it is
 * otherwise, and when encoding fails. */
int sl_http_respond_compressed(sl_http_req_t *req, int status, const char *content_type,
                               const void *body, size_t len, const sl_http_compress_t *z);

/* Shortcut for a plain-text or JSON error body. */
int sl_http_respond_text(sl_http_req_t *req, int status, const char *text);

/* For an upgrade request: detaches the conn from HTTP (the http conn and the
 * request are freed) and returns it, with any bytes that came after the
 * headers copied to *rest (caller frees with sl_buf_free). The caller must
 * set a new handler at once. */
sl_conn_t *sl_http_take_conn(sl_http_req_t *req, sl_buf_t *rest);

const char *sl_http_status_text(int status);

#endif
