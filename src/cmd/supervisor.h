/* L7 cmd/supervisor: `siolua run APP --workers N`. The first process becomes a
 * small supervisor that runs N workers (each `siolua run APP ...` again,
 * told its index) listening on one port with SO_REUSEPORT, so the kernel
 * spreads connections over the cores. The workers join as one cluster
 * through the ordinary Redis adapter: on --redis URL, or without it on a
 * local bus (local_bus_server.h) the supervisor serves on a unix socket in
 * a private directory. Each worker also listens on a port of its own on
 * loopback, announced as its cluster address, so a request for a session
 * that another worker owns is relayed there (no sticky sessions).
 *
 * The supervisor forwards SIGTERM/SIGINT (every worker shuts down
 * gracefully, then it exits 0) and SIGHUP (every worker reloads), and
 * restarts a worker that dies, with backoff. Workers hear of it through a
 * socket pair on their fd 3: they write "ready" and their private address
 * on it once listening, the supervisor tells each the others' addresses
 * (so a metrics scrape gathers every worker's figures), and its end of file
 * means the supervisor is gone (even after SIGKILL), so no worker outlives
 * it. Program layer: knows the CLI's shape, not the app. */
#ifndef SL_SUPERVISOR_H
#define SL_SUPERVISOR_H

#include <uv.h>

typedef struct sl_supervisor_config {
    int workers;             /* N >= 1 */
    const char *host;        /* the shared address */
    int port;                /* 0: chosen once here, for every worker */
    int use_local_bus;       /* no --redis: join the workers on the local bus */
    const char *app_dir;     /* for the log */
    /* The command line, given again to each worker without --workers. */
    int argc;
    char **argv;
} sl_supervisor_config_t;

/* Runs the supervisor until it is told to stop; the process's exit code. */
int sl_supervisor_run(const sl_supervisor_config_t *cfg);

/* ---- in a worker ---------------------------------------------------------- */

/* The worker's end of the control socket (fd 3). on_orphaned runs once if
 * the supervisor goes away. 0, or a negative libuv error (not started by a
 * supervisor). */
int sl_worker_attach(uv_loop_t *loop, void (*on_orphaned)(void));
/* Tells the supervisor this worker serves (after it listens), where its
 * private listener is ("127.0.0.1:41234") and what the shared port speaks
 * ("http", "https": the supervisor's log line says it). */
void sl_worker_ready(const char *relay, const char *scheme);
/* The workers' private listeners as the supervisor last told them (for
 * gathering metrics): how many workers there are, and the "host:port" of
 * worker index (1..count), or NULL when it is not serving. */
int sl_worker_peer_count(void);
const char *sl_worker_peer(int index);
/* Closes the control socket (at shutdown, so the loop can end). */
void sl_worker_detach(void);

#endif
