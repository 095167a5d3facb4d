/* L7 cmd/options: the typed options table. See options.h.
 *
 * A row's apply stores an already checked value; only TEXT rows check more
 * there (a path, a Redis key), and they check before storing, so a refused
 * value leaves the settings as they were. */
#include "cmd/options.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/tls.h"

/* ---- storing values --------------------------------------------------------- */

#define SETTER(fn, body)                                          \
    static int fn(sl_settings_t *s, const sl_optval_t *v)         \
    {                                                             \
        body;                                                     \
        return 0;                                                 \
    }

static int read_bool(const char *t, int *b)
{
    if (!strcmp(t, "true") || !strcmp(t, "1")) {
        *b = 1;
        return 0;
    }
    if (!strcmp(t, "false") || !strcmp(t, "0")) {
        *b = 0;
        return 0;
    }
    return -1;
}

static int read_uint(const char *t, uint64_t *out);

/* TEXT rows: the length was checked against the row's max, which is at
 * most the field's size - 1. */
#define COPY(dst, text) snprintf((dst), sizeof(dst), "%s", (text))

static int set_path(sl_settings_t *s, const sl_optval_t *v)
{
    return eio_options_set_path(&s->eio, v->text);
}
SETTER(set_ping_interval, s->eio.ping_interval_ms = (uint32_t)v->n)
SETTER(set_ping_timeout, s->eio.ping_timeout_ms = (uint32_t)v->n)
SETTER(set_upgrade_timeout, s->eio.upgrade_timeout_ms = (uint32_t)v->n)
/* The message cap of both transports, and so the HTTP layer's body cap. */
SETTER(set_max_http_buffer, s->eio.max_http_buffer_size = s->http.limits.max_body_bytes = (size_t)v->n)
SETTER(set_session_queue_cap, s->eio.session_queue_cap = (size_t)v->n)
SETTER(set_max_sessions, s->eio.max_sessions = (size_t)v->n)
SETTER(set_transports, s->eio.allow_polling = v->n & 1; s->eio.allow_websocket = (v->n >> 1) & 1)
SETTER(set_allow_upgrades, s->eio.allow_upgrades = (unsigned)v->n)
SETTER(set_allow_eio3, s->eio.allow_eio3 = (unsigned)v->n)
SETTER(set_cors_origin, COPY(s->eio.cors_origin, v->text))
SETTER(set_cors_methods, COPY(s->eio.cors_methods, v->text))
SETTER(set_cors_credentials, s->eio.cors_credentials = (unsigned)v->n)

/* true: a cookie named "io", as Node's `cookie: true`; false: none. */
static int set_cookie(sl_settings_t *s, const sl_optval_t *v)
{
    int b;
    if (!read_bool(v->text, &b))
        COPY(s->eio.cookie_name, b ? "io" : "");
    else
        COPY(s->eio.cookie_name, v->text);
    return 0;
}

SETTER(set_connect_timeout, s->sio.connect_timeout_ms = (uint32_t)v->n)
SETTER(set_parser, s->sio.parser = (unsigned)v->n)
SETTER(set_recovery, s->sio.recovery = (unsigned)v->n)
SETTER(set_recovery_max, s->sio.recovery_max_ms = (uint32_t)v->n)

/* perMessageDeflate: ws's options. Its three-valued ones are TEXT rows:
 * '' (unset: the client's offer decides) is a value of its own. */
#define PMD (s->eio.per_message_deflate)
SETTER(set_pmd, PMD.enabled = (unsigned)v->n)
SETTER(set_pmd_threshold, PMD.threshold = (size_t)v->n)
SETTER(set_pmd_cnct, PMD.client_no_context_takeover = v->n ? SL_WSZ_TRUE : SL_WSZ_FALSE)
SETTER(set_pmd_level, PMD.level = (uint8_t)v->n)
SETTER(set_pmd_mem_level, PMD.mem_level = (uint8_t)v->n)
/* concurrencyLimit and zlib's chunkSize shape how Node's ws runs zlib on
 * its thread pool; compression here runs on the loop, a message at once. */
SETTER(set_nothing, (void)s; (void)v)

static int set_pmd_snct(sl_settings_t *s, const sl_optval_t *v)
{
    int b;
    if (!v->text[0])
        PMD.server_no_context_takeover = SL_WSZ_UNSET;
    else if (!read_bool(v->text, &b))
        PMD.server_no_context_takeover = b ? SL_WSZ_TRUE : SL_WSZ_FALSE;
    else
        return -1;
    return 0;
}

/* '' or true: unset (ws reads only a number or false); false; 8 to 15. */
static int read_window(const char *t, int8_t *out)
{
    uint64_t n;
    if (!t[0] || !strcmp(t, "true"))
        *out = SL_WSZ_UNSET;
    else if (!strcmp(t, "false"))
        *out = SL_WSZ_FALSE;
    else if (!read_uint(t, &n) && n >= 8 && n <= 15)
        *out = (int8_t)n;
    else
        return -1;
    return 0;
}

