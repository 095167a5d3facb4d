/* Unit tests of the cluster side of sio.h: the sio_adapter_* requests reach
 * whatever adapter is installed (and only the requests it has), answer
 * -ENOTSUP with none, and what an adapter hands in comes up through the
 * handler (a broadcast logged for recovery only with recovery on and when
 * not volatile). */
#include "sio/sio.h"
#include "testlib.h"

#include <errno.h>
#include <string.h>
#include <uv.h>

/* ---- a recording adapter ------------------------------------------------- */

typedef struct calls {
    char last[64];          /* the last request's name */
    sio_nsp_t *nsp;
    size_t nrooms, nexcept, ntargets;
    char json[64];
    long ack_id;
    unsigned timeout_ms;
    int close;
    sio_reply_cb cb;
    void *cb_ud;
    int rc;                 /* what requests return */
} calls_t;

static calls_t C;

static void called(const char *name, sio_nsp_t *nsp)
{
    snprintf(C.last, sizeof C.last, "%s", name);
    C.nsp = nsp;
}

static void keep_json(const char *json, size_t len)
{
    snprintf(C.json, sizeof C.json, "%.*s", (int)len, json ? json : "");
}

static void on_reply(const char *items, size_t len, int complete, void *ud)
{
    (void)items, (void)len, (void)complete, (void)ud;
}

static void on_session(const char *json, size_t len, void *ud) { (void)json, (void)len, (void)ud; }

static int fetch_sockets(void *ud, sio_nsp_t *nsp, const sio_target_t *t, sio_reply_cb cb, void *cb_ud)
{
    (void)ud;
    called("fetch_sockets", nsp);
    C.nrooms = t->nrooms;
    C.nexcept = t->nexcept;
    C.cb = cb;
    C.cb_ud = cb_ud;
    return C.rc;
}

static int sockets_join(void *ud, sio_nsp_t *nsp, const sio_target_t *t, const sio_slice_t *rooms,
                        size_t nrooms)
{
    (void)ud, (void)rooms;
    called("sockets_join", nsp);
    C.nrooms = t->nrooms;
    C.ntargets = nrooms;
    return C.rc;
}

static int disconnect_sockets(void *ud, sio_nsp_t *nsp, const sio_target_t *t, int close)
{
    (void)ud, (void)t;
    called("disconnect_sockets", nsp);
    C.close = close;
    return C.rc;
}

static int server_side_emit(void *ud, sio_nsp_t *nsp, const char *json, size_t len, sio_reply_cb cb,
                            void *cb_ud)
{
    (void)ud;
    called("server_side_emit", nsp);
    keep_json(json, len);
    C.cb = cb;
    C.cb_ud = cb_ud;
    return C.rc;
}

static void server_side_ack(void *ud, sio_nsp_t *nsp, const char *rid, const char *json, size_t len)
{
    (void)ud, (void)rid;
    called("server_side_ack", nsp);
    keep_json(json, len);
}

static int broadcast_with_ack(void *ud, sio_nsp_t *nsp, const sio_target_t *t, const char *json,
                              size_t len, const sio_packet_bin_t *atts, unsigned natts, long ack_id,
                              unsigned timeout_ms, sio_reply_cb cb, void *cb_ud)
{
    (void)ud, (void)t, (void)atts, (void)natts, (void)cb_ud;
    called("broadcast_with_ack", nsp);
    keep_json(json, len);
    C.ack_id = ack_id;
    C.timeout_ms = timeout_ms;
    C.cb = cb;
    return C.rc;
}

static int session_take(void *ud, const char *pid, sio_session_cb cb, void *cb_ud)
{
    (void)ud, (void)cb, (void)cb_ud;
    called("session_take", NULL);
    keep_json(pid, strlen(pid));
    return C.rc;
}

/* An adapter with some of the requests (the others stay NULL). */
static const sio_adapter_t partial = {
    .ud = &C,
    .fetch_sockets = fetch_sockets,
    .sockets_join = sockets_join,
    .disconnect_sockets = disconnect_sockets,
    .server_side_emit = server_side_emit,
    .server_side_ack = server_side_ack,
    .broadcast_with_ack = broadcast_with_ack,
    .session_take = session_take,
};

/* ---- a recording handler ----------------------------------------------------- */

typedef struct heard {
    char what[32];
    char args[64];
    char rid[32];
    size_t nrooms;
    unsigned timeout_ms;
    int count;
} heard_t;

static heard_t H;

static void hear(const char *what, const char *args, size_t len, const char *rid)
{
    snprintf(H.what, sizeof H.what, "%s", what);
    snprintf(H.args, sizeof H.args, "%.*s", (int)len, args);
    snprintf(H.rid, sizeof H.rid, "%s", rid ? rid : "(none)");
    H.count++;
}

static void on_server_side_emit(sio_nsp_t *nsp, const char *args, size_t len, const char *rid,
                                void *ud)
{
    (void)nsp, (void)ud;
    hear("server_side_emit", args, len, rid);
}

