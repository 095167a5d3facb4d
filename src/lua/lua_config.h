/* L6 lua/lua_config: reads the tables that configure siolua: a
 * configuration file (`siolua run APP --config FILE`, a Lua chunk returning
 * a table, run in a small state of its own) and sio.configure's argument,
 * both turned into settings the way the command line gives them: a dotted
 * name and its text ("options.cors.origin" "*"). What the names mean is the
 * composition root's (cmd/options.c, cmd/compose.c).
 *
 *   return {                                 port                 "3000"
 *     port = 3000,                           tls                  "{}"
 *     tls = { cert = "/etc/x.pem" },   -->   tls.cert             "/etc/x.pem"
 *     options = { pingInterval = 10000,      options.pingInterval "10000"
 *                 transports = { "websocket" } },  options.transports "websocket"
 *   }
 */
#ifndef SL_LUA_CONFIG_H
#define SL_LUA_CONFIG_H

#include <stddef.h>

/* One setting: its dotted name and its text form (booleans true/false,
 * integers, lists joined by commas), or NULL for a value with no text form
 * (a function, a float that is not whole, a list holding a table).
 * Returns 0, or nonzero to stop reading (sl_config_read returns it). */
typedef int (*sl_config_cb)(void *ud, const char *name, const char *value);

/* Runs the file (text only) in a state of its own with the base, string,
 * table, math and utf8 libraries and os.getenv (so a secret can come from
 * the environment), at most 10 million instructions, and hands every
 * setting of the table it returns to cb: top-level keys by name, nested
 * tables of named fields as "{}" then flattened ("tls", "tls.cert"), the
 * `options` table as sio.configure reads it, prefixed "options.". Returns
 * 0, cb's nonzero, or
 * -1 with err set: "FILE:3: '}' expected near 'x'", "cannot open FILE",
 * "FILE: must return a table (it returned nil)", "FILE: keys must be names
 * (found a number key)", "FILE: took more than 10000000 instructions". */
int sl_config_read(const char *path, sl_config_cb cb, void *ud, char *err, size_t errlen);

#endif