static int set_pmd_smwb(sl_settings_t *s, const sl_optval_t *v)
{
    return read_window(v->text, &PMD.server_max_window_bits);
}

static int set_pmd_cmwb(sl_settings_t *s, const sl_optval_t *v)
{
    return read_window(v->text, &PMD.client_max_window_bits);
}
#undef PMD

/* httpCompression: polling bodies (the Engine.IO endpoint) and files (the
 * router) alike. */
SETTER(set_http_z, s->eio.http_compression.enabled = s->http.compress.enabled = (unsigned)v->n)
SETTER(set_http_z_threshold,
       s->eio.http_compression.threshold = s->http.compress.threshold = (size_t)v->n)
SETTER(set_http_z_level, s->eio.http_compression.level = s->http.compress.level = (uint8_t)v->n)
SETTER(set_serve_client, s->serve_client = (int)v->n)
SETTER(set_header_timeout, s->http.limits.header_timeout_ms = v->n)
SETTER(set_request_timeout, s->http.limits.request_timeout_ms = v->n)
SETTER(set_keepalive_timeout, s->http.limits.keepalive_timeout_ms = v->n)
SETTER(set_max_headers, s->http.limits.max_headers = (size_t)v->n)
SETTER(set_max_buffered, s->http.limits.max_buffered_bytes = (size_t)v->n)
SETTER(set_defer_accept, s->http.defer_accept = (int)v->n)
SETTER(set_max_connections, s->http.limits.max_connections = (size_t)v->n)
SETTER(set_max_output_total, s->http.limits.max_output_total = (size_t)v->n)
SETTER(set_max_header_size, s->http.limits.max_header_bytes = (size_t)v->n)
SETTER(set_lua_budget, s->lua_budget = v->n)
SETTER(set_lua_memory, s->lua_memory = (size_t)v->n)
SETTER(set_cluster_address, COPY(s->cluster_address, v->text))
SETTER(set_redis_adapter, s->redis.sharded = (int)v->n)
SETTER(set_redis_sub_mode, s->redis.subscription_mode = (int)v->n)
SETTER(set_requests_timeout, s->redis.requests_timeout_ms = (unsigned)v->n)
SETTER(set_redis_cluster, s->redis.cluster = (int)v->n)
SETTER(set_redis_command_timeout, s->redis.command_timeout_ms = (unsigned)v->n)

/* Node's `key` / `channelPrefix`: the prefix of every channel; a glob
 * character or '#' would make the adapter's patterns match other keys. */
static int set_redis_key(sl_settings_t *s, const sl_optval_t *v)
{
    if (strpbrk(v->text, "#*?[]\\"))
        return -1;
    COPY(s->redis.key, v->text);
    return 0;
}

/* trustProxy: "" or a comma list of addresses, CIDRs and the names
 * loopback, linklocal, uniquelocal (net/trust.h says how it is read). */
static int set_trust_proxy(sl_settings_t *s, const sl_optval_t *v)
{
    char why[200];
    return sl_trust_parse(&s->http.trust_proxy, v->text, why, sizeof why) ? -1 : 0;
}

/* A CA file for sio.fetch: one that loads (read here, so a bad file is a
 * bad value at the caller, not a failure of the first fetch). */
static int set_fetch_ca_file(sl_settings_t *s, const sl_optval_t *v)
{
    if (v->text[0]) {
        char err[300];
        sl_tls_ctx_t *ctx;
        sl_tls_client_opts_t o = {.ca_file = v->text, .no_system_store = 1};
        if (sl_tls_ctx_new_client(&o, &ctx, err, sizeof err))
            return -1;
        sl_tls_ctx_unref(ctx);
    }
    COPY(s->fetch_ca_file, v->text);
    return 0;
}

/* metrics, healthPath: "" (off) or a path of our own; no query or
 * fragment, since requests are matched on the path alone. */
static int read_route_path(const char *t)
{
    return t[0] && (t[0] != '/' || strpbrk(t, "?# \t")) ? -1 : 0;
}

static int set_metrics_path(sl_settings_t *s, const sl_optval_t *v)
{
    if (read_route_path(v->text))
        return -1;
    COPY(s->metrics_path, v->text);
    return 0;
}

static int set_health_path(sl_settings_t *s, const sl_optval_t *v)
{
    if (read_route_path(v->text))
        return -1;
    COPY(s->health_path, v->text);
    return 0;
}

/* A token goes in a header: visible ASCII, no spaces. */
static int set_metrics_token(sl_settings_t *s, const sl_optval_t *v)
{
    for (const char *p = v->text; *p; p++)
        if (*p <= ' ' || *p > '~')
            return -1;
    COPY(s->metrics_token, v->text);
    return 0;
}

SETTER(set_tls_cert, COPY(s->tls_cert, v->text))
SETTER(set_tls_key, COPY(s->tls_key, v->text))

