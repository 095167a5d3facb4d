/* L4 sio/sio_packet: Socket.IO v5 packet text <-> header + raw JSON, JSON
 * well-formedness check, placeholder search and binary reassembly.
 * No event loop, no Lua, no JSON values: only bytes and spans. */
#include "sio/sio_packet.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/json_text.h"

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_binary_type(int t)
{
    return t == SIO_PACKET_BINARY_EVENT || t == SIO_PACKET_BINARY_ACK;
}

/* ---- JSON scanner --------------------------------------------------------
 * One recursive pass that checks strict JSON (RFC 8259, as JSON.parse does)
 * and, when `found` is set, notes the placeholder objects. We need a real
 * scanner rather than a substring search because a placeholder-looking text
 * inside a string, or an object with its keys in another order, must be told
 * apart; and once we have it, checking the whole payload costs one pass.
 * The tokens (strings, numbers, literals, whitespace) are base/json_text's,
 * as for the other codecs; the structure and the placeholders are ours. */

typedef struct placeholder {
    size_t off, len;
    unsigned num;
    int num_ok; /* "num" present, a plain integer, and small enough */
} placeholder_t;

typedef struct json_scan {
    const char *base, *p, *end;
    int depth;
    sl_buf_t *found; /* of placeholder_t; NULL: only validate */
    int err;
    const char *first_end; /* past the top-level array's first element */
} json_scan_t;

/* Inlined: compact JSON has no whitespace, so most calls are one test. */
static inline __attribute__((always_inline)) void skip_ws(json_scan_t *s)
{
    s->p = sl_json_skip_ws(s->p, s->end);
}

/* s->p at the opening quote. On success s->p is past the closing quote.
 * Bytes >= 0x80 are passed as they are (no SL_JSON_STR_UTF8): UTF-8
 * validity of a text frame is the transport's business, and JSON.parse only
 * ever sees decoded text. Lone surrogates pass too, as in JSON.parse. */
static int scan_string(json_scan_t *s)
{
    const char *e = sl_json_plain_string_end(s->p, s->end, 0);
    if (e) {
        s->p = e;
        return 0;
    }
    sl_json_string_t str;
    if (sl_json_scan_string(s->p, s->end, 0, NULL, &str))
        return -1;
    s->p = str.end;
    return 0;
}

static int scan_number(json_scan_t *s)
{
    sl_json_number_t num;
    if (sl_json_scan_number(s->p, s->end, &num, NULL))
        return -1;
    s->p = num.end;
    return 0;
}

static int scan_literal(json_scan_t *s)
{
    size_t n = sl_json_literal(s->p, s->end);
    s->p += n;
    return n ? 0 : -1;
}

static int scan_value(json_scan_t *s);

static int scan_array(json_scan_t *s)
{
    s->p++; /* '[' */
    skip_ws(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        return 0;
    }
    for (;;) {
        skip_ws(s);
        /* A plain string (an event's name, most arguments) without the
         * calls down to scan_string; anything else as any value. */
        const char *e = s->p < s->end && *s->p == '"' ? sl_json_plain_string_end(s->p, s->end, 0) : NULL;
        if (e)
            s->p = e;
        else if (scan_value(s))
            return -1;
        if (!s->first_end && s->depth == 1)
            s->first_end = s->p; /* an event's name: see check_event_name */
        skip_ws(s);
        if (s->p >= s->end)
            return -1;
        if (*s->p == ']') {
            s->p++;
            return 0;
        }
        if (*s->p != ',')
            return -1;
        s->p++;
    }
}

/* Parses a "num" value span: a plain non-negative integer that fits an
 * unsigned. 1.0 or 1e0 would index the same buffer in JS, but no encoder
 * writes them, so refusing them is simpler than emulating Number(). */
static int parse_num(const char *p, const char *end, unsigned *out)
{
    sl_json_number_t num;
    uint64_t v;
    if (p >= end || (*p != '-' && !is_digit(*p)) || sl_json_scan_number(p, end, &num, NULL) ||
        num.end != end || !sl_json_number_uint(&num, 0xffffffffu, &v))
        return -1;
    *out = (unsigned)v;
    return 0;
}

/* A member of the object being scanned whose value held placeholders:
 * they are [from, to) of found (bytes). */
typedef struct member {
    const char *key; /* its opening quote */
    size_t from, to;
} member_t;

