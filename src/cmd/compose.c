/* L7 cmd/compose: the composition root. See compose.h. */
#include "cmd/compose.h"

#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/datadir.h"
#include "base/log.h"
#include "cluster/node_registry.h"
#include "cmd/metrics.h"
#include "cmd/sd_notify.h"
#include "lua/lua_config.h"
#include "net/deflate.h"

/* The server's shutdown callback carries no user data; there is one
 * composition per process. */
static sl_compose_t *g_compose;

int sl_compose_usage(const sl_compose_t *c, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "siolua: ");
    if (c->source)
        fprintf(stderr, "%s: ", c->source);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see %s)\n", c->help);
    return 2;
}

void sl_compose_init(sl_compose_t *c, unsigned where, const char *help)
{
    memset(c, 0, sizeof *c);
    c->where = where;
    c->help = help;
    sl_settings_init(&c->settings);
}

/* ---- the command line ---------------------------------------------------------- */

/* A copy of text in c's store, or NULL when it is full. */
static const char *keep(sl_compose_t *c, const char *text, size_t n)
{
    if (c->stored + n + 1 > sizeof c->store)
        return NULL;
    char *p = c->store + c->stored;
    memcpy(p, text, n);
    p[n] = '\0';
    c->stored += n + 1;
    return p;
}

/* An option to apply once every source is read (source NULL: the command
 * line's --set). */
static int add_set(sl_compose_t *c, const char *name, size_t name_len, const char *text, const char *source)
{
    if (c->nsets == SL_COMPOSE_MAX_SETS)
        return sl_compose_usage(c, "more than %d options", SL_COMPOSE_MAX_SETS);
    const char *n = keep(c, name, name_len), *t = n ? keep(c, text, strlen(text)) : NULL;
    if (!t)
        return sl_compose_usage(c, "the options take more than %d bytes", SL_COMPOSE_STORE);
    c->sets[c->nsets].name = n;
    c->sets[c->nsets].text = t;
    c->sets[c->nsets].source = source;
    c->nsets++;
    return 0;
}

/* Every option, checked and applied: the file's first, then the command
 * line's (which win); the list is left in that order, to be applied again
 * after main.lua. Applied now so a bad one stops everything before it
 * starts, and what is read before main.lua (the HTTP limits, the
 * endpoint's options) is already the configuration's. */
static int apply_options(sl_compose_t *c)
{
    char err[512];
    sl_compose_set_t ordered[SL_COMPOSE_MAX_SETS];
    int n = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < c->nsets; i++)
            if ((c->sets[i].source != NULL) == !pass)
                ordered[n++] = c->sets[i];
    memcpy(c->sets, ordered, (size_t)n * sizeof *ordered);
    for (int i = 0; i < c->nsets; i++) {
        c->source = c->sets[i].source;
        const char *name = c->sets[i].name;
        if (sl_settings_set(&c->settings, name, c->sets[i].text, c->where, err, sizeof err))
            return sl_compose_usage(c, "%s", err);
    }
    c->source = NULL;
    return 0;
}

static const sl_flag_t common_flags[] = {{"--set", 1}, {"--log-level", 1}, {"--log-format", 1}, {NULL, 0}};

static const sl_flag_t *flag_find(const sl_flag_t *flags, const char *name)
{
    for (; flags && flags->name; flags++)
        if (!strcmp(flags->name, name))
            return flags;
    return NULL;
}

typedef int (*own_flag_fn)(sl_compose_t *c, const char *flag, const char *value);

/* One flag with its value, from the command line or standing in for one. */
static int do_flag(sl_compose_t *c, own_flag_fn own, const char *a, const char *value)
{
    int rc;
    if (!flag_find(common_flags, a))
        return own(c, a, value);
    if (!strcmp(a, "--set")) {
        const char *eq = strchr(value, '=');
        if (!eq || eq == value)
            return sl_compose_usage(c, "bad --set '%s': expected NAME=VALUE", value);
        return add_set(c, value, (size_t)(eq - value), eq + 1, NULL);
    }
    if (!strcmp(a, "--log-format")) {
        if ((rc = sl_log_set_format(value)) != 0)
            rc = sl_compose_usage(c, "bad log format '%s' (text or json)", value);
    } else if ((rc = sl_log_set_level(value)) != 0) {
        rc = sl_compose_usage(c, "bad log level '%s'", value);
    }
    return rc;
}