/* ---- the table ---------------------------------------------------------------- */

#define ALL (SL_OPT_RUN | SL_OPT_TEST | SL_OPT_LUA)
#define CLUSTER (SL_OPT_RUN | SL_OPT_LUA) /* siolua test has no adapter */
#define U32 0xffffffffull
#define I32 0x7fffffffull

static const char *const transports[] = {"polling", "websocket", NULL};
static const char *const adapters[] = {"classic", "sharded", NULL};
/* In SIO_PARSER_* order. */
static const char *const parsers[] = {"default", "msgpack", NULL};
/* In SIO_REDIS_SUB_* order. */
static const char *const sub_modes[] = {"dynamic", "static", "dynamic-private", NULL};
/* In SL_REDIS_CLUSTER_* order. */
static const char *const cluster_modes[] = {"auto", "true", "false", NULL};

const sl_option_t sl_options[] = {
    {.name = "path", .type = SL_OPT_TEXT, .def = "/socket.io/", .min = 1, .max = 254,
     .where = ALL, .to = SL_TO_EIO, .expect = "a path starting with '/', or two separated by a comma",
     .help = "where Socket.IO is served (two: /socket.io/,/notice)",
     .apply = set_path},
    {.name = "pingInterval", .type = SL_OPT_UINT, .def = "25000", .min = 1, .max = I32, .unit = "ms",
     .where = ALL, .to = SL_TO_EIO, .help = "time between two pings of the server",
     .apply = set_ping_interval},
    {.name = "pingTimeout", .type = SL_OPT_UINT, .def = "20000", .min = 1, .max = I32, .unit = "ms",
     .where = ALL, .to = SL_TO_EIO, .help = "time a client has to answer a ping",
     .apply = set_ping_timeout},
    {.name = "upgradeTimeout", .type = SL_OPT_UINT, .def = "10000", .min = 1, .max = I32, .unit = "ms",
     .where = ALL, .to = SL_TO_EIO, .help = "time an upgrade to WebSocket may take",
     .apply = set_upgrade_timeout},
    {.name = "maxHttpBufferSize", .type = SL_OPT_UINT, .def = "1000000", .min = 1, .max = UINT32_MAX,
     .unit = "bytes", .where = ALL, .to = SL_TO_EIO | SL_TO_HTTP,
     .help = "largest message and polling request body", .apply = set_max_http_buffer},
    {.name = "transports", .type = SL_OPT_LIST, .def = "polling,websocket", .choices = transports,
     .where = ALL, .to = SL_TO_EIO, .help = "the transports clients may use", .apply = set_transports},
    {.name = "allowUpgrades", .type = SL_OPT_BOOL, .def = "true", .where = ALL, .to = SL_TO_EIO,
     .help = "let polling clients upgrade to WebSocket", .apply = set_allow_upgrades},
    {.name = "allowEIO3", .type = SL_OPT_BOOL, .def = "false", .where = ALL, .to = SL_TO_EIO,
     .help = "accept Engine.IO 3 clients (socket.io-client 2)", .apply = set_allow_eio3},
    {.name = "cors.origin", .type = SL_OPT_TEXT, .def = "", .max = 511, .where = ALL, .to = SL_TO_EIO,
     .expect = "'*', an origin, or a comma list of origins ('' for none)",
     .help = "CORS origins: '*' or a comma list ('': no CORS)",
     .apply = set_cors_origin},
    {.name = "cors", .type = SL_OPT_TEXT, .max = 511, .where = ALL, .to = SL_TO_EIO,
     .expect = "'*', an origin, or a comma list of origins ('' for none)",
     .help = "same as cors.origin", .apply = set_cors_origin},
    {.name = "cors.methods", .type = SL_OPT_TEXT, .def = "GET,HEAD,PUT,PATCH,POST,DELETE", .max = 63,
     .where = ALL, .to = SL_TO_EIO, .expect = "a comma list of HTTP methods (at most 63 bytes)",
     .help = "methods a CORS preflight allows", .apply = set_cors_methods},
    {.name = "cors.credentials", .type = SL_OPT_BOOL, .def = "false", .where = ALL, .to = SL_TO_EIO,
     .help = "allow credentials (cookies) across origins", .apply = set_cors_credentials},
    {.name = "cookie", .type = SL_OPT_TEXT, .def = "false", .max = 63, .where = ALL, .to = SL_TO_EIO,
     .expect = "true, false, or a cookie name of at most 63 bytes",
     .help = "a cookie with the sid (true: named io)",
     .apply = set_cookie},
    {.name = "sessionQueueCap", .type = SL_OPT_UINT, .def = "16777216", .min = 1, .max = 1ull << 34,
     .unit = "bytes", .where = ALL, .to = SL_TO_EIO,
     .help = "output a slow client may have waiting",
     .apply = set_session_queue_cap},
    {.name = "maxSessions", .type = SL_OPT_UINT, .def = "100000", .min = 1, .max = SIZE_MAX,
     .unit = "sessions", .where = ALL, .to = SL_TO_EIO,
     .help = "open Engine.IO sessions per process; else 503", .apply = set_max_sessions},
    {.name = "connectTimeout", .type = SL_OPT_UINT, .def = "45000", .min = 1, .max = U32, .unit = "ms",
     .where = ALL, .to = SL_TO_SIO, .help = "time a client has to join a namespace",
     .apply = set_connect_timeout},
    {.name = "parser", .type = SL_OPT_ENUM, .def = "default", .choices = parsers, .where = ALL,
     .to = SL_TO_SIO, .help = "packet codec: socket.io-parser or -msgpack-parser",
     .apply = set_parser},
    {.name = "connectionStateRecovery", .type = SL_OPT_BOOL, .def = "false", .where = ALL,
     .to = SL_TO_SIO, .help = "give back rooms and missed packets on reconnection",
     .apply = set_recovery},
    {.name = "connectionStateRecovery.maxDisconnectionDuration", .type = SL_OPT_UINT, .def = "120000",
     .max = U32, .unit = "ms", .where = ALL, .to = SL_TO_SIO,
     .help = "how long a session is kept (turns recovery on)",
     .apply = set_recovery_max},
    {.name = "perMessageDeflate", .type = SL_OPT_BOOL, .def = "false", .where = ALL, .to = SL_TO_EIO,
     .help = "compress WebSocket messages (RFC 7692)", .apply = set_pmd},
    {.name = "perMessageDeflate.threshold", .type = SL_OPT_UINT, .def = "1024", .max = U32,
     .unit = "bytes", .where = ALL, .to = SL_TO_EIO,
     .help = "smaller ones go plain (without context takeover)", .apply = set_pmd_threshold},
    {.name = "perMessageDeflate.serverNoContextTakeover", .type = SL_OPT_TEXT, .def = "", .max = 5,
     .where = ALL, .to = SL_TO_EIO, .expect = "true, false, or '' (the client's offer decides)",
     .help = "true|false|'' (as asked); true shares a compressor", .apply = set_pmd_snct},
    {.name = "perMessageDeflate.clientNoContextTakeover", .type = SL_OPT_BOOL, .def = "false",
     .where = ALL, .to = SL_TO_EIO, .help = "true: no inflater per connection",
     .apply = set_pmd_cnct},
    {.name = "perMessageDeflate.serverMaxWindowBits", .type = SL_OPT_TEXT, .def = "", .max = 5,
     .where = ALL, .to = SL_TO_EIO,
     .expect = "false, an integer from 8 to 15, or '' (the client's offer decides)",
     .help = "8..15|false|'' (as asked): compressor window 2^N", .apply = set_pmd_smwb},
    {.name = "perMessageDeflate.clientMaxWindowBits", .type = SL_OPT_TEXT, .def = "", .max = 5,
     .where = ALL, .to = SL_TO_EIO,
     .expect = "false, an integer from 8 to 15, or '' (the client's offer decides)",
     .help = "8..15|false|'' (as asked): inflater window 2^N", .apply = set_pmd_cmwb},
    {.name = "perMessageDeflate.level", .type = SL_OPT_UINT, .def = "6", .max = 9, .where = ALL,
     .to = SL_TO_EIO, .help = "zlib compression level", .apply = set_pmd_level},
    {.name = "perMessageDeflate.memLevel", .type = SL_OPT_UINT, .def = "8", .min = 1, .max = 9,
     .where = ALL, .to = SL_TO_EIO, .help = "zlib memLevel: 2^(N+9) bytes of compressor",
     .apply = set_pmd_mem_level},
    /* ws's own spellings of the two above, and what only Node's thread
     * pool needs: taken as Node's users write them. */
    {.name = "perMessageDeflate.zlibDeflateOptions.level", .type = SL_OPT_UINT, .max = 9,
     .where = ALL, .to = SL_TO_EIO, .help = "same as perMessageDeflate.level",
     .apply = set_pmd_level},
    {.name = "perMessageDeflate.zlibDeflateOptions.memLevel", .type = SL_OPT_UINT, .min = 1, .max = 9,
     .where = ALL, .to = SL_TO_EIO, .help = "same as perMessageDeflate.memLevel",
     .apply = set_pmd_mem_level},
    {.name = "perMessageDeflate.concurrencyLimit", .type = SL_OPT_UINT, .max = U32, .where = ALL,
     .to = SL_TO_EIO, .help = "accepted; no effect (no zlib thread pool)", .apply = set_nothing},
    {.name = "perMessageDeflate.zlibDeflateOptions.chunkSize", .type = SL_OPT_UINT, .max = U32,
     .where = ALL, .to = SL_TO_EIO, .help = "accepted; no effect", .apply = set_nothing},
    {.name = "perMessageDeflate.zlibInflateOptions.chunkSize", .type = SL_OPT_UINT, .max = U32,
     .where = ALL, .to = SL_TO_EIO, .help = "accepted; no effect", .apply = set_nothing},
    {.name = "httpCompression", .type = SL_OPT_BOOL, .def = "true", .where = ALL,
     .to = SL_TO_EIO | SL_TO_HTTP, .help = "gzip/deflate polling and files per Accept-Encoding",
     .apply = set_http_z},
    {.name = "httpCompression.threshold", .type = SL_OPT_UINT, .def = "1024", .max = U32,
     .unit = "bytes", .where = ALL, .to = SL_TO_EIO | SL_TO_HTTP,
     .help = "smaller bodies go plain", .apply = set_http_z_threshold},
    {.name = "httpCompression.level", .type = SL_OPT_UINT, .def = "6", .max = 9, .where = ALL,
     .to = SL_TO_EIO | SL_TO_HTTP, .help = "zlib compression level", .apply = set_http_z_level},
    {.name = "serveClient", .type = SL_OPT_BOOL, .def = "true", .where = ALL, .to = SL_TO_CLIENT,
     .help = "serve the client bundle at <path>socket.io.js", .apply = set_serve_client},
    {.name = "httpHeaderTimeout", .type = SL_OPT_UINT, .def = "60000", .min = 1, .max = UINT64_MAX,
     .unit = "ms", .where = ALL, .to = SL_TO_HTTP,
     .help = "time a request's headers may take to arrive", .apply = set_header_timeout},
    {.name = "requestTimeout", .type = SL_OPT_UINT, .def = "60000", .min = 1, .max = UINT64_MAX,
     .unit = "ms", .where = ALL, .to = SL_TO_HTTP,
     .help = "time a request may take to arrive whole; else 408",
     .apply = set_request_timeout},
    {.name = "keepAliveTimeout", .type = SL_OPT_UINT, .def = "5000", .min = 1, .max = UINT64_MAX,
     .unit = "ms", .where = ALL, .to = SL_TO_HTTP, .help = "time an idle keep-alive connection is kept",
     .apply = set_keepalive_timeout},
    {.name = "maxHeaderSize", .type = SL_OPT_UINT, .def = "16384", .min = 1024, .max = SIZE_MAX,
     .unit = "bytes", .where = ALL, .to = SL_TO_HTTP, .help = "largest request line and headers",
     .apply = set_max_header_size},
    {.name = "maxHeadersCount", .type = SL_OPT_UINT, .def = "2000", .min = 1, .max = 100000,
     .unit = "lines", .where = ALL, .to = SL_TO_HTTP,
     .help = "most header lines a request may have; else 431", .apply = set_max_headers},
    {.name = "maxConnections", .type = SL_OPT_UINT, .def = "0", .max = SIZE_MAX,
     .unit = "connections", .where = ALL, .to = SL_TO_HTTP,
     .help = "open connections per process (0: no limit); else 503",
     .apply = set_max_connections},
    {.name = "deferAccept", .type = SL_OPT_BOOL, .def = "true", .where = ALL, .to = SL_TO_HTTP,
     .help = "take connections when data arrives (TCP_DEFER_ACCEPT)",
     .apply = set_defer_accept},
    {.name = "maxOutputBufferTotal", .type = SL_OPT_UINT, .def = "268435456", .max = SIZE_MAX,
     .unit = "bytes", .where = ALL, .to = SL_TO_HTTP,
     .help = "output all clients may have waiting (0: no cap)",
     .apply = set_max_output_total},
    {.name = "maxBufferedRequestBytes", .type = SL_OPT_UINT, .def = "67108864", .min = 1,
     .max = SIZE_MAX, .unit = "bytes", .where = ALL, .to = SL_TO_HTTP,
     .help = "request bodies held at once, all conns; else 503",
     .apply = set_max_buffered},
    {.name = "trustProxy", .type = SL_OPT_TEXT, .def = "", .max = 1023, .where = ALL, .to = SL_TO_HTTP,
     .expect = "a comma list of addresses, CIDR networks, loopback, linklocal or uniquelocal",
     .help = "proxies whose X-Forwarded-For names the client",
     .apply = set_trust_proxy},
    {.name = "luaInstructionBudget", .type = SL_OPT_UINT, .def = "100000000", .max = UINT64_MAX,
     .unit = "instructions", .where = ALL, .to = SL_TO_BUDGET,
     .help = "what one run of a handler may take (0: no limit)", .apply = set_lua_budget},
    {.name = "luaMemoryLimit", .type = SL_OPT_UINT, .def = "0", .max = SIZE_MAX, .unit = "bytes",
     .where = ALL, .to = SL_TO_MEMORY, .help = "what the Lua state may hold (0: no limit)",
     .apply = set_lua_memory},
    {.name = "clusterAddress", .type = SL_OPT_TEXT, .def = "", .max = 127, .where = SL_OPT_RUN,
     .to = SL_TO_CLUSTER, .expect = "host:port (at most 127 bytes)",
     .help = "where other nodes reach it (default: the bound one)",
     .apply = set_cluster_address},
    {.name = "redisAdapter", .type = SL_OPT_ENUM, .def = "classic", .choices = adapters,
     .where = CLUSTER, .to = SL_TO_ADAPTER,
     .help = "Redis pub/sub: classic, or sharded (Redis 7)", .apply = set_redis_adapter},
    {.name = "redisSubscriptionMode", .type = SL_OPT_ENUM, .def = "dynamic", .choices = sub_modes,
     .where = CLUSTER, .to = SL_TO_ADAPTER, .help = "channels of the sharded adapter",
     .apply = set_redis_sub_mode},
    {.name = "requestsTimeout", .type = SL_OPT_UINT, .def = "5000", .min = 1, .max = 600000,
     .unit = "ms", .where = CLUSTER, .to = SL_TO_ADAPTER,
     .help = "time a cluster request waits for other servers", .apply = set_requests_timeout},
    {.name = "redisCluster", .type = SL_OPT_ENUM, .def = "auto", .choices = cluster_modes,
     .where = CLUSTER, .to = SL_TO_ADAPTER,
     .help = "--redis is a Redis Cluster (auto: if several hosts)", .apply = set_redis_cluster},
    {.name = "redisCommandTimeout", .type = SL_OPT_UINT, .def = "5000", .max = 600000, .unit = "ms",
     .where = CLUSTER, .to = SL_TO_ADAPTER,
     .help = "a later Redis reply drops the connection (0: none)",
     .apply = set_redis_command_timeout},
    {.name = "redisKey", .type = SL_OPT_TEXT, .def = "socket.io", .min = 1, .max = 63,
     .where = CLUSTER, .to = SL_TO_ADAPTER, .expect = "1 to 63 bytes, none of # * ? [ ] \\",
     .help = "prefix of the channels (one per app sharing a Redis)",
     .apply = set_redis_key},
    {.name = "fetchCaFile", .type = SL_OPT_TEXT, .def = "", .max = 4095, .where = ALL, .to = SL_TO_FETCH,
     .expect = "a readable PEM file of CA certificates", .help = "CAs every sio.fetch trusts besides the system's",
     .apply = set_fetch_ca_file},
    {.name = "metrics", .type = SL_OPT_TEXT, .def = "", .max = 127, .where = SL_OPT_RUN | SL_OPT_LUA,
     .to = SL_TO_METRICS, .expect = "a path starting with '/' (e.g. /metrics), or '' for none",
     .help = "Prometheus metrics at this path ('': off)", .apply = set_metrics_path},
    {.name = "metricsToken", .type = SL_OPT_TEXT, .def = "", .max = 127, .where = SL_OPT_RUN | SL_OPT_LUA,
     .to = SL_TO_METRICS, .expect = "up to 127 visible ASCII characters, no spaces", .secret = 1,
     .help = "metrics ask for 'Authorization: Bearer <token>'",
     .apply = set_metrics_token},
    {.name = "healthPath", .type = SL_OPT_TEXT, .def = "", .max = 127, .where = SL_OPT_RUN | SL_OPT_LUA,
     .to = SL_TO_METRICS, .expect = "a path starting with '/' (e.g. /health), or '' for none",
     .help = "health check: 200 serving, 503 draining ('': off)",
     .apply = set_health_path},
    {.name = "tls.cert", .type = SL_OPT_TEXT, .def = "", .max = 4095, .where = SL_OPT_RUN | SL_OPT_LUA,
     .to = SL_TO_TLS, .expect = "a PEM file: the certificate, then its chain",
     .help = "serve HTTPS/WSS with this certificate (with tls.key)", .apply = set_tls_cert},
    {.name = "tls.key", .type = SL_OPT_TEXT, .def = "", .max = 4095, .where = SL_OPT_RUN | SL_OPT_LUA,
     .to = SL_TO_TLS, .expect = "a PEM file: the certificate's private key",
     .help = "the private key of tls.cert", .apply = set_tls_key},
};
const size_t sl_options_count = sizeof sl_options / sizeof sl_options[0];

