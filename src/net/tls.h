/* L1 net/tls: TLS as a byte transformer. OpenSSL driven over memory BIOs, with
 * no socket, stream or loop: the owner of a stream feeds it the ciphertext it
 * read and writes out the ciphertext it produces, so one engine serves the
 * server's HTTPS/WSS connections, the outbound HTTP client and a TLS link to
 * Redis alike. Knows nothing of HTTP, Engine.IO or Lua.
 *
 * Two objects
 *   sl_tls_ctx_t   what every connection of one kind shares: a server's
 *                  certificate and key, or a client's trust (the system store
 *                  plus an optional CA file), the ALPN list, TLS 1.2 minimum
 *                  and modern AEAD ciphers. Reference counted; immutable once
 *                  built. A server reloads its certificate by building a new
 *                  context and swapping it in (sl_tls_ctx_reload): new
 *                  connections get the new one, open ones keep theirs.
 *   sl_tls_t       one connection's engine: handshake, records, close_notify.
 *
 * Driving an engine (the owner's loop; nothing here ever blocks or calls back)
 *
 *     sl_tls_new(ctx, "example.com", &t, ...)      client: SNI + name check
 *     sl_tls_write(t, request, n)                  kept until the handshake is done
 *     sl_tls_take(t, &out)   -> write out to the socket     (ClientHello ...)
 *     on bytes from the socket:
 *         sl_tls_feed(t, p, n)
 *         while ((r = sl_tls_read(t, buf, sizeof buf)) > 0) use(buf, r);
 *         sl_tls_take(t, &out) -> write to the socket   (handshake, alerts, data)
 *         r == SL_TLS_CLOSED: the peer sent close_notify; r < 0: failed,
 *         sl_tls_reason(t) says why (send what take gives, then close)
 *     to end: sl_tls_shutdown(t); sl_tls_take(t, &out) -> write; close.
 *
 *   sl_tls_read advances the handshake too, so the first call after a feed
 *   may finish it (sl_tls_handshake_done turns 1) and flush the plaintext
 *   queued by sl_tls_write before it.
 *
 * Errors are negative codes with a reason in the words people search for:
 *   "certificate verify failed: self-signed certificate",
 *   "certificate verify failed: hostname mismatch",
 *   "certificate verify failed: unable to get local issuer certificate",
 *   "handshake failed: wrong version number", "handshake failed: tlsv1 alert
 *   unknown ca", "handshake failed: no application protocol".
 */
#ifndef SL_TLS_H
#define SL_TLS_H

#include <stddef.h>
#include <sys/types.h>

#include "base/buf.h"

typedef struct sl_tls_ctx sl_tls_ctx_t;
typedef struct sl_tls sl_tls_t;

enum {
    SL_TLS_CLOSED = -1,     /* the peer ended the session with close_notify */
    SL_TLS_EVERIFY = -2,    /* the peer's certificate was refused */
    SL_TLS_EHANDSHAKE = -3, /* any other handshake failure */
    SL_TLS_EPROTO = -4,     /* after the handshake: a bad record, an alert */
    SL_TLS_ENOMEM = -5,
    SL_TLS_EINVAL = -6,     /* misuse: a call the engine's state does not allow */
};

/* The longest reason sl_tls_reason gives, NUL included. */
#define SL_TLS_REASON_MAX 160

typedef struct sl_tls_server_opts {
    const char *cert_file; /* PEM: the certificate, then its chain */
    const char *key_file;  /* PEM: its private key (unencrypted) */
    const char *alpn;      /* comma list in preference order ("http/1.1"; names
                              of 31 bytes at most), or
                              NULL: no ALPN. A client that offers ALPN and none
                              of these fails with "no application protocol"
                              (RFC 7301); one that offers none is served. */
} sl_tls_server_opts_t;

