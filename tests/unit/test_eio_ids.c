/* Unit tests of eio_random_id: 20 base64url characters, all different over
 * more ids than one read of the OS's random bytes gives, and a forked
 * child does not hand out the ids its parent will (each reads its own). */
#include "eio/eio.h"
#include "testlib.h"

#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/hashtab.h"

static int base64url(const char *id)
{
    for (int i = 0; i < 20; i++)
        if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", id[i]))
            return 0;
    return id[20] == '\0';
}

typedef struct id_node {
    sl_hnode_t h;
    char id[21];
} id_node_t;

static const void *id_key(const sl_hnode_t *n, size_t *len)
{
    *len = 20;
    return SL_CONTAINER_OF(n, id_node_t, h)->id;
}

static void random_ids_are_base64url_and_all_different(void)
{
    enum { N = 2000 }; /* several refills of the pool */
    static id_node_t ids[N];
    sl_hashtab_t seen = SL_HASHTAB_INIT(id_key);
    int dup = 0, bad = 0;
    for (int i = 0; i < N; i++) {
        CHECK_EQ_INT(eio_random_id(ids[i].id), 0);
        bad += !base64url(ids[i].id);
        if (sl_hashtab_find(&seen, ids[i].id, 20))
            dup++;
        else
            sl_hashtab_insert(&seen, &ids[i].h);
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(dup, 0);
    sl_hashtab_free(&seen);
}

static void forked_child_makes_other_ids_than_its_parent(void)
{
    char mine[21], theirs[21] = "";
    CHECK_EQ_INT(eio_random_id(mine), 0); /* the pool is filled now */
    int fds[2];
    CHECK_EQ_INT(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        char id[21];
        int ok = eio_random_id(id) == 0 && write(fds[1], id, 21) == 21;
        _exit(ok ? 0 : 1);
    }
    CHECK(pid > 0);
    close(fds[1]);
    CHECK_EQ_INT(read(fds[0], theirs, 21), 21);
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_EQ_INT(eio_random_id(mine), 0); /* what the parent hands out next */
    CHECK(memcmp(mine, theirs, 21) != 0);
}

TL_SUITE(eio_ids, NULL, NULL,
         TL_TEST(random_ids_are_base64url_and_all_different),
         TL_TEST(forked_child_makes_other_ids_than_its_parent));
