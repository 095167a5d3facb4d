/* L5a cluster/redis_reader: hiredis's RESP reader with a cap on an array's
 * element count, the one reader every RESP input of siolua goes through
 * (redis_conn's replies, the local bus's commands).
 *
 * Why a cap: hiredis 0.14 allocates an array's element table as soon as it
 * has read the count and has no limit of its own (no maxelements field
 * before 1.0, and 1.0's default of 2^32-1 would not stop it either), so the
 * 12 bytes "*888888881\r\n" from whatever answers on the Redis address ask
 * for 7 GB before a single element comes (found by tests/fuzz/fuzz_resp).
 * A count past the cap fails the reply: its owner drops the connection,
 * saying "an array of 888888881 elements (at most 1024)". */
#ifndef SL_REDIS_READER_H
#define SL_REDIS_READER_H

#include <stddef.h>
#include <hiredis/hiredis.h>

/* Replies to commands (sio.redis's LRANGE, CLUSTER SLOTS of a fragmented
 * map) and commands to the local bus: what Redis itself takes in one
 * request (its multibulk limit), an 8 MB element table at most. */
#define SL_REDIS_MAX_ELEMENTS (1024 * 1024)
/* A subscriber connection: messages, confirmations and PONGs hold at most
 * four elements. */
#define SL_REDIS_SUB_MAX_ELEMENTS 1024

typedef struct sl_redis_reader sl_redis_reader_t;

/* max_elements: the largest array count taken (nested ones too). NULL when
 * out of memory. */
sl_redis_reader_t *sl_redis_reader_new(int max_elements);
void sl_redis_reader_free(sl_redis_reader_t *r);
/* Appends bytes read. 0, or -1 when out of memory. */
int sl_redis_reader_feed(sl_redis_reader_t *r, const char *p, size_t n);
/* The next complete reply: 1 and *out (the caller frees it with
 * freeReplyObject), 0 when more bytes are needed, or -1 when the stream
 * is not RESP or breaks the cap (sl_redis_reader_error says why; the
 * reader takes nothing more). */
int sl_redis_reader_next(sl_redis_reader_t *r, redisReply **out);
/* Why the last sl_redis_reader_next failed: "an array of N elements (at
 * most M)" or hiredis's own ("Protocol error, got \"x\" as reply type byte"). */
const char *sl_redis_reader_error(const sl_redis_reader_t *r);

#endif
