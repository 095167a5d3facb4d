/* Unit tests of the typed options table (cmd/options.c): every row's
 * default is the layers' own, values of each type are read and refused
 * with words naming the option, the value and what was expected, each
 * value lands in the struct of the layer that uses it, and --help lists
 * every row within 80 columns. */
#include "cmd/options.h"
#include "lua/lua_rt.h"
#include "cluster/redis_url.h"
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int set(sl_settings_t *s, const char *name, const char *value, char *err)
{
    err[0] = '\0';
    return sl_settings_set(s, name, value, SL_OPT_RUN | SL_OPT_TEST | SL_OPT_LUA, err, 256);
}

static void rows_are_whole_and_names_unique(void)
{
    CHECK(sl_options_count > 20);
    for (size_t i = 0; i < sl_options_count; i++) {
        const sl_option_t *o = &sl_options[i];
        CHECK(o->name && o->help && o->apply && o->where && o->to);
        CHECK(sl_option_find(o->name) == o);
        if (o->type == SL_OPT_ENUM || o->type == SL_OPT_LIST)
            CHECK(o->choices && o->choices[0]);
        if (o->type == SL_OPT_UINT || o->type == SL_OPT_TEXT)
            CHECK(o->min <= o->max);
    }
    CHECK(sl_option_find("pingIntervall") == NULL);
}

/* The section a field belongs to (see options.h), as the test reads the
 * names: the nearest true/false row named by a prefix. */
static const sl_option_t *section_of(const char *name)
{
    char n[128];
    snprintf(n, sizeof n, "%s", name);
    for (char *dot; (dot = strrchr(n, '.'));) {
        *dot = '\0';
        const sl_option_t *o = sl_option_find(n);
        if (o && o->type == SL_OPT_BOOL)
            return o;
    }
    return NULL;
}

/* The table's default column is what --help prints; the values come from
 * the layers' init functions. They must agree. A field's default is
 * compared with its section turned on, since giving a field turns it on. */
static void every_default_is_the_layers_default(void)
{
    sl_settings_t init;
    sl_settings_init(&init);
    char err[256];
    for (size_t i = 0; i < sl_options_count; i++) {
        const sl_option_t *o = &sl_options[i];
        if (!o->def)
            continue; /* an alias */
        sl_settings_t base, s;
        memcpy(&base, &init, sizeof base);
        const sl_option_t *sec = section_of(o->name);
        if (sec)
            CHECK_EQ_INT(sl_settings_set(&base, sec->name, "true", sec->where, err, sizeof err), 0);
        memcpy(&s, &base, sizeof s);
        sl_optval_t v;
        CHECK_EQ_INT(sl_option_parse(o, o->def, &v, err, sizeof err), 0);
        CHECK_EQ_INT(sl_option_apply(o, &s, &v, err, sizeof err), 0);
        if (memcmp(&s, &base, sizeof s) != 0)
            fprintf(stderr, "  the default of %s is not the layers'\n", o->name);
        CHECK(memcmp(&s, &base, sizeof s) == 0);
    }
    CHECK_EQ_INT(init.lua_budget, SL_LUA_DEFAULT_BUDGET);
    CHECK_EQ_INT(init.lua_time_limit, SL_LUA_DEFAULT_TIME_LIMIT_MS);
    CHECK(!strcmp(init.eio.path, "/socket.io/"));
    CHECK_EQ_INT(init.http.limits.max_body_bytes, init.eio.max_http_buffer_size);
    CHECK_EQ_INT(init.eio.per_message_deflate.enabled, 0); /* Node's defaults */
    CHECK_EQ_INT(init.eio.http_compression.enabled, 1);
    CHECK_EQ_INT(init.http.compress.enabled, 1);
}

/* perMessageDeflate and httpCompression as Node's option objects: the
 * switch, a field that turns it on, the table form, ws's three-valued
 * settings, and clear words for what is refused. */
