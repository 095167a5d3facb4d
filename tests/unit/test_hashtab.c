/* Unit tests for base/hashtab: SipHash-1-3 against the reference vectors,
 * the table's insert/find/remove, walks that remove as they go, growth,
 * many keys, and a flood of room names that all share one bucket under the
 * unseeded FNV-1a the four tables used before. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "base/hashtab.h"
#include "testlib.h"

/* ---- SipHash-1-3 ------------------------------------------------------------ */

/* The reference implementation's output (github.com/veorq/SipHash, cROUNDS 1,
 * dROUNDS 3) for the all-zero key and the inputs 00, 00 01, 00 01 02, ...:
 * every tail length and one, two and more whole blocks. */
static const uint64_t sip13_zero_key[] = {
    0xd1fba762150c532cULL, 0x68a914128e01e473ULL, 0x010bac45c41e3669ULL,
    0x4d4c9a4a8ef6e0adULL, 0x7cc43f98813e4dbdULL, 0x5abe2169dff36275ULL,
    0xe3c25f87624f1cdbULL, 0x2f098ab0c751325aULL, 0xead411e67ebe2eeaULL,
    0x75927f9d95124362ULL, 0xaf9f77a65ab51a1dULL, 0xfe64ce8b6617fcffULL,
    0xa6baf4fb0f9fe1c2ULL, 0xa0cf3211850f8e0dULL, 0x7f86049379fbfe67ULL,
    0xf30eb725bb91c9eaULL, 0x8972188433a5c5b7ULL, 0x4883c49a2c009c1dULL,
    0xadc2c0b63044067dULL, 0x091f4a3329f87d19ULL, 0x639e355ae68c0100ULL,
    0xb17bef2cb5213239ULL,
};

static void siphash13_matches_the_reference_vectors(void)
{
    uint8_t key[16] = {0}, in[32];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (uint8_t)i;
    for (size_t n = 0; n < sizeof sip13_zero_key / sizeof *sip13_zero_key; n++) {
        uint64_t h = sl_siphash13(in, n, key);
        if (h != sip13_zero_key[n])
            fprintf(stderr, "  length %zu: %016llx\n", n, (unsigned long long)h);
        CHECK(h == sip13_zero_key[n]);
    }
}

static void process_hash_is_siphash13_under_the_process_key(void)
{
    static const uint8_t zero[16];
    const char *s = "socket.io#/#room#";
    uint64_t h = sl_hash_bytes(s, strlen(s));
    CHECK(h == sl_hash_bytes(s, strlen(s)));
    /* Keyed from the OS: not the all-zero key (a 2^-64 chance otherwise). */
    CHECK(h != sl_siphash13(s, strlen(s), zero));

    uint8_t key[16];
    for (int i = 0; i < 16; i++)
        key[i] = (uint8_t)(0xa0 + i);
    sl_hash_seed_set(key);
    CHECK(sl_hash_bytes(s, strlen(s)) == sl_siphash13(s, strlen(s), key));
    /* Back to a key nobody knows for the tests that follow. */
    CHECK_EQ_INT(getrandom(key, sizeof key, 0), 16);
    sl_hash_seed_set(key);
}

/* ---- the table ---------------------------------------------------------------- */

typedef struct item {
    int value;
    sl_hnode_t hnode;
    size_t len;
    char name[48];
} item_t;

static const void *item_key(const sl_hnode_t *n, size_t *len)
{
    const item_t *it = SL_CONTAINER_OF(n, item_t, hnode);
    *len = it->len;
    return it->name;
}

static item_t *item_new(const char *name, size_t len, int value)
{
    item_t *it = calloc(1, sizeof *it);
    if (!it)
        abort();
    memcpy(it->name, name, len);
    it->len = len;
    it->value = value;
    return it;
}

static item_t *find(const sl_hashtab_t *t, const char *name, size_t len)
{
    sl_hnode_t *n = sl_hashtab_find(t, name, len);
    return n ? SL_CONTAINER_OF(n, item_t, hnode) : NULL;
}

