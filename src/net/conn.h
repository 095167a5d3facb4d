/* L1 net/conn: one accepted TCP connection. Reads bytes, writes them through
 * the stream writer (a capped user-space queue: backpressure), closes
 * asynchronously, or after its output with a lingering close.
 * Knows nothing of HTTP, WebSocket or Engine.IO: the layer above registers
 * a handler struct and gets bytes, "drained" and "closed" events.
 *
 * Accepted with a TLS context, a connection speaks TLS (net/tls) on the
 * wire and plaintext to the layer above, which never knows the difference
 * (sl_conn_secure tells it, for `secure` flags):
 *
 *   socket --read--> sl_tls_feed/read --plaintext--> handler->on_data
 *   sl_conn_writev(plaintext) --sl_tls_write/take--> stream writer --> socket
 *
 * A plaintext HTTP request on a TLS connection gets a plaintext 400 that
 * says to use https:// (Node's https server just closes; nginx answers
 * likewise); a failed handshake is one log line and a close, after the
 * alert that explains it. */
#ifndef SL_CONN_H
#define SL_CONN_H

#include <netinet/in.h> /* INET6_ADDRSTRLEN */
#include <uv.h>
#include "base/buf.h"
#include "net/listener.h"
#include "net/stream_writer.h"
#include "net/tls.h"

typedef struct sl_conn sl_conn_t;

typedef struct sl_conn_handler {
    /* Bytes arrived. The handler may close the conn from here. */
    void (*on_data)(sl_conn_t *c, const char *p, size_t n);
    /* Peer closed, read error, or sl_conn_close(): the last event. The conn
     * memory is released right after this returns; drop every pointer. */
    void (*on_close)(sl_conn_t *c);
    /* Optional: the user-space write queue became empty again. */
    void (*on_drain)(sl_conn_t *c);
} sl_conn_handler_t;

struct sl_conn {
    uv_tcp_t tcp;              /* first: server.c tells conns apart by it */
    const sl_conn_handler_t *handler;
    void *owner;               /* the upper layer's object */
    sl_stream_writer_t out;    /* output not yet taken by the kernel */
    uv_timer_t *linger;        /* while lingering after a graceful close */
    sl_tls_t *tls;             /* NULL: plaintext */
    unsigned closing : 1;
    unsigned close_after_write : 1;
    unsigned reading : 1;
    unsigned lingering : 1;
    unsigned tls_started : 1;  /* the first bytes came: not plaintext HTTP */
    uint8_t peer_family;       /* AF_INET, AF_INET6; 0: the address is unknown */
    size_t *live;              /* the owner's count of open conns, or NULL */
    uint8_t peer_addr[16];     /* the peer's address (4 bytes for IPv4): its
                                  text is made when asked (sl_conn_peer), 30
                                  bytes less in every conn than holding it */
};

/* Room for the peer's address as text: any IPv6 text (no zone is written). */
#define SL_CONN_PEER_MAX INET6_ADDRSTRLEN

/* A new conn on a->fd, a socket just accepted (net/listener.h): it owns
 * the descriptor from now on, even when this fails. What the accept told
 * (a->peer, a->nodelay) is not asked of the socket again. live, when not NULL, counts the
 * conns open: one more now, one less when it has closed. The conn speaks
 * TLS with tls (a server context; NULL: plaintext). With a flusher (may
 * be NULL), the conn's output of a loop turn leaves in one write at the
 * end of the turn (see net/stream_writer.h). 0 or a negative libuv
 * error. */
int sl_conn_open(uv_loop_t *loop, const sl_accepted_t *a, const sl_conn_handler_t *h, void *owner,
                 size_t queue_cap, size_t *live, sl_tls_ctx_t *tls, sl_stream_flusher_t *flusher,
                 sl_conn_t **out);
/* Counts the conn's output in b, the process's cap on all output queues
 * (base/budget.h); over it the conns that have waited longest are closed.
 * Right after sl_conn_open. */
