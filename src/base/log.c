/* L0 base/log: single-line log records on stderr. */
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/time.h>

sl_log_level_t sl_log_level = SL_LOG_INFO;

/* "worker=2 " in a worker of `siolua run --workers N`, so the lines of
 * processes sharing one stderr can be told apart. */
static char tag[40];

void sl_log_set_tag(const char *t)
{
    snprintf(tag, sizeof tag, "%s%s", t && *t ? t : "", t && *t ? " " : "");
}

static const char *level_names[] = {"debug", "info", "warn", "error", "off"};

int sl_log_set_level(const char *name)
{
    for (int i = 0; i <= SL_LOG_OFF; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            sl_log_level = (sl_log_level_t)i;
            return 0;
        }
    }
    return -1;
}

static void log_line(sl_log_level_t lvl, const char *module, uint64_t more, const char *fmt,
                     va_list ap)
{
    char line[1024];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %-5s %s[%s] ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, (int)(tv.tv_usec / 1000), level_names[lvl], tag, module);
    if (n > 0 && (size_t)n < sizeof line)
        n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    if (more && n > 0 && (size_t)n < sizeof line)
        snprintf(line + n, sizeof line - (size_t)n, " (and %llu more since the last such line)",
                 (unsigned long long)more);
    /* One record is one line: fold any newline the message carries. */
    for (char *p = line; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    fprintf(stderr, "%s\n", line);
}

void sl_log(sl_log_level_t lvl, const char *module, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_line(lvl, module, 0, fmt, ap);
    va_end(ap);
}

void sl_log_more(sl_log_level_t lvl, const char *module, uint64_t more, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_line(lvl, module, more, fmt, ap);
    va_end(ap);
}

int sl_log_every_due(sl_log_every_t *e, uint64_t *more)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    e->total++;
    if (e->next_ms && now < e->next_ms) {
        e->suppressed++;
        return 0;
    }
    *more = e->suppressed;
    e->suppressed = 0;
    e->next_ms = now + SL_LOG_EVERY_MS;
    return 1;
}