static void compression_options_read_as_node_writes_them(void)
{
    sl_settings_t s;
    sl_settings_init(&s);
    char err[256];
    const sl_ws_deflate_opts_t *z = &s.eio.per_message_deflate;
    CHECK_EQ_INT(set(&s, "perMessageDeflate", "true", err), 0);
    CHECK_EQ_INT(z->enabled, 1);
    CHECK_EQ_INT(z->threshold, 1024);
    CHECK_EQ_INT(set(&s, "perMessageDeflate", "false", err), 0);
    CHECK_EQ_INT(set(&s, "perMessageDeflate.threshold", "10", err), 0);
    CHECK_EQ_INT(z->enabled, 1); /* a field turns the section on */
    CHECK_EQ_INT(z->threshold, 10);
    CHECK_EQ_INT(set(&s, "perMessageDeflate", "false", err), 0);
    CHECK_EQ_INT(set(&s, "perMessageDeflate", "{}", err), 0); /* perMessageDeflate = {} */
    CHECK_EQ_INT(z->enabled, 1);
    CHECK_EQ_INT(z->threshold, 10);

    CHECK_EQ_INT(z->server_no_context_takeover, SL_WSZ_UNSET);
    CHECK_EQ_INT(set(&s, "perMessageDeflate.serverNoContextTakeover", "true", err), 0);
    CHECK_EQ_INT(z->server_no_context_takeover, SL_WSZ_TRUE);
    CHECK_EQ_INT(set(&s, "perMessageDeflate.serverNoContextTakeover", "false", err), 0);
    CHECK_EQ_INT(z->server_no_context_takeover, SL_WSZ_FALSE);
    CHECK_EQ_INT(set(&s, "perMessageDeflate.serverNoContextTakeover", "", err), 0);
    CHECK_EQ_INT(z->server_no_context_takeover, SL_WSZ_UNSET);
    CHECK_EQ_INT(set(&s, "perMessageDeflate.serverNoContextTakeover", "yes", err), SL_OPT_EVALUE);
    CHECK(!strcmp(err, "bad value 'yes' for perMessageDeflate.serverNoContextTakeover: expected "
                       "true, false, or '' (the client's offer decides)"));
    CHECK_EQ_INT(set(&s, "perMessageDeflate.serverMaxWindowBits", "10", err), 0);
    CHECK_EQ_INT(z->server_max_window_bits, 10);
    CHECK_EQ_INT(set(&s, "perMessageDeflate.clientMaxWindowBits", "false", err), 0);
    CHECK_EQ_INT(z->client_max_window_bits, SL_WSZ_FALSE);
    CHECK_EQ_INT(set(&s, "perMessageDeflate.clientMaxWindowBits", "true", err), 0);
    CHECK_EQ_INT(z->client_max_window_bits, SL_WSZ_UNSET); /* ws reads only numbers and false */
    const char *windows[] = {"7", "16", "x", "-9", "09x"};
    for (size_t i = 0; i < sizeof windows / sizeof windows[0]; i++)
        CHECK_EQ_INT(set(&s, "perMessageDeflate.serverMaxWindowBits", windows[i], err), SL_OPT_EVALUE);
    CHECK_EQ_INT(z->server_max_window_bits, 10);
    CHECK_EQ_INT(set(&s, "perMessageDeflate.memLevel", "0", err), SL_OPT_EVALUE);
    CHECK(!strcmp(err, "bad value '0' for perMessageDeflate.memLevel: expected an integer from 1 to 9"));
    CHECK_EQ_INT(set(&s, "perMessageDeflate.zlibDeflateOptions.memLevel", "4", err), 0);
    CHECK_EQ_INT(z->mem_level, 4);
    CHECK_EQ_INT(set(&s, "perMessageDeflate.zlibDeflateOptions.level", "1", err), 0);
    CHECK_EQ_INT(z->level, 1);
    CHECK_EQ_INT(set(&s, "perMessageDeflate.concurrencyLimit", "10", err), 0);
    CHECK_EQ_INT(set(&s, "perMessageDeflate.thresold", "10", err), SL_OPT_EUNKNOWN);
    CHECK(!strcmp(err, "unknown option 'perMessageDeflate.thresold'; did you mean perMessageDeflate.threshold?"));

    CHECK_EQ_INT(set(&s, "httpCompression", "false", err), 0);
    CHECK(!s.eio.http_compression.enabled && !s.http.compress.enabled);
    CHECK_EQ_INT(set(&s, "httpCompression.threshold", "2048", err), 0);
    CHECK(s.eio.http_compression.enabled && s.http.compress.enabled);
    CHECK_EQ_INT(s.eio.http_compression.threshold, 2048);
    CHECK_EQ_INT(s.http.compress.threshold, 2048);
    CHECK_EQ_INT(set(&s, "httpCompression.level", "10", err), SL_OPT_EVALUE);

    /* "{}" on a name whose fields are no section sets nothing; on a plain
     * option it is a bad value. */
    CHECK_EQ_INT(set(&s, "cors", "{}", err), 0);
    CHECK(!strcmp(s.eio.cors_origin, ""));
    CHECK_EQ_INT(set(&s, "transports", "{}", err), SL_OPT_EVALUE);
    CHECK(!strcmp(err, "bad value '{}' for transports: expected a comma list of polling, websocket"));
}