static void free_all(sl_hashtab_t *t)
{
    sl_hashtab_iter_t it;
    sl_hashtab_iter_init(&it, t);
    for (sl_hnode_t *n; (n = sl_hashtab_iter_next(&it));) {
        sl_hashtab_remove(t, n);
        free(SL_CONTAINER_OF(n, item_t, hnode));
    }
    CHECK_EQ_INT(sl_hashtab_count(t), 0);
    sl_hashtab_free(t);
}

static void insert_find_remove(void)
{
    sl_hashtab_t t = SL_HASHTAB_INIT(item_key);
    CHECK(sl_hashtab_find(&t, "a", 1) == NULL); /* empty: no bucket array yet */
    CHECK(t.buckets == NULL);
    item_t *a = item_new("a", 1, 1), *ab = item_new("ab", 2, 2), *empty = item_new("", 0, 3);
    item_t *nul = item_new("a\0b", 3, 4); /* keys are bytes, NUL included */
    CHECK_EQ_INT(sl_hashtab_insert(&t, &a->hnode), 0);
    CHECK_EQ_INT(sl_hashtab_insert(&t, &ab->hnode), 0);
    CHECK_EQ_INT(sl_hashtab_insert(&t, &empty->hnode), 0);
    CHECK_EQ_INT(sl_hashtab_insert(&t, &nul->hnode), 0);
    CHECK_EQ_INT(sl_hashtab_count(&t), 4);
    CHECK(find(&t, "a", 1) == a);
    CHECK(find(&t, "ab", 2) == ab);
    CHECK(find(&t, "", 0) == empty);
    CHECK(find(&t, "a\0b", 3) == nul);
    CHECK(find(&t, "a\0c", 3) == NULL);
    CHECK(find(&t, "abc", 2) == ab); /* len counts, not the NUL */
    CHECK(find(&t, "b", 1) == NULL);

    sl_hashtab_remove(&t, &ab->hnode);
    CHECK_EQ_INT(sl_hashtab_count(&t), 3);
    CHECK(find(&t, "ab", 2) == NULL);
    CHECK(find(&t, "a", 1) == a);
    sl_hashtab_remove(&t, &ab->hnode); /* not in the table: left alone */
    CHECK_EQ_INT(sl_hashtab_count(&t), 3);
    /* Back in after removal. */
    CHECK_EQ_INT(sl_hashtab_insert(&t, &ab->hnode), 0);
    CHECK(find(&t, "ab", 2) == ab);
    free_all(&t);
    CHECK(t.buckets == NULL);
    CHECK(sl_hashtab_find(&t, "a", 1) == NULL);
}

/* One hash finds the key or files the node: an entry with the key stays
 * (the new node is not linked anywhere), whether the table is empty,
 * about to grow or holds many keys. */
static void insert_new_refuses_a_key_present_and_files_one_absent(void)
{
    sl_hashtab_t t = SL_HASHTAB_INIT(item_key);
    item_t *a = item_new("a", 1, 1), *a2 = item_new("a", 1, 2);
    sl_hnode_t *found = NULL;
    CHECK_EQ_INT(sl_hashtab_insert_new(&t, &a->hnode, &found), 0); /* empty table: gets buckets */
    CHECK(found == NULL);
    CHECK_EQ_INT(sl_hashtab_insert_new(&t, &a2->hnode, &found), -EEXIST);
    CHECK(found == &a->hnode);
    CHECK_EQ_INT(sl_hashtab_insert_new(&t, &a->hnode, NULL), -EEXIST); /* itself: present */
    CHECK_EQ_INT(sl_hashtab_count(&t), 1);
    CHECK(find(&t, "a", 1) == a);
    free(a2);
    /* Through several doublings: every key in once, each second try refused. */
    char name[16];
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(name, sizeof name, "k%d", i);
        item_t *it = item_new(name, (size_t)n, i), *dup = item_new(name, (size_t)n, -1);
        CHECK_EQ_INT(sl_hashtab_insert_new(&t, &it->hnode, NULL), 0);
        CHECK_EQ_INT(sl_hashtab_insert_new(&t, &dup->hnode, &found), -EEXIST);
        CHECK(found == &it->hnode);
        free(dup);
    }
    CHECK_EQ_INT(sl_hashtab_count(&t), 1001);
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(name, sizeof name, "k%d", i);
        item_t *it = find(&t, name, (size_t)n);
        CHECK(it && it->value == i);
    }
    free_all(&t);
}

