/* L5a cluster/sio_cluster: the envelope of socket.io-adapter's ClusterAdapter
 * messages (2.5), as @socket.io/redis-adapter's sharded adapter sends them:
 *
 *   {type, data: {requestId?, opts?, rooms?, close?, packet?, sockets?,
 *                 clientCount?}, uid, nsp}
 *
 * JSON text, or MessagePack (notepack) when the data holds binary; a
 * receiver tells them apart by the first byte ('{' is JSON). Pure codec:
 * no loop, no namespaces; what a message means is the adapter's business. */
#ifndef SL_SIO_CLUSTER_H
#define SL_SIO_CLUSTER_H

#include <stddef.h>
#include <stdint.h>
#include "base/buf.h"

/* socket.io-adapter's MessageType. */
enum {
    SIO_CLUSTER_INITIAL_HEARTBEAT = 1,
    SIO_CLUSTER_HEARTBEAT = 2,
    SIO_CLUSTER_BROADCAST = 3,
    SIO_CLUSTER_SOCKETS_JOIN = 4,
    SIO_CLUSTER_SOCKETS_LEAVE = 5,
    SIO_CLUSTER_DISCONNECT_SOCKETS = 6,
    SIO_CLUSTER_FETCH_SOCKETS = 7,
    SIO_CLUSTER_FETCH_SOCKETS_RESPONSE = 8,
    SIO_CLUSTER_SERVER_SIDE_EMIT = 9,
    SIO_CLUSTER_SERVER_SIDE_EMIT_RESPONSE = 10,
    SIO_CLUSTER_BROADCAST_CLIENT_COUNT = 11,
    SIO_CLUSTER_BROADCAST_ACK = 12,
    SIO_CLUSTER_ADAPTER_CLOSE = 13,
};

/* A decoded message. Strings are NUL-terminated copies (cut messages are
 * refused); the other members point at MessagePack values inside the
 * buffer given to decode (or into msg itself), NULL when absent. */
typedef struct sio_cluster_msg {
    int type;
    char uid[64];
    char nsp[256];
    char request_id[64];       /* "" when absent */
    const char *opts;          /* {rooms, except, flags} */
    const char *rooms;         /* SOCKETS_JOIN / SOCKETS_LEAVE */
    const char *packet;        /* BROADCAST: {type, data, nsp}; SERVER_SIDE_EMIT:
                                * the arguments; *_RESPONSE / ACK: the answer */
    const char *sockets;       /* FETCH_SOCKETS_RESPONSE */
    long client_count;         /* BROADCAST_CLIENT_COUNT, -1 when absent */
    int close;                 /* DISCONNECT_SOCKETS */
    const char *end;           /* end of the MessagePack bytes */
} sio_cluster_msg_t;

/* Reads msg (JSON or MessagePack). JSON is converted into scratch first,
 * which must then outlive out. 0, or -1 for anything malformed (not a map,
 * no numeric type, no uid, a field of the wrong kind, strings too long). */
int sio_cluster_decode(const char *msg, size_t len, sl_buf_t *scratch, sio_cluster_msg_t *out);

/* Whether a message of this type answers one of our requests. */
int sio_cluster_is_response(int type);

/* JSON writers for messages without binary: open writes
 * {"type":T,"data":{ and the caller appends its fields with
 * sio_cluster_field; close adds "requestId" when given and the
 * envelope's uid and nsp. */
void sio_cluster_json_open(sl_buf_t *b, int type);
void sio_cluster_field(sl_buf_t *b, const char *name);
void sio_cluster_json_close(sl_buf_t *b, const char *request_id, const char *uid, const char *nsp);

#endif
