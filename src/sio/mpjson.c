/* L4 sio/mpjson: JSON text <-> MessagePack as notepack.io writes and reads it,
 * or with exact numbers (the contract is in mpjson.h). Pure bytes: knows
 * nothing of Redis, the event loop, sockets or Lua.
 *
 * JSON -> MessagePack goes through a flat tree: MessagePack needs every
 * array and map length before the members, and JS reorders object members
 * (array-index keys first, duplicates merged), so a single streaming pass
 * can't write the bytes. The parser fills an array of nodes in document
 * order; each node knows where its subtree ends, so walking children is
 * index arithmetic and the emitter never re-parses text.
 *
 * MessagePack -> JSON validates the whole value first (sl_mpjson_skip) and
 * then walks it with msgpuck's unchecked decoders, recursing once per
 * array or map, at most SL_MPJSON_MAX_DEPTH deep.
 *
 * The tokens of the JSON text (whitespace, literals, numbers, strings and
 * their escapes) are read by base/json_text, the lexer lua_json and
 * sio_packet read with too; the tree is ours. Number text is read and
 * written there as well (strtod, printf's %e: the "C" LC_NUMERIC locale,
 * which the process never switches). */
#include "sio/mpjson.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpuck.h>

#include "base/json_text.h"
#include "base/utf8.h"

#define TWO32 4294967296.0

/* ---- small helpers ------------------------------------------------------- */

static int is_digit(char c) { return c >= '0' && c <= '9'; }


static uint32_t be32(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

static uint32_t be16(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (uint32_t)u[0] << 8 | u[1];
}

static int utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        if (*p < 0x80) {
            p++;
            continue;
        }
        size_t k = sl_utf8_seq_len(p, (size_t)(end - p));
        if (!k)
            return 0;
        p += k;
    }
    return 1;
}

/* ---- writers ------------------------------------------------------------- */

/* msgpuck writes into raw memory: reserve the worst case, write, then move
 * len to where msgpuck stopped. */
static char *room(sl_buf_t *b, size_t n) { return sl_buf_reserve(b, n) ? NULL : b->data + b->len; }
static void wrote(sl_buf_t *b, char *w) { b->len = (size_t)(w - b->data); }

int sl_mpjson_put_nil(sl_buf_t *out) { return sl_buf_append_byte(out, (char)0xc0); }

int sl_mpjson_put_bool(sl_buf_t *out, int v)
{
    return sl_buf_append_byte(out, (char)(v ? 0xc3 : 0xc2));
}

int sl_mpjson_put_array(sl_buf_t *out, uint32_t n)
{
    char *w = room(out, 5);
    if (!w)
        return -ENOMEM;
    wrote(out, mp_encode_array(w, n));
    return 0;
}

int sl_mpjson_put_map(sl_buf_t *out, uint32_t n)
{
    char *w = room(out, 5);
    if (!w)
        return -ENOMEM;
    wrote(out, mp_encode_map(w, n));
    return 0;
}

int sl_mpjson_put_str(sl_buf_t *out, const char *s, size_t len)
{
    if (len > UINT32_MAX)
        return SL_MPJSON_E_TOO_BIG;
    char *w = room(out, 5 + len);
    if (!w)
        return -ENOMEM;
    w = mp_encode_strl(w, (uint32_t)len);
    if (len)
        memcpy(w, s, len);
    wrote(out, w + len);
    return 0;
}

int sl_mpjson_put_bin(sl_buf_t *out, const void *data, size_t len)
{
    if (len > UINT32_MAX)
        return SL_MPJSON_E_TOO_BIG;
    char *w = room(out, 5 + len);
    if (!w)
        return -ENOMEM;
    w = mp_encode_binl(w, (uint32_t)len);
    if (len)
        memcpy(w, data, len);
    wrote(out, w + len);
    return 0;
}

/* ECMAScript ToUint32 of an integral double: the value modulo 2^32. */
static uint32_t js_uint32(double x)
{
    double m = fmod(x, TWO32);
    if (m < 0)
        m += TWO32;
    return (uint32_t)m;
}

/* notepack's number rule. Integers of 2^32 and up (and below -2^31) are
 * written as notepack computes them: high word (value / 2^32, truncated
 * for positives, floored for negatives) and low word (value >>> 0), each
 * taken modulo 2^32 by JS's bit operators. That is the value modulo 2^64,
 * so anything past 64 bits wraps; see mpjson.h. */
int sl_mpjson_put_number(sl_buf_t *out, double v)
{
    char *w = room(out, 9);
    if (!w)
        return -ENOMEM;
    if (!isfinite(v) || floor(v) != v) {
        w = mp_encode_double(w, v);
    } else if (v >= 0) { /* -0 too: notepack writes it as 0 */
        if (v < TWO32) {
            w = mp_encode_uint(w, (uint64_t)v);
        } else {
            w = mp_store_u8(w, 0xcf);
            w = mp_store_u32(w, js_uint32(trunc(v / TWO32)));
            w = mp_store_u32(w, js_uint32(v));
        }
    } else {
        if (v >= -2147483648.0) {
            w = mp_encode_int(w, (int64_t)v);
        } else {
            w = mp_store_u8(w, 0xd3);
            w = mp_store_u32(w, js_uint32(floor(v / TWO32)));
            w = mp_store_u32(w, js_uint32(v));
        }
    }
    wrote(out, w);
    return 0;
}

/* ---- member order (both directions) --------------------------------------
 *
 * A JS object lists its members (Object.keys, for-in, JSON.stringify) with
 * array-index keys first, ascending, then the rest in creation order; a
 * repeated key keeps its first slot and takes the later value. JSON.parse
 * and notepack's decoder both build objects by assignment, so both
 * directions reorder the same way. */