int sl_compose_set(sl_compose_t *c, const char *name, const char *value)
{
    return add_set(c, name, strlen(name), value, NULL);
}

/* ---- the environment and the configuration file ------------------------------- */

/* What the environment or a file may give besides options: each stands for
 * a flag of the command, which it fills when the command line does not
 * (flags > environment > file). A flag without a value ("--no-reload")
 * stands for the key's value false. */
static const struct source_row {
    const char *key, *env, *flag;
} source_rows[] = {
    {"port", "SIOLUA_PORT", "--port"},
    {"host", "SIOLUA_HOST", "--host"},
    {"redis", "SIOLUA_REDIS_URL", "--redis"},
    {"workers", "SIOLUA_WORKERS", "--workers"},
    {"logLevel", "SIOLUA_LOG_LEVEL", "--log-level"},
    {"logFormat", "SIOLUA_LOG_FORMAT", "--log-format"},
    {"reload", NULL, "--no-reload"},
    {"tls.cert", NULL, "--tls-cert"},
    {"tls.key", NULL, "--tls-key"},
};

typedef struct file_item {
    const char *key, *value;
} file_item_t;

typedef struct file_read {
    sl_compose_t *c;
    file_item_t items[SL_COMPOSE_MAX_SETS];
    int n;
    char source[600];       /* "FILE: key" of the item being read */
} file_read_t;

static int given(const sl_compose_t *c, const char *flag)
{
    for (int i = 0; i < c->ngiven; i++)
        if (!strcmp(c->given[i], flag))
            return 1;
    return 0;
}

static const char *file_source(file_read_t *f, const char *key)
{
    snprintf(f->source, sizeof f->source, "%s: %s", f->c->config_file, key);
    return keep(f->c, f->source, strlen(f->source));
}

/* One setting of the file: an option, or a key of source_rows. */
static int file_item(void *ud, const char *name, const char *value)
{
    file_read_t *f = ud;
    sl_compose_t *c = f->c;
    c->source = c->config_file;
    if (!value)
        return sl_compose_usage(c, "%s: no text form for this value (give a string, a number, a "
                                   "boolean or a list of them)", name);
    if (!strncmp(name, "options.", 8)) {
        const char *src = file_source(f, name);
        return src ? add_set(c, name + 8, strlen(name + 8), value, src)
                   : sl_compose_usage(c, "more than %d bytes of settings", SL_COMPOSE_STORE);
    }
    if (!strcmp(value, SL_OPT_TABLE))
        return 0; /* a table of keys (tls = {...}): they follow, each checked */
    size_t i = 0;
    while (i < sizeof source_rows / sizeof *source_rows && strcmp(source_rows[i].key, name))
        i++;
    if (i == sizeof source_rows / sizeof *source_rows) {
        char first[128];
        snprintf(first, sizeof first, "%.*s", (int)strcspn(name, "."), name);
        return sl_compose_usage(c, "unknown key '%s'%s", name,
                                sl_option_find(name) || sl_option_find(first)
                                    ? " (server options go in options = { ... })"
                                    : " (known: port, host, redis, workers, logLevel, logFormat, "
                                      "reload, tls, options)");
    }
    if (f->n == SL_COMPOSE_MAX_SETS || !(value = keep(c, value, strlen(value))))
        return sl_compose_usage(c, "more than %d bytes of settings", SL_COMPOSE_STORE);
    f->items[f->n].key = source_rows[i].key;
    f->items[f->n].value = value;
    f->n++;
    return 0;
}

static const char *file_value(const file_read_t *f, const char *key)
{
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->items[i].key, key))
            return f->items[i].value;
    return NULL;
}

/* The flags the command line did not give, from the environment or the
 * file; then the file's options. */
