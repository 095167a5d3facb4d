/* L5a cluster/redis_slots: what a Redis Cluster client computes without any
 * connection: the hash slot of a key (CRC16/XMODEM of the key, or of its
 * {hash tag}, modulo 16384), the slot map read from CLUSTER SHARDS or SLOTS,
 * the target of a -MOVED / -ASK redirection, and which argument of a
 * command is its key. Pure: no loop, no sockets, no logs. */
#ifndef SL_REDIS_SLOTS_H
#define SL_REDIS_SLOTS_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#define SL_REDIS_SLOTS 16384
#define SL_REDIS_MAP_NODES_MAX 256

uint16_t sl_redis_crc16(const char *p, size_t n);
/* The slot of a key (or a channel: SPUBLISH and SSUBSCRIBE route by it). */
int sl_redis_keyslot(const char *key, size_t len);

/* A slot map: for each slot, the index of its master in nodes[] (-1: no
 * node serves it), and each node's address and role. */
typedef struct sl_redis_map_node {
    char host[256];
    int port;
    int master;   /* -1 for a master, else the index of its master */
} sl_redis_map_node_t;

typedef struct sl_redis_map {
    int16_t slot[SL_REDIS_SLOTS];
    sl_redis_map_node_t nodes[SL_REDIS_MAP_NODES_MAX];
    int nnodes;
    int nmasters;
} sl_redis_map_t;

/* Reads a CLUSTER SHARDS reply (Redis 7: every node, also replicas still
 * syncing, whose subscribers count too) or a CLUSTER SLOTS one (older) into
 * m. A node announced with an empty host (or "?") is reachable at the
 * address that answered: asked_host. tls: take a node's tls-port when it
 * has one. 0, or -1 with the reason (an error reply, not a map, too many
 * nodes). */
int sl_redis_map_parse(sl_redis_map_t *m, const redisReply *r, const char *asked_host, int tls, char *err,
                       size_t errlen);
/* The index of host:port in m->nodes, or -1. */
int sl_redis_map_find(const sl_redis_map_t *m, const char *host, int port);
/* How many slots have a master. */
int sl_redis_map_covered(const sl_redis_map_t *m);

/* "MOVED 3999 127.0.0.1:6381" or "ASK 3999 127.0.0.1:6381": 1 (MOVED) or 2
 * (ASK) with the slot and the address ("[::1]" ports read too), 0 for
 * any other error. */
enum { SL_REDIS_NOT_REDIRECT = 0, SL_REDIS_MOVED = 1, SL_REDIS_ASK = 2 };
int sl_redis_redirect(const char *err, size_t len, int *slot, char *host, size_t hostcap, int *port);

/* The key a command acts on (argv[0] is its name), for routing in a
 * cluster: 1 with key and klen set, or 0 for a command with no key (it may
 * go to any node). A wrong guess costs one -MOVED, never a wrong answer. */
int sl_redis_command_key(int argc, const char *const *argv, const size_t *lens, const char **key,
                         size_t *klen);

#endif
