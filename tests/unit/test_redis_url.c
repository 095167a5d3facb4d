/* Unit tests of redis_url: the one reader of Redis URLs (adapter, emitter,
 * sio.redis). Every accepted form (one server, the seeds of a Redis
 * Cluster, TLS), the defaults, percent-decoding, and a one-line reason for
 * each refusal. */
#include "cluster/redis_url.h"
#include "testlib.h"

#include <string.h>

static int parse(const char *url, sl_redis_url_t *u, char *err)
{
    err[0] = '\0';
    return sl_redis_url_parse(url, u, err, 200);
}

static void tcp_defaults(void)
{
    sl_redis_url_t u;
    char err[200];
    CHECK_EQ_INT(parse("redis://", &u, err), 0);
    CHECK(!strcmp(u.seeds[0].host, "127.0.0.1"));
    CHECK_EQ_INT(u.seeds[0].port, 6379);
    CHECK_EQ_INT(u.is_unix, 0);
    CHECK_EQ_INT(u.has_password, 0);
    CHECK_EQ_INT(u.db, 0);
    CHECK_EQ_INT(parse("redis://cache.local", &u, err), 0);
    CHECK(!strcmp(u.seeds[0].host, "cache.local"));
    CHECK_EQ_INT(u.seeds[0].port, 6379);
}

static void tcp_full_form_with_acl_user_and_db(void)
{
    sl_redis_url_t u;
    char err[200];
    CHECK_EQ_INT(parse("redis://app:s%40cret@10.0.0.5:6380/3", &u, err), 0);
    CHECK(!strcmp(u.user, "app"));
    CHECK(!strcmp(u.password, "s@cret"));
    CHECK_EQ_INT(u.has_password, 1);
    CHECK(!strcmp(u.seeds[0].host, "10.0.0.5"));
    CHECK_EQ_INT(u.seeds[0].port, 6380);
    CHECK_EQ_INT(u.db, 3);
    /* password only (no user): the classic AUTH password */
    CHECK_EQ_INT(parse("redis://:pw@h:1", &u, err), 0);
    CHECK(!strcmp(u.user, ""));
    CHECK(!strcmp(u.password, "pw"));
    CHECK_EQ_INT(u.has_password, 1);
    /* an '@' in the password must be encoded; the last '@' ends the credentials */
    CHECK_EQ_INT(parse("redis://:a@b@h", &u, err), 0);
    CHECK(!strcmp(u.password, "a@b"));
    CHECK(!strcmp(u.seeds[0].host, "h"));
}

static void tcp_ipv6_host(void)
{
    sl_redis_url_t u;
    char err[200], text[300];
    CHECK_EQ_INT(parse("redis://[::1]:7000", &u, err), 0);
    CHECK(!strcmp(u.seeds[0].host, "::1"));
    CHECK_EQ_INT(u.seeds[0].port, 7000);
    CHECK(!strcmp(sl_redis_url_text(&u, text, sizeof text), "redis://[::1]:7000"));
    CHECK(parse("redis://[::1:7000", &u, err) < 0);
    CHECK(strstr(err, "unclosed") != NULL);
}

static void unix_socket_forms(void)
{
    sl_redis_url_t u;
    char err[200];
    const char *forms[] = {"unix:/tmp/r.sock", "unix:///tmp/r.sock", "/tmp/r.sock"};
    for (size_t i = 0; i < 3; i++) {
        CHECK_EQ_INT(parse(forms[i], &u, err), 0);
        CHECK_EQ_INT(u.is_unix, 1);
        CHECK(!strcmp(u.path, "/tmp/r.sock"));
    }
    CHECK_EQ_INT(parse("unix:/tmp/r.sock?db=2&password=p%26q&user=bob", &u, err), 0);
    CHECK_EQ_INT(u.db, 2);
    CHECK(!strcmp(u.password, "p&q"));
    CHECK(!strcmp(u.user, "bob"));
    CHECK(parse("unix:", &u, err) < 0);
    CHECK(strstr(err, "no socket path") != NULL);
}

static void refusals_say_why(void)
{
    sl_redis_url_t u;
    char err[200];
    CHECK(parse("http://h", &u, err) < 0);
    CHECK(strstr(err, "redis://") != NULL);
    CHECK(parse("redis://h:0", &u, err) < 0);
    CHECK(strstr(err, "port") != NULL);
    CHECK(parse("redis://h:65536", &u, err) < 0);
    CHECK(parse("redis://h/x", &u, err) < 0);
    CHECK(strstr(err, "database") != NULL);
    CHECK(parse("redis://h?colour=red", &u, err) < 0);
    CHECK(strstr(err, "unknown URL parameter") != NULL);
    CHECK(parse("redis://:%zz@h", &u, err) < 0);
    CHECK(strstr(err, "password") != NULL);
}