static int read_sources(sl_compose_t *c, const sl_flag_t *flags, own_flag_fn own)
{
    static file_read_t f; /* one per process, like the composition */
    memset(&f, 0, sizeof f);
    f.c = c;
    if (c->config_file) {
        char err[700];
        int rc = sl_config_read(c->config_file, file_item, &f, err, sizeof err);
        c->source = NULL;
        if (rc > 0)
            return rc; /* a bad item: said */
        if (rc < 0)
            return sl_compose_usage(c, "%s", err);
    }
    for (size_t i = 0; i < sizeof source_rows / sizeof *source_rows; i++) {
        const struct source_row *r = &source_rows[i];
        const sl_flag_t *fl = flag_find(common_flags, r->flag);
        if (!fl)
            fl = flag_find(flags, r->flag);
        if (!fl || given(c, r->flag))
            continue;
        const char *value = r->env ? getenv(r->env) : NULL;
        c->source = r->env;
        if (!value || !*value) {
            value = file_value(&f, r->key);
            c->source = value ? file_source(&f, r->key) : NULL;
        }
        int rc = 0;
        if (value && !fl->has_value) { /* a switch: the key says true or false */
            if (strcmp(value, "true") && strcmp(value, "false"))
                rc = sl_compose_usage(c, "bad value '%s': expected true or false", value);
            else if (!strcmp(value, "false"))
                rc = do_flag(c, own, r->flag, NULL);
        } else if (value) {
            rc = do_flag(c, own, r->flag, value);
        }
        c->source = NULL;
        if (rc)
            return rc;
    }
    return 0;
}

int sl_compose_args(sl_compose_t *c, int argc, char **argv, const sl_flag_t *flags,
                    int (*own)(sl_compose_t *c, const char *flag, const char *value))
{
    const char *app_dir = NULL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-') {
            if (app_dir)
                return sl_compose_usage(c, "unexpected argument '%s'", a);
            app_dir = a;
            continue;
        }
        const sl_flag_t *f = flag_find(common_flags, a);
        if (!f)
            f = flag_find(flags, a);
        if (!f)
            return sl_compose_usage(c, "unknown option '%s'", a);
        const char *value = NULL;
        if (f->has_value) {
            if (i + 1 >= argc)
                return sl_compose_usage(c, "option '%s' needs a value", a);
            value = argv[++i];
        }
        if (c->ngiven < SL_COMPOSE_MAX_GIVEN)
            c->given[c->ngiven++] = f->name;
        int rc = do_flag(c, own, a, value);
        if (rc)
            return rc;
    }
    if (!app_dir)
        return sl_compose_usage(c, "missing APP_DIR");
    struct stat st;
    if (stat(app_dir, &st) || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "siolua: app directory '%s' not found\n", app_dir);
        return 2;
    }
    c->app_dir = app_dir;
    int rc = c->sources ? read_sources(c, flags, own) : 0;
    return rc ? rc : apply_options(c);
}

/* ---- options into the live objects ------------------------------------------------ */

/* Hands the settings that `to` names to the objects built; only those, so
 * a change from main.lua doesn't bring the command line's Lua guards in
 * before main.lua is over (they come with the command line, after it). */
static void push(sl_compose_t *c, unsigned to)
{
    sio_server_t *sio = sl_app_sio(c->app);
    if (to & SL_TO_HTTP) {
        sl_server_set_http(c->server, &c->settings.http.limits, &c->settings.http.trust_proxy);
        sl_server_config_mut(c->server)->compress = c->settings.http.compress;
        sl_server_config_mut(c->server)->defer_accept = c->settings.http.defer_accept;
    }
    if (to & SL_TO_EIO)
        *eio_server_options_mut(sio_server_eio(sio)) = c->settings.eio;
    if (to & SL_TO_SIO)
        *sio_server_options_mut(sio) = c->settings.sio;
    if (to & SL_TO_CLIENT)
        sl_server_set_serve_client(c->server, c->settings.serve_client);
    if (to & SL_TO_BUDGET)
        sl_app_set_lua_budget(c->app, c->settings.lua_budget);
    if (to & SL_TO_MEMORY)
        sl_app_set_lua_memory(c->app, c->settings.lua_memory);
    if (to & SL_TO_FETCH)
        sl_app_set_fetch_ca_file(c->app, c->settings.fetch_ca_file);
}