void sl_settings_init(sl_settings_t *s)
{
    memset(s, 0, sizeof *s);
    sl_server_config_init(&s->http);
    eio_options_init(&s->eio);
    eio_options_set_path(&s->eio, "/socket.io/");
    sio_options_init(&s->sio);
    sio_redis_opts_init(&s->redis);
    s->serve_client = 1;
    s->lua_budget = 100000000; /* SL_LUA_DEFAULT_BUDGET; test_options holds them equal */
    s->lua_memory = 0;
    /* The HTTP body cap follows maxHttpBufferSize. */
    s->http.limits.max_body_bytes = s->eio.max_http_buffer_size;
}

/* ---- reading values ------------------------------------------------------------- */

const sl_option_t *sl_option_find(const char *name)
{
    for (size_t i = 0; i < sl_options_count; i++)
        if (!strcmp(sl_options[i].name, name))
            return &sl_options[i];
    return NULL;
}

/* No upper bound worth printing. */
static int unbounded(const sl_option_t *o) { return o->max == UINT64_MAX; }

/* "a, b, c" from a choices list. */
static void choices_text(const char *const *c, const char *sep, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    for (int i = 0; c[i] && o < cap; i++)
        o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? sep : "", c[i]);
}

/* What a good value is, in the words of an error message ("expected an
 * integer from 1 to 10") or of --help ("ms, 1 to 10"). */
