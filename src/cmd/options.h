/* L7 cmd/options: the one typed table of server options. Each row has the
 * option's name (Node's), type, default, range or choices, where it may be
 * set and its help. `siolua run/test --set NAME=VALUE` and sio.configure{}
 * (through the composition root, compose.c) set options through it, --help
 * lists it, and its words make the error messages. The values land in the
 * option structs of the layers that use them, gathered in sl_settings_t,
 * which the composition root hands to the objects it builds:
 *
 *   "pingInterval" "3000" --find--> row --parse (type, range)--> value
 *                                         --apply--> settings.eio.ping_interval_ms
 */
#ifndef SL_OPTIONS_H
#define SL_OPTIONS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "cluster/sio_redis.h"
#include "eio/eio.h"
#include "eio/server.h"
#include "sio/sio.h"

/* Sections. A true/false row with fields, rows named "NAME.field"
 * (perMessageDeflate and perMessageDeflate.threshold), is a section, as
 * Node's option objects are: setting any of its fields turns it on, and
 * NAME given the text "{}" (a table in sio.configure: `perMessageDeflate =
 * {}`) turns it on and sets nothing else. "{}" given to a name whose
 * fields are not a section (cors) sets nothing. */
#define SL_OPT_TABLE "{}"

/* Every option's value, in the layers' own structs. */
typedef struct sl_settings {
    sl_server_config_t http;   /* limits; host, port, static root: the command's */
    eio_options_t eio;
    sio_options_t sio;
    sio_redis_opts_t redis;
    int serve_client;
    uint64_t lua_budget;       /* instructions per resume of a handler, 0 off */
    uint64_t lua_time_limit;   /* CPU ms per resume of a handler, 0 off */
    size_t lua_memory;         /* bytes the Lua state may hold, 0 unlimited */
    char cluster_address[128]; /* "" : derived from the address listened on */
    char fetch_ca_file[4096];  /* extra CAs every sio.fetch trusts; "" none */
    char metrics_path[128];    /* Prometheus metrics served there; "" off */
    char metrics_token[128];   /* Bearer token the metrics path asks for; "" none */
    char health_path[128];     /* the health check; "" off */
    char tls_cert[4096];       /* PEM certificate (and chain) of HTTPS/WSS; "" none */
    char tls_key[4096];        /* its private key */
} sl_settings_t;

/* Where an option may be set. */
enum {
    SL_OPT_RUN = 1,  /* siolua run --set */
    SL_OPT_TEST = 2, /* siolua test --set */
    SL_OPT_LUA = 4,  /* sio.configure{} in main.lua */
};

/* What an option configures: what the composition root hands it to. */
enum {
    SL_TO_HTTP = 1,       /* the router's HTTP limits */
    SL_TO_EIO = 2,        /* the Socket.IO endpoint's Engine.IO options */
    SL_TO_SIO = 4,        /* the Socket.IO server */
    SL_TO_CLIENT = 8,     /* the router's client bundle */
    SL_TO_BUDGET = 16,    /* the Lua runtime's time limit and instruction budget */
    SL_TO_MEMORY = 32,    /* the Lua runtime's memory cap */
    SL_TO_ADAPTER = 64,   /* the cluster adapter, when it is created */
    SL_TO_CLUSTER = 128,  /* the address announced to the cluster */
    SL_TO_FETCH = 256,    /* sio.fetch's trust (the Lua runtime's HTTP client) */
    SL_TO_METRICS = 512,  /* the metrics and health routes (read at each request) */
    SL_TO_TLS = 1024,     /* the public listener's TLS (made once configuration ends) */
};

typedef enum sl_opt_type {
    SL_OPT_BOOL, /* true | false | 1 | 0 */
    SL_OPT_UINT, /* a decimal integer in [min, max] */
    SL_OPT_ENUM, /* one of choices */
    SL_OPT_LIST, /* a comma list of choices, at least one */
    SL_OPT_TEXT, /* min to max bytes, then checked by apply */
} sl_opt_type_t;

/* A value read as its option's type. */
typedef struct sl_optval {
    uint64_t n;       /* BOOL 0/1, UINT, ENUM index, LIST bit set */
    const char *text; /* the value as given (TEXT's value; kept by the caller) */
} sl_optval_t;

typedef struct sl_option {
    const char *name;
    sl_opt_type_t type;
    const char *def;             /* the default, as it would be given; NULL: an alias */
    uint64_t min, max;           /* UINT: range; TEXT: length in bytes */
    const char *const *choices;  /* ENUM, LIST: NULL-terminated */
    unsigned where;              /* SL_OPT_*: who may set it */
    unsigned to;                 /* SL_TO_*: what it configures */
    const char *unit;            /* UINT: "ms", "bytes"... for --help; NULL none */
    const char *expect;          /* TEXT: what a good value is, for messages */
    int secret;                  /* a message never shows the value (it may be nearly the secret) */
    const char *help;
    /* Stores v; -1 when a TEXT value is not one (the message says expect). */
    int (*apply)(sl_settings_t *s, const sl_optval_t *v);
} sl_option_t;

/* The table, in --help's order. */
extern const sl_option_t sl_options[];
extern const size_t sl_options_count;

/* Every option at its default: the layers' own defaults, the Socket.IO
 * path "/socket.io/", the client bundle served, the Lua guards' defaults. */
void sl_settings_init(sl_settings_t *s);

/* Results, with a message in err naming the option and the value. */
enum {
    SL_OPT_EUNKNOWN = -1, /* "unknown option 'pingIntervall'" */
    SL_OPT_EVALUE = -2,   /* "bad value 'abc' for pingInterval: expected an integer from 1 to 2147483647" */
    SL_OPT_EWHERE = -3,   /* "option 'clusterAddress' is set with siolua run --set only" */
};

/* The row of name, or NULL. */
const sl_option_t *sl_option_find(const char *name);
/* Reads text (NULL: a value with no text form) as o's type and checks it
 * the way apply will: 0, or SL_OPT_EVALUE. */
int sl_option_parse(const sl_option_t *o, const char *text, sl_optval_t *v, char *err, size_t cap);
/* Stores a parsed value: 0, or SL_OPT_EVALUE. */
int sl_option_apply(const sl_option_t *o, sl_settings_t *s, const sl_optval_t *v, char *err,
                    size_t cap);
/* find, check where (a bit of SL_OPT_*), parse, apply: 0 or SL_OPT_E*. On
 * error s is unchanged. */
int sl_settings_set(sl_settings_t *s, const char *name, const char *text, unsigned where,
                    char *err, size_t cap);

/* --help's list of the options settable in where, with type, default,
 * range and help. */
void sl_options_help(FILE *out, unsigned where);

#endif
