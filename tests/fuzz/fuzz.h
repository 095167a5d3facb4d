/* tests/fuzz/fuzz.h: what every fuzz target shares. A target is one
 * LLVMFuzzerTestOneInput over one parser of the project, calling the real
 * code; built with clang and libFuzzer in build-fuzz (SIOLUA_FUZZ=ON), and
 * with any compiler as a replay binary that runs the corpus once (the
 * regression run of the normal and ASan builds, see replay_main.c).
 *
 * A target checks invariants as well as "no crash": FUZZ_CHECK aborts with
 * the condition and the line, which libFuzzer reports as a crash and saves
 * the input for. */
#ifndef SL_FUZZ_H
#define SL_FUZZ_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(cond)                                                          \
    do {                                                                          \
        if (!(cond)) {                                                            \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__,  \
                    #cond);                                                       \
            abort();                                                              \
        }                                                                         \
    } while (0)

/* The fuzzer's bytes as a stream of choices (libFuzzer's FuzzedDataProvider
 * in C): control values are taken from the front, the rest is the data the
 * parser gets. Taking past the end yields zeros, so every input is valid. */
typedef struct fuzz_in {
    const uint8_t *p;
    size_t n;
} fuzz_in_t;

static inline unsigned fuzz_byte(fuzz_in_t *in)
{
    if (in->n == 0)
        return 0;
    in->n--;
    return *in->p++;
}

/* Chunk lengths for feeding a stream parser: a small generator seeded by
 * one input byte, so one mutation changes the whole split and seed 0 means
 * "everything in one piece". Lengths are 1..max. */
typedef struct fuzz_split {
    uint32_t state;
    unsigned max;
} fuzz_split_t;

static inline void fuzz_split_init(fuzz_split_t *s, unsigned seed)
{
    s->state = seed * 2654435761u + 1;
    /* 1..16 bytes most of the time (splits inside every header), now and
     * then up to 256. */
    s->max = seed == 0 ? 0 : (seed & 0x80) ? 256 : 1 + (seed & 0x0f);
}

static inline size_t fuzz_split_next(fuzz_split_t *s, size_t left)
{
    if (s->max == 0)
        return left;
    s->state = s->state * 1103515245u + 12345u;
    size_t k = 1 + (s->state >> 16) % s->max;
    return k < left ? k : left;
}

/* A whole string of well-formed UTF-8 (base/utf8.h's test, the one the
 * codecs use). */
static inline int fuzz_utf8_valid(const char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t k = sl_utf8_seq_len((const unsigned char *)p + i, n - i);
        if (k == 0)
            return 0;
        i += k;
    }
    return 1;
}

/* Whether the bytes hold a "\u" escape (conservatively: any backslash
 * before a 'u'), the one way JSON text can spell a lone surrogate. */
static inline int fuzz_has_u_escape(const char *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++)
        if (p[i] == '\\' && p[i + 1] == 'u')
            return 1;
    return 0;
}

#endif