static void describe(const sl_option_t *o, int for_help, char *out, size_t cap)
{
    char c[128];
    const char *unit = for_help && o->unit ? o->unit : "";
    const char *comma = *unit ? ", " : "";
    unsigned long long min = o->min, max = o->max;
    switch (o->type) {
    case SL_OPT_BOOL:
        snprintf(out, cap, for_help ? "true|false" : "true or false");
        break;
    case SL_OPT_UINT:
        if (unbounded(o))
            snprintf(out, cap, for_help ? "%s%s%llu or more" : "%s%san integer of at least %llu", unit,
                     comma, min);
        else
            snprintf(out, cap, for_help ? "%s%s%llu to %llu" : "%s%san integer from %llu to %llu", unit,
                     comma, min, max);
        break;
    case SL_OPT_ENUM:
        choices_text(o->choices, for_help ? "|" : ", ", c, sizeof c);
        snprintf(out, cap, for_help ? "%s" : "one of %s", c);
        break;
    case SL_OPT_LIST:
        choices_text(o->choices, for_help ? "," : ", ", c, sizeof c);
        snprintf(out, cap, for_help ? "list of %s" : "a comma list of %s", c);
        break;
    case SL_OPT_TEXT:
        if (for_help || !o->expect)
            snprintf(out, cap, for_help ? "text" : "text of at most %llu bytes", max);
        else
            snprintf(out, cap, "%s", o->expect);
        break;
    }
}

