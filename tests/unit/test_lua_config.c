/* Unit tests for lua/lua_config: a configuration file becomes dotted
 * settings in their command-line text form, its options table read as
 * sio.configure reads one; what it may not do (io, an endless loop, a
 * non-table) is refused with the file's name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "lua/lua_config.h"
#include "testlib.h"

/* The settings as "name=value" lines, sorted (a table's order is Lua's). */
typedef struct seen {
    char *lines[32];
    int n;
} seen_t;

static int collect(void *ud, const char *name, const char *value)
{
    seen_t *s = ud;
    char line[512];
    snprintf(line, sizeof line, "%s=%s", name, value ? value : "(none)");
    if (s->n < 32)
        s->lines[s->n++] = strdup(line);
    return 0;
}

static int by_text(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Writes text to a temporary file, reads it; the sorted lines joined by
 * spaces go in out (or the error). */
static int read_text(const char *text, char *out, size_t cap)
{
    char path[] = "/tmp/siolua-config-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        return -99;
    close(fd);
    seen_t s = {.n = 0};
    char err[300];
    int rc = sl_config_read(path, collect, &s, err, sizeof err);
    unlink(path);
    qsort(s.lines, (size_t)s.n, sizeof s.lines[0], by_text);
    out[0] = '\0';
    if (rc < 0)
        snprintf(out, cap, "%s", strstr(err, path) ? strstr(err, path) + strlen(path) : err);
    for (int i = 0; i < s.n; i++) {
        if (rc >= 0)
            snprintf(out + strlen(out), cap - strlen(out), "%s%s", i ? " " : "", s.lines[i]);
        free(s.lines[i]);
    }
    return rc;
}

static void config_file_flattens_like_the_command_line(void)
{
    char out[1024];
    CHECK_EQ_INT(read_text("return { port = 3000, reload = false, workers = 'auto', tls = { cert = '/c.pem' },\n"
                           "  options = { pingInterval = 10000, transports = { 'polling', 'websocket' },\n"
                           "              cors = { origin = true, credentials = true } } }\n",
                           out, sizeof out),
                 0);
    CHECK_STR(out, strlen(out),
              "options.cors.credentials=true options.cors.origin=* options.cors={} options.pingInterval=10000 "
              "options.transports=polling,websocket port=3000 reload=false tls.cert=/c.pem tls={} workers=auto");
}

/* A table of named fields comes first as itself, "{}": a section
 * (connectionStateRecovery, perMessageDeflate) turns on, even empty. */
static void config_file_table_of_fields_comes_as_itself_first(void)
{
    char out[1024];
    CHECK_EQ_INT(read_text("return { options = { connectionStateRecovery = { maxDisconnectionDuration = 5000 },\n"
                           "  perMessageDeflate = {} } }",
                           out, sizeof out),
                 0);
    CHECK_STR(out, strlen(out),
              "options.connectionStateRecovery.maxDisconnectionDuration=5000 options.connectionStateRecovery={} "
              "options.perMessageDeflate={}");
}

static void config_file_values_without_text_form_are_none(void)
{
    char out[1024];
    CHECK_EQ_INT(read_text("return { port = function() end, host = 1.5, workers = 2.0,\n"
                           "  options = { transports = { {} } } }", out, sizeof out),
                 0);
    CHECK_STR(out, strlen(out), "host=(none) options.transports=(none) port=(none) workers=2");
}

static void config_file_reads_the_environment_but_not_files(void)
{
    char out[1024];
    setenv("SIOLUA_TEST_SECRET", "s3cret", 1);
    CHECK_EQ_INT(read_text("return { options = { metricsToken = os.getenv('SIOLUA_TEST_SECRET') } }", out, sizeof out),
                 0);
    CHECK_STR(out, strlen(out), "options.metricsToken=s3cret");
    CHECK_EQ_INT(read_text("return { port = io.open('/etc/passwd') }", out, sizeof out), -1);
    CHECK(strstr(out, ":1: attempt to index a nil value (global 'io')") != NULL);
    CHECK_EQ_INT(read_text("return { port = os.execute('true') }", out, sizeof out), -1);
    CHECK(strstr(out, "attempt to call a nil value (field 'execute')") != NULL);
}

static void config_file_refusals_name_the_file(void)
{
    char out[1024];
    CHECK_EQ_INT(read_text("return 42", out, sizeof out), -1);
    CHECK_STR(out, strlen(out), ": must return a table (it returned number)");
    CHECK_EQ_INT(read_text("return { [1] = 2 }", out, sizeof out), -1);
    CHECK_STR(out, strlen(out), ": keys must be names (found a number key)");
    CHECK_EQ_INT(read_text("return { options = { [1] = 2 } }", out, sizeof out), -1);
    CHECK_STR(out, strlen(out), ": options: option names must be strings");
    CHECK_EQ_INT(read_text("while true do end", out, sizeof out), -1);
    CHECK_STR(out, strlen(out), ": took more than 10000000 instructions");
    CHECK_EQ_INT(read_text("return {", out, sizeof out), -1);
    CHECK_STR(out, strlen(out), ":1: unexpected symbol near <eof>");
    char err[300];
    CHECK_EQ_INT(sl_config_read("/nonexistent/x.lua", collect, NULL, err, sizeof err), -1);
    CHECK_STR(err, strlen(err), "cannot open /nonexistent/x.lua: No such file or directory");
}

static int stop_at_port(void *ud, const char *name, const char *value)
{
    (void)ud;
    (void)value;
    return strcmp(name, "port") ? 0 : 7;
}

static void config_file_callback_stops_the_reading(void)
{
    char path[] = "/tmp/siolua-config-XXXXXX";
    int fd = mkstemp(path);
    const char *text = "return { port = 1 }";
    CHECK(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    char err[100];
    CHECK_EQ_INT(sl_config_read(path, stop_at_port, NULL, err, sizeof err), 7);
    unlink(path);
}

TL_SUITE(lua_config, NULL, NULL,
         TL_TEST(config_file_flattens_like_the_command_line),
         TL_TEST(config_file_table_of_fields_comes_as_itself_first),
         TL_TEST(config_file_values_without_text_form_are_none),
         TL_TEST(config_file_reads_the_environment_but_not_files),
         TL_TEST(config_file_refusals_name_the_file),
         TL_TEST(config_file_callback_stops_the_reading));