/* Whether two well-formed string literals (opening quotes at a and b) are
 * one key to JSON.parse, escapes decoded ("\u0061" is "a"). */
static int same_key(const char *a, const char *b, const char *end)
{
    sl_buf_t x = SL_BUF_INIT, y = SL_BUF_INIT;
    sl_json_string_t sa, sb;
    int eq = 0;
    if (!sl_json_scan_string(a, end, 0, &x, &sa) && !sl_json_scan_string(b, end, 0, &y, &sb)) {
        const char *ta = sa.escaped ? x.data : a + 1, *tb = sb.escaped ? y.data : b + 1;
        size_t la = sa.escaped ? x.len : (size_t)(sa.end - a - 2);
        size_t lb = sb.escaped ? y.len : (size_t)(sb.end - b - 2);
        eq = la == lb && (la == 0 || memcmp(ta, tb, la) == 0);
    }
    sl_buf_free(&x);
    sl_buf_free(&y);
    return eq;
}

/* JSON.parse keeps the last of duplicate keys, so the placeholders in the
 * value a key had before are gone with it: neither the reference nor our
 * decoders (lua_json, mpjson) ever look at them, and a bad "num" in them
 * must not refuse the packet. *from (where the new value's placeholders
 * start) moves down with the ones dropped. */
static void forget_overwritten(json_scan_t *s, sl_buf_t *members, const char *key, size_t *from)
{
    member_t *m = (member_t *)(void *)members->data;
    size_t n = members->len / sizeof *m;
    for (size_t i = 0; i < n; i++) {
        if (!same_key(m[i].key, key, s->end))
            continue;
        size_t gone = m[i].to - m[i].from;
        memmove(s->found->data + m[i].from, s->found->data + m[i].to, s->found->len - m[i].to);
        s->found->len -= gone;
        for (size_t k = i + 1; k < n; k++) {
            m[k].from -= gone;
            m[k].to -= gone;
        }
        *from -= gone;
        memmove(&m[i], &m[i + 1], (n - i - 1) * sizeof *m);
        members->len -= sizeof *m;
        return; /* listed once: an earlier duplicate was dropped the same way */
    }
}

/* members: of member_t, the members whose values held placeholders (only
 * kept when placeholders are looked for). */
static int scan_members(json_scan_t *s, sl_buf_t *members)
{
    const char *open = s->p;
    size_t found_before = s->found ? s->found->len : 0;
    int is_placeholder = 0, num_ok = 0;
    unsigned num = 0;

    s->p++; /* '{' */
    skip_ws(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        return 0;
    }
    for (;;) {
        if (s->p >= s->end || *s->p != '"')
            return -1;
        const char *quote = s->p, *key = s->p + 1;
        if (scan_string(s))
            return -1;
        const char *key_end = s->p - 1;
        skip_ws(s);
        if (s->p >= s->end || *s->p != ':')
            return -1;
        s->p++;
        skip_ws(s);
        const char *val = s->p;
        size_t from = s->found ? s->found->len : 0;
        if (scan_value(s))
            return -1;
        if (s->found) {
            /* Last duplicate wins, as with JSON.parse. */
            if (sl_json_string_eq(key, key_end, "_placeholder"))
                is_placeholder = s->p - val == 4 && memcmp(val, "true", 4) == 0;
            else if (sl_json_string_eq(key, key_end, "num"))
                num_ok = parse_num(val, s->p, &num) == 0;
            if (members->len)
                forget_overwritten(s, members, quote, &from);
            member_t m = {quote, from, s->found->len};
            if (m.to > m.from && sl_buf_append(members, &m, sizeof m)) {
                s->err = -ENOMEM;
                return -1;
            }
        }
        skip_ws(s);
        if (s->p >= s->end)
            return -1;
        if (*s->p == '}') {
            s->p++;
            break;
        }
        if (*s->p != ',')
            return -1;
        s->p++;
        skip_ws(s);
    }
    if (s->found && is_placeholder) {
        /* The reference replaces the whole object and never looks inside,
         * so placeholders noted within it are forgotten. */
        placeholder_t ph = {(size_t)(open - s->base), (size_t)(s->p - open),
                            num, num_ok};
        s->found->len = found_before;
        if (sl_buf_append(s->found, &ph, sizeof ph)) {
            s->err = -ENOMEM;
            return -1;
        }
    }
    return 0;
}

