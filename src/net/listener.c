/* L1 net/listener: accepting TCP connections, and surviving EMFILE. See listener.h. */
#define _GNU_SOURCE /* accept4 */
#include "net/listener.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Connections accepted per wake-up: the rest wait for the next turn, so a
 * burst of connections doesn't starve the ones already open. */
#define ACCEPT_BATCH 128
/* How long accepting stops when no descriptor can be had at all. */
#define PAUSE_MS 100

static int spare_open(void) { return open("/dev/null", O_RDONLY | O_CLOEXEC); }

void sl_listener_init(sl_listener_t *l)
{
    memset(l, 0, sizeof *l);
    l->fd = -1;
    l->spare = -1;
}

static void listener_ready(uv_poll_t *p, int status, int events);

static void resume_cb(uv_timer_t *t)
{
    sl_listener_t *l = t->data;
    if (!l->closing)
        uv_poll_start(&l->poll, UV_READABLE, listener_ready);
}

static void listener_pause(sl_listener_t *l)
{
    uv_poll_stop(&l->poll);
    uv_timer_start(&l->pause, resume_cb, PAUSE_MS, 0);
}

/* accept(2) said EMFILE or ENFILE. What waits in the backlog would wait
 * there until its client gave up: give up the spare descriptor instead,
 * accept and close each waiting connection (a clean close the client sees
 * at once), and take the spare again. If that can't be done, pause, so
 * the loop doesn't spin on a socket that stays readable. */
static void listener_exhausted(sl_listener_t *l, int err)
{
    uint64_t dropped = l->stats.dropped;
    if (l->spare >= 0) {
        close(l->spare);
        l->spare = -1;
    }
    int e;
    for (;;) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0) {
            close(fd);
            l->stats.dropped++;
            continue;
        }
        e = errno;
        if (e != EINTR && e != ECONNABORTED)
            break;
    }
    l->spare = spare_open();
    /* accept(2) says EMFILE before it looks at the backlog: when the
     * accept before took the last descriptor, nothing may be waiting. */
    if (l->stats.dropped == dropped && l->spare >= 0 && e != EMFILE && e != ENFILE)
        return;
    l->stats.fd_exhausted++;
    uint64_t more;
    if (sl_log_every_due(&l->exhausted, &more) && sl_log_level <= SL_LOG_WARN) {
        struct rlimit rl = {0, 0};
        getrlimit(RLIMIT_NOFILE, &rl);
        SL_WARN("net",
                "out of file descriptors (%s; limit %llu, %zu connections open): every file "
                "descriptor is in use: this process may have %llu open files, and further "
                "connections are closed at once until some end (%llu closed unserved since the "
                "last such line); raise LimitNOFILE or ulimit -n (docs/deploying.md, kernel limits)",
                strerror(err), (unsigned long long)rl.rlim_cur, l->open_conns ? *l->open_conns : 0,
                (unsigned long long)rl.rlim_cur,
                (unsigned long long)(l->stats.dropped - l->dropped_logged));
        l->dropped_logged = l->stats.dropped;
    }
    if (l->spare < 0 || e == EMFILE || e == ENFILE)
        listener_pause(l);
}

/* Whether the first socket accepted inherited TCP_NODELAY: if not, no
 * conn is told it has it. */
static void nodelay_check(sl_listener_t *l, int fd)
{
    int v = 0;
    socklen_t len = sizeof v;
    l->nodelay_checked = 1;
    if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len) != 0 || !v)
        l->nodelay = 0;
}

