/* L0 base/watch: debounced change notification for a folder tree. See watch.h. */
#include "base/watch.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/log.h"

#define MAX_DIRS 256
#define MAX_DEPTH 6

struct sl_watch {
    uv_loop_t *loop;
    char root[1024];
    char suffix[16];
    unsigned debounce_ms;
    void (*cb)(void *ud);
    void *ud;
    uv_timer_t debounce;
    uv_fs_event_t *dirs[MAX_DIRS];
    char *paths[MAX_DIRS];
    int ndirs;
    int closing;
    int pending_closes;
};

static void watch_maybe_free(sl_watch_t *w)
{
    if (w->closing && w->pending_closes == 0)
        free(w);
}

static void handle_closed(uv_handle_t *h)
{
    sl_watch_t *w = h->data;
    if (h != (uv_handle_t *)&w->debounce)
        free(h);
    w->pending_closes--;
    watch_maybe_free(w);
}

static void debounce_cb(uv_timer_t *t)
{
    sl_watch_t *w = t->data;
    w->cb(w->ud);
}

static void event_cb(uv_fs_event_t *h, const char *filename, int events, int status)
{
    (void)events;
    sl_watch_t *w = h->data;
    if (status < 0 || w->closing || !filename)
        return;
    size_t fl = strlen(filename), sl = strlen(w->suffix);
    if (fl < sl || strcmp(filename + fl - sl, w->suffix) != 0)
        return;
    uv_timer_start(&w->debounce, debounce_cb, w->debounce_ms, 0);
}

static int skip_dir(const char *name)
{
    return name[0] == '.' || !strcmp(name, "public") || !strcmp(name, "node_modules");
}

static int watched(const sl_watch_t *w, const char *path)
{
    for (int i = 0; i < w->ndirs; i++)
        if (!strcmp(w->paths[i], path))
            return 1;
    return 0;
}

static void add_dir(sl_watch_t *w, const char *path, int depth)
{
    if (w->ndirs == MAX_DIRS)
        return;
    if (watched(w, path))
        goto children; /* kept: reopening would drop its queued events */
    uv_fs_event_t *h = malloc(sizeof *h);
    char *copy = strdup(path);
    if (!h || !copy) {
        free(h);
        free(copy);
        return;
    }
    uv_fs_event_init(w->loop, h);
    h->data = w;
    if (uv_fs_event_start(h, event_cb, path, 0) != 0) {
        free(copy);
        w->pending_closes++;
        uv_close((uv_handle_t *)h, handle_closed);
        return;
    }
    w->paths[w->ndirs] = copy;
    w->dirs[w->ndirs++] = h;
children:
    if (depth >= MAX_DEPTH)
        return;
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (skip_dir(e->d_name))
            continue;
        char sub[2048];
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        struct stat st;
        if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
            add_dir(w, sub, depth + 1);
    }
    closedir(d);
}

static void close_dirs(sl_watch_t *w)
{
    for (int i = 0; i < w->ndirs; i++) {
        w->pending_closes++;
        uv_close((uv_handle_t *)w->dirs[i], handle_closed);
        free(w->paths[i]);
    }
    w->ndirs = 0;
}

sl_watch_t *sl_watch_new(uv_loop_t *loop, const char *root, const char *suffix,
                         unsigned debounce_ms, void (*cb)(void *ud), void *ud)
{
    sl_watch_t *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->loop = loop;
    snprintf(w->root, sizeof w->root, "%s", root);
    snprintf(w->suffix, sizeof w->suffix, "%s", suffix);
    w->debounce_ms = debounce_ms;
    w->cb = cb;
    w->ud = ud;
    uv_timer_init(loop, &w->debounce);
    w->debounce.data = w;
    add_dir(w, w->root, 0);
    if (w->ndirs == 0) {
        SL_WARN("watch", "cannot watch %s: no reload on change", root);
        sl_watch_close(w);
        return NULL;
    }
    return w;
}

/* Watches folders that appeared since; the existing watchers stay open so
 * no change made meanwhile is lost. */
void sl_watch_rescan(sl_watch_t *w)
{
    add_dir(w, w->root, 0);
}

void sl_watch_close(sl_watch_t *w)
{
    if (!w || w->closing)
        return;
    w->closing = 1;
    close_dirs(w);
    w->pending_closes++;
    uv_close((uv_handle_t *)&w->debounce, handle_closed);
}