/* sio.configure's setter (sl_app_option_cb). */
static int configure_option(void *ud, const char *name, const char *value, char *err, size_t cap)
{
    sl_compose_t *c = ud;
    if (sl_settings_set(&c->settings, name, value, SL_OPT_LUA, err, cap))
        return -1;
    const sl_option_t *o = sl_option_find(name);
    if (o) /* none for a table whose fields are the options (tls) */
        push(c, o->to);
    return 0;
}

/* The file and the command line win over main.lua: the same settings
 * again, through the same reading (a table's "{}" included), so they
 * can't fail now where they passed before. */
static void apply_sets(sl_compose_t *c)
{
    char err[512];
    unsigned to = 0;
    for (int i = 0; i < c->nsets; i++) {
        const sl_option_t *o = sl_option_find(c->sets[i].name);
        sl_settings_set(&c->settings, c->sets[i].name, c->sets[i].text, c->where, err, sizeof err);
        to |= o ? o->to : 0;
    }
    push(c, to);
}

/* ---- building ------------------------------------------------------------------------ */

int sl_compose_build(sl_compose_t *c, uv_loop_t *loop)
{
    g_compose = c;
    c->loop = loop;
    uv_signal_init(loop, &c->sig_int);
    uv_signal_init(loop, &c->sig_term);
    uv_signal_init(loop, &c->sig_hup);
    uv_timer_init(loop, &c->stop_timer);
    c->handles = 1;

    char pub[PATH_MAX + 16];
    snprintf(pub, sizeof pub, "%s/public", c->app_dir);
    if (!realpath(pub, c->settings.http.static_root))
        c->settings.http.static_root[0] = '\0';
    c->server = sl_server_new(loop, &c->settings.http);
    /* Before the app, so its routes come before the app's own. */
    c->metrics = c->server ? sl_metrics_new(c) : NULL;
    c->app = c->metrics ? sl_app_new(loop, c->server, c->app_dir, sl_datadir_lua(),
                                    &c->settings.eio, &c->settings.sio, configure_option, c)
                       : NULL;
    if (!c->app) {
        fprintf(stderr, "siolua: cannot start the Lua runtime\n");
        return 1;
    }
    if (c->worker)
        sl_app_set_worker(c->app, c->worker);
    if (sl_app_load(c->app)) {
        fprintf(stderr, "siolua: %s/main.lua failed to load (see the log above)\n", c->app_dir);
        return 1;
    }
    apply_sets(c);
    int rc = sl_compose_tls_context(c, &c->tls);
    if (rc == 0 && c->tls)
        sl_server_set_tls(c->server, c->tls);
    return rc;
}

/* ---- TLS ------------------------------------------------------------------------------ */

/* HTTP/1.1 is what every route here speaks; a client that offers ALPN
 * without it (h2 only) is refused during the handshake (RFC 7301). */
static sl_tls_server_opts_t tls_opts(const sl_compose_t *c)
{
    sl_tls_server_opts_t o = {c->settings.tls_cert, c->settings.tls_key, "http/1.1"};
    return o;
}

int sl_compose_tls_context(sl_compose_t *c, sl_tls_ctx_t **out)
{
    const sl_settings_t *s = &c->settings;
    *out = NULL;
    if (!s->tls_cert[0] && !s->tls_key[0])
        return 0;
    if (!s->tls_cert[0] || !s->tls_key[0]) {
        fprintf(stderr, "siolua: TLS needs both tls.cert and tls.key (--tls-cert and --tls-key)\n");
        return 2;
    }
    char err[600];
    sl_tls_server_opts_t o = tls_opts(c);
    if (sl_tls_ctx_new_server(&o, out, err, sizeof err)) {
        fprintf(stderr, "siolua: TLS: %s\n", err);
        return 2;
    }
    return 0;
}

/* SIGHUP: the files again, all or nothing. */
static void tls_reload(sl_compose_t *c)
{
    char err[600];
    sl_tls_server_opts_t o = tls_opts(c);
    if (sl_tls_ctx_reload(&c->tls, &o, err, sizeof err)) {
        SL_ERROR("tls", "certificate not reloaded, the previous one stays: %s", err);
        return;
    }
    sl_server_set_tls(c->server, c->tls);
    SL_INFO("tls", "certificate reloaded from %s (new connections get it; open ones keep theirs)",
            c->settings.tls_cert);
}