static void unknown_names_and_bad_values_are_told_apart(void)
{
    sl_settings_t s;
    sl_settings_init(&s);
    char err[256];
    CHECK_EQ_INT(set(&s, "pingIntervall", "3000", err), SL_OPT_EUNKNOWN);
    CHECK(!strcmp(err, "unknown option 'pingIntervall'; did you mean pingInterval?"));
    CHECK_EQ_INT(set(&s, "PingTimeOut", "1", err), SL_OPT_EUNKNOWN);
    CHECK(!strcmp(err, "unknown option 'PingTimeOut'; did you mean pingTimeout?"));
    CHECK_EQ_INT(set(&s, "compression", "1", err), SL_OPT_EUNKNOWN);
    CHECK(!strcmp(err, "unknown option 'compression'"));
    CHECK_EQ_INT(set(&s, "pingInterval", "abc", err), SL_OPT_EVALUE);
    CHECK(!strcmp(err, "bad value 'abc' for pingInterval: expected an integer from 1 to 2147483647"));
    CHECK_EQ_INT(set(&s, "pingInterval", NULL, err), SL_OPT_EVALUE);
    CHECK(!strcmp(err, "bad value for pingInterval: expected an integer from 1 to 2147483647"));
    CHECK_EQ_INT(sl_settings_set(&s, "clusterAddress", "h:1", SL_OPT_LUA, err, sizeof err), SL_OPT_EWHERE);
    CHECK(!strcmp(err, "option 'clusterAddress' is set with siolua run --set only"));
    CHECK_EQ_INT(sl_settings_set(&s, "redisKey", "k", SL_OPT_TEST, err, sizeof err), SL_OPT_EWHERE);
    CHECK(!strcmp(err, "option 'redisKey' is set with siolua run --set or sio.configure only"));
    CHECK_EQ_INT(set(&s, "httpHeaderTimeout", "x", err), SL_OPT_EVALUE);
    CHECK(!strcmp(err, "bad value 'x' for httpHeaderTimeout: expected an integer of at least 1"));
}