typedef struct sl_tls_client_opts {
    const char *ca_file;   /* PEM file of extra trusted CAs, or NULL */
    int no_system_store;   /* 1: trust ca_file only (tests, pinned services) */
    const char *alpn;      /* comma list offered ("http/1.1"), or NULL */
    const char *cert_file; /* PEM: a client certificate for servers that ask */
    const char *key_file;  /* for one (mutual TLS, a Redis default), or NULL */
} sl_tls_client_opts_t;

/* ---- contexts ------------------------------------------------------------- */

/* Build a context (refs = 1) or return a negative code with err set:
 * "cannot read certificate /x.pem: no such file", "the key /k.pem does not
 * match the certificate", "cannot read CA file /ca.pem: ...", "bad ALPN
 * list". Nothing is kept on failure. */
int sl_tls_ctx_new_server(const sl_tls_server_opts_t *o, sl_tls_ctx_t **out, char *err, size_t errlen);
int sl_tls_ctx_new_client(const sl_tls_client_opts_t *o, sl_tls_ctx_t **out, char *err, size_t errlen);
sl_tls_ctx_t *sl_tls_ctx_ref(sl_tls_ctx_t *c);
void sl_tls_ctx_unref(sl_tls_ctx_t *c); /* NULL is fine */

/* All or nothing, for SIGHUP: builds a server context from o and, only when
 * that works, puts it in *slot and drops the old one (engines made from the
 * old context keep it until they are freed). On failure *slot is untouched
 * and err says why. */
int sl_tls_ctx_reload(sl_tls_ctx_t **slot, const sl_tls_server_opts_t *o, char *err, size_t errlen);

/* ---- engines ---------------------------------------------------------------- */

/* A new engine holding a reference to ctx. host: for a client context, the
 * name sent as SNI and checked against the certificate (an IP literal is
 * checked as an address and sent as no SNI); must not be NULL or "". For a
 * server context, NULL. */
int sl_tls_new(sl_tls_ctx_t *ctx, const char *host, sl_tls_t **out, char *err, size_t errlen);
void sl_tls_free(sl_tls_t *t); /* NULL is fine */

/* Ciphertext read from the peer; kept until sl_tls_read consumes it.
 * 0, or SL_TLS_ENOMEM. */
int sl_tls_feed(sl_tls_t *t, const void *p, size_t n);

/* Advances the handshake and returns plaintext: > 0 bytes copied into buf,
 * 0 when more input is needed, SL_TLS_CLOSED once the peer's close_notify
 * was read (every time after), or a negative error (every time after, with
 * the same reason). A client also starts its handshake with a first call
 * (or sl_tls_take) before any input. */
ssize_t sl_tls_read(sl_tls_t *t, void *buf, size_t cap);

/* Plaintext for the peer. Before the handshake is done it is kept and sent
 * as soon as it is. 0, SL_TLS_ENOMEM, SL_TLS_EINVAL after a shutdown, or the
 * engine's error. */
int sl_tls_write(sl_tls_t *t, const void *p, size_t n);

/* Appends the ciphertext waiting for the peer to out (the handshake starts
 * here for a client if nothing else started it). Returns the bytes moved
 * (0: none), or SL_TLS_ENOMEM (out unchanged). Still works after an error,
 * so the alert that explains it reaches the peer. */
ssize_t sl_tls_take(sl_tls_t *t, sl_buf_t *out);

/* Queues close_notify (take it and write it, then close the stream). Later
 * writes are refused. 0, or SL_TLS_EINVAL before the handshake is done (just
 * close the stream then). */
int sl_tls_shutdown(sl_tls_t *t);

int sl_tls_handshake_done(const sl_tls_t *t);
/* The protocol ALPN chose ("http/1.1"), or NULL. */
const char *sl_tls_alpn(const sl_tls_t *t);
/* The negotiated version ("TLSv1.3"), or NULL before the handshake. */
const char *sl_tls_version(const sl_tls_t *t);
/* Why the last call failed; "" when nothing did. */
const char *sl_tls_reason(const sl_tls_t *t);

#endif