static int scan_object(json_scan_t *s)
{
    sl_buf_t members = SL_BUF_INIT;
    int rc = scan_members(s, &members);
    sl_buf_free(&members);
    return rc;
}

static int scan_value(json_scan_t *s)
{
    int rc;
    if (s->p >= s->end)
        return -1;
    switch (*s->p) {
    case '{':
    case '[':
        if (++s->depth > SIO_PACKET_MAX_DEPTH)
            return -1;
        rc = *s->p == '{' ? scan_object(s) : scan_array(s);
        s->depth--;
        return rc;
    case '"': return scan_string(s);
    case 't':
    case 'f':
    case 'n': return scan_literal(s);
    default:
        if (*s->p == '-' || is_digit(*s->p))
            return scan_number(s);
        return -1;
    }
}

/* Checks that [p, p+n) is exactly one JSON value with optional whitespace
 * around it. Returns 0, SIO_PACKET_E_JSON or -ENOMEM. */
static int json_check(const char *p, size_t n, sl_buf_t *found, const char **first_end)
{
    json_scan_t s = {p, p, p + n, 0, found, 0, NULL};
    skip_ws(&s);
    if (scan_value(&s))
        return s.err ? s.err : SIO_PACKET_E_JSON;
    skip_ws(&s);
    if (first_end)
        *first_end = s.first_end;
    return s.p == s.end ? 0 : SIO_PACKET_E_JSON;
}

/* ---- decode ------------------------------------------------------------- */

/* Event names the reference server refuses to receive: they would collide
 * with its own lifecycle events. */
static const struct {
    const char *name;
    size_t len;
} reserved_events[] = {
#define RESERVED(lit) {lit, sizeof lit - 1}
    RESERVED("connect"),     RESERVED("connect_error"), RESERVED("disconnect"),
    RESERVED("disconnecting"), RESERVED("newListener"), RESERVED("removeListener"),
#undef RESERVED
};

/* Whether the body of a well-formed string literal [body, end) names a
 * reserved event once its escapes are decoded. Without a backslash the
 * body is the name: its length rules out all but a compare or two. */
static int is_reserved_event(const char *body, const char *end)
{
    size_t len = (size_t)(end - body);
    int plain = !memchr(body, '\\', len);
    if (plain && (len < sizeof "connect" - 1 || len > sizeof "removeListener" - 1))
        return 0; /* shorter than the shortest, longer than the longest */
    for (size_t i = 0; i < sizeof reserved_events / sizeof *reserved_events; i++) {
        if (plain ? len == reserved_events[i].len && memcmp(body, reserved_events[i].name, len) == 0
                  : sl_json_string_eq(body, end, reserved_events[i].name))
            return 1;
    }
    return 0;
}

/* payload is a well-formed array. Like the reference, the first element
 * must be a number or a string that is not a reserved event name (so an
 * empty array is refused too). first_end: past that element when the
 * validator noted it, else NULL (it is scanned again). */
static int check_event_name(const char *p, size_t n, const char *first_end)
{
    json_scan_t s = {p, p + 1, p + n, 0, NULL, 0, NULL};
    skip_ws(&s);
    if (s.p < s.end && (*s.p == '-' || is_digit(*s.p)))
        return 0;
    if (s.p >= s.end || *s.p != '"')
        return SIO_PACKET_E_EVENT_NAME;
    const char *name = s.p + 1;
    if (first_end)
        s.p = first_end;
    else if (scan_string(&s))
        return SIO_PACKET_E_JSON; /* can't happen: already validated */
    return is_reserved_event(name, s.p - 1) ? SIO_PACKET_E_EVENT_NAME : 0;
}

/* Whether a payload starting with *first (NULL: no payload) may follow
 * this type. For well-formed JSON the first byte tells the kind: '{' object,
 * '[' array, '"' string. */
static int check_payload(int type, const char *first)
{
    int ok;
    char k = first ? *first : 0;
    switch (type) {
    case SIO_PACKET_CONNECT: ok = !first || k == '{'; break;
    case SIO_PACKET_DISCONNECT: ok = !first; break;
    case SIO_PACKET_CONNECT_ERROR: ok = !first || k == '{' || k == '"'; break;
    default: ok = first && k == '['; break; /* EVENT, ACK, binary forms */
    }
    return ok ? 0 : SIO_PACKET_E_PAYLOAD;
}

