/* tests/fuzz/fuzz_json.h: the project's three JSON readers side by side, for
 * the targets that hold them to each other:
 *   - sio/sio_packet's validator (what the server lets in from a client),
 *   - lua/lua_json (what the app's handlers get),
 *   - sio/mpjson (what goes to the other servers of a cluster, and what
 *     the msgpack parser's clients send and get: SL_MPJSON_EXACT).
 * They promise to agree: a payload the packet validator passes decodes in
 * Lua (same depth limit, SIO_PACKET_MAX_DEPTH), and mpjson's output is
 * accepted by both. Where they differ on purpose (invalid UTF-8 and lone
 * surrogates are refused by the two decoders, passed by the validator)
 * the checks step aside. */
#ifndef SL_FUZZ_JSON_H
#define SL_FUZZ_JSON_H

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "sio/mpjson.h"
#include "fuzz.h"
#include "lua/lua_json.h"
#include "sio/sio_packet.h"

static lua_State *fuzz_L;

/* One state for the whole run: the shared metatables of lua_json live in
 * its registry. Values are popped after each use and collected by Lua. */
static inline lua_State *fuzz_lua(void)
{
    if (!fuzz_L) {
        fuzz_L = luaL_newstate();
        if (!fuzz_L)
            abort();
        luaL_openlibs(fuzz_L);
        luaL_requiref(fuzz_L, "siolua.json", luaopen_siolua_json, 0);
        lua_pop(fuzz_L, 1);
    }
    return fuzz_L;
}

/* At the end of an input: the garbage of its decodes is collected now, so
 * the input frees what it allocated (otherwise libFuzzer suspects a leak
 * after every input and runs LeakSanitizer, which is slow). */
static inline void fuzz_lua_settle(void)
{
    if (fuzz_L)
        lua_gc(fuzz_L, LUA_GCCOLLECT);
}

/* siolua.binary values in the value at idx (tables walked raw, to the
 * nesting limit; the JSON codec never builds cycles). */
static inline size_t fuzz_lua_count_binaries(lua_State *L, int idx, int depth)
{
    if (sl_lua_json_is_binary(L, idx))
        return 1;
    if (lua_type(L, idx) != LUA_TTABLE || depth > SL_LUA_JSON_MAX_DEPTH + 1)
        return 0;
    size_t n = 0;
    idx = lua_absindex(L, idx);
    luaL_checkstack(L, 3, "fuzz");
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        n += fuzz_lua_count_binaries(L, -1, depth + 1);
        lua_pop(L, 1);
    }
    return n;
}

/* Decodes with lua_json (with attachments when atts is not NULL); returns
 * its code; on success *nbin (if not NULL) is the number of binaries the
 * value holds. Nothing stays on the stack. */
static inline int fuzz_lua_decode(const char *json, size_t n, const sio_packet_bin_t *atts,
                                  size_t natts, size_t *nbin)
{
    lua_State *L = fuzz_lua();
    char err[200];
    sl_lua_json_decode_opts_t o = {(const sl_lua_json_blob_t *)atts, natts};
    int rc = sl_lua_json_decode(L, json, n, atts ? &o : NULL, err, sizeof err);
    if (rc == 0) {
        if (nbin)
            *nbin = fuzz_lua_count_binaries(L, -1, 0);
        lua_pop(L, 1);
    } else {
        FUZZ_CHECK(rc == -EINVAL || rc == -ENOMEM);
        FUZZ_CHECK(err[0] != '\0');
    }
    FUZZ_CHECK(lua_gettop(L) == 0);
    return rc;
}

/* Whether the packet validator takes json as one well-formed value. */
static inline int fuzz_sio_json_ok(const char *json, size_t n)
{
    int rc = sio_packet_placeholders(json, n, NULL, 0, NULL, NULL);
    FUZZ_CHECK(rc == 0 || rc == SIO_PACKET_E_JSON || rc == SIO_PACKET_E_PLACEHOLDER);
    return rc != SIO_PACKET_E_JSON;
}

/* Text both decoders read the way the validator does: UTF-8, and no \u
 * escape that could be a lone surrogate. */
static inline int fuzz_json_plain(const char *json, size_t n)
{
    return fuzz_utf8_valid(json, n) && !fuzz_has_u_escape(json, n);
}

/* ---- mpjson ---------------------------------------------------------------- */

/* The attachments sl_mpjson_to_json hands out, kept in a list (of
 * sio_packet_bin_t pointing into the MessagePack input). */
static inline int fuzz_bins_keep(void *ud, const char *data, size_t len)
{
    sl_buf_t *list = ud;
    sio_packet_bin_t b = {data, len};
    if (sl_buf_append(list, &b, sizeof b))
        return -ENOMEM;
    return (int)(list->len / sizeof b - 1);
}

static inline const sio_packet_bin_t *fuzz_bins(const sl_buf_t *list, size_t *n)
{
    *n = list->len / sizeof(sio_packet_bin_t);
    return (const sio_packet_bin_t *)(void *)list->data;
}

/* sl_mpjson_to_json_opt (flags: 0, the adapter's rules, or SL_MPJSON_EXACT,
 * the msgpack parser's) of the one value in mp[0..n), appending to out and
 * collecting attachments in bins. Checks that it consumes what
 * sl_mpjson_skip says the value is, and leaves everything as it was when
 * it fails. Returns its code. */
static inline int fuzz_mp_to_json(const char *mp, size_t n, sl_buf_t *out, sl_buf_t *bins,
                                  unsigned flags)
{
    const char *p = mp, *end = mp + n;
    size_t len0 = out->len;
    int rc = sl_mpjson_to_json_opt(out, &p, end, fuzz_bins_keep, bins, flags);
    if (rc != 0) {
        FUZZ_CHECK(p == mp && out->len == len0);
        FUZZ_CHECK(rc < 0 && strcmp(sl_mpjson_strerror(rc), "unknown error") != 0);
        return rc;
    }
    const char *q = mp;
    FUZZ_CHECK(sl_mpjson_skip(&q, end) == 0 && q == p && p > mp);
    return 0;
}

