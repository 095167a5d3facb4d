/* L6 lua/lua_crypto: the few primitives apps need for tokens (HMAC-SHA256,
 * SHA-256, base64url, constant-time compare, OS randomness), from
 * libcrypto, and bcrypt from libcrypt (run on the thread pool while the
 * handler waits), as `sio.crypto`. Knows nothing of sockets or JWT (that is
 * lua/siolua/jwt.lua). */
#ifndef SL_LUA_CRYPTO_H
#define SL_LUA_CRYPTO_H

#include <lua.h>

/* Pushes the sio.crypto table. */
int sl_lua_crypto_push(lua_State *L);

#endif
