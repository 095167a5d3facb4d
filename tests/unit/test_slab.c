/* Unit tests for base/slab: blocks by size class with no header, reused
 * last freed first, aligned, never overlapping, pages freed with the slab
 * (the sanitizer build's leak check covers that). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/slab.h"
#include "testlib.h"

static void slab_a_freed_block_is_the_next_of_its_class(void)
{
    sl_slab_t s;
    sl_slab_init(&s);
    void *a = sl_slab_alloc(&s, 24), *b = sl_slab_alloc(&s, 24);
    CHECK(a && b && a != b);
    sl_slab_free(&s, a, 24);
    CHECK(sl_slab_alloc(&s, 32) == a); /* 17..32 bytes: one class */
    sl_slab_free(&s, b, 17);
    sl_slab_free(&s, a, 32);
    CHECK(sl_slab_alloc(&s, 20) == a);
    CHECK(sl_slab_alloc(&s, 30) == b);
    void *c = sl_slab_alloc(&s, 33); /* the next class: not one of them */
    CHECK(c != a && c != b);
    CHECK(sl_slab_same_class(17, 32) && !sl_slab_same_class(32, 33) && sl_slab_same_class(1, 16));
    CHECK(sl_slab_fits(1) && sl_slab_fits(SL_SLAB_MAX) && !sl_slab_fits(SL_SLAB_MAX + 1) &&
          !sl_slab_fits(0));
    sl_slab_destroy(&s);
    CHECK(s.pages == NULL && s.page_count == 0);
}

/* Many blocks of every class over several pages: each is aligned, keeps
 * what was written to it, and overlaps no other. */
static void slab_blocks_are_aligned_and_keep_their_bytes_over_many_pages(void)
{
    enum { N = 6000 };
    sl_slab_t s;
    sl_slab_init(&s);
    unsigned char **p = malloc(N * sizeof *p);
    size_t *n = malloc(N * sizeof *n);
    for (int i = 0; i < N; i++) {
        n[i] = 1 + (size_t)(i * 37) % SL_SLAB_MAX;
        p[i] = sl_slab_alloc(&s, n[i]);
        CHECK(p[i] != NULL);
        CHECK(((uintptr_t)p[i] & (SL_SLAB_STEP - 1)) == 0);
        memset(p[i], i & 0xff, n[i]);
        /* Free every third block at once: later ones reuse them. */
        if (i % 3 == 2) {
            sl_slab_free(&s, p[i - 1], n[i - 1]);
            p[i - 1] = NULL;
        }
    }
    CHECK(s.page_count > 2);
    for (int i = 0; i < N; i++) {
        if (!p[i])
            continue;
        for (size_t k = 0; k < n[i]; k++)
            if (p[i][k] != (unsigned char)(i & 0xff)) {
                CHECK(0);
                break;
            }
    }
    free(p);
    free(n);
    sl_slab_destroy(&s);
}

/* The end of a page too small for a block is not lost: it serves the
 * class it fits. */
static void slab_the_rest_of_a_page_serves_a_smaller_class(void)
{
    sl_slab_t s;
    sl_slab_init(&s);
    size_t room = SL_SLAB_PAGE - SL_SLAB_STEP; /* a page's blocks */
    size_t big = SL_SLAB_MAX, count = room / big, rest = room - count * big;
    for (size_t i = 0; i < count; i++)
        CHECK(sl_slab_alloc(&s, big) != NULL);
    CHECK_EQ_INT(s.page_count, 1);
    CHECK(sl_slab_alloc(&s, big) != NULL); /* a second page */
    CHECK_EQ_INT(s.page_count, 2);
    CHECK(rest > 0);
    char *first = *(char **)s.pages; /* pages are linked newest first */
    char *r = sl_slab_alloc(&s, rest);
    CHECK(r >= first + SL_SLAB_STEP && r + rest == first + SL_SLAB_PAGE);
    CHECK_EQ_INT(s.page_count, 2);
    sl_slab_destroy(&s);
}

TL_SUITE(slab, NULL, NULL,
         TL_TEST(slab_a_freed_block_is_the_next_of_its_class),
         TL_TEST(slab_blocks_are_aligned_and_keep_their_bytes_over_many_pages),
         TL_TEST(slab_the_rest_of_a_page_serves_a_smaller_class));