static void on_broadcast_with_ack(sio_nsp_t *nsp, const sio_target_t *t, const char *args, size_t len,
                                  const sio_packet_bin_t *atts, unsigned natts, const char *rid,
                                  unsigned timeout_ms, void *ud)
{
    (void)nsp, (void)atts, (void)natts, (void)ud;
    hear("broadcast_with_ack", args, len, rid);
    H.nrooms = t->nrooms;
    H.timeout_ms = timeout_ms;
}

static void on_remote_broadcast(sio_nsp_t *nsp, const sio_target_t *t, const char *args, size_t len,
                                const sio_packet_bin_t *atts, unsigned natts, void *ud)
{
    (void)nsp, (void)atts, (void)natts, (void)ud;
    hear("remote_broadcast", args, len, NULL);
    H.nrooms = t->nrooms;
}

static const sio_handler_t handler = {
    .on_server_side_emit = on_server_side_emit,
    .on_broadcast_with_ack = on_broadcast_with_ack,
    .on_remote_broadcast = on_remote_broadcast,
};

/* ---- fixture -------------------------------------------------------------------- */

static sio_server_t *srv;
static sio_nsp_t *root;

static void server_up(int recovery)
{
    memset(&C, 0, sizeof C);
    memset(&H, 0, sizeof H);
    eio_options_t eo;
    eio_options_init(&eo);
    sio_options_t so;
    sio_options_init(&so);
    so.recovery = recovery ? 1u : 0u;
    srv = sio_server_new(tl_loop(), &eo, &so, &handler, NULL);
    CHECK(srv != NULL);
    root = sio_server_find_nsp(srv, "/");
}

static void server_down(void)
{
    sio_server_free(srv);
    srv = NULL;
}

static const sio_slice_t ROOMS[] = {{"a", 1}, {"b", 1}};
static const sio_target_t TARGET = {ROOMS, 2, ROOMS + 1, 1, 0, 0};

/* ---- tests ------------------------------------------------------------------------ */

static void without_an_adapter_requests_answer_enotsup_and_do_nothing(void)
{
    server_up(0);
    CHECK_EQ_INT(sio_adapter_installed(srv), 0);
    CHECK_EQ_INT(sio_adapter_fetch_sockets(root, &TARGET, on_reply, NULL), -ENOTSUP);
    CHECK_EQ_INT(sio_adapter_all_rooms(root, on_reply, NULL), -ENOTSUP);
    CHECK_EQ_INT(sio_adapter_server_side_emit(root, "[\"x\"]", 5, on_reply, NULL), -ENOTSUP);
    CHECK_EQ_INT(sio_adapter_server_side_emit(root, "[\"x\"]", 5, NULL, NULL), -ENOTSUP);
    CHECK_EQ_INT(sio_adapter_broadcast_with_ack(root, &TARGET, "[\"x\"]", 5, NULL, 0, 1, 100, on_reply,
                                                NULL),
                 -ENOTSUP);
    CHECK_EQ_INT(sio_adapter_sockets_join(root, &TARGET, ROOMS, 2), -ENOTSUP);
    CHECK_EQ_INT(sio_adapter_sockets_leave(root, &TARGET, ROOMS, 2), -ENOTSUP);
    CHECK_EQ_INT(sio_adapter_disconnect_sockets(root, &TARGET, 1), -ENOTSUP);
    CHECK_EQ_INT(sio_adapter_session_put(srv, "pid", "{}", 2, 1000), -ENOTSUP);
    CHECK_EQ_INT(sio_adapter_session_take(srv, "pid", on_session, NULL), -ENOTSUP);
    sio_adapter_server_side_ack(root, "rid", "1", 1);
    sio_adapter_broadcast_count(root, "rid", 3);
    sio_adapter_broadcast_ack(root, "rid", "1", 1);
    CHECK_STR(C.last, strlen(C.last), "");
    server_down();
}

