/* L5a cluster/redis_slots: hash slots, the slot map, redirections, command
 * keys. See redis_slots.h. */
#include "cluster/redis_slots.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- CRC16 ------------------------------------------------------------------
 * The cluster spec's CRC16: XMODEM (polynomial 0x1021, initial value 0, no
 * reflection), computed a byte at a time from a table built on first use. */

static uint16_t crc_table[256];
static int crc_ready;

static void crc_init(void)
{
    for (int i = 0; i < 256; i++) {
        uint16_t c = (uint16_t)(i << 8);
        for (int b = 0; b < 8; b++)
            c = (uint16_t)((c & 0x8000) ? (c << 1) ^ 0x1021 : c << 1);
        crc_table[i] = c;
    }
    crc_ready = 1;
}

uint16_t sl_redis_crc16(const char *p, size_t n)
{
    if (!crc_ready)
        crc_init();
    uint16_t crc = 0;
    for (size_t i = 0; i < n; i++)
        crc = (uint16_t)((crc << 8) ^ crc_table[((crc >> 8) ^ (unsigned char)p[i]) & 0xff]);
    return crc;
}

/* Only the part between the first '{' and the next '}' is hashed, when
 * that part is not empty: "{user1}.a" and "{user1}.b" share a slot. */
int sl_redis_keyslot(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len);
    if (open) {
        const char *from = open + 1;
        const char *close = memchr(from, '}', len - (size_t)(from - key));
        if (close && close > from)
            return sl_redis_crc16(from, (size_t)(close - from)) & (SL_REDIS_SLOTS - 1);
    }
    return sl_redis_crc16(key, len) & (SL_REDIS_SLOTS - 1);
}

/* ---- the slot map ----------------------------------------------------------- */

static int is_str(const redisReply *r)
{
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

static int str_eq(const redisReply *r, const char *s)
{
    return is_str(r) && r->len == strlen(s) && !memcmp(r->str, s, r->len);
}

/* Adds host:port (once) with its role; an empty host or "?" is the node
 * that answered. The index, -1 when full, -2 when the address is bad. */
static int node_add(sl_redis_map_t *m, const char *host, size_t hl, long long port, const char *asked_host,
                    int master)
{
    if (hl == 0 || (hl == 1 && host[0] == '?')) {
        host = asked_host;
        hl = strlen(asked_host);
    }
    if (hl >= sizeof m->nodes[0].host || port <= 0 || port > 65535)
        return -2;
    char h[256];
    memcpy(h, host, hl);
    h[hl] = '\0';
    int i = sl_redis_map_find(m, h, (int)port);
    if (i < 0) {
        if (m->nnodes == SL_REDIS_MAP_NODES_MAX)
            return -1;
        i = m->nnodes++;
        memcpy(m->nodes[i].host, h, hl + 1);
        m->nodes[i].port = (int)port;
        m->nodes[i].master = master;
        if (master < 0)
            m->nmasters++;
    } else if (master < 0 && m->nodes[i].master >= 0) { /* listed as a replica before */
        m->nodes[i].master = -1;
        m->nmasters++;
    }
    return i;
}

static int assign(sl_redis_map_t *m, long long from, long long to, int master)
{
    if (from < 0 || to < from || to >= SL_REDIS_SLOTS)
        return -2;
    for (long long s = from; s <= to; s++)
        m->slot[s] = (int16_t)master;
    return 0;
}

/* CLUSTER SLOTS: [[from, to, [host, port, id, ...] master, [host, port, ...]
 * replica...], ...]. Replicas still syncing are left out. */
static int parse_slots(sl_redis_map_t *m, const redisReply *r, const char *asked_host)
{
    for (size_t k = 0; k < r->elements; k++) {
        const redisReply *e = r->element[k];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 || e->element[0]->type != REDIS_REPLY_INTEGER ||
            e->element[1]->type != REDIS_REPLY_INTEGER)
            return -2;
        int master = -1;
        for (size_t j = 2; j < e->elements; j++) {
            const redisReply *a = e->element[j];
            if (a->type != REDIS_REPLY_ARRAY || a->elements < 2 || !is_str(a->element[0]) ||
                a->element[1]->type != REDIS_REPLY_INTEGER)
                return -2;
            int i = node_add(m, a->element[0]->str, a->element[0]->len, a->element[1]->integer, asked_host,
                             j == 2 ? -1 : master);
            if (i < 0)
                return i;
            if (j == 2)
                master = i;
        }
        int rc = assign(m, e->element[0]->integer, e->element[1]->integer, master);
        if (rc)
            return rc;
    }
    return 0;
}

