/* L7 cmd/cmd_test: the `siolua test APP_DIR` command (see docs/lua-api.md,
 * "siolua test"). Runs the app on an ephemeral port of 127.0.0.1, and its
 * Lua tests (every .lua file of APP_DIR/tests, through lua/siolua/test.lua)
 * in the same Lua state against it. */
#ifndef SL_CMD_TEST_H
#define SL_CMD_TEST_H

/* argv[1] is "test". Returns the exit status: 0 when every test passed, 1
 * when one failed (or the app/tests could not run), 2 on a usage error. */
int sl_test_main(int argc, char **argv);

#endif