static void integers_keep_to_their_range(void)
{
    sl_settings_t s;
    sl_settings_init(&s);
    char err[256];
    CHECK_EQ_INT(set(&s, "pingInterval", "1", err), 0);
    CHECK_EQ_INT(s.eio.ping_interval_ms, 1);
    CHECK_EQ_INT(set(&s, "pingInterval", "2147483647", err), 0);
    CHECK_EQ_INT(s.eio.ping_interval_ms, 2147483647);
    const char *bad[] = {"0", "2147483648", "-1", "", " 1", "1 ", "1x", "+1", "0x10",
                         "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_EQ_INT(set(&s, "pingInterval", bad[i], err), SL_OPT_EVALUE);
    CHECK_EQ_INT(s.eio.ping_interval_ms, 2147483647);
    CHECK_EQ_INT(set(&s, "requestsTimeout", "600000", err), 0);
    CHECK_EQ_INT(set(&s, "requestsTimeout", "600001", err), SL_OPT_EVALUE);
    CHECK_EQ_INT(set(&s, "maxHeaderSize", "1023", err), SL_OPT_EVALUE);
    CHECK_EQ_INT(set(&s, "luaInstructionBudget", "0", err), 0); /* off */
    CHECK_EQ_INT(s.lua_budget, 0);
    CHECK_EQ_INT(set(&s, "luaTimeLimit", "0", err), 0); /* off */
    CHECK_EQ_INT(s.lua_time_limit, 0);
    CHECK_EQ_INT(set(&s, "luaTimeLimit", "300", err), 0);
    CHECK_EQ_INT(s.lua_time_limit, 300);
    CHECK_EQ_INT(set(&s, "luaTimeLimit", "3600001", err), SL_OPT_EVALUE);
    CHECK_EQ_INT(set(&s, "luaTimeLimit", "-1", err), SL_OPT_EVALUE);
    CHECK_EQ_INT(set(&s, "connectionStateRecovery.maxDisconnectionDuration", "0", err), 0);
}

static void booleans_enums_and_lists(void)
{
    sl_settings_t s;
    sl_settings_init(&s);
    char err[256];
    CHECK_EQ_INT(set(&s, "allowEIO3", "true", err), 0);
    CHECK_EQ_INT(s.eio.allow_eio3, 1);
    CHECK_EQ_INT(set(&s, "allowEIO3", "0", err), 0);
    CHECK_EQ_INT(s.eio.allow_eio3, 0);
    CHECK_EQ_INT(set(&s, "serveClient", "false", err), 0);
    CHECK_EQ_INT(s.serve_client, 0);
    CHECK_EQ_INT(set(&s, "allowUpgrades", "yes", err), SL_OPT_EVALUE);
    CHECK(!strcmp(err, "bad value 'yes' for allowUpgrades: expected true or false"));

    CHECK_EQ_INT(set(&s, "redisSubscriptionMode", "static", err), 0);
    CHECK_EQ_INT(s.redis.subscription_mode, SIO_REDIS_SUB_STATIC);
    CHECK_EQ_INT(set(&s, "redisSubscriptionMode", "dynamic-private", err), 0);
    CHECK_EQ_INT(s.redis.subscription_mode, SIO_REDIS_SUB_DYNAMIC_PRIVATE);
    CHECK_EQ_INT(set(&s, "redisAdapter", "sharded", err), 0);
    CHECK_EQ_INT(s.redis.sharded, 1);
    CHECK_EQ_INT(set(&s, "redisAdapter", "Sharded", err), SL_OPT_EVALUE);
    CHECK(!strcmp(err, "bad value 'Sharded' for redisAdapter: expected one of classic, sharded"));
    CHECK_EQ_INT(s.redis.cluster, SL_REDIS_CLUSTER_AUTO);
    CHECK_EQ_INT(set(&s, "redisCluster", "true", err), 0);
    CHECK_EQ_INT(s.redis.cluster, SL_REDIS_CLUSTER_ON);
    CHECK_EQ_INT(set(&s, "redisCluster", "false", err), 0);
    CHECK_EQ_INT(s.redis.cluster, SL_REDIS_CLUSTER_OFF);
    CHECK_EQ_INT(set(&s, "redisCluster", "yes", err), SL_OPT_EVALUE);
    CHECK(!strcmp(err, "bad value 'yes' for redisCluster: expected one of auto, true, false"));
    CHECK_EQ_INT(s.redis.command_timeout_ms, 5000);
    CHECK_EQ_INT(set(&s, "redisCommandTimeout", "0", err), 0);
    CHECK_EQ_INT(s.redis.command_timeout_ms, 0);
    CHECK_EQ_INT(set(&s, "redisCommandTimeout", "600001", err), SL_OPT_EVALUE);

    CHECK_EQ_INT(set(&s, "transports", "websocket", err), 0);
    CHECK(!s.eio.allow_polling && s.eio.allow_websocket);
    CHECK_EQ_INT(set(&s, "transports", "websocket, polling", err), 0);
    CHECK(s.eio.allow_polling && s.eio.allow_websocket);
    CHECK_EQ_INT(set(&s, "transports", "polling", err), 0);
    CHECK(s.eio.allow_polling && !s.eio.allow_websocket);
    const char *bad[] = {"", "polling,", ",polling", "polling,,websocket", "xpolling", "WebSocket"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_EQ_INT(set(&s, "transports", bad[i], err), SL_OPT_EVALUE);
    CHECK(s.eio.allow_polling && !s.eio.allow_websocket);
}

static void text_values_land_in_their_layer(void)
{
    sl_settings_t s;
    sl_settings_init(&s);
    char err[256];
    CHECK_EQ_INT(set(&s, "path", "/a,/b/", err), 0);
    CHECK(!strcmp(s.eio.path, "/a/") && !strcmp(s.eio.alt_path, "/b/"));
    CHECK_EQ_INT(set(&s, "path", "a", err), SL_OPT_EVALUE);
    CHECK(!strcmp(err, "bad value 'a' for path: expected a path starting with '/', or two separated by a comma"));
    CHECK(!strcmp(s.eio.path, "/a/"));
    CHECK_EQ_INT(set(&s, "cookie", "true", err), 0);
    CHECK(!strcmp(s.eio.cookie_name, "io"));
    CHECK_EQ_INT(set(&s, "cookie", "sid", err), 0);
    CHECK(!strcmp(s.eio.cookie_name, "sid"));
    CHECK_EQ_INT(set(&s, "cookie", "0", err), 0);
    CHECK(!strcmp(s.eio.cookie_name, ""));
    CHECK_EQ_INT(set(&s, "cors", "*", err), 0); /* alias of cors.origin */
    CHECK(!strcmp(s.eio.cors_origin, "*"));
    CHECK_EQ_INT(set(&s, "cors.origin", "", err), 0);
    CHECK(!strcmp(s.eio.cors_origin, ""));
    char longer[600];
    memset(longer, 'a', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    CHECK_EQ_INT(set(&s, "cors.origin", longer, err), SL_OPT_EVALUE);

    sl_settings_t before;
    memcpy(&before, &s, sizeof s);
    CHECK_EQ_INT(set(&s, "redisKey", "a#b", err), SL_OPT_EVALUE);
    CHECK(!strcmp(err, "bad value 'a#b' for redisKey: expected 1 to 63 bytes, none of # * ? [ ] \\"));
    CHECK_EQ_INT(set(&s, "redisKey", "", err), SL_OPT_EVALUE);
    CHECK(memcmp(&s, &before, sizeof s) == 0); /* refused: nothing changed */
    CHECK_EQ_INT(set(&s, "redisKey", "app2", err), 0);
    CHECK(!strcmp(s.redis.key, "app2"));
    CHECK_EQ_INT(set(&s, "clusterAddress", "10.0.0.5:3000", err), 0);
    CHECK(!strcmp(s.cluster_address, "10.0.0.5:3000"));
}

static void numbers_land_in_every_layer_that_reads_them(void)
{
    sl_settings_t s;
    sl_settings_init(&s);
    char err[256];
    CHECK_EQ_INT(set(&s, "maxHttpBufferSize", "5000", err), 0);
    CHECK_EQ_INT(s.eio.max_http_buffer_size, 5000);
    CHECK_EQ_INT(s.http.limits.max_body_bytes, 5000);
    CHECK_EQ_INT(set(&s, "connectionStateRecovery.maxDisconnectionDuration", "1000", err), 0);
    CHECK_EQ_INT(s.sio.recovery_max_ms, 1000);
    CHECK_EQ_INT(s.sio.recovery, 1);
    CHECK_EQ_INT(set(&s, "connectionStateRecovery", "false", err), 0);
    CHECK_EQ_INT(s.sio.recovery, 0);
    CHECK_EQ_INT(set(&s, "keepAliveTimeout", "7000", err), 0);
    CHECK_EQ_INT(s.http.limits.keepalive_timeout_ms, 7000);
    CHECK_EQ_INT(set(&s, "luaMemoryLimit", "1048576", err), 0);
    CHECK_EQ_INT(s.lua_memory, 1048576);
    CHECK_EQ_INT(set(&s, "connectTimeout", "4294967295", err), 0);
    CHECK_EQ_INT(s.sio.connect_timeout_ms, 4294967295u);
    CHECK_EQ_INT(set(&s, "connectTimeout", "4294967296", err), SL_OPT_EVALUE);
    /* A WebSocket message's length is held in 32 bits: the largest
     * maxHttpBufferSize is the largest it can be. */
    CHECK_EQ_INT(set(&s, "maxHttpBufferSize", "4294967295", err), 0);
    CHECK_EQ_INT(set(&s, "maxHttpBufferSize", "4294967296", err), SL_OPT_EVALUE);
}

static void help_lists_every_option_in_80_columns(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    CHECK(f != NULL);
    if (!f)
        return;
    sl_options_help(f, SL_OPT_RUN);
    fclose(f);
    for (size_t i = 0; i < sl_options_count; i++) {
        const sl_option_t *o = &sl_options[i];
        char line[128];
        snprintf(line, sizeof line, "\n  %s ", o->name);
        char alone[128]; /* a long name has its own line */
        snprintf(alone, sizeof alone, "\n  %s\n", o->name);
        int listed = strstr(text, line) || strstr(text, alone) ||
                     !strncmp(text, line + 1, strlen(line + 1));
        CHECK(o->def ? listed : !listed);
    }
    for (const char *l = text; *l;) {
        const char *e = strchr(l, '\n');
        size_t n = e ? (size_t)(e - l) : strlen(l);
        CHECK(n <= 80);
        l += n + (e != NULL);
    }
    CHECK(strstr(text, "  pingInterval             ms, 1 to 2147483647; default 25000\n"));
    free(text);
}

TL_SUITE(options, NULL, NULL,
         TL_TEST(rows_are_whole_and_names_unique),
         TL_TEST(every_default_is_the_layers_default),
         TL_TEST(unknown_names_and_bad_values_are_told_apart),
         TL_TEST(integers_keep_to_their_range),
         TL_TEST(booleans_enums_and_lists),
         TL_TEST(text_values_land_in_their_layer),
         TL_TEST(numbers_land_in_every_layer_that_reads_them),
         TL_TEST(compression_options_read_as_node_writes_them),
         TL_TEST(help_lists_every_option_in_80_columns));
