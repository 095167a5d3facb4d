/* L0 base/list: an intrusive doubly linked list with a head and a tail, for
 * queues in arrival order (oldest first) whose members leave from anywhere
 * in O(1). The link lives in the member (SL_CONTAINER_OF gets it back); a
 * member is in at most one list per link. Knows nothing of what it links.
 *
 *   sl_list_t: head -> a <-> b <-> c <- tail
 */
#ifndef SL_LIST_H
#define SL_LIST_H

#include <stddef.h>

#include "base/hashtab.h" /* SL_CONTAINER_OF */

typedef struct sl_link {
    struct sl_link *prev, *next;
} sl_link_t;

typedef struct sl_list {
    sl_link_t *head, *tail;
} sl_list_t;

/* Whether n is in l (a link all zero is in no list). */
static inline int sl_list_has(const sl_list_t *l, const sl_link_t *n) { return n->prev || l->head == n; }

static inline void sl_list_push_back(sl_list_t *l, sl_link_t *n)
{
    n->prev = l->tail;
    n->next = NULL;
    if (l->tail)
        l->tail->next = n;
    else
        l->head = n;
    l->tail = n;
}

/* Takes n out of l; a no-op when it is not in it. */
static inline void sl_list_remove(sl_list_t *l, sl_link_t *n)
{
    if (!sl_list_has(l, n))
        return;
    if (n->prev)
        n->prev->next = n->next;
    else
        l->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        l->tail = n->prev;
    n->prev = n->next = NULL;
}

#endif