static int bad_value(const sl_option_t *o, const char *text, char *err, size_t cap)
{
    char want[200];
    describe(o, 0, want, sizeof want);
    if (text && !o->secret)
        snprintf(err, cap, "bad value '%s' for %s: expected %s", text, o->name, want);
    else
        snprintf(err, cap, "bad value for %s: expected %s", o->name, want);
    return SL_OPT_EVALUE;
}

static int read_uint(const char *t, uint64_t *out)
{
    if (*t < '0' || *t > '9')
        return -1;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(t, &end, 10);
    if (errno || *end)
        return -1;
    *out = x;
    return 0;
}

static int choice_index(const char *const *c, const char *t, size_t n)
{
    for (int i = 0; c[i]; i++)
        if (strlen(c[i]) == n && !memcmp(c[i], t, n))
            return i;
    return -1;
}

/* "polling, websocket" -> a bit per choice; spaces around items are
 * dropped, empty items refused. */
static int read_list(const char *const *c, const char *t, uint64_t *bits)
{
    *bits = 0;
    for (;;) {
        while (*t == ' ')
            t++;
        const char *e = t + strcspn(t, ",");
        const char *end = e;
        while (end > t && end[-1] == ' ')
            end--;
        int i = choice_index(c, t, (size_t)(end - t));
        if (i < 0)
            return -1;
        *bits |= 1ull << i;
        if (!*e)
            return 0;
        t = e + 1;
    }
}

