/* L0 base/slab: small memory blocks by size class, for an owner that knows
 * each block's size again when it frees it (Lua's allocator is told the
 * old size of every block). No header per block and no search: a free list
 * per class of SL_SLAB_STEP bytes, blocks carved in order from pages of
 * SL_SLAB_PAGE bytes, every page freed at once with the slab. Lua's objects
 * (tables, closures, strings, upvalues) are born and die by the thousand per
 * second on a busy server; from glibc's malloc each costs a few hundred
 * instructions in the allocator and a 16-byte-aligned chunk with its own
 * header, from here a pop and a push. Memory freed to a slab stays there
 * for the next block of its class until the slab goes.
 * Knows nothing of Lua or of the network. */
#ifndef SL_SLAB_H
#define SL_SLAB_H

#include <stddef.h>

/* Blocks up to SL_SLAB_MAX bytes come from the slab, in classes of
 * SL_SLAB_STEP bytes (every block SL_SLAB_STEP-aligned). */
#define SL_SLAB_STEP 16
#define SL_SLAB_MAX 512
#define SL_SLAB_CLASSES (SL_SLAB_MAX / SL_SLAB_STEP)
#define SL_SLAB_PAGE (64 * 1024)

typedef struct sl_slab {
    void *free[SL_SLAB_CLASSES]; /* per class, linked through the blocks */
    char *bump, *end;            /* the current page's uncarved part */
    void *pages;                 /* every page, linked through its first bytes */
    size_t page_count;
} sl_slab_t;

void sl_slab_init(sl_slab_t *s);
/* Frees every page: every block of the slab is gone. */
void sl_slab_destroy(sl_slab_t *s);

/* sl_slab_alloc's way when the class has no free block: carved from the
 * current page, or a new one. */
void *sl_slab_carve(sl_slab_t *s, size_t c);

/* A block of n bytes (1 <= n <= SL_SLAB_MAX), or NULL when a new page can't
 * be had. Inline, as sl_slab_free: the pop and the push are most of what
 * the Lua state's allocator does per object. */
static inline void *sl_slab_alloc(sl_slab_t *s, size_t n)
{
    size_t c = (n - 1) / SL_SLAB_STEP;
    void *p = s->free[c];
    if (!p)
        return sl_slab_carve(s, c);
    s->free[c] = *(void **)p;
    return p;
}

/* Gives back a block of n bytes (the n it was allocated with, or any n of
 * the same class). */
static inline void sl_slab_free(sl_slab_t *s, void *p, size_t n)
{
    size_t c = (n - 1) / SL_SLAB_STEP;
    *(void **)p = s->free[c];
    s->free[c] = p;
}

/* Whether n bytes are the slab's (else: malloc's). */
static inline int sl_slab_fits(size_t n) { return n - 1 < SL_SLAB_MAX; }
/* Whether blocks of a and b bytes are of the same class. */
static inline int sl_slab_same_class(size_t a, size_t b)
{
    return (a - 1) / SL_SLAB_STEP == (b - 1) / SL_SLAB_STEP;
}

#endif
