/* L1 net/listener: a listening TCP socket that accepts with a loop of its
 * own, so that running out of file descriptors is seen. libuv's listener
 * hides it: at the limit it accepts and closes what waits, with no word to
 * the caller, and once its one spare descriptor is gone it spins. Here
 * EMFILE/ENFILE is counted, logged once per interval (the limit, the
 * connections open, how many were closed unserved), and survived: a spare
 * descriptor of our own is closed to accept and close what waits, then
 * taken again; when even that fails, accepting pauses for a moment.
 * Accepted sockets are handed over as raw descriptors (net/conn.h makes a
 * connection of one). Knows nothing of HTTP.
 *
 * The struct is the caller's memory (embedded, as libuv handles are):
 * sl_listener_close() closes its handles, and the memory may go once the
 * loop has run their close callbacks. */
#ifndef SL_LISTENER_H
#define SL_LISTENER_H

#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>
#include "base/log.h"

typedef struct sl_listener sl_listener_t;

/* A socket just accepted, as net/conn.h opens one: fd is non-blocking and
 * close-on-exec; what accept(2) said of it comes along, so that opening it
 * needs no system call to ask again. */
typedef struct sl_accepted {
    int fd;
    const struct sockaddr *peer; /* the peer's address; NULL: ask the socket */
    unsigned nodelay : 1;        /* TCP_NODELAY is on already (inherited from
                                    the listening socket) */
    unsigned data_waiting : 1;   /* its first bytes have most likely arrived
                                    (the listener defers accepting): read
                                    them at once, not on the next loop turn */
} sl_accepted_t;

/* A connection arrived: a->fd is now the callee's (it closes it, or makes
 * a connection of it); a->peer lasts for the call. */
typedef void (*sl_listener_cb)(sl_listener_t *l, const sl_accepted_t *a, void *ud);

typedef struct sl_listener_stats {
    uint64_t accepted;      /* handed to the callback */
    uint64_t fd_exhausted;  /* times accept(2) said EMFILE/ENFILE */
    uint64_t dropped;       /* connections closed unserved for want of a descriptor */
} sl_listener_stats_t;

struct sl_listener {
    uv_loop_t *loop;
    uv_poll_t poll;
    uv_timer_t pause;        /* accepting again after a pause */
    int fd;                  /* the listening socket, -1 when none */
    int spare;               /* kept open to be given up at EMFILE, -1 when none */
    unsigned open : 1;       /* poll and pause are initialised */
    unsigned closing : 1;
    unsigned nodelay : 1;    /* accepted sockets come with TCP_NODELAY on */
    unsigned nodelay_checked : 1; /* asked of the first one accepted */
    unsigned deferred : 1;   /* TCP_DEFER_ACCEPT is on */
    sl_listener_cb cb;
    void *ud;
    /* Reported with the limit; the caller keeps it current (may be NULL). */
    const size_t *open_conns;
    sl_listener_stats_t stats;
    sl_log_every_t exhausted;
    uint64_t dropped_logged; /* stats.dropped at the last line */
};

/* Makes l an unopened listener (fd -1): closing it is a no-op. */
void sl_listener_init(sl_listener_t *l);
/* socket, SO_REUSEADDR (and SO_REUSEPORT when reuse_port), TCP_NODELAY
 * (which accepted sockets inherit), bind, listen, and start accepting into
 * cb. IPv6 sockets take IPv4 too. With defer_accept, TCP_DEFER_ACCEPT
 * (Linux; elsewhere nothing): the kernel hands a connection over once its
 * first bytes arrive, or after about a second for one that sends none, so
 * a client that speaks first (HTTP, TLS) costs one wakeup fewer and its
 * request is read in the same turn as the accept (a->data_waiting).
 * 0 or a negative errno (UV_* on Unix); on error nothing is left open. */
int sl_listener_open(sl_listener_t *l, uv_loop_t *loop, const struct sockaddr *addr, int reuse_port,
                     int defer_accept, int backlog, sl_listener_cb cb, void *ud);
/* The address bound (port 0 gives the one chosen). 0 or a negative errno. */
int sl_listener_address(const sl_listener_t *l, struct sockaddr_storage *ss);
/* Stops accepting and closes the socket and the spare descriptor at once;
 * the handles close asynchronously. Idempotent. */
void sl_listener_close(sl_listener_t *l);

#endif