/* A field of a RESP2 map (a flat array of names and values), or NULL. */
static const redisReply *field(const redisReply *map, const char *name)
{
    if (!map || map->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < map->elements; i += 2)
        if (str_eq(map->element[i], name))
            return map->element[i + 1];
    return NULL;
}

/* CLUSTER SHARDS (Redis 7): [{slots: [from, to, ...], nodes: [{ip,
 * endpoint, port, tls-port, role, health, ...}]}, ...]: every node, the
 * ones still syncing too (their subscribers count). */
static int parse_shards(sl_redis_map_t *m, const redisReply *r, const char *asked_host, int tls)
{
    for (size_t k = 0; k < r->elements; k++) {
        const redisReply *slots = field(r->element[k], "slots"), *nodes = field(r->element[k], "nodes");
        if (!slots || !nodes || slots->type != REDIS_REPLY_ARRAY || nodes->type != REDIS_REPLY_ARRAY ||
            slots->elements % 2)
            return -2;
        int master = -1;
        for (int pass = 0; pass < 2; pass++) { /* the master first: replicas name it */
            for (size_t j = 0; j < nodes->elements; j++) {
                const redisReply *n = nodes->element[j];
                if (str_eq(field(n, "role"), "master") != (pass == 0))
                    continue;
                const redisReply *host = field(n, "endpoint");
                if (!is_str(host) || host->len == 0 || (host->len == 1 && host->str[0] == '?'))
                    host = field(n, "ip");
                const redisReply *port = tls && field(n, "tls-port") ? field(n, "tls-port") : field(n, "port");
                if (!is_str(host) || !port || port->type != REDIS_REPLY_INTEGER)
                    return -2;
                if (pass == 1 && master < 0)
                    continue; /* a replica of nothing: no use here */
                int i = node_add(m, host->str, host->len, port->integer, asked_host, pass == 0 ? -1 : master);
                if (i < 0)
                    return i;
                if (pass == 0)
                    master = i;
            }
        }
        for (size_t j = 0; master >= 0 && j < slots->elements; j += 2) {
            if (slots->element[j]->type != REDIS_REPLY_INTEGER || slots->element[j + 1]->type != REDIS_REPLY_INTEGER)
                return -2;
            int rc = assign(m, slots->element[j]->integer, slots->element[j + 1]->integer, master);
            if (rc)
                return rc;
        }
    }
    return 0;
}

int sl_redis_map_parse(sl_redis_map_t *m, const redisReply *r, const char *asked_host, int tls, char *err,
                       size_t errlen)
{
    memset(m, 0, sizeof *m);
    for (int i = 0; i < SL_REDIS_SLOTS; i++)
        m->slot[i] = -1;
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        snprintf(err, errlen, "%s", r && r->type == REDIS_REPLY_ERROR ? r->str : "not a slot map");
        return -1;
    }
    int shards = r->elements && r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements &&
                 is_str(r->element[0]->element[0]);
    int rc = shards ? parse_shards(m, r, asked_host, tls) : parse_slots(m, r, asked_host);
    if (rc == -1)
        snprintf(err, errlen, "more than %d nodes in the cluster", SL_REDIS_MAP_NODES_MAX);
    else if (rc)
        snprintf(err, errlen, "CLUSTER %s: unexpected reply", shards ? "SHARDS" : "SLOTS");
    return rc ? -1 : 0;
}

int sl_redis_map_find(const sl_redis_map_t *m, const char *host, int port)
{
    for (int i = 0; i < m->nnodes; i++)
        if (m->nodes[i].port == port && !strcmp(m->nodes[i].host, host))
            return i;
    return -1;
}

int sl_redis_map_covered(const sl_redis_map_t *m)
{
    int n = 0;
    for (int i = 0; i < SL_REDIS_SLOTS; i++)
        n += m->slot[i] >= 0;
    return n;
}

/* ---- redirections ------------------------------------------------------------ */