int sl_compose_use_adapter(sl_compose_t *c, const char *url, int local_bus)
{
    c->adapter = local_bus ? sl_app_use_local_bus(c->app, url, &c->settings.redis)
                           : sl_app_use_redis(c->app, url, &c->settings.redis);
    if (!c->adapter)
        return -1;
    sl_server_set_locator(c->server, &sl_node_registry_locator, sio_redis_nodes(c->adapter));
    return 0;
}

void sl_compose_set_cluster_address(sl_compose_t *c, const char *host_port)
{
    if (c->adapter)
        sio_redis_set_address(c->adapter, host_port);
}

void sl_compose_start(sl_compose_t *c)
{
    sl_app_start(c->app);
    sl_metrics_start(c->metrics);
}

/* ---- stopping -------------------------------------------------------------------------- */

static void close_handles(sl_compose_t *c)
{
    if (!c->handles)
        return;
    c->handles = 0;
    uv_close((uv_handle_t *)&c->sig_int, NULL);
    uv_close((uv_handle_t *)&c->sig_term, NULL);
    uv_close((uv_handle_t *)&c->sig_hup, NULL);
    uv_close((uv_handle_t *)&c->stop_timer, NULL);
}

static void on_shutdown_done(sl_server_t *srv)
{
    (void)srv;
    sl_compose_t *c = g_compose;
    if (c->on_closed)
        c->on_closed(c);
    /* Health checks were answered while draining; now nothing more comes. */
    sl_metrics_close(c->metrics);
    c->metrics = NULL;
    sl_app_free(c->app); /* closes the Lua state and its timers */
    c->app = NULL;
    close_handles(c);
}

void sl_compose_stop(sl_compose_t *c)
{
    if (c->stopping || !c->app)
        return;
    c->stopping = 1;
    /* The node registry goes with the adapter, in the app's shutdown. */
    sl_server_set_locator(c->server, NULL, NULL);
    c->adapter = NULL;
    sl_app_shutdown(c->app);
    sl_server_shutdown(c->server, on_shutdown_done);
}

static void stop_cb(uv_timer_t *t)
{
    (void)t;
    sl_compose_stop(g_compose);
}

void sl_compose_stop_soon(sl_compose_t *c)
{
    if (c->handles)
        uv_timer_start(&c->stop_timer, stop_cb, 0, 0);
}

static void on_signal(uv_signal_t *h, int signum)
{
    sl_compose_t *c = h->data;
    SL_INFO("main", "%s received, shutting down", signum == SIGINT ? "SIGINT" : "SIGTERM");
    sl_sd_stopping();
    if (c->on_signal)
        c->on_signal(c, signum);
    sl_compose_stop(c);
}

static void on_sighup(uv_signal_t *h, int signum)
{
    (void)signum;
    sl_compose_t *c = h->data;
    if (c->app) {
        SL_INFO("main", "SIGHUP received, reloading");
        sl_sd_reloading();
        if (c->tls)
            tls_reload(c);
        sl_app_reload(c->app);
        sl_sd_ready(NULL, NULL);
    }
}

void sl_compose_signals(sl_compose_t *c, int hup)
{
    c->sig_int.data = c->sig_term.data = c->sig_hup.data = c;
    uv_signal_start(&c->sig_int, on_signal, SIGINT);
    uv_signal_start(&c->sig_term, on_signal, SIGTERM);
    if (hup)
        uv_signal_start(&c->sig_hup, on_sighup, SIGHUP);
}

static void close_left(uv_handle_t *h, void *ud)
{
    (void)ud;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

int sl_compose_free(sl_compose_t *c)
{
    sl_metrics_close(c->metrics);
    c->metrics = NULL;
    sl_app_free(c->app);
    c->app = NULL;
    close_handles(c);
    /* What was never started (a server that never listened still holds
     * its listener handle) closes here. */
    uv_walk(c->loop, close_left, NULL);
    uv_run(c->loop, UV_RUN_DEFAULT);
    sl_server_free(c->server);
    c->server = NULL;
    sl_tls_ctx_unref(c->tls);
    c->tls = NULL;
    sl_zpool_free(); /* the compressors shared by every connection */
    g_compose = NULL;
    return uv_loop_close(c->loop) ? -1 : 0;
}