int sl_option_parse(const sl_option_t *o, const char *text, sl_optval_t *v, char *err, size_t cap)
{
    v->n = 0;
    v->text = text;
    int b, i;
    size_t n;
    if (!text)
        return bad_value(o, text, err, cap);
    switch (o->type) {
    case SL_OPT_BOOL:
        if (read_bool(text, &b))
            return bad_value(o, text, err, cap);
        v->n = (uint64_t)b;
        return 0;
    case SL_OPT_UINT:
        if (read_uint(text, &v->n) || v->n < o->min || v->n > o->max)
            return bad_value(o, text, err, cap);
        return 0;
    case SL_OPT_ENUM:
        if ((i = choice_index(o->choices, text, strlen(text))) < 0)
            return bad_value(o, text, err, cap);
        v->n = (uint64_t)i;
        return 0;
    case SL_OPT_LIST:
        if (read_list(o->choices, text, &v->n))
            return bad_value(o, text, err, cap);
        return 0;
    case SL_OPT_TEXT:
        n = strlen(text);
        if (n < o->min || n > o->max)
            return bad_value(o, text, err, cap);
        return 0;
    }
    return bad_value(o, text, err, cap);
}

/* Whether some row is a field of o ("o.name.x"). */
static int has_fields(const char *name)
{
    size_t l = strlen(name);
    for (size_t i = 0; i < sl_options_count; i++)
        if (!strncmp(sl_options[i].name, name, l) && sl_options[i].name[l] == '.')
            return 1;
    return 0;
}

