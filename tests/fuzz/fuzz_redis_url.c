/* tests/fuzz/fuzz_redis_url.c: the Redis URL reader (cluster/redis_url),
 * which takes --redis, SIOLUA_REDIS_URL and sio.redis.connect's argument.
 *
 * Invariants: a refusal always says why; an accepted URL has its fields in
 * range and NUL-terminated; the log text never shows the password; and
 * when the parts need no escaping, the log text reads back to the same
 * endpoint (what an operator copies from a log line works). */
#include "fuzz.h"

#include "cluster/redis_url.h"

/* Bytes a URL part may hold and still be written back unescaped. */
static int plain(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || strchr("@:/?[]%&#", *s))
            return 0;
    return 1;
}

static int terminated(const char *s, size_t cap)
{
    return memchr(s, '\0', cap) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *url = malloc(size + 1);
    if (!url)
        return 0;
    memcpy(url, data, size);
    url[size] = '\0';

    sl_redis_url_t u;
    char err[256] = "";
    int rc = sl_redis_url_parse(url, &u, err, sizeof err);
    FUZZ_CHECK(rc == 0 || rc == -1);
    if (rc != 0) {
        FUZZ_CHECK(err[0] != '\0');
        free(url);
        return 0;
    }
    FUZZ_CHECK(terminated(u.path, sizeof u.path) && terminated(u.user, sizeof u.user) &&
               terminated(u.password, sizeof u.password) && terminated(u.label, sizeof u.label) &&
               terminated(u.ca_file, sizeof u.ca_file) && terminated(u.cert_file, sizeof u.cert_file) &&
               terminated(u.key_file, sizeof u.key_file));
    FUZZ_CHECK(u.is_unix ? u.path[0] != '\0' : u.nseeds >= 1 && u.nseeds <= SL_REDIS_SEEDS_MAX);
    int hosts_plain = 1;
    for (int i = 0; !u.is_unix && i < u.nseeds; i++) {
        FUZZ_CHECK(terminated(u.seeds[i].host, sizeof u.seeds[i].host) && u.seeds[i].host[0] != '\0');
        FUZZ_CHECK(u.seeds[i].port >= 1 && u.seeds[i].port <= 65535);
        hosts_plain = hosts_plain && plain(u.seeds[i].host);
    }
    FUZZ_CHECK(u.db >= 0 && u.db <= SL_REDIS_DB_MAX);
    FUZZ_CHECK(u.has_password || u.password[0] == '\0');

    /* The log text does not depend on the password at all. Room for
     * every seed at its longest (a 1024-byte buffer cut 16 seeds short
     * of their last port, and the cut text read back as another URL). */
    char text[8192], other[8192];
    sl_redis_url_text(&u, text, sizeof text);
    sl_redis_url_t v = u;
    snprintf(v.password, sizeof v.password, "%s", u.password[0] == 'x' ? "y" : "x");
    v.has_password = !u.has_password;
    sl_redis_url_text(&v, other, sizeof other);
    FUZZ_CHECK(strcmp(text, other) == 0);

    int simple = u.is_unix ? plain(u.path + 1) && u.path[0] == '/' && u.path[1] != '/'
                           : hosts_plain && plain(u.user);
    /* TLS files are paths: the text writes them back escaped. */
    simple = simple && !u.ca_file[0] && !u.cert_file[0] && !u.key_file[0];
    if (simple) {
        sl_redis_url_t back;
        FUZZ_CHECK(sl_redis_url_parse(text, &back, err, sizeof err) == 0);
        /* The text leaves the password out (and, for a socket, the
         * user: it is given in the query there). */
        snprintf(back.password, sizeof back.password, "%s", u.password);
        back.has_password = u.has_password;
        if (u.is_unix)
            snprintf(back.user, sizeof back.user, "%s", u.user);
        FUZZ_CHECK(sl_redis_url_equal(&u, &back));
    }
    free(url);
    return 0;
}