typedef struct member {
    const char *key; /* decoded bytes, not NUL-terminated */
    size_t klen;
    union {
        size_t node;    /* JSON side: node index of the value */
        const char *mp; /* MessagePack side: the value's first byte */
    } v;
    uint32_t pos;   /* position in the input */
    uint32_t index; /* numeric value when is_index */
    uint8_t is_index, dead;
    char kbuf[SL_JSON_NUMBER_MAX]; /* text of a non-string MessagePack key */
} member_t;

/* "0".."4294967294" without leading zeros: an ECMAScript array index. */
static int key_index(const char *k, size_t n, uint32_t *out)
{
    if (n == 0 || n > 10 || (k[0] == '0' && n > 1))
        return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(k[i]))
            return 0;
        v = v * 10 + (uint64_t)(k[i] - '0');
    }
    if (v > 4294967294u)
        return 0;
    *out = (uint32_t)v;
    return 1;
}

static int key_cmp(const member_t *a, const member_t *b)
{
    size_t n = a->klen < b->klen ? a->klen : b->klen;
    int c = memcmp(a->key, b->key, n);
    if (c)
        return c;
    return a->klen < b->klen ? -1 : a->klen > b->klen;
}

static int cmp_key_then_pos(const void *x, const void *y)
{
    const member_t *a = *(member_t *const *)x, *b = *(member_t *const *)y;
    int c = key_cmp(a, b);
    return c ? c : a->pos < b->pos ? -1 : a->pos > b->pos;
}

static int cmp_index(const void *x, const void *y)
{
    const member_t *a = *(member_t *const *)x, *b = *(member_t *const *)y;
    return a->index < b->index ? -1 : a->index > b->index;
}

/* Merges duplicates (first slot, last value) and writes the surviving
 * members to order[] in JS order; returns how many. tmp has n slots. */
static size_t order_members(member_t *m, size_t n, member_t **order, member_t **tmp)
{
    for (size_t i = 0; i < n; i++) {
        m[i].pos = (uint32_t)i;
        m[i].dead = 0;
        m[i].is_index = (uint8_t)key_index(m[i].key, m[i].klen, &m[i].index);
        tmp[i] = &m[i];
    }
    if (n > 1) {
        qsort(tmp, n, sizeof *tmp, cmp_key_then_pos);
        for (size_t a = 0; a < n;) {
            size_t b = a + 1;
            while (b < n && key_cmp(tmp[a], tmp[b]) == 0)
                tmp[b++]->dead = 1;
            if (b - a > 1)
                tmp[a]->v = tmp[b - 1]->v;
            a = b;
        }
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!m[i].dead && m[i].is_index)
            order[k++] = &m[i];
    if (k > 1)
        qsort(order, k, sizeof *order, cmp_index);
    for (size_t i = 0; i < n; i++)
        if (!m[i].dead && !m[i].is_index)
            order[k++] = &m[i];
    return k;
}

/* Member storage for one object: on the stack when small (most objects on
 * the wire have a handful of keys), else one heap block. */
#define MEMBERS_SMALL 6

typedef struct members {
    member_t *m;
    member_t **order, **tmp;
    void *heap;
    member_t small[MEMBERS_SMALL];
    member_t *small_ptrs[2 * MEMBERS_SMALL];
} members_t;

static int members_init(members_t *ms, size_t n)
{
    ms->heap = NULL;
    if (n <= MEMBERS_SMALL) {
        ms->m = ms->small;
        ms->order = ms->small_ptrs;
    } else {
        if (n > SIZE_MAX / (sizeof(member_t) + 2 * sizeof(member_t *)))
            return -ENOMEM;
        ms->heap = malloc(n * (sizeof(member_t) + 2 * sizeof(member_t *)));
        if (!ms->heap)
            return -ENOMEM;
        ms->m = ms->heap;
        ms->order = (member_t **)(void *)(ms->m + n);
    }
    ms->tmp = ms->order + n;
    return 0;
}

static void members_free(members_t *ms) { free(ms->heap); }

static int key_is(const member_t *m, const char *s)
{
    size_t n = strlen(s);
    return m->klen == n && memcmp(m->key, s, n) == 0;
}

/* ---- JSON -> tree -------------------------------------------------------- */

enum { J_NULL, J_FALSE, J_TRUE, J_NUM, J_STR, J_ARR, J_OBJ };
enum {
    JF_SCRATCH = 1,    /* string bytes are in the scratch buffer */
    JF_PLAIN_UINT = 2, /* number written as bare digits (a valid "num") */
    JF_INT = 4,        /* integer text an int64 holds: u.i */
    JF_UINT = 8        /* integer text past int64 that a uint64 holds: u.u */
};

/* Nodes are in document order; an object's children alternate key, value. */
typedef struct jnode {
    uint8_t kind, flags;
    uint32_t count; /* array elements or object members */
    size_t end;     /* index one past the last node of this subtree */
    union {
        double num;
        int64_t i;
        uint64_t u;
        struct {
            size_t off, len; /* into the JSON text or the scratch buffer */
        } s;
    } u;
} jnode_t;

typedef struct jparse {
    const char *base, *p, *end;
    sl_buf_t nodes;   /* jnode_t[] */
    sl_buf_t scratch; /* strings that had escapes, decoded */
    int depth;
} jparse_t;

static jnode_t *jnodes(const jparse_t *j) { return (jnode_t *)(void *)j->nodes.data; }
static size_t jcount(const jparse_t *j) { return j->nodes.len / sizeof(jnode_t); }

