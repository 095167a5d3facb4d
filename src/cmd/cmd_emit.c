/* L7 cmd/cmd_emit: `siolua emit --redis URL [--nsp NSP] [--to ROOM]...
 * [--except ROOM]... [--key PREFIX] EVENT [JSON_ARG]...`. See cmd_emit.h. */
#include "cmd/cmd_emit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "base/buf.h"
#include "base/log.h"
#include "sio/mpjson.h"
#include "cluster/redis_link.h"
#include "cluster/sio_redis.h"

#define MAX_ROOMS 64

typedef struct emit_job {
    sl_buf_t channel;
    sl_buf_t msg;
    sl_redis_link_t *link;
    int status;       /* exit code */
    int sent, done;
    int cluster;
} emit_job_t;

static const char synopsis[] =
    "usage: siolua emit --redis URL [--nsp NSP] [--to ROOM]... [--except ROOM]...\n"
    "                   [--key PREFIX] EVENT [JSON_ARG]...\n";

static const char help[] =
    "\n"
    "Publishes EVENT with the JSON arguments to every server of a cluster\n"
    "sharing the Redis at URL (siolua or Node), as @socket.io/redis-emitter does.\n"
    "\n"
    "  --redis URL     redis://[[user]:password@]host[:port][/db], rediss://... (TLS),\n"
    "                  unix:/path, or a Redis Cluster: host1:port1,host2:port2,...\n"
    "                  (or one seed with ?cluster=true); see docs/cluster.md\n"
    "  --nsp NSP       the namespace (default /)\n"
    "  --to ROOM       only the sockets in ROOM (repeat for several rooms)\n"
    "  --except ROOM   not the sockets in ROOM (may be repeated)\n"
    "  --key PREFIX    the channel prefix the servers use: their redisKey\n"
    "                  (Node's key / channelPrefix), default socket.io\n"
    "  JSON_ARG        each argument as JSON text: '\"text\"', 42, '{\"a\":1}'\n"
    "\n"
    "Example: siolua emit --redis redis://127.0.0.1:6379 --nsp /chat --to room1 news '\"hello\"'\n";

static int usage(const char *why)
{
    fprintf(stderr, "siolua emit: %s\n%s", why, synopsis);
    return 2;
}

/* PUBLISH answers how many subscribers the node that took it has: in a
 * Redis Cluster, only those connected to that node. */
static void on_published(void *priv, redisReply *reply, const char *why)
{
    emit_job_t *job = priv;
    if (reply && reply->type == REDIS_REPLY_INTEGER) {
        printf("published to %s (%lld %s subscribed%s)\n", job->channel.data, (long long)reply->integer,
               reply->integer == 1 ? "server" : "servers", job->cluster ? " on that node" : "");
        job->status = 0;
    } else {
        fprintf(stderr, "siolua emit: publish failed: %s\n", reply ? reply->str : why);
    }
    job->done = 1;
}

/* The first failure ends the command: a refused connection, a certificate
 * that does not verify, a wrong password are not worth waiting for. */
static void on_link(sl_redis_link_t *l, int up, const char *why, void *ud)
{
    emit_job_t *job = ud;
    if (!up) {
        if (!job->sent && !job->done) {
            fprintf(stderr, "siolua emit: cannot reach redis (%s)\n", why);
            job->done = 1;
        }
        return;
    }
    if (job->sent)
        return;
    job->sent = 1;
    const char *argv[3] = {"PUBLISH", job->channel.data, job->msg.data};
    size_t lens[3] = {7, job->channel.len, job->msg.len};
    if (sl_redis_link_command(l, on_published, job, 3, argv, lens, 0) != 0) {
        fprintf(stderr, "siolua emit: publish failed: %s\n", sl_redis_link_why(l));
        job->done = 1;
    }
}

static void give_up(uv_timer_t *t)
{
    emit_job_t *job = t->data;
    if (!job->sent)
        fprintf(stderr, "siolua emit: cannot reach redis (no answer in 5 s)\n");
    else
        fprintf(stderr, "siolua emit: no answer to PUBLISH in 5 s\n");
    job->done = 1;
}

