/* L0 base/log: single-line log records on stderr, as text or JSON. See log.h. */
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/time.h>

#include "base/json_text.h"
#include "base/utf8.h"

sl_log_level_t sl_log_level = SL_LOG_INFO;

static int json_format;

/* "worker=2 " in a worker of `siolua run --workers N`, so the lines of
 * processes sharing one stderr can be told apart; JSON gets it as a member. */
static char tag[40];
static char tag_key[24], tag_value[16];

void sl_log_set_tag(const char *t)
{
    snprintf(tag, sizeof tag, "%s%s", t && *t ? t : "", t && *t ? " " : "");
    const char *eq = t ? strchr(t, '=') : NULL;
    tag_key[0] = tag_value[0] = '\0';
    if (eq && (size_t)(eq - t) < sizeof tag_key && strlen(eq + 1) < sizeof tag_value) {
        memcpy(tag_key, t, (size_t)(eq - t));
        tag_key[eq - t] = '\0';
        strcpy(tag_value, eq + 1);
    }
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

int sl_log_set_format(const char *name)
{
    if (!strcmp(name, "text") || !strcmp(name, "json")) {
        json_format = !strcmp(name, "json");
        return 0;
    }
    return -1;
}

/* ---- JSON lines ------------------------------------------------------------ */

/* A line under construction in a caller's buffer. No allocation: a logger
 * must work when memory has run out. Past cap, strings are cut (at a
 * character boundary) and fields left out, so the line stays one valid
 * object; room for the closing '"', '}' and '\n' is kept outside cap. */
typedef struct line {
    char *p;
    size_t len, cap;
} line_t;

static int line_put(line_t *l, const char *s, size_t n)
{
    if (l->len + n > l->cap)
        return -1;
    memcpy(l->p + l->len, s, n);
    l->len += n;
    return 0;
}

/* s as a JSON string: control characters, '"' and '\\' escaped as
 * JSON.stringify does, each byte that is not part of well-formed UTF-8
 * written as U+FFFD, so any bytes a peer sent give a valid line. */
static void line_put_string(line_t *l, const char *s, size_t n)
{
    l->p[l->len++] = '"'; /* the caller checked there is room for both quotes */
    const unsigned char *q = (const unsigned char *)s, *end = q + n;
    while (q < end) {
        char esc[6];
        const char *chunk = (const char *)q;
        size_t len, adv;
        if (*q < 0x20 || *q == '"' || *q == '\\') {
            len = sl_json_escape_byte(*q, esc);
            chunk = esc;
            adv = 1;
        } else if ((adv = len = sl_utf8_seq_len(q, (size_t)(end - q))) == 0) {
            chunk = "\\ufffd";
            len = 6;
            adv = 1;
        }
        if (l->len + len + 1 > l->cap)
            break;
        memcpy(l->p + l->len, chunk, len);
        l->len += len;
        q += adv;
    }
    l->p[l->len++] = '"';
}

/* ,"key":"value" -- left out when even its key would not fit. */
static void line_put_member(line_t *l, const char *key, const char *value, size_t vlen)
{
    if (l->len + strlen(key) + 6 > l->cap)
        return;
    line_put(l, ",", 1);
    line_put_string(l, key, strlen(key));
    line_put(l, ":", 1);
    line_put_string(l, value, vlen);
}

static int all_digits(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

static void write_json(const char *ts, sl_log_level_t lvl, const char *module, const char *msg,
                       const char *const *fields)
{
    char buf[16384];
    line_t l = {buf, 0, sizeof buf - 3};
    char head[160];
    int n = snprintf(head, sizeof head, "{\"ts\":\"%s\",\"level\":\"%s\",\"module\":", ts, level_names[lvl]);
    line_put(&l, head, (size_t)n);
    line_put_string(&l, module, strlen(module));
    n = snprintf(head, sizeof head, ",\"pid\":%ld", (long)getpid());
    line_put(&l, head, (size_t)n);
    if (tag_key[0] && all_digits(tag_value)) {
        n = snprintf(head, sizeof head, ",\"%s\":%s", tag_key, tag_value);
        line_put(&l, head, (size_t)n);
    } else if (tag_key[0]) {
        line_put_member(&l, tag_key, tag_value, strlen(tag_value));
    }
    line_put_member(&l, "msg", msg, strlen(msg));
    for (int i = 0; fields && fields[i]; i += 2)
        if (fields[i + 1])
            line_put_member(&l, fields[i], fields[i + 1], strlen(fields[i + 1]));
    buf[l.len++] = '}';
    buf[l.len++] = '\n';
    /* One write: lines of workers sharing a pipe don't interleave. */
    fwrite(buf, 1, l.len, stderr);
}

/* ---- the entry points -------------------------------------------------------- */

static void log_v(sl_log_level_t lvl, const char *module, const char *const *fields, const char *fmt,
                  va_list ap)
{
    char ts[64]; /* 24 bytes, but the compiler counts ints of any size */
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000));
    if (json_format) {
        char msg[1024];
        vsnprintf(msg, sizeof msg, fmt, ap);
        write_json(ts, lvl, module, msg, fields);
        return;
    }
    char line[1024];
    int n = snprintf(line, sizeof line, "%s %-5s %s[%s] ", ts, level_names[lvl], tag, module);
    if (n > 0 && (size_t)n < sizeof line)
        vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
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
    log_v(lvl, module, NULL, fmt, ap);
    va_end(ap);
}

void sl_logf(sl_log_level_t lvl, const char *module, const char *const *fields, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_v(lvl, module, fields, fmt, ap);
    va_end(ap);
}

void sl_log_more(sl_log_level_t lvl, const char *module, uint64_t more, const char *const *fields,
                 const char *fmt, ...)
{
    char msg[1024], n[24];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *f[2 * 16 + 3];
    size_t k = 0;
    for (size_t i = 0; fields && fields[i] && k < 2 * 16; i += 2) {
        f[k++] = fields[i];
        f[k++] = fields[i + 1];
    }
    if (more) {
        snprintf(n, sizeof n, "%llu", (unsigned long long)more);
        f[k++] = "more";
        f[k++] = n;
    }
    f[k] = NULL;
    if (more)
        sl_logf(lvl, module, f, "%s (and %s more since the last such line)", msg, n);
    else
        sl_logf(lvl, module, f, "%s", msg);
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