static int jnew(jparse_t *j, int kind, size_t *idx)
{
    jnode_t n;
    memset(&n, 0, sizeof n);
    n.kind = (uint8_t)kind;
    *idx = jcount(j);
    n.end = *idx + 1;
    return sl_buf_append(&j->nodes, &n, sizeof n);
}

static void jskip_ws(jparse_t *j) { j->p = sl_json_skip_ws(j->p, j->end); }

/* The reader's codes as ours: only bad UTF-8 has its own. */
static int jerr(int rc)
{
    return rc == SL_JSON_E_UTF8 ? SL_MPJSON_E_UTF8 : rc == -ENOMEM ? rc : SL_MPJSON_E_JSON;
}

/* At '"'. A string without escapes stays a span of the input; one with
 * escapes is decoded into scratch. Surrogate pairs written as two \u
 * escapes join; a lone surrogate becomes U+FFFD (see mpjson.h). */
static int parse_string(jparse_t *j)
{
    size_t soff = j->scratch.len, idx;
    sl_json_string_t str;
    int rc = sl_json_scan_string(j->p, j->end, SL_JSON_STR_UTF8, &j->scratch, &str);
    if (rc)
        return jerr(rc);
    if ((rc = jnew(j, J_STR, &idx)))
        return rc;
    jnode_t *n = &jnodes(j)[idx];
    if (str.escaped) {
        n->flags = JF_SCRATCH;
        n->u.s.off = soff;
        n->u.s.len = j->scratch.len - soff;
    } else {
        n->u.s.off = (size_t)(j->p + 1 - j->base);
        n->u.s.len = (size_t)(str.end - 1 - (j->p + 1));
    }
    j->p = str.end;
    return 0;
}

/* At '-' or a digit: JSON's number grammar. An integer text that 64 bits
 * hold is kept exactly (the exact rule writes it so; notepack's turns it
 * into the double JSON.parse would give, see jnum_double); anything else
 * is that double at once. */
static int parse_number(jparse_t *j)
{
    sl_json_number_t num;
    double v = 0;
    int64_t i;
    uint64_t u;
    size_t idx;
    int rc = sl_json_scan_number(j->p, j->end, &num, NULL);
    if (rc)
        return jerr(rc);
    uint8_t flags = !num.neg && num.integer ? JF_PLAIN_UINT : 0;
    if (sl_json_number_int64(&num, &i))
        flags |= JF_INT;
    else if (sl_json_number_uint(&num, UINT64_MAX, &u))
        flags |= JF_UINT;
    else if ((rc = sl_json_number_double(&num, &v)))
        return rc;
    if ((rc = jnew(j, J_NUM, &idx)))
        return rc;
    jnode_t *n = &jnodes(j)[idx];
    n->flags = flags;
    if (flags & JF_INT)
        n->u.i = i;
    else if (flags & JF_UINT)
        n->u.u = u;
    else
        n->u.num = v;
    j->p = num.end;
    return 0;
}

/* The double JSON.parse gives for a number node: an int64 or uint64
 * converts correctly rounded, as strtod would have read its text. */
static double jnum_double(const jnode_t *n)
{
    return n->flags & JF_INT ? (double)n->u.i : n->flags & JF_UINT ? (double)n->u.u : n->u.num;
}

static int parse_literal(jparse_t *j, int kind)
{
    size_t n = sl_json_literal(j->p, j->end), idx;
    if (!n)
        return SL_MPJSON_E_JSON;
    j->p += n;
    return jnew(j, kind, &idx);
}

static int parse_value(jparse_t *j);

static int parse_container(jparse_t *j)
{
    int obj = *j->p == '{', rc;
    char close = obj ? '}' : ']';
    if (++j->depth > SL_MPJSON_MAX_DEPTH)
        return SL_MPJSON_E_DEPTH;
    size_t idx;
    if ((rc = jnew(j, obj ? J_OBJ : J_ARR, &idx)))
        return rc;
    uint64_t count = 0;
    j->p++;
    jskip_ws(j);
    if (j->p < j->end && *j->p == close) {
        j->p++;
    } else {
        for (;;) {
            if (obj) {
                if (j->p >= j->end || *j->p != '"')
                    return SL_MPJSON_E_JSON;
                if ((rc = parse_string(j)))
                    return rc;
                jskip_ws(j);
                if (j->p >= j->end || *j->p != ':')
                    return SL_MPJSON_E_JSON;
                j->p++;
            }
            if ((rc = parse_value(j)))
                return rc;
            count++;
            jskip_ws(j);
            if (j->p >= j->end)
                return SL_MPJSON_E_JSON;
            if (*j->p == close) {
                j->p++;
                break;
            }
            if (*j->p != ',')
                return SL_MPJSON_E_JSON;
            j->p++;
            jskip_ws(j);
        }
    }
    if (count > UINT32_MAX) /* notepack throws "Array too large" */
        return SL_MPJSON_E_TOO_BIG;
    jnodes(j)[idx].count = (uint32_t)count;
    jnodes(j)[idx].end = jcount(j);
    j->depth--;
    return 0;
}

static int parse_value(jparse_t *j)
{
    jskip_ws(j);
    if (j->p >= j->end)
        return SL_MPJSON_E_JSON;
    switch (*j->p) {
    case '{':
    case '[': return parse_container(j);
    case '"': return parse_string(j);
    case 't': return parse_literal(j, J_TRUE);
    case 'f': return parse_literal(j, J_FALSE);
    case 'n': return parse_literal(j, J_NULL);
    default:
        if (*j->p == '-' || (*j->p >= '0' && *j->p <= '9'))
            return parse_number(j);
        return SL_MPJSON_E_JSON;
    }
}

/* ---- tree -> MessagePack ------------------------------------------------- */