/* Layout: <type>[<n>-][/nsp[,]][<ack id>][<json>]. The namespace runs to the
 * first ',' or to the end, as in the reference: that is what makes the
 * comma optional after "40/custom" (and what makes "42/chat[1]" a namespace
 * "/chat[1]" without payload, which the type check then refuses). */
int sio_packet_decode(const char *p, size_t n, sio_packet_t *out)
{
    size_t i = 0;
    const char *first_end = NULL;
    int rc;

    memset(out, 0, sizeof *out);
    if (n == 0)
        return SIO_PACKET_E_EMPTY;
    if (p[0] < '0' || p[0] > '6')
        return SIO_PACKET_E_TYPE;
    out->type = (sio_packet_type_t)(p[0] - '0');
    i = 1;

    if (is_binary_type(out->type)) {
        /* At least one digit then '-'. The reference also takes "5-" as 0
         * (Number("") is 0); no encoder writes that, so we refuse it. */
        size_t start = i;
        unsigned v = 0;
        while (i < n && is_digit(p[i])) {
            v = v * 10 + (unsigned)(p[i] - '0');
            if (v > SIO_PACKET_MAX_ATTACHMENTS)
                return SIO_PACKET_E_TOO_MANY;
            i++;
        }
        if (i == start || i >= n || p[i] != '-')
            return SIO_PACKET_E_ATTACHMENTS;
        out->attachments = v;
        i++;
    }

    if (i < n && p[i] == '/') {
        const char *comma = memchr(p + i, ',', n - i);
        size_t stop = comma ? (size_t)(comma - p) : n;
        out->nsp = p + i;
        out->nsp_len = stop - i;
        i = comma ? stop + 1 : n;
    } else {
        out->nsp = "/";
        out->nsp_len = 1;
    }

    if (i < n && is_digit(p[i])) {
        /* At most 2^63 - 1: an id is a Lua integer above (JavaScript
         * clients never go past 2^53), and a larger one would turn
         * negative there; refused here like any other malformed id. */
        uint64_t id = 0;
        while (i < n && is_digit(p[i])) {
            unsigned d = (unsigned)(p[i] - '0');
            /* (The division only near the limit.) */
            if (id >= (uint64_t)INT64_MAX / 10 && id > ((uint64_t)INT64_MAX - d) / 10)
                return SIO_PACKET_E_ACK_ID;
            id = id * 10 + d;
            i++;
        }
        out->has_ack = 1;
        out->ack_id = id;
    }

    /* Whatever is left is the payload. JSON.parse accepts whitespace around
     * the value, so we do too and hand out the trimmed span; a blank
     * remainder is a payload all the same, and an invalid one. */
    if (i < n) {
        const char *b = p + i, *e = p + n;
        b = sl_json_skip_ws(b, e);
        while (e > b && sl_json_is_ws((unsigned char)e[-1]))
            e--;
        if (b == e)
            return SIO_PACKET_E_PAYLOAD;
        /* Kind first, so "42abc[...]" and "42{}" say "invalid payload". */
        if ((rc = check_payload(out->type, b)))
            return rc;
        if ((rc = json_check(b, (size_t)(e - b), NULL, &first_end)))
            return rc;
        out->payload = b;
        out->payload_len = (size_t)(e - b);
    } else if ((rc = check_payload(out->type, NULL))) {
        return rc;
    }
    if (out->type == SIO_PACKET_EVENT || out->type == SIO_PACKET_BINARY_EVENT)
        return check_event_name(out->payload, out->payload_len, first_end);
    return 0;
}

int sio_packet_check(const sio_packet_t *pkt)
{
    int rc = check_payload(pkt->type, pkt->payload_len ? pkt->payload : NULL);
    if (!rc && (pkt->type == SIO_PACKET_EVENT || pkt->type == SIO_PACKET_BINARY_EVENT))
        rc = check_event_name(pkt->payload, pkt->payload_len, NULL);
    return rc;
}

/* ---- encode ------------------------------------------------------------- */

static int with_nsp(const sio_packet_t *pkt)
{
    return pkt->nsp && !(pkt->nsp_len == 1 && pkt->nsp[0] == '/');
}

