/* L6 lua/lua_crypto: sio.crypto. See lua_crypto.h. */
#include "lua/lua_crypto.h"

#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <lauxlib.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <uv.h>

#include "base/buf.h"
#include "lua/lua_rt.h"

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

/* ---- bcrypt ----------------------------------------------------------------
 *
 * Through libcrypt's crypt_r, which is slow on purpose (cost 10: tens of
 * milliseconds of CPU). Inside a handler the work runs on libuv's thread
 * pool while the handler waits, so a login never stalls the loop; where
 * nothing can wait (the main thread, a metamethod) it runs in place. */

/* $2a$, $2b$ or $2y$, two cost digits (04..31), then 53 characters of
 * bcrypt's base64 (22 of salt, 31 of hash). */
static int is_bcrypt_hash(const char *h, size_t n)
{
    if (n != 60 || h[0] != '$' || h[1] != '2' || (h[2] != 'a' && h[2] != 'b' && h[2] != 'y') ||
        h[3] != '$' || h[4] < '0' || h[4] > '3' || h[5] < '0' || h[5] > '9' || h[6] != '$')
        return 0;
    int cost = (h[4] - '0') * 10 + (h[5] - '0');
    if (cost < 4 || cost > 31)
        return 0;
    for (size_t i = 7; i < n; i++) {
        char c = h[i];
        if (!(c == '.' || c == '/' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9')))
            return 0;
    }
    return 1;
}

typedef struct bcrypt_job {
    uv_work_t req;
    sl_lua_wait_t *w;   /* NULL once the runtime ended the wait */
    int verify;         /* verify password against setting, else hash it */
    int ok;             /* verify: it matched; hash: out holds the hash */
    char out[128];
    char setting[64];   /* the hash to verify, or the salt to hash with */
    char password[];
} bcrypt_job_t;

/* The work itself, on whichever thread. crypt_r's state is 32 KiB: on the
 * heap, and wiped after, since it held the password. */
static void bcrypt_run(bcrypt_job_t *j)
{
    struct crypt_data *data = calloc(1, sizeof *data);
    const char *r = data ? crypt_r(j->password, j->setting, data) : NULL;
    /* A failure is NULL or a string starting with '*', never a hash. */
    if (r && r[0] == '$') {
        size_t n = strlen(r);
        if (j->verify)
            j->ok = n == strlen(j->setting) && CRYPTO_memcmp(r, j->setting, n) == 0;
        else if (n < sizeof j->out)
            j->ok = (memcpy(j->out, r, n + 1), 1);
    }
    if (data) {
        OPENSSL_cleanse(data, sizeof *data);
        free(data);
    }
    OPENSSL_cleanse(j->password, strlen(j->password));
}

static int bcrypt_push(lua_State *L, void *ud)
{
    bcrypt_job_t *j = ud;
    if (j->verify)
        lua_pushboolean(L, j->ok);
    else if (j->ok)
        lua_pushstring(L, j->out);
    else {
        lua_pushnil(L);
        lua_pushliteral(L, "bcrypt failed");
        return 2;
    }
    return 1;
}

static void bcrypt_work_cb(uv_work_t *req) { bcrypt_run(req->data); }

static void bcrypt_after_cb(uv_work_t *req, int status)
{
    (void)status;
    bcrypt_job_t *j = req->data;
    if (j->w)
        sl_lua_wait_resume(j->w, bcrypt_push, j);
    free(j);
}

/* The runtime is going: the job finishes on its thread and is freed in
 * bcrypt_after_cb, without resuming anyone. */
static void bcrypt_cancel_cb(void *ud)
{
    if (ud)
        ((bcrypt_job_t *)ud)->w = NULL;
}

/* Hashes or verifies the password at index 1 against setting: on the
 * thread pool with the calling handler waiting, or in place where nothing
 * can wait. Every check that raises comes before anything is allocated. */
static int bcrypt_start(lua_State *L, int verify, const char *setting)
{
    size_t pl;
    const char *pw = luaL_checklstring(L, 1, &pl);
    luaL_argcheck(L, memchr(pw, '\0', pl) == NULL, 1, "a password may not hold a NUL byte");
    sl_lua_wait_t *w = lua_isyieldable(L) ? sl_lua_wait_new(L, bcrypt_cancel_cb, NULL) : NULL;
    bcrypt_job_t *j = calloc(1, sizeof *j + pl + 1);
    if (!j) {
        if (!w)
            return luaL_error(L, "not enough memory");
        sl_lua_wait_cancel(w, "not enough memory");
        return sl_lua_yield(L);
    }
    j->verify = verify;
    memcpy(j->password, pw, pl);
    snprintf(j->setting, sizeof j->setting, "%s", setting);
    if (!w) {
        bcrypt_run(j);
        bcrypt_job_t done = *j; /* the answer, so nothing leaks if pushing raises */
        free(j);
        return bcrypt_push(L, &done);
    }
    j->w = w;
    j->req.data = j;
    sl_lua_wait_set_cancel(w, bcrypt_cancel_cb, j);
    if (uv_queue_work(sl_lua_loop(sl_lua_from_state(L)), &j->req, bcrypt_work_cb, bcrypt_after_cb)) {
        free(j);
        sl_lua_wait_cancel(w, "cannot start bcrypt on the thread pool");
    }
    return sl_lua_yield(L);
}

/* bcrypt_verify(password, hash) -> true | false; waits (thread pool). */
static int l_bcrypt_verify(lua_State *L)
{
    size_t hl;
    const char *hash = luaL_checklstring(L, 2, &hl);
    luaL_argcheck(L, is_bcrypt_hash(hash, hl), 2, "not a bcrypt hash ($2a$, $2b$ or $2y$)");
    return bcrypt_start(L, 1, hash);
}

/* bcrypt_hash(password[, cost = 10]) -> "$2b$..."; waits (thread pool). */
static int l_bcrypt_hash(lua_State *L)
{
    lua_Integer cost = luaL_optinteger(L, 2, 10);
    luaL_argcheck(L, cost >= 4 && cost <= 31, 2, "cost is 4..31");
    char salt[64];
    if (!crypt_gensalt_rn("$2b$", (unsigned long)cost, NULL, 0, salt, sizeof salt))
        return luaL_error(L, "no bcrypt salt (libcrypt): no randomness from the OS?");
    return bcrypt_start(L, 0, salt);
}

static const luaL_Reg crypto_funcs[] = {
    {"hmac_sha256", l_hmac_sha256},
    {"sha256", l_sha256},
    {"equal", l_equal},
    {"random", l_random},
    {"base64url_encode", l_b64url_encode},
    {"base64url_decode", l_b64url_decode},
    {"hex", l_hex},
    {"bcrypt_verify", l_bcrypt_verify},
    {"bcrypt_hash", l_bcrypt_hash},
    {NULL, NULL},
};

int sl_lua_crypto_push(lua_State *L)
{
    luaL_newlib(L, crypto_funcs);
    return 1;
}