int sl_redis_redirect(const char *err, size_t len, int *slot, char *host, size_t hostcap, int *port)
{
    int kind;
    size_t skip;
    if (len > 6 && !memcmp(err, "MOVED ", 6)) {
        kind = SL_REDIS_MOVED;
        skip = 6;
    } else if (len > 4 && !memcmp(err, "ASK ", 4)) {
        kind = SL_REDIS_ASK;
        skip = 4;
    } else {
        return SL_REDIS_NOT_REDIRECT;
    }
    char buf[320];
    if (len - skip >= sizeof buf)
        return SL_REDIS_NOT_REDIRECT;
    memcpy(buf, err + skip, len - skip);
    buf[len - skip] = '\0';
    char *sp = strchr(buf, ' ');
    char *colon = strrchr(buf, ':');
    if (!sp || !colon || colon < sp)
        return SL_REDIS_NOT_REDIRECT;
    *sp = *colon = '\0';
    char *end;
    long s = strtol(buf, &end, 10), p = strtol(colon + 1, NULL, 10);
    char *h = sp + 1;
    size_t hl = strlen(h);
    if (*end || s < 0 || s >= SL_REDIS_SLOTS || p <= 0 || p > 65535)
        return SL_REDIS_NOT_REDIRECT;
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl == 0 || hl >= hostcap)
        return SL_REDIS_NOT_REDIRECT;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *slot = (int)s;
    *port = (int)p;
    return kind;
}

/* ---- which argument is the key ---------------------------------------------- */

static int name_in(const char *name, size_t len, const char *const *list)
{
    for (int i = 0; list[i]; i++)
        if (strlen(list[i]) == len && !strncasecmp(name, list[i], len))
            return 1;
    return 0;
}

/* Commands whose first argument is not a key. PUBLISH names a channel, and
 * a cluster hands it to every node whichever takes it (SPUBLISH's channel
 * does route by slot). */
static const char *const keyless[] = {
    "PING", "ECHO", "INFO", "TIME", "DBSIZE", "CLIENT", "CONFIG", "COMMAND", "CLUSTER", "PUBSUB", "PUBLISH",
    "SCRIPT", "FUNCTION", "FLUSHALL", "FLUSHDB", "RANDOMKEY", "KEYS", "SCAN", "WAIT", "WAITAOF",
    "SLOWLOG", "LATENCY", "DEBUG", "LASTSAVE", "SAVE", "BGSAVE", "BGREWRITEAOF", "ROLE", "READONLY",
    "READWRITE", "ACL", "SHUTDOWN", "SWAPDB", "MULTI", "EXEC", "DISCARD", "LOLWUT", "HELLO", "MODULE",
    "MONITOR", "AUTH", "SELECT", "QUIT", "RESET", "FAILOVER", "REPLICAOF", "SLAVEOF", "MIGRATE",
    "UNWATCH", NULL};
/* A subcommand first, then the key: OBJECT ENCODING key, XGROUP CREATE key. */
static const char *const key_second[] = {"OBJECT", "MEMORY", "XINFO", "XGROUP", "BITOP", NULL};
/* numkeys, then the keys: EVAL script numkeys key... */
static const char *const numkeys_second[] = {"EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO",
                                              NULL};
static const char *const numkeys_first[] = {"ZUNION", "ZINTER", "ZDIFF", "SINTERCARD", "ZINTERCARD", "LMPOP",
                                             "ZMPOP", NULL};
static const char *const numkeys_after_timeout[] = {"BLMPOP", "BZMPOP", NULL};

/* The key at argv[i], when the numkeys at argv[n] says there is one. */
static int key_after_numkeys(int argc, const char *const *argv, const size_t *lens, int n, const char **key,
                             size_t *klen)
{
    if (n + 1 >= argc || lens[n] == 0 || lens[n] > 9 || argv[n][0] < '1' || argv[n][0] > '9')
        return 0;
    *key = argv[n + 1];
    *klen = lens[n + 1];
    return 1;
}

int sl_redis_command_key(int argc, const char *const *argv, const size_t *lens, const char **key,
                         size_t *klen)
{
    if (argc < 2)
        return 0;
    const char *name = argv[0];
    size_t nl = lens[0];
    if (name_in(name, nl, keyless))
        return 0;
    if (name_in(name, nl, key_second)) {
        if (argc < 3)
            return 0;
        *key = argv[2];
        *klen = lens[2];
        return 1;
    }
    if (name_in(name, nl, numkeys_second))
        return key_after_numkeys(argc, argv, lens, 2, key, klen);
    if (name_in(name, nl, numkeys_first))
        return key_after_numkeys(argc, argv, lens, 1, key, klen);
    if (name_in(name, nl, numkeys_after_timeout))
        return key_after_numkeys(argc, argv, lens, 2, key, klen);
    if ((nl == 5 && !strncasecmp(name, "XREAD", 5)) || (nl == 10 && !strncasecmp(name, "XREADGROUP", 10))) {
        for (int i = 1; i + 1 < argc; i++) {
            if (lens[i] == 7 && !strncasecmp(argv[i], "STREAMS", 7)) {
                *key = argv[i + 1];
                *klen = lens[i + 1];
                return 1;
            }
        }
        return 0;
    }
    *key = argv[1];
    *klen = lens[1];
    return 1;
}