static int encode_check(const sio_packet_t *pkt)
{
    int t = (int)pkt->type;
    if (t < SIO_PACKET_CONNECT || t > SIO_PACKET_BINARY_ACK)
        return -EINVAL;
    if (!is_binary_type(t) && pkt->attachments)
        return -EINVAL;
    if (pkt->payload_len && !pkt->payload)
        return -EINVAL;
    if (check_payload(t, pkt->payload_len ? pkt->payload : NULL))
        return -EINVAL;
    if (with_nsp(pkt) && (pkt->nsp_len == 0 || pkt->nsp[0] != '/' ||
                          memchr(pkt->nsp, ',', pkt->nsp_len)))
        return -EINVAL;
    return 0;
}

/* Writes a checked packet; its length. */
static size_t encode_write(char *dst, const sio_packet_t *pkt)
{
    char *p = dst;
    *p++ = (char)('0' + (int)pkt->type);
    if (is_binary_type((int)pkt->type)) {
        p = sl_u64_put(p, pkt->attachments);
        *p++ = '-';
    }
    /* The reference writes the comma after every non-main namespace, even
     * with nothing after it: a namespace DISCONNECT is "1/admin,". */
    if (with_nsp(pkt)) {
        memcpy(p, pkt->nsp, pkt->nsp_len);
        p += pkt->nsp_len;
        *p++ = ',';
    }
    if (pkt->has_ack)
        p = sl_u64_put(p, pkt->ack_id);
    if (pkt->payload_len)
        memcpy(p, pkt->payload, pkt->payload_len);
    return (size_t)(p - dst) + pkt->payload_len;
}

/* Worst case: type + 10 digits + '-' + nsp + ',' + 20 digits + payload. */
size_t sio_packet_encoded_max(const sio_packet_t *pkt)
{
    return 33 + (pkt->nsp ? pkt->nsp_len : 0) + pkt->payload_len;
}

long sio_packet_encode_to(char *dst, const sio_packet_t *pkt)
{
    int rc = encode_check(pkt);
    return rc ? rc : (long)encode_write(dst, pkt);
}

int sio_packet_encode(sl_buf_t *out, const sio_packet_t *pkt)
{
    int rc = encode_check(pkt);
    if (rc)
        return rc;
    if (sl_buf_reserve(out, sio_packet_encoded_max(pkt)))
        return -ENOMEM;
    out->len += encode_write(out->data + out->len, pkt);
    return 0;
}

int sio_packet_placeholder_append(sl_buf_t *out, unsigned num)
{
    return sl_buf_appendf(out, "{\"_placeholder\":true,\"num\":%u}", num);
}

/* ---- placeholders ------------------------------------------------------- */

int sio_packet_placeholders(const char *json, size_t n,
                            const sio_packet_bin_t *atts, size_t natt,
                            sio_packet_placeholder_cb cb, void *ud)
{
    sl_buf_t found = SL_BUF_INIT;
    int rc = json_check(json, n, &found, NULL);
    size_t count = found.len / sizeof(placeholder_t);
    const placeholder_t *ph = (const placeholder_t *)(void *)found.data;

    for (size_t i = 0; !rc && i < count; i++)
        if (!ph[i].num_ok || ph[i].num >= natt)
            rc = SIO_PACKET_E_PLACEHOLDER;
    for (size_t i = 0; !rc && cb && i < count; i++)
        rc = cb(ud, ph[i].off, ph[i].len, ph[i].num,
                atts ? &atts[ph[i].num] : NULL);
    sl_buf_free(&found);
    return rc;
}

/* ---- reassembly --------------------------------------------------------- */

struct sio_packet_reasm_state {
    sio_packet_t pkt;       /* decoded from text */
    sio_packet_bin_t *bins; /* owned: array and each data block */
    unsigned nbins;         /* attachments received so far */
    int pending;            /* waiting for pkt.attachments - nbins more */
    char text[];            /* owned copy of the binary packet's header */
};

void sio_packet_reasm_init(sio_packet_reasm_t *r) { r->st = NULL; }

void sio_packet_reasm_free(sio_packet_reasm_t *r)
{
    struct sio_packet_reasm_state *st = r->st;
    if (!st)
        return;
    for (unsigned i = 0; i < st->nbins; i++)
        free((void *)st->bins[i].data);
    free(st->bins);
    free(st);
    r->st = NULL;
}

const sio_packet_bin_t *sio_packet_reasm_bins(const sio_packet_reasm_t *r)
{
    return r->st ? r->st->bins : NULL;
}

unsigned sio_packet_reasm_count(const sio_packet_reasm_t *r) { return r->st ? r->st->nbins : 0; }