static void listener_ready(uv_poll_t *p, int status, int events)
{
    sl_listener_t *l = p->data;
    (void)events;
    if (status < 0) {
        SL_LOG_EVERY(&l->exhausted, SL_LOG_WARN, "net", "listening socket: %s", uv_strerror(status));
        listener_pause(l);
        return;
    }
    for (int i = 0; i < ACCEPT_BATCH && !l->closing; i++) {
        /* The peer's address comes with the accept: no getpeername(2) per
         * connection. */
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int fd = accept4(l->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            l->stats.accepted++;
            if (!l->nodelay_checked)
                nodelay_check(l, fd);
            sl_accepted_t a = {.fd = fd, .peer = len <= sizeof ss ? (struct sockaddr *)&ss : NULL,
                               .nodelay = l->nodelay, .data_waiting = l->deferred};
            l->cb(l, &a, l->ud);
            continue;
        }
        int e = errno;
        if (e == EINTR || e == ECONNABORTED)
            continue;
        if (e == EAGAIN || e == EWOULDBLOCK)
            return;
        if (e == EMFILE || e == ENFILE) {
            listener_exhausted(l, e);
            return;
        }
        /* ENOBUFS, ENOMEM, EPERM (a firewall)...: said once per interval,
         * and a pause so a lasting one doesn't spin. */
        SL_LOG_EVERY(&l->exhausted, SL_LOG_WARN, "net", "accept: %s", strerror(e));
        listener_pause(l);
        return;
    }
}

int sl_listener_open(sl_listener_t *l, uv_loop_t *loop, const struct sockaddr *addr, int reuse_port,
                     int defer_accept, int backlog, sl_listener_cb cb, void *ud)
{
    int family = addr->sa_family;
    socklen_t len = family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int on = 1, off = 0;
    /* As libuv's listeners: SO_REUSEADDR, and dual-stack IPv6. */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) ||
        (reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on)) ||
        (family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off)) ||
        bind(fd, addr, len) || listen(fd, backlog)) {
        int e = -errno;
        close(fd);
        return e;
    }
    /* Every connection wants TCP_NODELAY (small frames must not wait for
     * an ACK). Linux's accepted sockets are copies of the listening one,
     * this option included: set here once, it saves a setsockopt(2) per
     * connection. The first socket accepted is asked whether it has it
     * (nodelay_check); where it doesn't, each conn sets it itself. */
    l->nodelay = setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) == 0;
    l->nodelay_checked = 0;
    /* One second: the shortest wait the kernel has (one SYN-ACK resent)
     * for a client that sends nothing; it is accepted then, as without. */
    int defer_secs = 1;
    l->deferred = 0;
#ifdef TCP_DEFER_ACCEPT
    if (defer_accept)
        l->deferred = setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer_secs, sizeof defer_secs) == 0;
#else
    (void)defer_accept;
    (void)defer_secs;
#endif
    int rc = uv_poll_init(loop, &l->poll, fd);
    if (rc) {
        close(fd);
        return rc;
    }
    uv_timer_init(loop, &l->pause);
    l->loop = loop;
    l->poll.data = l;
    l->pause.data = l;
    l->fd = fd;
    l->open = 1;
    l->cb = cb;
    l->ud = ud;
    l->spare = spare_open();
    rc = uv_poll_start(&l->poll, UV_READABLE, listener_ready);
    if (rc)
        sl_listener_close(l);
    return rc;
}

int sl_listener_address(const sl_listener_t *l, struct sockaddr_storage *ss)
{
    socklen_t len = sizeof *ss;
    return getsockname(l->fd, (struct sockaddr *)ss, &len) ? -errno : 0;
}

void sl_listener_close(sl_listener_t *l)
{
    if (l->closing)
        return;
    l->closing = 1;
    /* The owner's walk over the loop may have closed the handles already
     * (a server freed without a shutdown). */
    if (l->open && !uv_is_closing((uv_handle_t *)&l->poll)) {
        uv_poll_stop(&l->poll);
        uv_close((uv_handle_t *)&l->poll, NULL);
    }
    if (l->open && !uv_is_closing((uv_handle_t *)&l->pause))
        uv_close((uv_handle_t *)&l->pause, NULL);
    if (l->fd >= 0)
        close(l->fd);
    if (l->spare >= 0)
        close(l->spare);
    l->fd = l->spare = -1;
}