static void iterate_visits_each_once_and_may_remove_the_current(void)
{
    enum { N = 1000 };
    sl_hashtab_t t;
    sl_hashtab_init(&t, item_key);
    char name[32];
    for (int i = 0; i < N; i++) {
        int n = snprintf(name, sizeof name, "k%d", i);
        CHECK_EQ_INT(sl_hashtab_insert(&t, &item_new(name, (size_t)n, i)->hnode), 0);
    }
    /* One walk: every entry once; the odd ones removed (and freed) as met. */
    static unsigned char seen[N];
    memset(seen, 0, sizeof seen);
    sl_hashtab_iter_t it;
    sl_hashtab_iter_init(&it, &t);
    int visits = 0;
    for (sl_hnode_t *n; (n = sl_hashtab_iter_next(&it));) {
        item_t *e = SL_CONTAINER_OF(n, item_t, hnode);
        visits++;
        CHECK(e->value >= 0 && e->value < N && !seen[e->value]);
        seen[e->value] = 1;
        if (e->value % 2) {
            sl_hashtab_remove(&t, n);
            free(e);
        }
    }
    CHECK_EQ_INT(visits, N);
    CHECK_EQ_INT(sl_hashtab_count(&t), N / 2);
    for (int i = 0; i < N; i++) {
        int n = snprintf(name, sizeof name, "k%d", i);
        item_t *e = find(&t, name, (size_t)n);
        CHECK(i % 2 ? e == NULL : e != NULL && e->value == i);
    }
    /* A second walk sees exactly the even ones. */
    visits = 0;
    sl_hashtab_iter_init(&it, &t);
    for (sl_hnode_t *n; (n = sl_hashtab_iter_next(&it));) {
        CHECK_EQ_INT(SL_CONTAINER_OF(n, item_t, hnode)->value % 2, 0);
        visits++;
    }
    CHECK_EQ_INT(visits, N / 2);
    free_all(&t);
}

static void grows_by_doubling_and_keeps_every_key(void)
{
    sl_hashtab_t t = SL_HASHTAB_INIT(item_key);
    char name[32];
    size_t last = 0;
    for (int i = 0; i < 5000; i++) {
        int n = snprintf(name, sizeof name, "room-%d", i);
        CHECK_EQ_INT(sl_hashtab_insert(&t, &item_new(name, (size_t)n, i)->hnode), 0);
        /* A power of two, at least half the entry count (load factor <= 2). */
        CHECK(2 * t.nbuckets >= sl_hashtab_count(&t));
        CHECK((t.nbuckets & (t.nbuckets - 1)) == 0);
        if (t.nbuckets != last) {
            CHECK(last == 0 || t.nbuckets == 2 * last);
            last = t.nbuckets;
        }
    }
    CHECK_EQ_INT(t.nbuckets, 4096);
    for (int i = 0; i < 5000; i++) {
        int n = snprintf(name, sizeof name, "room-%d", i);
        item_t *e = find(&t, name, (size_t)n);
        CHECK(e != NULL && e->value == i);
    }
    /* A walk removing everything ends once the last entry is out, which
     * frees the bucket array. */
    sl_hashtab_iter_t it;
    sl_hashtab_iter_init(&it, &t);
    int removed = 0;
    for (sl_hnode_t *n; (n = sl_hashtab_iter_next(&it));) {
        sl_hashtab_remove(&t, n);
        free(SL_CONTAINER_OF(n, item_t, hnode));
        removed++;
    }
    CHECK_EQ_INT(removed, 5000);
    CHECK_EQ_INT(sl_hashtab_count(&t), 0);
    CHECK(t.buckets == NULL);
    CHECK_EQ_INT(t.nbuckets, 0);
    CHECK(find(&t, "room-1", 6) == NULL);
    sl_hashtab_free(&t);
}

