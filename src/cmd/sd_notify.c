/* L7 cmd/sd_notify: readiness, reload, stop and watchdog for systemd. See sd_notify.h. */
#include "cmd/sd_notify.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"

#ifdef SIOLUA_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

/* Whether systemd (or whoever started us) listens for notifications. */
static int notify_socket_set(void)
{
    const char *s = getenv("NOTIFY_SOCKET");
    return s && *s;
}

static int armed;          /* sl_sd_ready ran in this process */
static char last_status[256];
static int watchdog_on;
static uv_timer_t watchdog;

#ifdef SIOLUA_HAVE_SYSTEMD

static void send_state(const char *state)
{
    int rc = sd_notify(0, state);
    if (rc < 0) {
        /* A vanished or unwritable socket: say it once, not at every ping. */
        static int said;
        if (!said++)
            SL_WARN("systemd", "cannot notify systemd (%s): %s", getenv("NOTIFY_SOCKET"), strerror(-rc));
    }
}

static void on_watchdog(uv_timer_t *t)
{
    (void)t;
    send_state("WATCHDOG=1");
}

static void watchdog_start(uv_loop_t *loop)
{
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
        return;
    /* Half the period, as sd_watchdog_enabled(3) advises: one late turn
     * of the loop is not yet a missed deadline. */
    uint64_t ms = usec / 2000 ? usec / 2000 : 1;
    uv_timer_init(loop, &watchdog);
    uv_unref((uv_handle_t *)&watchdog);
    uv_timer_start(&watchdog, on_watchdog, ms, ms);
    watchdog_on = 1;
    SL_INFO("systemd", "watchdog every %llu ms (WatchdogSec=%llu ms)", (unsigned long long)ms,
            (unsigned long long)(usec / 1000));
}

void sl_sd_ready(uv_loop_t *loop, const char *status_fmt, ...)
{
    if (!notify_socket_set() || (!loop && !armed))
        return; /* the end of a reload in a process that never said READY=1 (a worker) */
    if (status_fmt) {
        va_list ap;
        va_start(ap, status_fmt);
        vsnprintf(last_status, sizeof last_status, status_fmt, ap);
        va_end(ap);
    }
    char msg[300];
    snprintf(msg, sizeof msg, "READY=1\nSTATUS=%s", last_status[0] ? last_status : "serving");
    send_state(msg);
    if (!armed)
        watchdog_start(loop);
    armed = 1;
}

void sl_sd_reloading(void)
{
    if (!armed)
        return;
    /* MONOTONIC_USEC lets Type=notify-reload (systemd 253+) match the
     * reload to the request; older systemd ignores it. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char msg[96];
    snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000ull);
    send_state(msg);
}

#else /* no libsystemd */

void sl_sd_ready(uv_loop_t *loop, const char *status_fmt, ...)
{
    (void)loop;
    (void)status_fmt;
    if (notify_socket_set() && !armed)
        SL_WARN("systemd", "NOTIFY_SOCKET is set but this siolua was built without libsystemd: "
                           "use Type=simple in the unit (or build with libsystemd-dev installed)");
    armed = 1;
}

void sl_sd_reloading(void) {}

#define send_state(s) ((void)0)

#endif

void sl_sd_stopping(void)
{
    if (!armed)
        return;
    send_state("STOPPING=1");
    if (watchdog_on) {
        watchdog_on = 0;
        uv_close((uv_handle_t *)&watchdog, NULL);
    }
}
