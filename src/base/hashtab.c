/* L0 base/hashtab: the seeded chained hash table. See hashtab.h.
 *
 * The hash is SipHash-1-3, written from the paper's definition (four 64-bit
 * words of state, ARX rounds, the message length in the last block's top
 * byte). A table keyed by strings a client chooses is only as good as the
 * secrecy of its hash: with a fixed function (FNV-1a, as before) anyone can
 * search offline for thousands of room names that share a bucket and turn
 * every lookup into a walk of all of them. A keyed PRF with a key the
 * client never sees leaves nothing to search for. */
#include "base/hashtab.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"

/* ---- SipHash-1-3 ---------------------------------------------------------- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

#define SIPROUND(v0, v1, v2, v3)                                               \
    do {                                                                       \
        v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);              \
        v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                                 \
        v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                                 \
        v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);              \
    } while (0)

/* Little-endian whatever the host; compilers make this one load. */
static inline uint64_t load_le64(const unsigned char *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
           (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 |
           (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

static uint64_t siphash13(const unsigned char *in, size_t n, uint64_t k0, uint64_t k1)
{
    uint64_t v0 = k0 ^ 0x736f6d6570736575ULL;
    uint64_t v1 = k1 ^ 0x646f72616e646f6dULL;
    uint64_t v2 = k0 ^ 0x6c7967656e657261ULL;
    uint64_t v3 = k1 ^ 0x7465646279746573ULL;
    const unsigned char *end = in + (n & ~(size_t)7);
    for (; in < end; in += 8) {
        uint64_t m = load_le64(in);
        v3 ^= m;
        SIPROUND(v0, v1, v2, v3);
        v0 ^= m;
    }
    /* The last block: the 0..7 bytes left, and the length mod 256 on top. */
    uint64_t b = (uint64_t)n << 56;
    switch (n & 7) {
    case 7: b |= (uint64_t)in[6] << 48; /* fall through */
    case 6: b |= (uint64_t)in[5] << 40; /* fall through */
    case 5: b |= (uint64_t)in[4] << 32; /* fall through */
    case 4: b |= (uint64_t)in[3] << 24; /* fall through */
    case 3: b |= (uint64_t)in[2] << 16; /* fall through */
    case 2: b |= (uint64_t)in[1] << 8;  /* fall through */
    case 1: b |= (uint64_t)in[0];       /* fall through */
    default: break;
    }
    v3 ^= b;
    SIPROUND(v0, v1, v2, v3);
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND(v0, v1, v2, v3);
    SIPROUND(v0, v1, v2, v3);
    SIPROUND(v0, v1, v2, v3);
    return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t sl_siphash13(const void *p, size_t n, const uint8_t key[16])
{
    return siphash13(p, n, load_le64(key), load_le64(key + 8));
}

/* ---- the process's key ---------------------------------------------------- */

/* Tables live on the loop's thread only, so a plain flag is enough. */
static uint64_t seed_k0, seed_k1;
static int seeded;

static void seed_from_os(void)
{
    unsigned char key[16];
    ssize_t got;
    do
        got = getrandom(key, sizeof key, 0);
    while (got < 0 && errno == EINTR);
    if (got != (ssize_t)sizeof key) {
        /* No getrandom (a very old kernel): a key nobody outside can read
         * back is still better than none. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t mix[4] = {(uint64_t)ts.tv_sec, (uint64_t)ts.tv_nsec, (uint64_t)getpid(),
                           (uint64_t)(uintptr_t)&ts};
        uint64_t a = siphash13((const unsigned char *)mix, sizeof mix, 0, 0);
        uint64_t b = siphash13((const unsigned char *)mix, sizeof mix, a, ~a);
        memcpy(key, &a, 8);
        memcpy(key + 8, &b, 8);
        SL_WARN("hash", "getrandom failed: hash tables keyed from time and pid");
    }
    seed_k0 = load_le64(key);
    seed_k1 = load_le64(key + 8);
    seeded = 1;
}

void sl_hash_seed_set(const uint8_t key[16])
{
    seed_k0 = load_le64(key);
    seed_k1 = load_le64(key + 8);
    seeded = 1;
}

uint64_t sl_hash_bytes(const void *p, size_t n)
{
    if (!seeded)
        seed_from_os();
    return siphash13(p, n, seed_k0, seed_k1);
}

/* ---- the table -------------------------------------------------------------- */

#define MIN_BUCKETS 16

void sl_hashtab_init(sl_hashtab_t *t, sl_hashtab_key_fn key)
{
    t->buckets = NULL;
    t->nbuckets = 0;
    t->count = 0;
    t->key = key;
}

void sl_hashtab_free(sl_hashtab_t *t)
{
    free(t->buckets);
    sl_hashtab_init(t, t->key);
}

static size_t bucket_of(const sl_hashtab_t *t, const sl_hnode_t *n, size_t nbuckets)
{
    size_t len;
    const void *k = t->key(n, &len);
    return (size_t)sl_hash_bytes(k, len) & (nbuckets - 1);
}

sl_hnode_t *sl_hashtab_find(const sl_hashtab_t *t, const void *key, size_t len)
{
    if (!t->count)
        return NULL;
    sl_hnode_t *n = t->buckets[(size_t)sl_hash_bytes(key, len) & (t->nbuckets - 1)];
    for (; n; n = n->next) {
        size_t nlen;
        const void *nk = t->key(n, &nlen);
        if (nlen == len && memcmp(nk, key, len) == 0)
            return n;
    }
    return NULL;
}

/* Moves every entry into a bucket array of nb (a power of two). */
static int resize(sl_hashtab_t *t, size_t nb)
{
    sl_hnode_t **b = calloc(nb, sizeof *b);
    if (!b)
        return -ENOMEM;
    for (size_t i = 0; i < t->nbuckets; i++) {
        for (sl_hnode_t *n = t->buckets[i], *next; n; n = next) {
            next = n->next;
            size_t k = bucket_of(t, n, nb);
            n->next = b[k];
            b[k] = n;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->nbuckets = nb;
    return 0;
}

/* Doubles the bucket array. */
static int grow(sl_hashtab_t *t)
{
    size_t nb = t->nbuckets ? t->nbuckets * 2 : MIN_BUCKETS;
    if (nb < t->nbuckets)
        return -ENOMEM;
    return resize(t, nb);
}

/* A table that held many entries and now holds few (a server after a crowd
 * has left) gives the bucket array back: down to twice its entries once
 * they are under an eighth of the buckets. Done on insert, not on remove,
 * because a walk may remove as it goes and must not see the buckets move;
 * the gap between growing (entries = twice the buckets) and shrinking
 * (an eighth) keeps a table near either size from resizing back and
 * forth. */
static void shrink_if_sparse(sl_hashtab_t *t)
{
    if (t->nbuckets <= MIN_BUCKETS || t->count >= t->nbuckets / 8)
        return;
    size_t nb = MIN_BUCKETS;
    while (nb < 2 * (t->count + 1))
        nb *= 2;
    (void)resize(t, nb); /* out of memory: the larger array serves on */
}

/* Up to two entries per bucket on average before the array doubles: a
 * lookup compares 1.5 keys at most on average (after the SipHash, which
 * costs more), and the tables of every connection (sessions by sid,
 * sockets by id) take 4 to 8 bytes of buckets per entry instead of 8 to
 * 16. */
int sl_hashtab_insert(sl_hashtab_t *t, sl_hnode_t *n)
{
    if (t->count >= 2 * t->nbuckets && grow(t) && !t->nbuckets)
        return -ENOMEM;
    shrink_if_sparse(t);
    size_t k = bucket_of(t, n, t->nbuckets);
    n->next = t->buckets[k];
    t->buckets[k] = n;
    t->count++;
    return 0;
}

int sl_hashtab_insert_new(sl_hashtab_t *t, sl_hnode_t *n, sl_hnode_t **found)
{
    /* Resized first (as sl_hashtab_insert does), so that the one hash
     * finds the bucket that n goes into. */
    if (t->count >= 2 * t->nbuckets && grow(t) && !t->nbuckets)
        return -ENOMEM;
    shrink_if_sparse(t);
    size_t len;
    const void *key = t->key(n, &len);
    sl_hnode_t **b = &t->buckets[(size_t)sl_hash_bytes(key, len) & (t->nbuckets - 1)];
    for (sl_hnode_t *m = *b; m; m = m->next) {
        size_t mlen;
        const void *mk = t->key(m, &mlen);
        if (mlen == len && memcmp(mk, key, len) == 0) {
            if (found)
                *found = m;
            return -EEXIST;
        }
    }
    n->next = *b;
    *b = n;
    t->count++;
    return 0;
}

/* The last entry out frees the bucket array (a walk that removed it ends:
 * no bucket is left to start). */
void sl_hashtab_remove(sl_hashtab_t *t, sl_hnode_t *n)
{
    if (!t->count)
        return;
    for (sl_hnode_t **pp = &t->buckets[bucket_of(t, n, t->nbuckets)]; *pp; pp = &(*pp)->next) {
        if (*pp == n) {
            *pp = n->next;
            if (--t->count == 0)
                sl_hashtab_free(t);
            return;
        }
    }
}

void sl_hashtab_iter_init(sl_hashtab_iter_t *it, const sl_hashtab_t *t)
{
    it->t = t;
    it->bucket = 0;
    it->next = NULL;
}

sl_hnode_t *sl_hashtab_iter_next(sl_hashtab_iter_t *it)
{
    sl_hnode_t *n = it->next;
    while (!n) {
        if (it->bucket >= it->t->nbuckets)
            return NULL;
        n = it->t->buckets[it->bucket++];
    }
    it->next = n->next;
    return n;
}

size_t sl_hashtab_longest_chain(const sl_hashtab_t *t)
{
    size_t longest = 0;
    for (size_t i = 0; i < t->nbuckets; i++) {
        size_t len = 0;
        for (const sl_hnode_t *n = t->buckets[i]; n; n = n->next)
            len++;
        if (len > longest)
            longest = len;
    }
    return longest;
}