static void shrinks_on_insert_once_sparse(void)
{
    enum { N = 5000, KEEP = 100 };
    sl_hashtab_t t = SL_HASHTAB_INIT(item_key);
    static item_t *items[N];
    char name[32];
    for (int i = 0; i < N; i++) {
        int n = snprintf(name, sizeof name, "sid-%d", i);
        items[i] = item_new(name, (size_t)n, i);
        CHECK_EQ_INT(sl_hashtab_insert(&t, &items[i]->hnode), 0);
    }
    CHECK_EQ_INT(t.nbuckets, 4096);
    /* The crowd leaves: removals alone never move the buckets (a walk may
     * be removing as it goes). */
    for (int i = KEEP; i < N; i++) {
        sl_hashtab_remove(&t, &items[i]->hnode);
        free(items[i]);
    }
    CHECK_EQ_INT(sl_hashtab_count(&t), KEEP);
    CHECK_EQ_INT(t.nbuckets, 4096);
    /* The next insert gives the array back: twice the entries, a power of
     * two (101 entries: 256 buckets), and every key is still found. */
    int n = snprintf(name, sizeof name, "sid-new");
    item_t *fresh = item_new(name, (size_t)n, -1);
    CHECK_EQ_INT(sl_hashtab_insert(&t, &fresh->hnode), 0);
    CHECK_EQ_INT(t.nbuckets, 256);
    CHECK(find(&t, "sid-new", 7) == fresh);
    for (int i = 0; i < N; i++) {
        n = snprintf(name, sizeof name, "sid-%d", i);
        item_t *e = find(&t, name, (size_t)n);
        CHECK(i < KEEP ? e == items[i] : e == NULL);
    }
    /* Near the size it shrank to, it neither grows nor shrinks back: 101
     * entries in 256 buckets stay there while a few come and go. */
    for (int round = 0; round < 100; round++) {
        sl_hashtab_remove(&t, &fresh->hnode);
        CHECK_EQ_INT(sl_hashtab_insert(&t, &fresh->hnode), 0);
        CHECK_EQ_INT(t.nbuckets, 256);
    }
    free_all(&t);
}

static void many_keys_spread_evenly(void)
{
    enum { N = 100000 };
    sl_hashtab_t t = SL_HASHTAB_INIT(item_key);
    item_t *all = calloc(N, sizeof *all);
    if (!all)
        abort();
    for (int i = 0; i < N; i++) {
        /* Sequential ids: what a weak hash clusters. */
        all[i].len = (size_t)snprintf(all[i].name, sizeof all[i].name, "%020d", i);
        all[i].value = i;
        CHECK_EQ_INT(sl_hashtab_insert(&t, &all[i].hnode), 0);
    }
    CHECK_EQ_INT(sl_hashtab_count(&t), N);
    CHECK_EQ_INT(t.nbuckets, 65536);
    /* N keys in 2^16 buckets: the fullest holds about 10 when the hash is
     * uniform; a bound of 20 fails only for a broken hash. */
    CHECK(sl_hashtab_longest_chain(&t) <= 20);
    int misses = 0;
    for (int i = 0; i < N; i += 7)
        if (find(&t, all[i].name, all[i].len) != &all[i])
            misses++;
    CHECK_EQ_INT(misses, 0);
    sl_hashtab_free(&t);
    free(all);
}

/* ---- the flood ---------------------------------------------------------------- */

