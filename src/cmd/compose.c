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
#include "cmd/sd_notify.h"
#include "net/deflate.h"

/* The server's shutdown callback carries no user data; there is one
 * composition per process. */
static sl_compose_t *g_compose;

int sl_compose_usage(const sl_compose_t *c, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "siolua: ");
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

/* NAME=VALUE: checked and applied now, so a bad one stops everything
 * before it starts and what is read before main.lua (the HTTP limits, the
 * endpoint's options) is the command line's; kept to be applied again
 * after main.lua. */
static int add_set(sl_compose_t *c, const char *kv)
{
    char name[128], err[512];
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv)
        return sl_compose_usage(c, "bad --set '%s': expected NAME=VALUE", kv);
    snprintf(name, sizeof name, "%.*s", (int)(eq - kv), kv);
    if (sl_settings_set(&c->settings, name, eq + 1, c->where, err, sizeof err))
        return sl_compose_usage(c, "%s", err);
    if (c->nsets == SL_COMPOSE_MAX_SETS)
        return sl_compose_usage(c, "more than %d --set options", SL_COMPOSE_MAX_SETS);
    const sl_option_t *o = sl_option_find(name);
    c->sets[c->nsets].opt = o;
    sl_option_parse(o, eq + 1, &c->sets[c->nsets].v, err, sizeof err);
    c->nsets++;
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
        const sl_flag_t *common = flag_find(common_flags, a);
        const sl_flag_t *f = common ? common : flag_find(flags, a);
        if (!f)
            return sl_compose_usage(c, "unknown option '%s'", a);
        const char *value = NULL;
        if (f->has_value) {
            if (i + 1 >= argc)
                return sl_compose_usage(c, "option '%s' needs a value", a);
            value = argv[++i];
        }
        int rc;
        if (!common)
            rc = own(c, a, value);
        else if (!strcmp(a, "--set"))
            rc = add_set(c, value);
        else if (!strcmp(a, "--log-format")) {
            if ((rc = sl_log_set_format(value)) != 0)
                rc = sl_compose_usage(c, "bad log format '%s' (text or json)", value);
        } else if ((rc = sl_log_set_level(value)) != 0)
            rc = sl_compose_usage(c, "bad log level '%s'", value);
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
    return 0;
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
    push(c, sl_option_find(name)->to);
    return 0;
}

/* The command line wins over main.lua. */
static void apply_sets(sl_compose_t *c)
{
    char err[512];
    unsigned to = 0;
    for (int i = 0; i < c->nsets; i++) {
        sl_option_apply(c->sets[i].opt, &c->settings, &c->sets[i].v, err, sizeof err);
        to |= c->sets[i].opt->to;
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
    c->app = c->server ? sl_app_new(loop, c->server, c->app_dir, sl_datadir_lua(),
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
    return 0;
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

void sl_compose_start(sl_compose_t *c) { sl_app_start(c->app); }

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
    sl_app_free(c->app);
    c->app = NULL;
    close_handles(c);
    /* What was never started (a server that never listened still holds
     * its listener handle) closes here. */
    uv_walk(c->loop, close_left, NULL);
    uv_run(c->loop, UV_RUN_DEFAULT);
    sl_server_free(c->server);
    c->server = NULL;
    sl_zpool_free(); /* the compressors shared by every connection */
    g_compose = NULL;
    return uv_loop_close(c->loop) ? -1 : 0;
}
