/* L0 base/log: one line per event, to stderr: "time level [module] message".
 * Every layer may log; nothing here knows any layer. */
#ifndef SL_LOG_H
#define SL_LOG_H

typedef enum { SL_LOG_DEBUG = 0, SL_LOG_INFO, SL_LOG_WARN, SL_LOG_ERROR, SL_LOG_OFF } sl_log_level_t;

extern sl_log_level_t sl_log_level;

/* Returns 0 and sets the level from "debug|info|warn|error|off", -1 if unknown. */
int sl_log_set_level(const char *name);
/* A field every line of this process carries after its level ("worker=2");
 * NULL or "" for none. */
void sl_log_set_tag(const char *tag);
void sl_log(sl_log_level_t lvl, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define SL_DEBUG(mod, ...) do { if (sl_log_level <= SL_LOG_DEBUG) sl_log(SL_LOG_DEBUG, mod, __VA_ARGS__); } while (0)
#define SL_INFO(mod, ...)  do { if (sl_log_level <= SL_LOG_INFO) sl_log(SL_LOG_INFO, mod, __VA_ARGS__); } while (0)
#define SL_WARN(mod, ...)  do { if (sl_log_level <= SL_LOG_WARN) sl_log(SL_LOG_WARN, mod, __VA_ARGS__); } while (0)
#define SL_ERROR(mod, ...) do { if (sl_log_level <= SL_LOG_ERROR) sl_log(SL_LOG_ERROR, mod, __VA_ARGS__); } while (0)

#endif