void sl_conn_set_budget(sl_conn_t *c, sl_budget_t *b);
/* The peer's address as text into out, as inet_ntop writes it ("" when
 * unknown); returns out. */
const char *sl_conn_peer(const sl_conn_t *c, char out[SL_CONN_PEER_MAX]);
/* 1 when the connection speaks TLS. */
static inline int sl_conn_secure(const sl_conn_t *c) { return c->tls != NULL; }
/* Swap the handler (HTTP -> WebSocket after an upgrade). */
void sl_conn_set_handler(sl_conn_t *c, const sl_conn_handler_t *h, void *owner);
/* Bytes the output queue may hold before sl_conn_writev refuses. */
void sl_conn_set_queue_cap(sl_conn_t *c, size_t cap);

/* Writes all buffers in order: what the kernel takes now goes at once (or,
 * with a flusher, at the end of the loop turn), the rest is copied to the
 * queue. Returns 0, -ENOBUFS when the queue passes
 * queue_cap (the caller closes: either nothing was written, or, after a
 * partial write, the rest was queued so the stream stays whole), -ENOMEM,
 * or -EPIPE when closing (a failed write closes the conn). */
int sl_conn_writev(sl_conn_t *c, const uv_buf_t *bufs, unsigned n);
int sl_conn_write(sl_conn_t *c, const void *p, size_t n);
/* Same, where rcs[i] (when not NULL) is a shared buffer holding bufs[i]:
 * what must wait is queued as a reference to it, not a copy (a frame made
 * once for many connections). */
int sl_conn_writev_rcs(sl_conn_t *c, const uv_buf_t *bufs, sl_rcbuf_t *const *rcs, unsigned n);
/* Same for one shared buffer's bytes p..p+n (a broadcast's frame to one
 * recipient): the per-recipient path, inline. Held for the turn's end (a
 * plaintext conn): nothing went to the kernel, so nothing is counted as
 * sent yet. */
int sl_conn_write_rc_first(sl_conn_t *c, sl_rcbuf_t *rc, const char *p, size_t n);
static inline int sl_conn_write_rc(sl_conn_t *c, sl_rcbuf_t *rc, const char *p, size_t n)
{
    /* Everything else in a tail call, so that the path of every frame but
     * a turn's first saves no registers on the way. */
    if (!c->tls && !c->closing && !c->close_after_write && sl_stream_writer_hold_rc_more(&c->out, rc, p, n))
        return 0;
    return sl_conn_write_rc_first(c, rc, p, n);
}
/* Same without the queue cap: for a response to a request, whose size the
 * request bounds; the caller stops reading until it drains. */
int sl_conn_writev_uncapped(sl_conn_t *c, const uv_buf_t *bufs, unsigned n);
size_t sl_conn_queued(const sl_conn_t *c);

/* Close now (pending output is dropped). on_close follows asynchronously. */
void sl_conn_close(sl_conn_t *c);
/* Close once every queued byte is written: then the write side is shut
 * down and what the peer still sends is read and dropped for a moment
 * (a lingering close), so a response sent before the request was read
 * whole is not wiped out by a reset. */
void sl_conn_close_after_write(sl_conn_t *c);
void sl_conn_pause(sl_conn_t *c);
void sl_conn_resume(sl_conn_t *c);
/* Reads what has already arrived and hands it to the handler now, as the
 * loop would on its next turn (a connection accepted with its first bytes
 * waiting: net/listener.h). Nothing waiting: nothing happens. */
void sl_conn_read_pending(sl_conn_t *c);

/* Bytes of every accepted connection of this process, as read from and
 * written to the sockets (TLS records, not their plaintext), for metrics.
 * Plain counters: a process runs one loop, and they are read at scrape
 * time, so counting costs an addition per read and per write. */
typedef struct sl_conn_stats {
    uint64_t bytes_received;
    uint64_t bytes_sent;
} sl_conn_stats_t;
const sl_conn_stats_t *sl_conn_stats(void);

#endif
