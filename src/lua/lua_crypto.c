/* L6 lua/lua_crypto: sio.crypto. See lua_crypto.h. */
#include "lua/lua_crypto.h"

#include <string.h>
#include <sys/random.h>
#include <lauxlib.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base/buf.h"

/* hmac_sha256(key, data) -> 32 raw bytes */
static int l_hmac_sha256(lua_State *L)
{
    size_t kl, dl;
    const char *key = luaL_checklstring(L, 1, &kl);
    const char *data = luaL_checklstring(L, 2, &dl);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdl = 0;
    if (!HMAC(EVP_sha256(), key, (int)kl, (const unsigned char *)data, dl, md, &mdl))
        return luaL_error(L, "hmac_sha256 failed");
    lua_pushlstring(L, (const char *)md, mdl);
    return 1;
}

/* sha256(data) -> 32 raw bytes */
static int l_sha256(lua_State *L)
{
    size_t dl;
    const char *data = luaL_checklstring(L, 1, &dl);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdl = 0;
    if (!EVP_Digest(data, dl, md, &mdl, EVP_sha256(), NULL))
        return luaL_error(L, "sha256 failed");
    lua_pushlstring(L, (const char *)md, mdl);
    return 1;
}

/* Constant time for equal lengths, so a token check leaks no prefix. */
static int l_equal(lua_State *L)
{
    size_t al, bl;
    const char *a = luaL_checklstring(L, 1, &al);
    const char *b = luaL_checklstring(L, 2, &bl);
    lua_pushboolean(L, al == bl && CRYPTO_memcmp(a, b, al) == 0);
    return 1;
}

static int l_random(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_argcheck(L, n >= 0 && n <= 65536, 1, "0..65536 bytes");
    luaL_Buffer b;
    char *p = luaL_buffinitsize(L, &b, (size_t)n);
    if (n && getrandom(p, (size_t)n, 0) != (ssize_t)n)
        return luaL_error(L, "no randomness from the OS");
    luaL_pushresultsize(&b, (size_t)n);
    return 1;
}

/* base64url without padding (JWT's encoding). */
static int l_b64url_encode(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    sl_buf_t b = SL_BUF_INIT;
    if (sl_base64_encode_append(&b, (const unsigned char *)s, n)) {
        sl_buf_free(&b);
        return luaL_error(L, "out of memory");
    }
    size_t len = b.len;
    while (len && b.data[len - 1] == '=')
        len--;
    for (size_t i = 0; i < len; i++) {
        if (b.data[i] == '+')
            b.data[i] = '-';
        else if (b.data[i] == '/')
            b.data[i] = '_';
    }
    lua_pushlstring(L, b.data ? b.data : "", len);
    sl_buf_free(&b);
    return 1;
}

/* -> bytes, or nil, "invalid base64" */
static int l_b64url_decode(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    luaL_Buffer b;
    unsigned char *out = (unsigned char *)luaL_buffinitsize(L, &b, n / 4 * 3 + 3);
    long m = sl_base64_decode(s, n, out);
    if (m < 0) {
        luaL_pushresultsize(&b, 0);
        lua_pop(L, 1);
        lua_pushnil(L);
        lua_pushliteral(L, "invalid base64");
        return 2;
    }
    luaL_pushresultsize(&b, (size_t)m);
    return 1;
}

static int l_hex(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    static const char digits[] = "0123456789abcdef";
    luaL_Buffer b;
    char *p = luaL_buffinitsize(L, &b, n * 2);
    for (size_t i = 0; i < n; i++) {
        p[2 * i] = digits[(unsigned char)s[i] >> 4];
        p[2 * i + 1] = digits[(unsigned char)s[i] & 15];
    }
    luaL_pushresultsize(&b, n * 2);
    return 1;
}

static const luaL_Reg crypto_funcs[] = {
    {"hmac_sha256", l_hmac_sha256},
    {"sha256", l_sha256},
    {"equal", l_equal},
    {"random", l_random},
    {"base64url_encode", l_b64url_encode},
    {"base64url_decode", l_b64url_decode},
    {"hex", l_hex},
    {NULL, NULL},
};

int sl_lua_crypto_push(lua_State *L)
{
    luaL_newlib(L, crypto_funcs);
    return 1;
}
