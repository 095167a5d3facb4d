/* L0 base/json_text: the JSON text pieces every codec shares. See
 * json_text.h. Numbers go through strtod and printf's %e, which read and
 * write '.' only in the "C" LC_NUMERIC locale; the process never switches
 * it. */
#include "base/json_text.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- JS number text ------------------------------------------------------ */

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
    for (const char *q = s; q < end; q++) {
        unsigned char c = (unsigned char)*q;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
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

