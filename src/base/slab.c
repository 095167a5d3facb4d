/* L0 base/slab: size-classed small blocks carved from pages. See slab.h. */
#include "base/slab.h"

#include <stdlib.h>
#include <string.h>

/* A page starts with the link to the previous page, padded to a step. */
#define PAGE_HEAD SL_SLAB_STEP

void sl_slab_init(sl_slab_t *s) { memset(s, 0, sizeof *s); }

static size_t class_of(size_t n) { return (n - 1) / SL_SLAB_STEP; }

static void push(sl_slab_t *s, size_t c, void *p)
{
    *(void **)p = s->free[c];
    s->free[c] = p;
}

/* A new page; what was left of the current one goes to the free list of
 * the class it fits exactly (every size is a multiple of the step). */
static int page_new(sl_slab_t *s)
{
    char *page = malloc(SL_SLAB_PAGE);
    if (!page)
        return -1;
    size_t left = (size_t)(s->end - s->bump);
    if (left >= SL_SLAB_STEP)
        push(s, class_of(left), s->bump);
    *(void **)page = s->pages;
    s->pages = page;
    s->page_count++;
    s->bump = page + PAGE_HEAD;
    s->end = page + SL_SLAB_PAGE;
    return 0;
}

void *sl_slab_carve(sl_slab_t *s, size_t c)
{
    size_t size = (c + 1) * SL_SLAB_STEP;
    if ((size_t)(s->end - s->bump) < size && page_new(s))
        return NULL;
    void *p = s->bump;
    s->bump += size;
    return p;
}

void sl_slab_destroy(sl_slab_t *s)
{
    while (s->pages) {
        void *page = s->pages;
        s->pages = *(void **)page;
        free(page);
    }
    sl_slab_init(s);
}