/* The hash the session, room, channel and bus-key tables used before. */
static uint64_t fnv1a(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

/* Room names whose FNV-1a hashes agree in their low 16 bits, so they share
 * one bucket in every table of up to 65536 buckets that indexes with
 * hash & (nbuckets - 1), as the old ones did. The low bits of FNV-1a's
 * state depend only on the low bits before, so a name is a free prefix
 * plus a 3-character suffix that steers those 16 bits to TARGET: for each
 * suffix, run FNV backwards from TARGET (x = (y * P^-1) ^ c, mod 2^16) to
 * the state the prefix must end in, and remember one suffix per state. */
#define TARGET 0x5a17u
static int flood_names(char (*names)[32], int want)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint64_t p = 1099511628211ull, inv = p;
    for (int i = 0; i < 6; i++) /* Newton: each step doubles the correct bits */
        inv *= 2 - p * inv;
    static int32_t suffix_for[65536];
    for (size_t i = 0; i < 65536; i++)
        suffix_for[i] = -1;
    for (int32_t s = 0; s < 64 * 64 * 64; s++) {
        const char c[3] = {abc[s >> 12], abc[(s >> 6) & 63], abc[s & 63]};
        uint64_t x = TARGET;
        for (int k = 2; k >= 0; k--)
            x = ((x * inv) ^ (unsigned char)c[k]) & 0xffff;
        if (suffix_for[x] < 0)
            suffix_for[x] = s;
    }
    int got = 0;
    for (int i = 0; got < want && i < 10 * want; i++) {
        char prefix[24];
        int n = snprintf(prefix, sizeof prefix, "room:%d:", i);
        int32_t s = suffix_for[fnv1a(prefix, (size_t)n) & 0xffff];
        if (s < 0)
            continue;
        snprintf(names[got++], 32, "%s%c%c%c", prefix, abc[s >> 12], abc[(s >> 6) & 63], abc[s & 63]);
    }
    return got;
}

static void colliding_room_names_do_not_share_a_chain(void)
{
    enum { N = 4000 };
    char (*names)[32] = calloc(N, sizeof *names);
    item_t *rooms = calloc(N, sizeof *rooms);
    if (!names || !rooms)
        abort();
    CHECK_EQ_INT(flood_names(names, N), N);
    /* Under the old scheme they all land in one bucket: one chain of N. */
    int same = 0;
    for (int i = 0; i < N; i++)
        same += (fnv1a(names[i], strlen(names[i])) & 0xffff) == TARGET;
    CHECK_EQ_INT(same, N);

    sl_hashtab_t t = SL_HASHTAB_INIT(item_key);
    for (int i = 0; i < N; i++) {
        rooms[i].len = strlen(names[i]);
        memcpy(rooms[i].name, names[i], rooms[i].len);
        rooms[i].value = i;
        CHECK(find(&t, rooms[i].name, rooms[i].len) == NULL); /* distinct names */
        CHECK_EQ_INT(sl_hashtab_insert(&t, &rooms[i].hnode), 0);
    }
    CHECK_EQ_INT(sl_hashtab_count(&t), N);
    CHECK_EQ_INT(t.nbuckets, 2048);
    /* Keyed SipHash spreads them like any names: about 9 in the fullest of
     * 2048 buckets; a chain of 16 has odds below 1e-7 per run. */
    size_t longest = sl_hashtab_longest_chain(&t);
    if (longest > 16)
        fprintf(stderr, "  longest chain %zu\n", longest);
    CHECK(longest <= 16);
    for (int i = 0; i < N; i += 97)
        CHECK(find(&t, names[i], strlen(names[i])) == &rooms[i]);
    sl_hashtab_free(&t);
    free(rooms);
    free(names);
}

TL_SUITE(hashtab, NULL, NULL,
         TL_TEST(siphash13_matches_the_reference_vectors),
         TL_TEST(process_hash_is_siphash13_under_the_process_key),
         TL_TEST(insert_find_remove),
         TL_TEST(insert_new_refuses_a_key_present_and_files_one_absent),
         TL_TEST(iterate_visits_each_once_and_may_remove_the_current),
         TL_TEST(grows_by_doubling_and_keeps_every_key),
         TL_TEST(shrinks_on_insert_once_sparse),
         TL_TEST(many_keys_spread_evenly),
         TL_TEST(colliding_room_names_do_not_share_a_chain));