typedef struct jemit {
    const jparse_t *j;
    sl_buf_t *out;
    const sio_packet_bin_t *atts;
    size_t natts;
    unsigned flags;
} jemit_t;

static const char *jstr(const jparse_t *j, const jnode_t *n)
{
    if (n->u.s.len == 0)
        return "";
    return (n->flags & JF_SCRATCH ? j->scratch.data : j->base) + n->u.s.off;
}

static int emit_node(jemit_t *e, size_t i);

/* The exact rule (mpjson.h): integers as integers, the rest as float64. */
static int put_exact_number(sl_buf_t *out, const jnode_t *n)
{
    char *w = room(out, 9);
    if (!w)
        return -ENOMEM;
    double v = n->u.num;
    if (n->flags & JF_INT)
        w = n->u.i < 0 ? mp_encode_int(w, n->u.i) : mp_encode_uint(w, (uint64_t)n->u.i);
    else if (n->flags & JF_UINT)
        w = mp_encode_uint(w, n->u.u);
    else if (isfinite(v) && floor(v) == v && v >= -0x1p63 && v < 0)
        w = mp_encode_int(w, (int64_t)v);
    else if (isfinite(v) && floor(v) == v && v >= 0 && v < 0x1p64) /* -0 too: 0 */
        w = mp_encode_uint(w, (uint64_t)v);
    else
        w = mp_encode_double(w, v);
    wrote(out, w);
    return 0;
}

/* A placeholder of a binary packet becomes its attachment, whole. Returns
 * 1 if the object was one (and was written), 0 if not, or an error. */
static int emit_placeholder(jemit_t *e, member_t **order, size_t live)
{
    const jnode_t *nodes = jnodes(e->j);
    const member_t *num = NULL;
    int is_ph = 0;
    for (size_t k = 0; k < live; k++) {
        if (key_is(order[k], "_placeholder"))
            is_ph = nodes[order[k]->v.node].kind == J_TRUE;
        else if (key_is(order[k], "num"))
            num = order[k];
    }
    if (!is_ph)
        return 0;
    const jnode_t *nv = num ? &nodes[num->v.node] : NULL;
    if (!nv || nv->kind != J_NUM || (nv->flags & (JF_PLAIN_UINT | JF_INT)) != (JF_PLAIN_UINT | JF_INT) ||
        (uint64_t)nv->u.i >= e->natts)
        return SL_MPJSON_E_PLACEHOLDER;
    const sio_packet_bin_t *a = &e->atts[nv->u.i];
    int rc = sl_mpjson_put_bin(e->out, a->data, a->len);
    return rc ? rc : 1;
}

static int emit_object(jemit_t *e, size_t i)
{
    const jnode_t *nodes = jnodes(e->j);
    size_t n = nodes[i].count;
    members_t ms;
    int rc = members_init(&ms, n);
    if (rc)
        return rc;
    size_t c = i + 1;
    for (size_t k = 0; k < n; k++) {
        ms.m[k].key = jstr(e->j, &nodes[c]);
        ms.m[k].klen = nodes[c].u.s.len;
        ms.m[k].v.node = c + 1;
        c = nodes[c + 1].end;
    }
    /* The exact rule keeps the members as they are (see dec_map_in_order):
     * the last of repeated names still decides a placeholder. */
    size_t live = n;
    if (e->flags & SL_MPJSON_EXACT)
        for (size_t k = 0; k < n; k++)
            ms.order[k] = &ms.m[k];
    else
        live = order_members(ms.m, n, ms.order, ms.tmp);
    if (e->atts && (rc = emit_placeholder(e, ms.order, live)) != 0) {
        members_free(&ms);
        return rc < 0 ? rc : 0;
    }
    rc = sl_mpjson_put_map(e->out, (uint32_t)live);
    for (size_t k = 0; k < live && !rc; k++) {
        rc = sl_mpjson_put_str(e->out, ms.order[k]->key, ms.order[k]->klen);
        if (!rc)
            rc = emit_node(e, ms.order[k]->v.node);
    }
    members_free(&ms);
    return rc;
}

static int emit_node(jemit_t *e, size_t i)
{
    const jnode_t *n = &jnodes(e->j)[i];
    switch (n->kind) {
    case J_NULL: return sl_mpjson_put_nil(e->out);
    case J_FALSE: return sl_mpjson_put_bool(e->out, 0);
    case J_TRUE: return sl_mpjson_put_bool(e->out, 1);
    case J_NUM:
        return e->flags & SL_MPJSON_EXACT ? put_exact_number(e->out, n)
                                          : sl_mpjson_put_number(e->out, jnum_double(n));
    case J_STR: return sl_mpjson_put_str(e->out, jstr(e->j, n), n->u.s.len);
    case J_ARR: {
        int rc = sl_mpjson_put_array(e->out, n->count);
        size_t c = i + 1;
        for (uint32_t k = 0; k < n->count && !rc; k++) {
            rc = emit_node(e, c);
            c = jnodes(e->j)[c].end;
        }
        return rc;
    }
    default: return emit_object(e, i);
    }
}

int sl_mpjson_from_json(sl_buf_t *out, const char *json, size_t len,
                     const sio_packet_bin_t *atts, size_t natts)
{
    return sl_mpjson_from_json_opt(out, json, len, atts, natts, 0);
}