static void text_never_shows_the_password(void)
{
    sl_redis_url_t u;
    char err[200], text[300];
    CHECK_EQ_INT(parse("redis://app:topsecret@h:1/4", &u, err), 0);
    sl_redis_url_text(&u, text, sizeof text);
    CHECK(!strcmp(text, "redis://app@h:1/4"));
    CHECK(strstr(text, "topsecret") == NULL);
    CHECK_EQ_INT(parse("unix:/s?db=5&password=x", &u, err), 0);
    CHECK(!strcmp(sl_redis_url_text(&u, text, sizeof text), "unix:/s?db=5"));
}

static void refusals_never_show_the_password(void)
{
    sl_redis_url_t u;
    char err[200];
    CHECK_EQ_INT(parse("redis://app:hunter2@host:99999", &u, err), -1);
    CHECK(strstr(err, "bad port") && strstr(err, "app:***@host") && !strstr(err, "hunter2"));
    CHECK_EQ_INT(parse("redis://:hunter2@[::1:6379", &u, err), -1);
    CHECK(strstr(err, "unclosed") && !strstr(err, "hunter2"));
    CHECK_EQ_INT(parse("http://u:hunter2@host", &u, err), -1);
    CHECK(strstr(err, "use redis://") && strstr(err, "http://u:***@host") && !strstr(err, "hunter2"));
    CHECK_EQ_INT(parse("redis://:p%40ss@h/x?password=hunter2", &u, err), -1);
    CHECK(strstr(err, "database") && !strstr(err, "p%40ss") && !strstr(err, "hunter2"));
    CHECK(strstr(err, "?password=***"));
    CHECK_EQ_INT(parse("unix:?password=hunter2", &u, err), -1);
    CHECK(strstr(err, "no socket path") && !strstr(err, "hunter2"));
}

static void equal_compares_every_connection_field(void)
{
    sl_redis_url_t a, b;
    char err[200];
    CHECK_EQ_INT(parse("redis://u:p@h:1/2", &a, err), 0);
    CHECK_EQ_INT(parse("redis://u:p@h:1/2", &b, err), 0);
    CHECK(sl_redis_url_equal(&a, &b));
    CHECK_EQ_INT(parse("redis://u:q@h:1/2", &b, err), 0);
    CHECK(!sl_redis_url_equal(&a, &b));
    CHECK_EQ_INT(parse("redis://u:p@h:1/3", &b, err), 0);
    CHECK(!sl_redis_url_equal(&a, &b));
    CHECK_EQ_INT(parse("redis://u@h:1/2", &b, err), 0); /* no password vs "p" */
    CHECK(!sl_redis_url_equal(&a, &b));
}

