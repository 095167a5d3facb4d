/* L0 base/watch: tells when a .lua file under a folder changes, with libuv fs
 * events on the folder and its subfolders (inotify is not recursive, so
 * every folder gets a watcher), debounced so an editor's burst of writes
 * is one change. Knows nothing of Lua or of what a change means. */
#ifndef SL_WATCH_H
#define SL_WATCH_H

#include <uv.h>

typedef struct sl_watch sl_watch_t;

/* cb runs once per burst of changes to files ending in suffix, debounce_ms
 * after the last one. Folders named "public", "node_modules" or starting
 * with '.' are skipped. Returns NULL (logged) on failure. */
sl_watch_t *sl_watch_new(uv_loop_t *loop, const char *root, const char *suffix,
                         unsigned debounce_ms, void (*cb)(void *ud), void *ud);
/* Scans for folders again: new subfolders get watched (the others keep
 * their watchers). */
void sl_watch_rescan(sl_watch_t *w);
/* Stops and frees (asynchronously, through handle close callbacks). */
void sl_watch_close(sl_watch_t *w);

#endif
