/* L7 cmd/metrics: the operations endpoints of a server process. Prometheus
 * metrics in the text format 0.0.4 (`--set metrics=/metrics`, optionally
 * behind `metricsToken`), read at scrape time from the counters each layer
 * keeps in its own structs (net: bytes; eio: sessions; sio: packets; lua:
 * handler time, errors, reloads; cluster: Redis up) through their getters;
 * and a health check (`--set healthPath=/health`: 200 while serving, 503
 * from SIGTERM on, while the server drains). Counting is the layers'
 * business; the text format, the routes and the gathering are this file's.
 *
 * With --workers, the worker a scrape lands on gathers the others' figures
 * from their private listeners (the supervisor tells each worker where the
 * others are, supervisor.h) and answers for all, each sample labelled with
 * its worker:
 *
 *   Prometheus --GET /metrics--> worker 2 --GET /metrics (self only)--> worker 1, 3, ...
 *                                 merge: per family, every worker's samples together
 */
#ifndef SL_METRICS_H
#define SL_METRICS_H

#include "base/buf.h"

typedef struct sl_compose sl_compose_t;
typedef struct sl_metrics sl_metrics_t;

/* Puts the routes on c's router, ahead of the app's: they answer only at
 * the paths the settings name, read at each request. NULL when memory is
 * short. */
sl_metrics_t *sl_metrics_new(sl_compose_t *c);
/* Configuration is over: with metrics on, the event loop probe starts and
 * the Lua runtime times its handlers. */
void sl_metrics_start(sl_metrics_t *m);
/* Stops the probe and ends pending gathers (their scrapes get what came).
 * The memory goes once the loop has closed the probe's handle. NULL is
 * fine. */
void sl_metrics_close(sl_metrics_t *m);

/* This process's figures in the text format (what a scrape of one process
 * returns), appended to out. */
void sl_metrics_render(sl_metrics_t *m, sl_buf_t *out);

#endif