int sl_emit_main(int argc, char **argv)
{
    const char *url = NULL, *nsp = "/", *key = "socket.io", *event = NULL;
    const char *rooms[MAX_ROOMS], *except[MAX_ROOMS], *args[MAX_ROOMS];
    int nrooms = 0, nexcept = 0, nargs = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int has_next = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("%s%s", synopsis, help);
            return 0;
        }
        if (!strcmp(a, "--redis") && has_next)
            url = argv[++i];
        else if (!strcmp(a, "--nsp") && has_next)
            nsp = argv[++i];
        else if (!strcmp(a, "--key") && has_next)
            key = argv[++i];
        else if (!strcmp(a, "--to") && has_next && nrooms < MAX_ROOMS)
            rooms[nrooms++] = argv[++i];
        else if (!strcmp(a, "--except") && has_next && nexcept < MAX_ROOMS)
            except[nexcept++] = argv[++i];
        else if (a[0] == '-' && a[1] == '-') {
            char why[300];
            int known = !strcmp(a, "--redis") || !strcmp(a, "--nsp") || !strcmp(a, "--key") ||
                        !strcmp(a, "--to") || !strcmp(a, "--except");
            if (known && !has_next)
                snprintf(why, sizeof why, "%s needs a value", a);
            else if (known)
                snprintf(why, sizeof why, "more than %d %s", MAX_ROOMS, a);
            else
                snprintf(why, sizeof why, "unknown option '%s'", a);
            return usage(why);
        }
        else if (!event)
            event = a;
        else if (nargs < MAX_ROOMS)
            args[nargs++] = a;
    }
    if (!url || !event)
        return usage("--redis URL and EVENT are required");
    sl_redis_url_t u;
    char why[256], msg[300];
    if (sl_redis_url_parse_checked(url, &u, why, sizeof why)) {
        snprintf(msg, sizeof msg, "bad --redis URL: %s", why);
        return usage(msg);
    }
    if (nsp[0] != '/')
        return usage("--nsp starts with /");

    /* The arguments array as JSON text: the event name, then each JSON_ARG
     * (checked by the converter). */
    sl_buf_t json = SL_BUF_INIT;
    sl_buf_append_byte(&json, '[');
    sl_buf_append_byte(&json, '"');
    for (const char *p = event; *p; p++) {
        if (*p == '"' || *p == '\\')
            sl_buf_append_byte(&json, '\\');
        sl_buf_append_byte(&json, *p);
    }
    sl_buf_append_byte(&json, '"');
    for (int i = 0; i < nargs; i++) {
        sl_buf_append_byte(&json, ',');
        sl_buf_append_str(&json, args[i]);
    }
    sl_buf_append_byte(&json, ']');

    emit_job_t job = {.channel = SL_BUF_INIT, .msg = SL_BUF_INIT, .status = 1};
    sio_slice_t to[MAX_ROOMS], ex[MAX_ROOMS];
    for (int i = 0; i < nrooms; i++)
        to[i] = (sio_slice_t){rooms[i], strlen(rooms[i])};
    for (int i = 0; i < nexcept; i++)
        ex[i] = (sio_slice_t){except[i], strlen(except[i])};
    sio_target_t t = {to, (size_t)nrooms, ex, (size_t)nexcept, 0, 0};
    if (sio_redis_emitter_message(&job.msg, &job.channel, key, nsp, &t, json.data, json.len, NULL,
                                  0) != 0) {
        sl_buf_free(&json);
        sl_buf_free(&job.msg);
        sl_buf_free(&job.channel);
        return usage("each JSON_ARG must be valid JSON (e.g. '\"text\"', '{\"a\":1}')");
    }
    sl_buf_free(&json);
    sl_buf_append_byte(&job.channel, '\0');
    job.channel.len--; /* NUL kept for printing, not sent */

    sl_log_level = SL_LOG_ERROR;
    uv_loop_t *loop = uv_default_loop();
    job.cluster = u.cluster;
    sl_redis_link_opts_t lo = {.name = "emit", .command_timeout_ms = 5000, .quiet = 1};
    job.link = sl_redis_link_new(loop, &u, &lo, on_link, &job, why, sizeof why);
    if (!job.link) {
        sl_buf_free(&job.channel);
        sl_buf_free(&job.msg);
        fprintf(stderr, "siolua emit: %s\n", why);
        return 1;
    }
    uv_timer_t timer;
    uv_timer_init(loop, &timer);
    timer.data = &job;
    uv_timer_start(&timer, give_up, 5000, 0);
    while (!job.done)
        uv_run(loop, UV_RUN_ONCE);
    sl_redis_link_close(job.link);
    uv_close((uv_handle_t *)&timer, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    sl_buf_free(&job.channel);
    sl_buf_free(&job.msg);
    return job.status;
}