int sio_packet_reasm_pending(const sio_packet_reasm_t *r) { return r->st && r->st->pending; }

int sio_packet_reasm_text(sio_packet_reasm_t *r, const char *p, size_t n,
                          sio_packet_t *out)
{
    if (sio_packet_reasm_pending(r)) {
        sio_packet_reasm_free(r);
        return SIO_PACKET_E_UNEXPECTED_TEXT;
    }
    sio_packet_reasm_free(r); /* the previous complete packet, if any */

    int rc = sio_packet_decode(p, n, out);
    if (rc)
        return rc;
    if (!is_binary_type(out->type))
        return SIO_PACKET_READY;
    /* Fail now rather than after buffering the attachments: every
     * placeholder must name one of the announced attachments. */
    rc = sio_packet_placeholders(out->payload, out->payload_len, NULL,
                                 out->attachments, NULL, NULL);
    if (rc)
        return rc;
    if (out->attachments == 0)
        return SIO_PACKET_READY; /* nothing follows; no copy needed */

    /* Attachments arrive in later messages, after the caller's buffer for
     * this one is gone: keep our own copy of the header. */
    struct sio_packet_reasm_state *st = calloc(1, sizeof *st + n);
    if (!st)
        return -ENOMEM;
    r->st = st;
    st->bins = calloc(out->attachments, sizeof *st->bins);
    if (!st->bins) {
        sio_packet_reasm_free(r);
        return -ENOMEM;
    }
    memcpy(st->text, p, n);
    rc = sio_packet_decode(st->text, n, &st->pkt);
    if (rc) { /* can't happen: same bytes as above */
        sio_packet_reasm_free(r);
        return rc;
    }
    st->pending = 1;
    *out = st->pkt;
    return SIO_PACKET_PENDING;
}

int sio_packet_reasm_binary(sio_packet_reasm_t *r, const char *p, size_t n,
                            sio_packet_t *out)
{
    struct sio_packet_reasm_state *st = r->st;
    if (!st || !st->pending) {
        sio_packet_reasm_free(r);
        return SIO_PACKET_E_UNEXPECTED_BINARY;
    }
    char *copy = malloc(n ? n : 1); /* malloc(0) may be NULL */
    if (!copy) {
        sio_packet_reasm_free(r);
        return -ENOMEM;
    }
    if (n)
        memcpy(copy, p, n);
    st->bins[st->nbins].data = copy;
    st->bins[st->nbins].len = n;
    st->nbins++;
    *out = st->pkt;
    if (st->nbins < st->pkt.attachments)
        return SIO_PACKET_PENDING;
    st->pending = 0;
    return SIO_PACKET_READY;
}

/* ---- names -------------------------------------------------------------- */

const char *sio_packet_type_name(int type)
{
    static const char *const names[] = {
        "CONNECT", "DISCONNECT", "EVENT", "ACK",
        "CONNECT_ERROR", "BINARY_EVENT", "BINARY_ACK",
    };
    return type >= 0 && type <= 6 ? names[type] : "?";
}

const char *sio_packet_strerror(int err)
{
    switch (err) {
    case 0: return "ok";
    case SIO_PACKET_E_EMPTY: return "empty packet";
    case SIO_PACKET_E_TYPE: return "unknown packet type";
    case SIO_PACKET_E_ATTACHMENTS: return "illegal attachments";
    case SIO_PACKET_E_TOO_MANY: return "too many attachments";
    case SIO_PACKET_E_ACK_ID: return "ack id out of range";
    case SIO_PACKET_E_PAYLOAD: return "invalid payload";
    case SIO_PACKET_E_JSON: return "malformed JSON payload";
    case SIO_PACKET_E_EVENT_NAME: return "invalid event name";
    case SIO_PACKET_E_PLACEHOLDER: return "illegal attachments placeholder";
    case SIO_PACKET_E_UNEXPECTED_TEXT: return "got plaintext data when reconstructing a packet";
    case SIO_PACKET_E_UNEXPECTED_BINARY: return "got binary data when not reconstructing a packet";
    case SIO_PACKET_E_MSGPACK: return "not a MessagePack packet";
    case SIO_PACKET_E_TEXT_MESSAGE: return "text message to the msgpack parser";
    case -EINVAL: return "invalid packet to encode";
    case -ENOMEM: return "out of memory";
    default: return "unknown error";
    }
}
