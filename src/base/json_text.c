/* L0 base/json_text: the JSON text pieces every codec shares. See
 * json_text.h. Numbers go through strtod and printf's %e, which read and
 * write '.' only in the "C" LC_NUMERIC locale; the process never switches
 * it. */
#include "base/json_text.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "base/utf8.h"

/* ---- reading: numbers ------------------------------------------------------ */

static int is_digit(const char *q, const char *end) { return q < end && *q >= '0' && *q <= '9'; }

static const char *skip_digits(const char *q, const char *end)
{
    while (is_digit(q, end))
        q++;
    return q;
}

int sl_json_scan_number(const char *p, const char *end, sl_json_number_t *num, const char **at)
{
    const char *q = p, *bad;
    int rc;
    num->start = p;
    num->neg = *q == '-';
    q += num->neg;
    if (!is_digit(q, end)) {
        bad = p;
        rc = SL_JSON_E_NUMBER;
        goto fail;
    }
    if (*q == '0') {
        if (is_digit(++q, end)) {
            bad = p;
            rc = SL_JSON_E_LEADING_ZERO;
            goto fail;
        }
    } else {
        q = skip_digits(q, end);
    }
    num->int_end = q;
    num->integer = 1;
    if (q < end && *q == '.') {
        if (!is_digit(++q, end)) {
            bad = q;
            rc = SL_JSON_E_FRACTION;
            goto fail;
        }
        q = skip_digits(q, end);
        num->integer = 0;
    }
    if (q < end && (*q == 'e' || *q == 'E')) {
        q++;
        if (q < end && (*q == '+' || *q == '-'))
            q++;
        if (!is_digit(q, end)) {
            bad = q;
            rc = SL_JSON_E_EXPONENT;
            goto fail;
        }
        q = skip_digits(q, end);
        num->integer = 0;
    }
    num->end = q;
    return 0;
fail:
    if (at)
        *at = bad;
    return rc;
}

int sl_json_number_int64(const sl_json_number_t *num, int64_t *out)
{
    if (!num->integer)
        return 0;
    uint64_t v = 0, limit = num->neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (const char *r = num->start + num->neg; r < num->int_end; r++) {
        unsigned dg = (unsigned)(*r - '0');
        if (v > (limit - dg) / 10)
            return 0;
        v = v * 10 + dg;
    }
    if (num->neg && v == 0)
        return 0;
    *out = !num->neg ? (int64_t)v : v == limit ? INT64_MIN : -(int64_t)v;
    return 1;
}

int sl_json_number_uint(const sl_json_number_t *num, uint64_t max, uint64_t *out)
{
    if (!num->integer || num->neg)
        return 0;
    uint64_t v = 0;
    for (const char *r = num->start; r < num->int_end; r++) {
        unsigned dg = (unsigned)(*r - '0');
        if (dg > max || v > (max - dg) / 10)
            return 0;
        v = v * 10 + dg;
    }
    *out = v;
    return 1;
}

size_t sl_json_js_decimal(const char *p, const char *end, double *out)
{
    const char *q = p;
    int neg = q < end && *q == '-';
    if (q < end && (*q == '+' || *q == '-'))
        q++;
    if ((size_t)(end - q) >= 8 && !memcmp(q, "Infinity", 8)) {
        *out = neg ? -HUGE_VAL : HUGE_VAL;
        return (size_t)(q + 8 - p);
    }
    size_t digits = 0;
    for (; q < end && *q >= '0' && *q <= '9'; q++)
        digits++;
    if (q < end && *q == '.')
        for (q++; q < end && *q >= '0' && *q <= '9'; q++)
            digits++;
    if (!digits)
        return 0;
    /* An exponent counts only with a digit after it ("1e" reads as 1). */
    const char *e = q;
    if (e < end && (*e == 'e' || *e == 'E')) {
        e++;
        if (e < end && (*e == '+' || *e == '-'))
            e++;
        if (e < end && *e >= '0' && *e <= '9') {
            while (e < end && *e >= '0' && *e <= '9')
                e++;
            q = e;
        }
    }
    /* strtod reads this subset the same way, correctly rounded. */
    size_t n = (size_t)(q - p);
    char small[64], *t = n < sizeof small ? small : malloc(n + 1);
    if (!t)
        return 0;
    memcpy(t, p, n);
    t[n] = '\0';
    *out = strtod(t, NULL);
    if (t != small)
        free(t);
    return n;
}

