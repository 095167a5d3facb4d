/* L0 base/hashtab: the one hash table of the runtime, keyed by byte strings
 * and hashed with SipHash-1-3 under a random per-process key, so a peer
 * that chooses the keys (session ids, room names, channel names, keys of
 * the local bus) can't aim them all at one bucket. Knows nothing of what
 * the entries are.
 *
 * Intrusive, as the chained tables it replaces: the node is a member of
 * the caller's struct, so an entry costs no allocation of its own and the
 * table owns only its bucket array.
 *
 *   sl_hashtab_t            entries (the caller's structs)
 *   buckets[0] ----------> [ ... hnode ... ] -> [ ... hnode ... ] -> NULL
 *   buckets[1] -> NULL
 *   buckets[2] ----------> [ ... hnode ... ] -> NULL
 *
 * The table reads an entry's key through the key function it was made
 * with; the key bytes must not change while the entry is in the table.
 * Growth doubles the bucket array when the entries outnumber the buckets
 * and rehashes them all at once (amortised O(1) per insert). A table whose
 * entries fell under an eighth of its buckets shrinks on the next insert,
 * and the last entry removed frees the bucket array. */
#ifndef SL_HASHTAB_H
#define SL_HASHTAB_H

#include <stddef.h>
#include <stdint.h>

typedef struct sl_hnode {
    struct sl_hnode *next;
} sl_hnode_t;

/* The entry holding node n, as a pointer to its type. */
#define SL_CONTAINER_OF(n, type, member) \
    ((type *)(void *)((char *)(n) - offsetof(type, member)))

/* Where the key of the entry holding n is: its bytes and their count. */
typedef const void *(*sl_hashtab_key_fn)(const sl_hnode_t *n, size_t *len);

typedef struct sl_hashtab {
    sl_hnode_t **buckets; /* NULL until the first insert */
    size_t nbuckets;      /* 0 or a power of two */
    size_t count;
    sl_hashtab_key_fn key;
} sl_hashtab_t;

#define SL_HASHTAB_INIT(key_fn) {NULL, 0, 0, (key_fn)}

/* An empty table; allocates nothing. */
void sl_hashtab_init(sl_hashtab_t *t, sl_hashtab_key_fn key);
/* Frees the bucket array (the entries are the caller's: walk and free them
 * first); the table is empty and usable again. */
void sl_hashtab_free(sl_hashtab_t *t);

/* The node whose key is the len bytes at key, or NULL. */
sl_hnode_t *sl_hashtab_find(const sl_hashtab_t *t, const void *key, size_t len);
/* Adds n, whose key must not be in the table already (find first). 0, or
 * -ENOMEM when the table has no bucket array and can't get one; when only
 * doubling it fails, n goes in all the same and the chains get longer. */
int sl_hashtab_insert(sl_hashtab_t *t, sl_hnode_t *n);
/* sl_hashtab_insert when no entry has n's key, for one hash instead of a
 * find's and an insert's: 0 when n went in, -EEXIST (with *found, when
 * found is not NULL, set to the entry that has the key) when it did not,
 * -ENOMEM as sl_hashtab_insert. */
int sl_hashtab_insert_new(sl_hashtab_t *t, sl_hnode_t *n, sl_hnode_t **found);
/* Takes n out of the table; a node that is not in it is left alone. Taking
 * the last entry out frees the bucket array. */
void sl_hashtab_remove(sl_hashtab_t *t, sl_hnode_t *n);

static inline size_t sl_hashtab_count(const sl_hashtab_t *t) { return t->count; }

/* Walks every entry once, in no particular order. The node just returned
 * may be removed (and freed) before the next call; nothing else may be
 * removed and nothing inserted while the walk goes on. */
typedef struct sl_hashtab_iter {
    const sl_hashtab_t *t;
    size_t bucket;    /* the next bucket to start */
    sl_hnode_t *next; /* the node after the one returned */
} sl_hashtab_iter_t;

void sl_hashtab_iter_init(sl_hashtab_iter_t *it, const sl_hashtab_t *t);
sl_hnode_t *sl_hashtab_iter_next(sl_hashtab_iter_t *it);

/* The number of entries in the fullest bucket: what a lookup may have to
 * compare at worst (tests and diagnostics). */
size_t sl_hashtab_longest_chain(const sl_hashtab_t *t);

/* SipHash-1-3 (Aumasson and Bernstein, "SipHash: a fast short-input PRF",
 * with one compression and three finalization rounds, the variant Redis
 * and Rust's HashMap use for tables) of n bytes under a 16-byte key. */
uint64_t sl_siphash13(const void *p, size_t n, const uint8_t key[16]);

/* sl_siphash13 under the process's key: 16 bytes from getrandom() taken
 * on the first call. Every table hashes with it. */
uint64_t sl_hash_bytes(const void *p, size_t n);
/* Test hook: replaces the process's key. Only before the first table has
 * an entry (a table's buckets depend on the key it was filled with). */
void sl_hash_seed_set(const uint8_t key[16]);

#endif
