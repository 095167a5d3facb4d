/* Loadgen L0: log-linear latency histogram (see lg_hist.h). */
#include "lg_hist.h"

/* Values below LG_HIST_SUB get a bucket each; above, every power of two is
 * cut into LG_HIST_SUB buckets, so a bucket is never wider than 1/64 of its
 * lower bound. That bounds the error without knowing the range beforehand. */
static unsigned lg_hist_index(uint64_t v)
{
    if (v < LG_HIST_SUB)
        return (unsigned)v;
    unsigned p = 63u - (unsigned)__builtin_clzll(v);          /* p >= SUB_BITS */
    unsigned shift = p - LG_HIST_SUB_BITS;
    unsigned idx = (p - LG_HIST_SUB_BITS + 1) * LG_HIST_SUB + (unsigned)((v >> shift) - LG_HIST_SUB);
    return idx < LG_HIST_BUCKETS ? idx : LG_HIST_BUCKETS - 1;
}

/* The middle of a bucket: the value reported for everything in it. */
static uint64_t lg_hist_value(unsigned idx)
{
    if (idx < LG_HIST_SUB)
        return idx;
    unsigned p = idx / LG_HIST_SUB + LG_HIST_SUB_BITS - 1;
    unsigned shift = p - LG_HIST_SUB_BITS;
    uint64_t low = ((uint64_t)LG_HIST_SUB + idx % LG_HIST_SUB) << shift;
    return low + (((uint64_t)1 << shift) >> 1);
}

void lg_hist_record(lg_hist_t *h, uint64_t value)
{
    h->buckets[lg_hist_index(value)]++;
    h->count++;
    h->sum += value;
    if (value > h->max)
        h->max = value;
}

void lg_hist_merge(lg_hist_t *into, const lg_hist_t *from)
{
    for (unsigned i = 0; i < LG_HIST_BUCKETS; i++)
        into->buckets[i] += from->buckets[i];
    into->count += from->count;
    into->sum += from->sum;
    if (from->max > into->max)
        into->max = from->max;
}

uint64_t lg_hist_quantile(const lg_hist_t *h, double q)
{
    if (h->count == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)h->count + 0.5);
    if (rank < 1)
        rank = 1;
    if (rank > h->count)
        rank = h->count;
    uint64_t seen = 0;
    for (unsigned i = 0; i < LG_HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            uint64_t v = lg_hist_value(i);
            return v < h->max ? v : h->max;
        }
    }
    return h->max;
}
