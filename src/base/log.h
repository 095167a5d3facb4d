/* L0 base/log: one line per event, to stderr, in one of two formats:
 *
 *   text (default):  2024-05-01T12:00:00.123Z info  worker=2 [eio] session X: upgrade timed out
 *   json:            {"ts":"2024-05-01T12:00:00.123Z","level":"info","module":"eio",
 *                     "pid":4242,"worker":2,"msg":"session X: upgrade timed out","sid":"X"}
 *
 * A line may carry fields (sid, nsp, reason, ...): the JSON format lifts
 * them into members of the object, the text format shows only the message,
 * which says the same in words. Every layer may log; nothing here knows any
 * layer. Secrets never go in a message or a field (Redis URLs are logged
 * through sl_redis_url_text, which masks the password). */
#ifndef SL_LOG_H
#define SL_LOG_H

#include <stdint.h>

typedef enum { SL_LOG_DEBUG = 0, SL_LOG_INFO, SL_LOG_WARN, SL_LOG_ERROR, SL_LOG_OFF } sl_log_level_t;

extern sl_log_level_t sl_log_level;

/* Returns 0 and sets the level from "debug|info|warn|error|off", -1 if unknown. */
int sl_log_set_level(const char *name);
/* Returns 0 and sets the format from "text|json", -1 if unknown. */
int sl_log_set_format(const char *name);
/* A field every line of this process carries ("worker=2": text shows it
 * after the level, JSON as "worker":2); NULL or "" for none. */
void sl_log_set_tag(const char *tag);
void sl_log(sl_log_level_t lvl, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* sl_log with fields: a NULL-terminated list of key, value, key, value...
 * (SL_LOG_FIELDS builds one); a NULL value leaves its key out. */
void sl_logf(sl_log_level_t lvl, const char *module, const char *const *fields, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define SL_LOG_FIELDS(...) ((const char *const[]){__VA_ARGS__, NULL})

#define SL_DEBUG(mod, ...) do { if (sl_log_level <= SL_LOG_DEBUG) sl_log(SL_LOG_DEBUG, mod, __VA_ARGS__); } while (0)
#define SL_INFO(mod, ...)  do { if (sl_log_level <= SL_LOG_INFO) sl_log(SL_LOG_INFO, mod, __VA_ARGS__); } while (0)
#define SL_WARN(mod, ...)  do { if (sl_log_level <= SL_LOG_WARN) sl_log(SL_LOG_WARN, mod, __VA_ARGS__); } while (0)
#define SL_ERROR(mod, ...) do { if (sl_log_level <= SL_LOG_ERROR) sl_log(SL_LOG_ERROR, mod, __VA_ARGS__); } while (0)

/* The same with fields: SL_INFOF("eio", SL_LOG_FIELDS("sid", sid), "session %s: ...", sid). */
#define SL_DEBUGF(mod, f, ...) do { if (sl_log_level <= SL_LOG_DEBUG) sl_logf(SL_LOG_DEBUG, mod, f, __VA_ARGS__); } while (0)
#define SL_INFOF(mod, f, ...)  do { if (sl_log_level <= SL_LOG_INFO) sl_logf(SL_LOG_INFO, mod, f, __VA_ARGS__); } while (0)
#define SL_WARNF(mod, f, ...)  do { if (sl_log_level <= SL_LOG_WARN) sl_logf(SL_LOG_WARN, mod, f, __VA_ARGS__); } while (0)
#define SL_ERRORF(mod, f, ...) do { if (sl_log_level <= SL_LOG_ERROR) sl_logf(SL_LOG_ERROR, mod, f, __VA_ARGS__); } while (0)

/* ---- problems that recur ------------------------------------------------
 * Whatever a peer can make happen again and again (a bad request, a full
 * cap, a refused handshake) is logged at most once per interval, so no
 * client can flood the log: the first time at once, then one line per
 * interval that also says how many times it happened meanwhile (JSON: a
 * "more" field). The struct keeps a running total too, for metrics.
 *
 *   static sl_log_every_t bad = SL_LOG_EVERY_INIT;
 *   SL_LOG_EVERY(&bad, SL_LOG_INFO, "http", "%s: bad request", peer);
 *   -> "... [http] 10.0.0.7: bad request"
 *   -> "... [http] 10.0.0.9: bad request (and 4120 more since the last such line)"
 */
#define SL_LOG_EVERY_MS 10000

typedef struct sl_log_every {
    uint64_t next_ms;    /* monotonic ms before which nothing is written */
    uint64_t suppressed; /* occurrences not written since the last line */
    uint64_t total;      /* every occurrence ever */
} sl_log_every_t;

#define SL_LOG_EVERY_INIT {0, 0, 0}

/* Counts one occurrence. Returns 1 when a line is due now (then *more is
 * how many went unwritten before it, and the count restarts), else 0. */
int sl_log_every_due(sl_log_every_t *e, uint64_t *more);
/* Writes a line carrying "(and N more since the last such line)" when
 * N > 0; fields as sl_logf's (NULL: none), "more" added to them. */
void sl_log_more(sl_log_level_t lvl, const char *module, uint64_t more, const char *const *fields,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#define SL_LOG_EVERYF(e, lvl, mod, f, ...)                                   \
    do {                                                                     \
        uint64_t more_;                                                      \
        if (sl_log_every_due((e), &more_) && sl_log_level <= (lvl))          \
            sl_log_more((lvl), (mod), more_, (f), __VA_ARGS__);              \
    } while (0)
#define SL_LOG_EVERY(e, lvl, mod, ...) SL_LOG_EVERYF(e, lvl, mod, NULL, __VA_ARGS__)

#endif