static void cluster_seed_lists(void)
{
    sl_redis_url_t u;
    char err[200], text[400];
    CHECK_EQ_INT(parse("redis://:pw@10.0.0.1:7000,10.0.0.2,[::1]:7002", &u, err), 0);
    CHECK_EQ_INT(u.nseeds, 3);
    CHECK_EQ_INT(u.cluster, 1);
    CHECK(!strcmp(u.seeds[0].host, "10.0.0.1"));
    CHECK_EQ_INT(u.seeds[0].port, 7000);
    CHECK(!strcmp(u.seeds[1].host, "10.0.0.2"));
    CHECK_EQ_INT(u.seeds[1].port, 6379); /* the default port */
    CHECK(!strcmp(u.seeds[2].host, "::1"));
    CHECK_EQ_INT(u.seeds[2].port, 7002);
    CHECK(!strcmp(u.password, "pw"));
    CHECK(!strcmp(sl_redis_url_text(&u, text, sizeof text), "redis://10.0.0.1:7000,10.0.0.2:6379,[::1]:7002"));
    /* One seed is one server, unless cluster=true (or redisCluster=true) says otherwise. */
    CHECK_EQ_INT(parse("redis://h:7000", &u, err), 0);
    CHECK_EQ_INT(u.cluster, 0);
    CHECK_EQ_INT(parse("redis://h:7000?cluster=true", &u, err), 0);
    CHECK_EQ_INT(u.cluster, 1);
    CHECK(!strcmp(sl_redis_url_text(&u, text, sizeof text), "redis://h:7000?cluster=true"));
    CHECK_EQ_INT(parse("redis://h:7000", &u, err), 0);
    CHECK_EQ_INT(sl_redis_url_set_cluster(&u, SL_REDIS_CLUSTER_ON, err, 200), 0);
    CHECK_EQ_INT(u.cluster, 1);
    CHECK_EQ_INT(sl_redis_url_set_cluster(&u, SL_REDIS_CLUSTER_AUTO, err, 200), 0);
    CHECK_EQ_INT(u.cluster, 1);
    /* A cluster has db 0 only, lives on TCP, and several hosts are one. */
    CHECK(parse("redis://a,b/2", &u, err) < 0);
    CHECK(strstr(err, "database 0 only") != NULL);
    CHECK(parse("redis://a?cluster=true&db=1", &u, err) < 0);
    CHECK(strstr(err, "database 0 only") != NULL);
    CHECK_EQ_INT(parse("redis://a,b/0", &u, err), 0);
    CHECK(parse("redis://a,b?cluster=false", &u, err) < 0);
    CHECK(strstr(err, "several hosts") != NULL);
    CHECK_EQ_INT(parse("redis://a:1,b:2", &u, err), 0);
    CHECK(sl_redis_url_set_cluster(&u, SL_REDIS_CLUSTER_OFF, err, 200) < 0);
    CHECK(strstr(err, "redisCluster=false") && strstr(err, "several hosts"));
    CHECK_EQ_INT(parse("redis://h:1/3", &u, err), 0);
    CHECK(sl_redis_url_set_cluster(&u, SL_REDIS_CLUSTER_ON, err, 200) < 0);
    CHECK(strstr(err, "database 0 only") != NULL);
    CHECK_EQ_INT(u.cluster, 0); /* unchanged */
    CHECK(parse("unix:/tmp/r.sock?cluster=true", &u, err) < 0);
    CHECK(strstr(err, "over TCP") != NULL);
    CHECK(parse("redis://a,,b", &u, err) < 0);
    CHECK(strstr(err, "empty host") != NULL);
    CHECK(parse("redis://a,b:99999", &u, err) < 0);
    CHECK(strstr(err, "bad port") != NULL);
    CHECK(parse("redis://a?cluster=maybe", &u, err) < 0);
    CHECK(strstr(err, "true or false") != NULL);
    char many[400] = "redis://";
    for (int i = 0; i < 17; i++)
        strcat(many, i ? ",h" : "h");
    CHECK(parse(many, &u, err) < 0);
    CHECK(strstr(err, "more than 16 hosts") != NULL);
}

static void tls_forms(void)
{
    sl_redis_url_t u;
    char err[200], text[400];
    CHECK_EQ_INT(parse("rediss://app:pw@cache.example:6380/1?ca=/etc/ca%20dir/ca.pem", &u, err), 0);
    CHECK_EQ_INT(u.tls, 1);
    CHECK(!strcmp(u.seeds[0].host, "cache.example"));
    CHECK_EQ_INT(u.seeds[0].port, 6380);
    CHECK_EQ_INT(u.db, 1);
    CHECK(!strcmp(u.ca_file, "/etc/ca dir/ca.pem"));
    CHECK(!strcmp(sl_redis_url_text(&u, text, sizeof text), "rediss://app@cache.example:6380/1"));
    CHECK_EQ_INT(parse("rediss://h?cert=/c.pem&key=/k.pem", &u, err), 0);
    CHECK(!strcmp(u.cert_file, "/c.pem") && !strcmp(u.key_file, "/k.pem"));
    CHECK_EQ_INT(parse("rediss://a:7000,b:7001", &u, err), 0);
    CHECK(u.tls && u.cluster);
    CHECK(parse("redis://h?ca=/ca.pem", &u, err) < 0);
    CHECK(strstr(err, "need rediss://") != NULL);
    CHECK(parse("rediss://h?cert=/c.pem", &u, err) < 0);
    CHECK(strstr(err, "both cert= and key=") != NULL);
    CHECK(parse("rediss://h?ca=", &u, err) < 0);
    CHECK(strstr(err, "bad CA file") != NULL);
    /* Different CA, different URL (sio.redis.configure reconnects). */
    sl_redis_url_t a, b;
    CHECK_EQ_INT(parse("rediss://h?ca=/a.pem", &a, err), 0);
    CHECK_EQ_INT(parse("rediss://h?ca=/b.pem", &b, err), 0);
    CHECK(!sl_redis_url_equal(&a, &b));
    CHECK_EQ_INT(parse("redis://h", &b, err), 0);
    CHECK(!sl_redis_url_equal(&a, &b));
}

TL_SUITE(redis_url, NULL, NULL,
         TL_TEST(tcp_defaults),
         TL_TEST(cluster_seed_lists),
         TL_TEST(tls_forms),
         TL_TEST(tcp_full_form_with_acl_user_and_db),
         TL_TEST(tcp_ipv6_host),
         TL_TEST(unix_socket_forms),
         TL_TEST(refusals_say_why),
         TL_TEST(text_never_shows_the_password),
         TL_TEST(refusals_never_show_the_password),
         TL_TEST(equal_compares_every_connection_field));
