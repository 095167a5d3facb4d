/* L7 cmd/sd_notify: tells systemd how the service is doing (sd_notify(3)),
 * for units with Type=notify: READY=1 once serving, WATCHDOG=1 from the
 * event loop at half the unit's WatchdogSec (so a stuck loop gets the
 * service restarted), RELOADING=1 then READY=1 around a SIGHUP reload,
 * STOPPING=1 when a shutdown begins. Through libsystemd when the build
 * found it (SIOLUA_SYSTEMD); otherwise every call is a no-op and a unit
 * that expects notifications is told so in the log, once.
 *
 * Only the process systemd started speaks: sl_sd_ready arms the others, so
 * a worker of `--workers N` (which never calls it) stays silent even
 * though it inherits NOTIFY_SOCKET. Without NOTIFY_SOCKET nothing is sent. */
#ifndef SL_SD_NOTIFY_H
#define SL_SD_NOTIFY_H

#include <uv.h>

/* Serving: READY=1 with STATUS=the formatted text (NULL: the last one).
 * The first call, with the loop, arms the others and starts the watchdog
 * timer on it when systemd asked for one (WATCHDOG_USEC, for this PID; the
 * timer doesn't keep the loop alive). A NULL loop ends a reload: nothing
 * is sent by a process that never said READY=1. */
void sl_sd_ready(uv_loop_t *loop, const char *status_fmt, ...) __attribute__((format(printf, 2, 3)));
/* A reload begins (SIGHUP): RELOADING=1; sl_sd_ready ends it. */
void sl_sd_reloading(void);
/* A shutdown begins: STOPPING=1; the watchdog timer is closed. */
void sl_sd_stopping(void);

#endif