static inline size_t fuzz_count(const char *hay, size_t n, const char *needle)
{
    size_t k = 0, nl = strlen(needle);
    for (size_t i = 0; i + nl <= n; i++)
        if (!memcmp(hay + i, needle, nl))
            k++;
    return k;
}

typedef struct fuzz_ph_count {
    const sio_packet_bin_t *bins;
    size_t seen;
} fuzz_ph_count_t;

static inline int fuzz_ph_count(void *ud, size_t off, size_t len, unsigned num,
                                const sio_packet_bin_t *att)
{
    fuzz_ph_count_t *c = ud;
    (void)off, (void)len;
    FUZZ_CHECK(att == &c->bins[num]);
    c->seen++;
    return 0;
}

/* Whether the JSON mpjson wrote can be read back with its attachments:
 * true unless the data itself held objects that look like placeholders
 * (a map with a "_placeholder" key), which Socket.IO cannot tell apart
 * from real ones (Node neither). */
static inline int fuzz_mp_placeholders_exact(const char *j, size_t n, size_t nbins)
{
    return fuzz_count(j, n, "\"_placeholder\"") == nbins;
}

/* What mpjson writes is "ours": UTF-8, taken by the packet validator and
 * by lua_json, and its placeholders are exactly its attachments. With
 * exact numbers (flags SL_MPJSON_EXACT) the members of a map stay as they
 * came, repeated keys included, and JSON readers keep the last: the
 * placeholders of an overwritten member are in the text but neither the
 * validator nor Lua sees them (as Node's notepack drops its Buffers), so
 * there the two agree with each other on at most the attachments. */
static inline void fuzz_check_mp_output(const char *j, size_t n, const sio_packet_bin_t *bins,
                                        size_t nbins, unsigned flags)
{
    FUZZ_CHECK(fuzz_utf8_valid(j, n));
    FUZZ_CHECK(fuzz_sio_json_ok(j, n));
    FUZZ_CHECK(fuzz_lua_decode(j, n, NULL, 0, NULL) == 0);
    if (!fuzz_mp_placeholders_exact(j, n, nbins))
        return;
    fuzz_ph_count_t c = {bins, 0};
    FUZZ_CHECK(sio_packet_placeholders(j, n, bins, nbins, fuzz_ph_count, &c) == 0);
    FUZZ_CHECK(c.seen == nbins || ((flags & SL_MPJSON_EXACT) && c.seen < nbins));
    size_t nbin = 0;
    FUZZ_CHECK(fuzz_lua_decode(j, n, nbins ? bins : NULL, nbins, &nbin) == 0);
    FUZZ_CHECK(nbin == c.seen);
}

/* j1 is JSON that mpjson wrote (with its attachments): JSON -> MessagePack
 * -> JSON reaches a fixed point after one more pass (the first pass may
 * still normalise: integers past 2^53 travel through a double). */
static inline void fuzz_mp_fixpoint(const char *j1, size_t n1, const sio_packet_bin_t *b1,
                                    size_t nb1, unsigned flags)
{
    int exact = fuzz_mp_placeholders_exact(j1, n1, nb1);
    sl_buf_t m2 = SL_BUF_INIT, j2 = SL_BUF_INIT, bins2 = SL_BUF_INIT;
    sl_buf_t m3 = SL_BUF_INIT, j3 = SL_BUF_INIT, bins3 = SL_BUF_INIT;
    FUZZ_CHECK(sl_mpjson_from_json_opt(&m2, j1, n1, exact ? b1 : NULL, exact ? nb1 : 0, flags) == 0);
    FUZZ_CHECK(fuzz_mp_to_json(m2.data, m2.len, &j2, &bins2, flags) == 0);
    size_t nb2;
    const sio_packet_bin_t *b2 = fuzz_bins(&bins2, &nb2);
    exact = fuzz_mp_placeholders_exact(j2.data, j2.len, nb2);
    FUZZ_CHECK(sl_mpjson_from_json_opt(&m3, j2.data, j2.len, exact ? b2 : NULL, exact ? nb2 : 0,
                                       flags) == 0);
    FUZZ_CHECK(fuzz_mp_to_json(m3.data, m3.len, &j3, &bins3, flags) == 0);
    FUZZ_CHECK(j2.len == j3.len && !memcmp(j2.data, j3.data, j2.len));
    sl_buf_free(&m2);
    sl_buf_free(&j2);
    sl_buf_free(&bins2);
    sl_buf_free(&m3);
    sl_buf_free(&j3);
    sl_buf_free(&bins3);
}

/* The one MessagePack value of mp[0..n) through sl_mpjson_to_json and, when
 * that succeeds, the checks of what it wrote (and, with fixpoint, its
 * fixed point). Returns to_json's code. */
static inline int fuzz_mp_check_value(const char *mp, size_t n, int fixpoint, unsigned flags)
{
    sl_buf_t j = SL_BUF_INIT, bins = SL_BUF_INIT;
    int rc = fuzz_mp_to_json(mp, n, &j, &bins, flags);
    if (rc == 0) {
        size_t nb;
        const sio_packet_bin_t *b = fuzz_bins(&bins, &nb);
        fuzz_check_mp_output(j.data, j.len, b, nb, flags);
        if (fixpoint)
            fuzz_mp_fixpoint(j.data, j.len, b, nb, flags);
    }
    sl_buf_free(&j);
    sl_buf_free(&bins);
    return rc;
}

#endif