int sl_mpjson_from_json_opt(sl_buf_t *out, const char *json, size_t len,
                            const sio_packet_bin_t *atts, size_t natts, unsigned flags)
{
    jparse_t j;
    memset(&j, 0, sizeof j);
    j.base = j.p = json;
    j.end = json + len;
    /* A node takes at least one byte of text: room for a small payload's
     * tree at once instead of growing it node by node. */
    int rc = sl_buf_reserve(&j.nodes, (len < 32 ? len : 32) * sizeof(jnode_t));
    if (!rc)
        rc = len ? parse_value(&j) : SL_MPJSON_E_JSON;
    if (!rc) {
        jskip_ws(&j);
        if (j.p != j.end)
            rc = SL_MPJSON_E_JSON;
    }
    if (!rc) {
        size_t len0 = out->len;
        jemit_t e = {&j, out, atts, natts, flags};
        rc = emit_node(&e, 0);
        if (rc)
            out->len = len0;
    }
    sl_buf_free(&j.nodes);
    sl_buf_free(&j.scratch);
    return rc;
}

/* ---- MessagePack readers ------------------------------------------------- */

/* Validates one value and steps over it. Unlike msgpuck's mp_check, the
 * count of values still owed is 64-bit and may never exceed the bytes left
 * (each value takes at least one), so a forged length fails at once
 * instead of wrapping; and 0xc1, which MessagePack never uses, is
 * refused. Iterative, so nesting depth costs nothing here. */
int sl_mpjson_skip(const char **p, const char *end)
{
    const char *q = *p;
    uint64_t owed = 1;
    while (owed) {
        if (q >= end)
            return SL_MPJSON_E_MSGPACK;
        unsigned c = (unsigned char)*q++;
        size_t left = (size_t)(end - q);
        uint64_t skip = 0, add = 0;
        if (c < 0x80 || c >= 0xe0) {
            /* fixint */
        } else if (c < 0x90) {
            add = 2 * (uint64_t)(c & 0x0f);
        } else if (c < 0xa0) {
            add = c & 0x0f;
        } else if (c < 0xc0) {
            skip = c & 0x1f;
        } else {
            switch (c) {
            case 0xc0: case 0xc2: case 0xc3: break;
            case 0xc4: case 0xd9:
                if (left < 1)
                    return SL_MPJSON_E_MSGPACK;
                skip = 1 + (unsigned char)q[0];
                break;
            case 0xc5: case 0xda:
                if (left < 2)
                    return SL_MPJSON_E_MSGPACK;
                skip = 2 + (uint64_t)be16(q);
                break;
            case 0xc6: case 0xdb:
                if (left < 4)
                    return SL_MPJSON_E_MSGPACK;
                skip = 4 + (uint64_t)be32(q);
                break;
            case 0xc7:
                if (left < 1)
                    return SL_MPJSON_E_MSGPACK;
                skip = 2 + (uint64_t)(unsigned char)q[0];
                break;
            case 0xc8:
                if (left < 2)
                    return SL_MPJSON_E_MSGPACK;
                skip = 3 + (uint64_t)be16(q);
                break;
            case 0xc9:
                if (left < 4)
                    return SL_MPJSON_E_MSGPACK;
                skip = 5 + (uint64_t)be32(q);
                break;
            case 0xcc: case 0xd0: skip = 1; break;
            case 0xcd: case 0xd1: skip = 2; break;
            case 0xca: case 0xce: case 0xd2: skip = 4; break;
            case 0xcb: case 0xcf: case 0xd3: skip = 8; break;
            case 0xd4: skip = 2; break;
            case 0xd5: skip = 3; break;
            case 0xd6: skip = 5; break;
            case 0xd7: skip = 9; break;
            case 0xd8: skip = 17; break;
            case 0xdc: case 0xde:
                if (left < 2)
                    return SL_MPJSON_E_MSGPACK;
                add = (uint64_t)be16(q) * (c == 0xde ? 2 : 1);
                skip = 2;
                break;
            case 0xdd: case 0xdf:
                if (left < 4)
                    return SL_MPJSON_E_MSGPACK;
                add = (uint64_t)be32(q) * (c == 0xdf ? 2 : 1);
                skip = 4;
                break;
            default: /* 0xc1 */
                return SL_MPJSON_E_MSGPACK;
            }
        }
        if (skip > left)
            return SL_MPJSON_E_MSGPACK;
        q += skip;
        owed = owed - 1 + add;
        if (owed > (uint64_t)(end - q))
            return SL_MPJSON_E_MSGPACK;
    }
    *p = q;
    return 0;
}

/* Reads a container header: fix (0x80/0x90 + n), 16- or 32-bit form. */
static int read_container(const char **p, const char *end, uint32_t *n, unsigned fix,
                          unsigned c16, unsigned per)
{
    const char *q = *p;
    if (q >= end)
        return SL_MPJSON_E_MSGPACK;
    unsigned c = (unsigned char)*q++;
    uint32_t v;
    if ((c & 0xf0) == fix) {
        v = c & 0x0f;
    } else if (c == c16) {
        if (end - q < 2)
            return SL_MPJSON_E_MSGPACK;
        v = be16(q);
        q += 2;
    } else if (c == c16 + 1) {
        if (end - q < 4)
            return SL_MPJSON_E_MSGPACK;
        v = be32(q);
        q += 4;
    } else {
        return SL_MPJSON_E_TYPE;
    }
    if ((uint64_t)v * per > (uint64_t)(end - q))
        return SL_MPJSON_E_MSGPACK;
    *n = v;
    *p = q;
    return 0;
}

int sl_mpjson_read_array(const char **p, const char *end, uint32_t *n)
{
    return read_container(p, end, n, 0x90, 0xdc, 1);
}

int sl_mpjson_read_map(const char **p, const char *end, uint32_t *n)
{
    return read_container(p, end, n, 0x80, 0xde, 2);
}

