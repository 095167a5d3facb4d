/* Loadgen L6: scenarios. One generator process runs one scenario over its
 * share of the clients in phases (connect, wait for the controller's go,
 * warm-up, measuring window, drain, close) and hands a lg_result_t back to
 * the controller (lg_main.c), which measures the server and aggregates.
 * Knows the protocol only through lg_client.h. */
#ifndef LG_RUN_H
#define LG_RUN_H

#include <stdint.h>

#include "lg_client.h"
#include "lg_hist.h"

typedef enum { LG_SC_IDLE, LG_SC_FANOUT, LG_SC_ECHO, LG_SC_CHURN } lg_scenario_t;

#define LG_MAX_PIDS 64

typedef struct lg_opts_s {
    const char *scenario_name;     /* as given: "polling" is echo over polling */
    lg_scenario_t scenario;
    lg_transport_t transport;
    const char *host;
    uint16_t port;
    const char *path;
    const char *nsp;
    uint32_t clients;              /* all processes together */
    uint32_t procs;
    double duration_s, warmup_s, settle_s;
    double rate;                   /* echo: messages/s; churn: connects/s (all processes) */
    uint32_t payload;              /* bytes of the string sent (echo, shout) */
    uint32_t inflight;             /* fanout: broadcasts in flight */
    double connect_rate;           /* connections/s, all processes */
    uint32_t connect_inflight;     /* handshakes in flight, per process */
    double connect_timeout_s;
    uint32_t src_addrs;            /* source addresses per process, 0 = don't bind */
    uint32_t src_first;            /* number of the first one (lg_src_addr) */
    int server_pids[LG_MAX_PIDS];
    int n_server_pids;
    int quiet;
} lg_opts_t;

/* One process's share. */
typedef struct lg_child_s {
    uint32_t index;
    uint32_t clients;
    double rate, connect_rate;
    uint32_t src_first;            /* index of its first source address */
} lg_child_t;

/* Everything a process measured; plain numbers so that it crosses a pipe
 * as bytes (the controller is the same binary) and adds up field by field. */
typedef struct lg_result_s {
    uint64_t clients, connected, failed, dropped;
    uint64_t errors[LG_ERR_COUNT];
    uint64_t pings, window_pings;  /* Engine.IO pings answered: the run, the window */
    double connect_s;
    double window_s;
    uint64_t sent, acked, window_acked;                       /* echo */
    uint64_t broadcasts, window_broadcasts, deliveries, window_deliveries, stalls;  /* fanout */
    uint64_t churn_started, churn_skipped, connects, window_connects;      /* churn */
    double cpu_ms, window_cpu_ms;
    uint64_t maxrss_kib;
    lg_hist_t connect_lat;         /* ns from connect() to the CONNECT ack */
    lg_hist_t rtt;                 /* ns from sending an echo to its ack (window only) */
} lg_result_t;

/* The controller's messages on the pipes: the child says 'C' once its
 * clients are connected (or failed), the controller answers 'G' (and 'E'
 * when the window ends early), and the child ends with 'R' followed by its
 * lg_result_t. */
#define LG_MSG_CONNECTED 'C'
#define LG_MSG_GO 'G'
#define LG_MSG_RESULT 'R'
/* The controller ends the window early (it got SIGUSR1): the children stop
 * measuring now and report, as if the window had run its course. */
#define LG_MSG_END 'E'

/* Runs one generator process; returns its exit code. */
int lg_run_child(const lg_opts_t *o, const lg_child_t *ch, int ctl_fd, int out_fd);

/* 127.0.y.z for source address number i (never .0 or .255, never 127.0.0.x). */
uint32_t lg_src_addr(uint32_t i);

#endif
