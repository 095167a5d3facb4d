/* L6 lua/lua_test: the Lua side of `siolua test APP_DIR` (cmd/cmd_test.c):
 * hands the test files to lua/siolua/test.lua, which runs them in handler
 * coroutines of the app's own Lua state, against the live server, with the
 * Lua client (sio.client), and reports the totals back through a callback.
 * Knows nothing of the command line or of how the server stops. */
#ifndef SL_LUA_TEST_H
#define SL_LUA_TEST_H

#include "lua/lua_sio.h"

typedef struct sl_app_tests {
    const char *base_url;       /* sio.test_url: "http://127.0.0.1:PORT" */
    const char *dir;            /* the folder of the test files */
    const char *const *names;   /* their names in dir, in run order */
    int nnames;
    long timeout_ms;            /* each test's time limit */
    /* Called once, when the last test is over, from inside Lua: stop
     * nothing here (defer it to a timer). */
    void (*finish)(void *ud, long passed, long failed);
    /* Whether the run is being interrupted (the server closing under the
     * tests, whose outcome then means nothing). */
    int (*stopped)(void *ud);
    void *ud;
} sl_app_tests_t;

/* require("siolua.test")._run{...} in a new handler of app's state; t is
 * copied (the names are read now). Returns 0, or -1 when siolua.test could
 * not be loaded (logged): finish is then never called. */
int sl_app_run_tests(sl_app_t *app, const sl_app_tests_t *t);

#endif