int sl_mpjson_read_str(const char **p, const char *end, const char **s, uint32_t *len)
{
    const char *q = *p;
    if (q >= end)
        return SL_MPJSON_E_MSGPACK;
    unsigned c = (unsigned char)*q++;
    size_t left = (size_t)(end - q);
    uint32_t n;
    if (c >= 0xa0 && c < 0xc0) {
        n = c & 0x1f;
    } else if (c == 0xd9) {
        if (left < 1)
            return SL_MPJSON_E_MSGPACK;
        n = (unsigned char)*q++;
    } else if (c == 0xda) {
        if (left < 2)
            return SL_MPJSON_E_MSGPACK;
        n = be16(q);
        q += 2;
    } else if (c == 0xdb) {
        if (left < 4)
            return SL_MPJSON_E_MSGPACK;
        n = be32(q);
        q += 4;
    } else {
        return SL_MPJSON_E_TYPE;
    }
    if (n > (size_t)(end - q))
        return SL_MPJSON_E_MSGPACK;
    *s = q;
    *len = n;
    *p = q + n;
    return 0;
}

int sl_mpjson_read_number(const char **p, const char *end, double *v)
{
    const char *q = *p;
    if (q >= end)
        return SL_MPJSON_E_MSGPACK;
    unsigned c = (unsigned char)*q;
    size_t need;
    switch (c) {
    case 0xcc: case 0xd0: need = 2; break;
    case 0xcd: case 0xd1: need = 3; break;
    case 0xca: case 0xce: case 0xd2: need = 5; break;
    case 0xcb: case 0xcf: case 0xd3: need = 9; break;
    default:
        if (c < 0x80 || c >= 0xe0) {
            need = 1;
            break;
        }
        return SL_MPJSON_E_TYPE;
    }
    if ((size_t)(end - q) < need)
        return SL_MPJSON_E_MSGPACK;
    switch (mp_typeof(*q)) {
    case MP_UINT: *v = (double)mp_decode_uint(&q); break;
    case MP_INT: *v = (double)mp_decode_int(&q); break;
    case MP_FLOAT: *v = (double)mp_decode_float(&q); break;
    default: *v = mp_decode_double(&q); break;
    }
    *p = q;
    return 0;
}

/* ---- MessagePack -> JSON ------------------------------------------------- */

typedef struct mdec {
    sl_buf_t *out;
    const char *end;
    sl_mpjson_att_cb cb;
    void *ud;
    unsigned flags;
} mdec_t;

static int put_lit(sl_buf_t *b, const char *s) { return sl_buf_append(b, s, strlen(s)); }

/* A JS number in JSON: NaN and the infinities are null. */
static int put_json_number(sl_buf_t *b, double v)
{
    if (!isfinite(v))
        return put_lit(b, "null");
    char t[SL_JSON_NUMBER_MAX];
    return sl_buf_append(b, t, sl_json_format_number(v, t));
}

/* Days since 1970-01-01 to a proleptic Gregorian date: count 400-year eras
 * from 0000-03-01 so the leap day ends each year. */
static void civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;                                    /* [0, 146096] */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);             /* [0, 365] */
    int64_t mp = (5 * doy + 2) / 153;                                  /* March = 0 */
    *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* JSON.stringify(new Date(ms)): Date's TimeClip (finite, within 8.64e15,
 * truncated), then toISOString, with a signed 6-digit year outside
 * 0..9999; an invalid Date gives null. */
static int put_date(sl_buf_t *b, double ms)
{
    if (!isfinite(ms) || fabs(ms) > 8.64e15)
        return put_lit(b, "null");
    int64_t t = (int64_t)ms;
    int64_t days = t / 86400000, r = t % 86400000;
    if (r < 0) {
        r += 86400000;
        days--;
    }
    int64_t y;
    unsigned mo, d;
    civil_from_days(days, &y, &mo, &d);
    unsigned hh = (unsigned)(r / 3600000), mi = (unsigned)(r / 60000 % 60),
             ss = (unsigned)(r / 1000 % 60), mss = (unsigned)(r % 1000);
    if (y >= 0 && y <= 9999)
        return sl_buf_appendf(b, "\"%04d-%02u-%02uT%02u:%02u:%02u.%03uZ\"", (int)y, mo, d, hh,
                              mi, ss, mss);
    return sl_buf_appendf(b, "\"%c%06d-%02u-%02uT%02u:%02u:%02u.%03uZ\"", y < 0 ? '-' : '+',
                          (int)(y < 0 ? -y : y), mo, d, hh, mi, ss, mss);
}

static int put_placeholder(mdec_t *d, const char *data, size_t len)
{
    if (!d->cb)
        return SL_MPJSON_E_TYPE;
    int num = d->cb(d->ud, data, len);
    if (num < 0)
        return num;
    return sl_buf_appendf(d->out, "{\"_placeholder\":true,\"num\":%d}", num);
}

static int is_undefined(const char *p)
{
    return (unsigned char)p[0] == 0xd4 && p[1] == 0;
}

/* Every ext form. In notepack's decoder: fixext1 type 0 is undefined; ext
 * 8/16/32 of type 0 an ArrayBuffer; type -1 a timestamp (fixext4,
 * fixext8, or ext8 read as 12 bytes whatever its length says, which we
 * refuse unless it says 12); fixext8 type 0 its old date format; anything
 * else [type, Buffer]. */
