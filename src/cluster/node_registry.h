/* L5a cluster/node_registry: where the nodes of a cluster take relayed
 * requests, kept in Redis (or the local bus). Every node keeps
 * "<key>-node#<uid>" = "host:port" alive there; the router asks, through
 * the locator interface it owns (eio/server.h), where the owner of another
 * node's session is, so a cluster needs no sticky sessions:
 *
 *   router --locate(uid)--> cache (10 s) --hit--> host:port
 *                              | miss
 *                              v
 *                        GET <key>-node#<uid> --reply--> host:port | unknown
 *                              (at most 5 s, then unknown)
 *
 * Knows Redis commands and addresses, nothing of HTTP requests or Lua. */
#ifndef SL_NODE_REGISTRY_H
#define SL_NODE_REGISTRY_H

#include <uv.h>
#include "cluster/redis_link.h"
#include "eio/server.h"

typedef struct sl_node_registry sl_node_registry_t;

/* Uses link (the adapter's, not owned) for its commands; key is the channel
 * prefix, uid this node's id. NULL when out of memory. */
sl_node_registry_t *sl_node_registry_new(uv_loop_t *loop, sl_redis_link_t *link, const char *key,
                                         const char *uid);
/* Where this node takes relayed requests ("host:port"): announced now and
 * kept alive from then on. */
void sl_node_registry_set_address(sl_node_registry_t *g, const char *host_port);
/* Announces the address again (the link just came up). */
void sl_node_registry_announce(sl_node_registry_t *g);
/* Once a second (the owner's timer): a lookup Redis has not answered in 5 s
 * is answered unknown; every 10th tick the address is announced again. */
void sl_node_registry_tick(sl_node_registry_t *g);
/* The locator to install on the router, with g as its ud. */
extern const sl_locator_t sl_node_registry_locator;
/* Answers every lookup still waiting as unknown and frees g; replies that
 * come later find nothing. Uninstall the locator first. */
void sl_node_registry_close(sl_node_registry_t *g);

#endif