/* The section o is a field of: the nearest row named by a prefix of its
 * name that is a true/false switch with fields (perMessageDeflate for
 * perMessageDeflate.zlibDeflateOptions.level), or NULL. */
static const sl_option_t *section_of(const sl_option_t *o)
{
    char name[128];
    snprintf(name, sizeof name, "%s", o->name);
    for (char *dot; (dot = strrchr(name, '.'));) {
        *dot = '\0';
        const sl_option_t *sec = sl_option_find(name);
        if (sec && sec->type == SL_OPT_BOOL)
            return sec;
    }
    return NULL;
}

int sl_option_apply(const sl_option_t *o, sl_settings_t *s, const sl_optval_t *v, char *err,
                    size_t cap)
{
    /* A refused value stores nothing (apply checks before it stores), and
     * leaves the section as it was. */
    if (o->apply(s, v))
        return bad_value(o, v->text, err, cap);
    const sl_option_t *sec = section_of(o);
    if (sec)
        sec->apply(s, &(sl_optval_t){1, "true"});
    return 0;
}

/* "siolua run --set or sio.configure" */
static void where_text(unsigned where, char *out, size_t cap)
{
    static const char *const places[] = {"siolua run --set", "siolua test --set", "sio.configure"};
    size_t o = 0;
    out[0] = '\0';
    for (int i = 0; i < 3 && o < cap; i++)
        if (where & (1u << i))
            o += (size_t)snprintf(out + o, cap - o, "%s%s", o ? " or " : "", places[i]);
}

/* Edits (insert, delete, change a byte, ignoring case) from a to b, or
 * more than max when it would be larger. */
static int distance(const char *a, const char *b, int max)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63 || (la > lb ? la - lb : lb - la) > (size_t)max)
        return max + 1;
    int prev[64], cur[64];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int same = (a[i - 1] | 0x20) == (b[j - 1] | 0x20);
            int d = prev[j - 1] + !same;
            if (prev[j] + 1 < d)
                d = prev[j] + 1;
            if (cur[j - 1] + 1 < d)
                d = cur[j - 1] + 1;
            cur[j] = d;
        }
        memcpy(prev, cur, (lb + 1) * sizeof *prev);
    }
    return prev[lb];
}

/* The option a misspelt name most likely meant (at most two edits away,
 * the closest), or NULL. */
static const sl_option_t *closest(const char *name)
{
    const sl_option_t *best = NULL;
    int best_d = 3;
    for (size_t i = 0; i < sl_options_count; i++) {
        int d = distance(name, sl_options[i].name, 2);
        if (d < best_d) {
            best_d = d;
            best = &sl_options[i];
        }
    }
    return best;
}

int sl_settings_set(sl_settings_t *s, const char *name, const char *text, unsigned where,
                    char *err, size_t cap)
{
    const sl_option_t *o = sl_option_find(name);
    /* A table of fields that are options of their own, with no row for
     * itself (tls = { cert = ..., key = ... }): the fields follow. */
    if (!o && text && !strcmp(text, SL_OPT_TABLE) && has_fields(name))
        return 0;
    if (!o) {
        const sl_option_t *near = closest(name);
        if (near)
            snprintf(err, cap, "unknown option '%s'; did you mean %s?", name, near->name);
        else
            snprintf(err, cap, "unknown option '%s'", name);
        return SL_OPT_EUNKNOWN;
    }
    if (!(o->where & where)) {
        char w[80];
        where_text(o->where, w, sizeof w);
        snprintf(err, cap, "option '%s' is set with %s only", name, w);
        return SL_OPT_EWHERE;
    }
    /* The table form: a section turns on, fields follow one by one; a
     * name whose fields are set one by one anyway (cors) takes nothing. */
    if (text && !strcmp(text, SL_OPT_TABLE) && has_fields(o->name)) {
        if (o->type != SL_OPT_BOOL)
            return 0;
        text = "true";
    }
    sl_optval_t v;
    int rc = sl_option_parse(o, text, &v, err, cap);
    return rc ? rc : sl_option_apply(o, s, &v, err, cap);
}

/* ---- --help ------------------------------------------------------------------------ */

void sl_options_help(FILE *out, unsigned where)
{
    for (size_t i = 0; i < sl_options_count; i++) {
        const sl_option_t *o = &sl_options[i];
        if (!o->def || !(o->where & where))
            continue; /* aliases, and what doesn't apply here */
        char type[200];
        describe(o, 1, type, sizeof type);
        if (strlen(o->name) > 24)
            fprintf(out, "  %s\n  %-24s ", o->name, "");
        else
            fprintf(out, "  %-24s ", o->name);
        fprintf(out, "%s; default %s\n", type, o->def[0] ? o->def : "''");
        fprintf(out, "  %-24s %s\n", "", o->help);
        if ((o->where & ALL) != ALL) {
            char places[64];
            where_text(o->where, places, sizeof places);
            fprintf(out, "  %-24s (%s only)\n", "", places);
        }
    }
}