static int dec_ext(mdec_t *d, const char **p, int depth)
{
    unsigned c = (unsigned char)**p;
    (*p)++;
    uint32_t len;
    switch (c) {
    case 0xd4: len = 1; break;
    case 0xd5: len = 2; break;
    case 0xd6: len = 4; break;
    case 0xd7: len = 8; break;
    case 0xd8: len = 16; break;
    case 0xc7: len = mp_load_u8(p); break;
    case 0xc8: len = mp_load_u16(p); break;
    default: len = mp_load_u32(p); break;
    }
    int type = (int8_t)mp_load_u8(p);
    const char *data = *p;
    *p += len;
    int fixed = c >= 0xd4;
    if (type == 0 && c == 0xd4)
        return put_lit(d->out, "null");
    if (type == 0 && !fixed)
        return depth + 1 > SL_MPJSON_MAX_DEPTH ? SL_MPJSON_E_DEPTH : put_placeholder(d, data, len);
    if (type == -1 && c == 0xd6)
        return put_date(d->out, be32(data) * 1e3);
    if (type == -1 && c == 0xd7) {
        uint32_t hi = be32(data), lo = be32(data + 4);
        double s = (double)(hi & 3) * TWO32 + lo;
        return put_date(d->out, s * 1e3 + (double)(hi >> 2) / 1e6);
    }
    if (type == 0 && c == 0xd7)
        return put_date(d->out, (double)(int32_t)be32(data) * TWO32 + be32(data + 4));
    if (type == -1 && c == 0xc7) {
        if (len != 12)
            return SL_MPJSON_E_MSGPACK;
        double s = (double)(int32_t)be32(data + 4) * TWO32 + be32(data + 8);
        return put_date(d->out, s * 1e3 + be32(data) / 1e6);
    }
    if (depth + 2 > SL_MPJSON_MAX_DEPTH)
        return SL_MPJSON_E_DEPTH;
    int rc = sl_buf_appendf(d->out, "[%d,", type);
    if (!rc)
        rc = put_placeholder(d, data, len);
    return rc ? rc : sl_buf_append_byte(d->out, ']');
}

static int dec_value(mdec_t *d, const char **p, int depth);

/* The name JS gives a non-string key (String(key)); see mpjson.h. */
static int dec_key(const char **p, member_t *m)
{
    const char *q = *p;
    switch (mp_typeof(*q)) {
    case MP_STR: {
        uint32_t n;
        m->key = mp_decode_str(p, &n);
        m->klen = n;
        return utf8_valid(m->key, n) ? 0 : SL_MPJSON_E_UTF8;
    }
    case MP_UINT:
        m->klen = sl_json_format_number((double)mp_decode_uint(p), m->kbuf);
        break;
    case MP_INT:
        m->klen = sl_json_format_number((double)mp_decode_int(p), m->kbuf);
        break;
    case MP_FLOAT:
        m->klen = sl_json_format_number((double)mp_decode_float(p), m->kbuf);
        break;
    case MP_DOUBLE:
        m->klen = sl_json_format_number(mp_decode_double(p), m->kbuf);
        break;
    case MP_NIL:
        mp_decode_nil(p);
        m->key = "null";
        m->klen = 4;
        return 0;
    case MP_BOOL:
        m->key = mp_decode_bool(p) ? "true" : "false";
        m->klen = strlen(m->key);
        return 0;
    default:
        if (is_undefined(q)) {
            *p += 3;
            m->key = "undefined";
            m->klen = 9;
            return 0;
        }
        return SL_MPJSON_E_KEY;
    }
    m->key = m->kbuf;
    return 0;
}

/* The exact rule's map: members as they come. Its JSON is read by lua_json
 * only, which merges repeated names as JS would (first slot, last value)
 * and keeps the order, so no sorting and no member table are needed. */
static int dec_map_in_order(mdec_t *d, const char **p, int depth)
{
    uint32_t n = mp_decode_map(p);
    int rc = sl_buf_append_byte(d->out, '{'), first = 1;
    for (uint32_t k = 0; k < n && !rc; k++) {
        member_t m;
        if ((rc = dec_key(p, &m)))
            break;
        if (is_undefined(*p)) {
            mp_next(p);
            continue;
        }
        if (!first && (rc = sl_buf_append_byte(d->out, ',')))
            break;
        first = 0;
        if (!(rc = sl_json_append_string(d->out, m.key, m.klen)) &&
            !(rc = sl_buf_append_byte(d->out, ':')))
            rc = dec_value(d, p, depth + 1);
    }
    return rc ? rc : sl_buf_append_byte(d->out, '}');
}

static int dec_map(mdec_t *d, const char **p, int depth)
{
    if (depth + 1 > SL_MPJSON_MAX_DEPTH)
        return SL_MPJSON_E_DEPTH;
    if (d->flags & SL_MPJSON_EXACT)
        return dec_map_in_order(d, p, depth);
    uint32_t n = mp_decode_map(p);
    members_t ms;
    int rc = members_init(&ms, n);
    if (rc)
        return rc;
    for (uint32_t k = 0; k < n && !rc; k++) {
        rc = dec_key(p, &ms.m[k]);
        ms.m[k].v.mp = *p;
        if (!rc)
            rc = sl_mpjson_skip(p, d->end);
    }
    if (rc) {
        members_free(&ms);
        return rc;
    }
    size_t live = order_members(ms.m, n, ms.order, ms.tmp);
    rc = sl_buf_append_byte(d->out, '{');
    int first = 1;
    for (size_t k = 0; k < live && !rc; k++) {
        const member_t *m = ms.order[k];
        if (is_undefined(m->v.mp) || key_is(m, "__proto__"))
            continue;
        if (!first && (rc = sl_buf_append_byte(d->out, ',')))
            break;
        first = 0;
        const char *v = m->v.mp;
        if (!(rc = sl_json_append_string(d->out, m->key, m->klen)) &&
            !(rc = sl_buf_append_byte(d->out, ':')))
            rc = dec_value(d, &v, depth + 1);
    }
    members_free(&ms);
    return rc ? rc : sl_buf_append_byte(d->out, '}');
}