/* Integers of up to 15 digits are exact in a double: no strtod for them
 * (the common case: ids, counts, timestamps in ms are 13 digits). The rest
 * goes through strtod, which rounds correctly, on a NUL-terminated copy. */
int sl_json_number_double(const sl_json_number_t *num, double *out)
{
    const char *digits = num->start + num->neg;
    if (num->integer && num->int_end - digits <= 15) {
        uint64_t acc = 0;
        for (const char *r = digits; r < num->int_end; r++)
            acc = acc * 10 + (uint64_t)(*r - '0');
        *out = num->neg ? -(double)acc : (double)acc;
        return 0;
    }
    size_t n = (size_t)(num->end - num->start);
    char small[64], *t = n < sizeof small ? small : malloc(n + 1);
    if (!t)
        return -ENOMEM;
    memcpy(t, num->start, n);
    t[n] = '\0';
    *out = strtod(t, NULL);
    if (t != small)
        free(t);
    return 0;
}

/* ---- reading: strings ------------------------------------------------------ */

/* Each byte's digit value plus one, 0 for a byte that is no hex digit. */
static const unsigned char hex_plus1[256] = {
    ['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6, ['6'] = 7,
    ['7'] = 8, ['8'] = 9, ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14,
    ['e'] = 15, ['f'] = 16, ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15,
    ['F'] = 16,
};

/* The value of four hex digits at p (readable), or -1. */
static inline int hex4(const char *p)
{
    unsigned a = hex_plus1[(unsigned char)p[0]], b = hex_plus1[(unsigned char)p[1]];
    unsigned c = hex_plus1[(unsigned char)p[2]], d = hex_plus1[(unsigned char)p[3]];
    if (!a || !b || !c || !d)
        return -1;
    return (int)((a - 1) << 12 | (b - 1) << 8 | (c - 1) << 4 | (d - 1));
}

/* What a byte inside a string literal is: STOP for those that end a run of
 * plain text (below 0x20, '"', '\\'), PLAIN for the rest of ASCII, HIGH
 * from 0x80 up (plain too unless UTF-8 is checked). */
enum { STOP = 0, PLAIN = 1, HIGH = 2 };
#define ROW(x) x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x
static const unsigned char str_class[256] = {
    ROW(STOP), ROW(STOP),                                  /* 0x00-0x1f */
    PLAIN, PLAIN, STOP, PLAIN, PLAIN, PLAIN, PLAIN, PLAIN, /* 0x20-0x2f: '"' */
    PLAIN, PLAIN, PLAIN, PLAIN, PLAIN, PLAIN, PLAIN, PLAIN,
    ROW(PLAIN), ROW(PLAIN),                                /* 0x30-0x4f */
    PLAIN, PLAIN, PLAIN, PLAIN, PLAIN, PLAIN, PLAIN, PLAIN, /* 0x50-0x5f: '\\' */
    PLAIN, PLAIN, PLAIN, PLAIN, STOP, PLAIN, PLAIN, PLAIN,
    ROW(PLAIN), ROW(PLAIN),                                /* 0x60-0x7f */
    ROW(HIGH), ROW(HIGH), ROW(HIGH), ROW(HIGH),            /* 0x80-0xff */
    ROW(HIGH), ROW(HIGH), ROW(HIGH), ROW(HIGH),
};
#undef ROW

/* The byte a one-letter escape stands for, or -1 ('u' is not one). */
static int simple_escape(char e)
{
    switch (e) {
    case '"': return '"';
    case '\\': return '\\';
    case '/': return '/';
    case 'b': return '\b';
    case 'f': return '\f';
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    default: return -1;
    }
}

/* The special bytes of the word x (see sl_json_plain_len) have their top
 * bit set in the result: the classic tests "has a byte below n" and "has a
 * zero byte" (after an xor with the byte looked for), exact as to whether
 * any byte matches (which one is found byte by byte). '"' and '\\' have
 * their top bit clear, so ~x stands for ~(x ^ each of them) there; with
 * high, every byte with its top bit set counts too. */
#define ONES 0x0101010101010101ull
#define TOPS 0x8080808080808080ull
#define WORD_SPECIAL(x, high)                                                                      \
    ((((((x) - ONES * 0x20) | (((x) ^ (ONES * '"')) - ONES) | (((x) ^ (ONES * '\\')) - ONES)) &     \
       ~(x)) |                                                                                     \
      ((high) & (x))) &                                                                            \
     TOPS)

size_t sl_json_plain_len(const char *p, size_t n, int high)
{
    unsigned stop = high ? 0 : HIGH; /* classes that are plain here */
    uint64_t hi = high ? ~0ull : 0;
    size_t i = 0;
#if defined(__SSE2__)
    /* Sixteen bytes a step where the CPU has SSE2 (every x86-64): a third
     * of the instructions of the two words below. The bytes found are
     * exactly the special ones (below 0x20 as max(x, 0x1f) == 0x1f,
     * unsigned; with high, those whose top bit x & 0x80 keeps), so the
     * first is where the run ends. */
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'),
                  ctl = _mm_set1_epi8(0x1f), top = _mm_set1_epi8(high ? (char)0x80 : 0);
#define SPECIAL16(x)                                                                               \
    (unsigned)_mm_movemask_epi8(_mm_or_si128(                                                      \
        _mm_or_si128(_mm_cmpeq_epi8((x), quote), _mm_cmpeq_epi8((x), bslash)),                     \
        _mm_or_si128(_mm_cmpeq_epi8(_mm_max_epu8((x), ctl), ctl), _mm_and_si128((x), top))))
    for (; n - i >= 16; i += 16) {
        unsigned m = SPECIAL16(_mm_loadu_si128((const __m128i *)(const void *)(p + i)));
        if (m)
            return i + (size_t)__builtin_ctz(m);
    }
    if (i < n && n >= 16) {
        /* The last bytes: the sixteen that end at p + n, read again from
         * where they overlap the blocks above (plain, so they add no bit)
         * rather than one at a time. */
        unsigned m = SPECIAL16(_mm_loadu_si128((const __m128i *)(const void *)(p + n - 16)));
        return m ? n - 16 + (size_t)__builtin_ctz(m) : n;
    }
#undef SPECIAL16
#endif
    for (; n - i >= 16; i += 16) {
        uint64_t x, y;
        memcpy(&x, p + i, 8);
        memcpy(&y, p + i + 8, 8);
        if (WORD_SPECIAL(x, hi) | WORD_SPECIAL(y, hi))
            break;
    }
    for (; n - i >= 8; i += 8) {
        uint64_t x;
        memcpy(&x, p + i, 8);
        if (WORD_SPECIAL(x, hi))
            break;
    }
    while (i < n && (str_class[(unsigned char)p[i]] & (PLAIN | stop)))
        i++;
    return i;
}

/* Runs of plain bytes are skipped without copying, eight at a time (this
 * loop is most of what validating a payload costs);
 * the first escape turns decoding on (when out is given), and from then on
 * each run is copied up to the next escape. A string without escapes, the
 * common case, is never copied at all. */
int sl_json_scan_string(const char *p, const char *end, unsigned flags, sl_buf_t *out,
                        sl_json_string_t *s)
{
    const char *q = p + 1, *run = q;
    int high = (flags & SL_JSON_STR_UTF8) != 0;
    int rc = 0;
    s->escaped = 0;
    for (;;) {
        if (q < end) /* an empty input has its quote at end */
            q += sl_json_plain_len(q, (size_t)(end - q), high);
        if (q >= end) {
            s->at = p;
            return SL_JSON_E_UNTERMINATED;
        }
        unsigned char c = (unsigned char)*q;
        if (c == '"')
            break;
        if (c < 0x20) {
            s->at = q;
            return SL_JSON_E_CONTROL;
        }
        if (c >= 0x80) { /* only met when UTF-8 is checked */
            size_t k = sl_utf8_seq_len((const unsigned char *)q, (size_t)(end - q));
            if (!k) {
                s->at = q;
                return SL_JSON_E_UTF8;
            }
            q += k;
            continue;
        }
        const char *esc = q; /* the backslash: all that is left */
        s->at = esc;
        if (end - q < 2) {
            s->at = p;
            return SL_JSON_E_UNTERMINATED;
        }
        s->escaped = 1;
        if (out && (rc = sl_buf_append(out, run, (size_t)(q - run))))
            return rc;
        if (q[1] != 'u') {
            int b = simple_escape(q[1]);
            if (b < 0)
                return SL_JSON_E_ESCAPE;
            if (out && (rc = sl_buf_append_byte(out, (char)b)))
                return rc;
            q += 2;
            run = q;
            continue;
        }
        int cp = end - q >= 6 ? hex4(q + 2) : -1;
        if (cp < 0)
            return SL_JSON_E_UNICODE_ESCAPE;
        q += 6;
        if (cp >= 0xd800 && cp <= 0xdfff) {
            /* A high surrogate joins the low one escaped right after it. */
            int lo = cp <= 0xdbff && end - q >= 6 && q[0] == '\\' && q[1] == 'u' ? hex4(q + 2) : -1;
            if (lo >= 0xdc00 && lo <= 0xdfff) {
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                q += 6;
            } else if (flags & SL_JSON_STR_LONE_ERROR) {
                return SL_JSON_E_SURROGATE;
            } else {
                cp = 0xfffd;
            }
        }
        if (out) {
            char u[4];
            if ((rc = sl_buf_append(out, u, sl_utf8_encode((unsigned)cp, u))))
                return rc;
        }
        run = q;
    }
    if (s->escaped && out && (rc = sl_buf_append(out, run, (size_t)(q - run)))) {
        s->at = q;
        return rc;
    }
    s->end = q + 1;
    return 0;
}

int sl_json_string_eq(const char *p, const char *end, const char *lit)
{
    while (p < end) {
        unsigned cp = (unsigned char)*p++;
        if (cp == '\\') {
            char e = *p++;
            if (e == 'u') {
                cp = (unsigned)hex4(p);
                p += 4;
            } else {
                cp = (unsigned char)simple_escape(e);
            }
        }
        if (*lit == '\0' || cp != (unsigned char)*lit)
            return 0;
        lit++;
    }
    return *lit == '\0';
}

const char *sl_json_strerror(int code)
{
    switch (code) {
    case SL_JSON_E_UNTERMINATED: return "unterminated string";
    case SL_JSON_E_CONTROL: return "control character in string";
    case SL_JSON_E_UTF8: return "invalid UTF-8 in string";
    case SL_JSON_E_ESCAPE: return "invalid escape in string";
    case SL_JSON_E_UNICODE_ESCAPE: return "invalid \\u escape";
    case SL_JSON_E_SURROGATE: return "lone surrogate in \\u escape";
    case SL_JSON_E_NUMBER: return "invalid number";
    case SL_JSON_E_LEADING_ZERO: return "leading zero in number";
    case SL_JSON_E_FRACTION: return "expected digit after '.'";
    case SL_JSON_E_EXPONENT: return "expected digit in exponent";
    case -ENOMEM: return "out of memory";
    default: return "invalid JSON";
    }
}

/* ---- writing: JS number text ---------------------------------------------- */


/* Splits printf's "D.DDDDe+XX" into digits (trailing zeros dropped, at
 * least one kept) and the decimal exponent of the first digit. */
static int split_exp(const char *t, char *dig, int *e10)
{
    int k = 0;
    for (; *t != 'e'; t++)
        if (*t != '.')
            dig[k++] = *t;
    *e10 = (int)strtol(t + 1, NULL, 10);
    while (k > 1 && dig[k - 1] == '0')
        k--;
    return k;
}

/* The fewest significant digits that read back to x (finite, > 0), and of
 * those the closest to x: what Number::toString prints (ECMA-262
 * Number::toString, step "let n, k and s be integers such that k is as
 * small as possible").
 *
 * With at most 15 digits at most one candidate lies within half an ulp of a
 * normal double, so the correctly rounded %.14e is it when any is; its
 * trailing zeros give the shorter forms. 17 digits always read back, and
 * %.16e is then the closest. At 16 digits several candidates may read back;
 * the closest is right unless x is a power of two, where doubles are twice
 * as far apart above x as below: then the closest (below) can fail while
 * its upper neighbour reads back, and that neighbour is the answer.
 * Subnormals have fewer significant bits, so their search starts at 1. */
static int shortest_digits(double x, char *dig, int *e10)
{
    char t[40];
    int prec = x < DBL_MIN ? 1 : 15;
    for (;; prec++) {
        snprintf(t, sizeof t, "%.*e", prec - 1, x);
        double back = strtod(t, NULL);
        if (back == x || prec == 17)
            break;
        if (prec == 16) {
            uint64_t m = 0;
            const char *c = t;
            for (; *c != 'e'; c++)
                if (*c != '.')
                    m = m * 10 + (uint64_t)(*c - '0');
            int e = (int)strtol(c + 1, NULL, 10);
            m = back < x ? m + 1 : m - 1;
            if (m == 10000000000000000ULL) {
                m = 1000000000000000ULL;
                e++;
            } else if (m == 999999999999999ULL) {
                m = 9999999999999999ULL;
                e--;
            }
            char cand[40];
            snprintf(cand, sizeof cand, "%llue%d", (unsigned long long)m, e - 15);
            if (strtod(cand, NULL) == x) {
                snprintf(t, sizeof t, "%llu", (unsigned long long)m);
                memcpy(dig, t, 16);
                *e10 = e;
                int k = 16;
                while (k > 1 && dig[k - 1] == '0')
                    k--;
                return k;
            }
        }
    }
    return split_exp(t, dig, e10);
}

size_t sl_json_format_number(double d, char *o)
{
    if (isnan(d)) {
        memcpy(o, "NaN", 3);
        return 3;
    }
    if (isinf(d)) {
        if (d < 0) {
            memcpy(o, "-Infinity", 9);
            return 9;
        }
        memcpy(o, "Infinity", 8);
        return 8;
    }
    if (d == 0) { /* -0 too */
        o[0] = '0';
        return 1;
    }
    /* Integers below 2^53 print as themselves: skip the digit search. */
    if (fabs(d) < 9007199254740992.0 && d == trunc(d))
        return (size_t)snprintf(o, SL_JSON_NUMBER_MAX, "%lld", (long long)d);

    char dig[20];
    int e10;
    size_t n = 0;
    if (d < 0)
        o[n++] = '-';
    int k = shortest_digits(fabs(d), dig, &e10);
    int pt = e10 + 1; /* the value is 0.dig * 10^pt */
    if (k <= pt && pt <= 21) {
        memcpy(o + n, dig, (size_t)k);
        n += (size_t)k;
        for (int z = k; z < pt; z++)
            o[n++] = '0';
    } else if (0 < pt && pt <= 21) {
        memcpy(o + n, dig, (size_t)pt);
        n += (size_t)pt;
        o[n++] = '.';
        memcpy(o + n, dig + pt, (size_t)(k - pt));
        n += (size_t)(k - pt);
    } else if (-6 < pt && pt <= 0) {
        o[n++] = '0';
        o[n++] = '.';
        for (int z = pt; z < 0; z++)
            o[n++] = '0';
        memcpy(o + n, dig, (size_t)k);
        n += (size_t)k;
    } else {
        o[n++] = dig[0];
        if (k > 1) {
            o[n++] = '.';
            memcpy(o + n, dig + 1, (size_t)(k - 1));
            n += (size_t)(k - 1);
        }
        n += (size_t)snprintf(o + n, SL_JSON_NUMBER_MAX - n, "e%c%d", e10 < 0 ? '-' : '+',
                              e10 < 0 ? -e10 : e10);
    }
    return n;
}

/* ---- writing: strings ------------------------------------------------------- */

size_t sl_json_escape_byte(unsigned char c, char out[6])
{
    static const char hex[] = "0123456789abcdef";
    out[0] = '\\';
    switch (c) {
    case '"': out[1] = '"'; return 2;
    case '\\': out[1] = '\\'; return 2;
    case '\b': out[1] = 'b'; return 2;
    case '\f': out[1] = 'f'; return 2;
    case '\n': out[1] = 'n'; return 2;
    case '\r': out[1] = 'r'; return 2;
    case '\t': out[1] = 't'; return 2;
    default:
        memcpy(out + 1, "u00", 3);
        out[4] = hex[c >> 4];
        out[5] = hex[c & 15];
        return 6;
    }
}

int sl_json_append_string(sl_buf_t *b, const char *s, size_t n)
{
    int rc = sl_buf_reserve(b, n + 2);
    if (rc)
        return rc;
    b->data[b->len++] = '"';
    const char *run = s, *end = s + n;
    for (const char *q = s; (q += sl_json_plain_len(q, (size_t)(end - q), 0)) < end; q++) {
        unsigned char c = (unsigned char)*q;
        char e[6];
        size_t el = sl_json_escape_byte(c, e);
        if ((rc = sl_buf_append(b, run, (size_t)(q - run))) || (rc = sl_buf_append(b, e, el)))
            return rc;
        run = q + 1;
    }
    if ((rc = sl_buf_append(b, run, (size_t)(end - run))))
        return rc;
    return sl_buf_append_byte(b, '"');
}