static void requests_reach_the_installed_adapter_with_their_arguments(void)
{
    server_up(0);
    sio_server_set_adapter(srv, &partial);
    CHECK_EQ_INT(sio_adapter_installed(srv), 1);

    C.rc = 0;
    int ud;
    CHECK_EQ_INT(sio_adapter_fetch_sockets(root, &TARGET, on_reply, &ud), 0);
    CHECK_STR(C.last, strlen(C.last), "fetch_sockets");
    CHECK(C.nsp == root);
    CHECK_EQ_INT(C.nrooms, 2);
    CHECK_EQ_INT(C.nexcept, 1);
    CHECK(C.cb == on_reply && C.cb_ud == &ud);

    CHECK_EQ_INT(sio_adapter_sockets_join(root, &TARGET, ROOMS, 1), 0);
    CHECK_STR(C.last, strlen(C.last), "sockets_join");
    CHECK_EQ_INT(C.ntargets, 1);

    CHECK_EQ_INT(sio_adapter_disconnect_sockets(root, &TARGET, 1), 0);
    CHECK_STR(C.last, strlen(C.last), "disconnect_sockets");
    CHECK_EQ_INT(C.close, 1);

    CHECK_EQ_INT(sio_adapter_server_side_emit(root, "[\"hi\"]", 6, NULL, NULL), 0);
    CHECK_STR(C.last, strlen(C.last), "server_side_emit");
    CHECK_STR(C.json, strlen(C.json), "[\"hi\"]");
    CHECK(C.cb == NULL);

    sio_adapter_server_side_ack(root, "r1", "42", 2);
    CHECK_STR(C.last, strlen(C.last), "server_side_ack");
    CHECK_STR(C.json, strlen(C.json), "42");

    CHECK_EQ_INT(sio_adapter_broadcast_with_ack(root, &TARGET, "[\"p\"]", 5, NULL, 0, 7, 250, on_reply,
                                                NULL),
                 0);
    CHECK_STR(C.last, strlen(C.last), "broadcast_with_ack");
    CHECK_EQ_INT(C.ack_id, 7);
    CHECK_EQ_INT(C.timeout_ms, 250);

    CHECK_EQ_INT(sio_adapter_session_take(srv, "pid-1", on_session, NULL), 0);
    CHECK_STR(C.json, strlen(C.json), "pid-1");

    /* The adapter's answer comes back as it is: a cluster out of reach. */
    C.rc = -ENOTCONN;
    CHECK_EQ_INT(sio_adapter_fetch_sockets(root, &TARGET, on_reply, NULL), -ENOTCONN);

    /* Requests the adapter lacks are answered as with none, and it is
     * not called. */
    C.last[0] = '\0';
    CHECK_EQ_INT(sio_adapter_all_rooms(root, on_reply, NULL), -ENOTSUP);
    CHECK_EQ_INT(sio_adapter_sockets_leave(root, &TARGET, ROOMS, 1), -ENOTSUP);
    CHECK_EQ_INT(sio_adapter_session_put(srv, "pid", "{}", 2, 1000), -ENOTSUP);
    sio_adapter_broadcast_count(root, "rid", 3);
    sio_adapter_broadcast_ack(root, "rid", "1", 1);
    CHECK_STR(C.last, strlen(C.last), "");

    /* Uninstalled: none again. */
    sio_server_set_adapter(srv, NULL);
    CHECK_EQ_INT(sio_adapter_installed(srv), 0);
    CHECK_EQ_INT(sio_adapter_fetch_sockets(root, &TARGET, on_reply, NULL), -ENOTSUP);
    server_down();
}

static void what_an_adapter_hands_in_comes_up_through_the_handler(void)
{
    server_up(0);
    sio_adapter_deliver_server_side_emit(root, "[\"ev\",1]", 8, "uid#r1");
    CHECK_STR(H.what, strlen(H.what), "server_side_emit");
    CHECK_STR(H.args, strlen(H.args), "[\"ev\",1]");
    CHECK_STR(H.rid, strlen(H.rid), "uid#r1");
    sio_adapter_deliver_server_side_emit(root, "[\"ev\"]", 6, NULL);
    CHECK_STR(H.rid, strlen(H.rid), "(none)");

    sio_adapter_deliver_broadcast_with_ack(root, &TARGET, "[\"q\"]", 5, NULL, 0, "r2", 1500);
    CHECK_STR(H.what, strlen(H.what), "broadcast_with_ack");
    CHECK_EQ_INT(H.nrooms, 2);
    CHECK_EQ_INT(H.timeout_ms, 1500);

    /* Recovery off: a broadcast is written here, not logged. */
    H.count = 0;
    CHECK_EQ_INT(sio_adapter_deliver_broadcast(root, &TARGET, "[\"news\"]", 8, NULL, 0), 0);
    CHECK_EQ_INT(H.count, 0);
    server_down();
}

static void with_recovery_a_delivered_broadcast_is_told_unless_volatile(void)
{
    server_up(1);
    CHECK_EQ_INT(sio_adapter_deliver_broadcast(root, &TARGET, "[\"news\",\"o-1\"]", 14, NULL, 0), 0);
    CHECK_EQ_INT(H.count, 1);
    CHECK_STR(H.what, strlen(H.what), "remote_broadcast");
    CHECK_STR(H.args, strlen(H.args), "[\"news\",\"o-1\"]");
    CHECK_EQ_INT(H.nrooms, 2);
    sio_target_t v = TARGET;
    v.volatile_ = 1;
    CHECK_EQ_INT(sio_adapter_deliver_broadcast(root, &v, "[\"x\"]", 5, NULL, 0), 0);
    CHECK_EQ_INT(H.count, 1);
    server_down();
}

TL_SUITE(sio_adapter, NULL, NULL,
         TL_TEST(without_an_adapter_requests_answer_enotsup_and_do_nothing),
         TL_TEST(requests_reach_the_installed_adapter_with_their_arguments),
         TL_TEST(what_an_adapter_hands_in_comes_up_through_the_handler),
         TL_TEST(with_recovery_a_delivered_broadcast_is_told_unless_volatile));