/* Decimal digits of v, with a '-' when neg (v is then the magnitude):
 * printf's cost is most of a small packet's. */
static int put_uint_text(sl_buf_t *b, uint64_t v, int neg)
{
    char t[21];
    int i = (int)sizeof t;
    do {
        t[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    if (neg)
        t[--i] = '-';
    return sl_buf_append(b, t + i, sizeof t - (size_t)i);
}

static int put_int_text(sl_buf_t *b, int64_t v)
{
    return v < 0 ? put_uint_text(b, (uint64_t)0 - (uint64_t)v, 1) : put_uint_text(b, (uint64_t)v, 0);
}

/* The exact rule's float: text that reads back as the same double and as a
 * float (lua_json makes a Lua integer of digits alone). The text is read
 * by lua_json only, never shown, so 17 significant digits do instead of
 * the shortest ones JS would print, which cost a search. */
static int put_exact_float(sl_buf_t *b, double v)
{
    if (!isfinite(v))
        return put_lit(b, "null");
    if (v == 0)
        return put_lit(b, signbit(v) ? "-0.0" : "0.0");
    if (fabs(v) < 0x1p53 && v == trunc(v)) {
        int rc = put_int_text(b, (int64_t)v);
        return rc ? rc : put_lit(b, ".0");
    }
    char t[40];
    int n = snprintf(t, sizeof t, "%.17g", v);
    if (!memchr(t, '.', (size_t)n) && !memchr(t, 'e', (size_t)n)) {
        t[n++] = '.';
        t[n++] = '0';
    }
    return sl_buf_append(b, t, (size_t)n);
}

static int dec_value(mdec_t *d, const char **p, int depth)
{
    const char *q = *p;
    int exact = d->flags & SL_MPJSON_EXACT, rc;
    switch (mp_typeof(*q)) {
    case MP_NIL:
        mp_decode_nil(p);
        return put_lit(d->out, "null");
    case MP_BOOL:
        return put_lit(d->out, mp_decode_bool(p) ? "true" : "false");
    case MP_UINT:
        if (exact)
            return put_uint_text(d->out, mp_decode_uint(p), 0);
        return put_json_number(d->out, (double)mp_decode_uint(p));
    case MP_INT:
        if (exact)
            return put_int_text(d->out, mp_decode_int(p));
        return put_json_number(d->out, (double)mp_decode_int(p));
    case MP_FLOAT:
        if (exact)
            return put_exact_float(d->out, (double)mp_decode_float(p));
        return put_json_number(d->out, (double)mp_decode_float(p));
    case MP_DOUBLE:
        if (exact)
            return put_exact_float(d->out, mp_decode_double(p));
        return put_json_number(d->out, mp_decode_double(p));
    case MP_STR: {
        uint32_t n;
        const char *s = mp_decode_str(p, &n);
        if (!utf8_valid(s, n))
            return SL_MPJSON_E_UTF8;
        return sl_json_append_string(d->out, s, n);
    }
    case MP_BIN: {
        if (depth + 1 > SL_MPJSON_MAX_DEPTH)
            return SL_MPJSON_E_DEPTH;
        uint32_t n;
        const char *s = mp_decode_bin(p, &n);
        return put_placeholder(d, s, n);
    }
    case MP_ARRAY: {
        if (depth + 1 > SL_MPJSON_MAX_DEPTH)
            return SL_MPJSON_E_DEPTH;
        uint32_t n = mp_decode_array(p);
        rc = sl_buf_append_byte(d->out, '[');
        for (uint32_t k = 0; k < n && !rc; k++) {
            if (k && (rc = sl_buf_append_byte(d->out, ',')))
                break;
            rc = dec_value(d, p, depth + 1); /* undefined writes null */
        }
        return rc ? rc : sl_buf_append_byte(d->out, ']');
    }
    case MP_MAP:
        return dec_map(d, p, depth);
    default:
        return dec_ext(d, p, depth);
    }
}

int sl_mpjson_to_json(sl_buf_t *out, const char **p, const char *end,
                   sl_mpjson_att_cb att_cb, void *ud)
{
    return sl_mpjson_to_json_opt(out, p, end, att_cb, ud, 0);
}

int sl_mpjson_to_json_opt(sl_buf_t *out, const char **p, const char *end,
                          sl_mpjson_att_cb att_cb, void *ud, unsigned flags)
{
    const char *q = *p;
    int rc = sl_mpjson_skip(&q, end);
    if (rc)
        return rc;
    size_t len0 = out->len;
    mdec_t d = {out, end, att_cb, ud, flags};
    const char *r = *p;
    rc = dec_value(&d, &r, 0);
    if (rc) {
        out->len = len0;
        return rc;
    }
    *p = q;
    return 0;
}

const char *sl_mpjson_strerror(int err)
{
    switch (err) {
    case 0: return "ok";
    case SL_MPJSON_E_JSON: return "malformed JSON";
    case SL_MPJSON_E_DEPTH: return "nesting too deep";
    case SL_MPJSON_E_PLACEHOLDER: return "illegal attachments placeholder";
    case SL_MPJSON_E_TOO_BIG: return "string, array or object too large for MessagePack";
    case SL_MPJSON_E_MSGPACK: return "malformed or truncated MessagePack";
    case SL_MPJSON_E_UTF8: return "invalid UTF-8";
    case SL_MPJSON_E_KEY: return "map key is not a string, number, boolean or nil";
    case SL_MPJSON_E_TYPE: return "unexpected MessagePack type";
    case -ENOMEM: return "out of memory";
    default: return "error";
    }
}
