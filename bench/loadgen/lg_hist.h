/* Loadgen L0: a latency histogram with a fixed relative precision (1.6 %).
 * Histograms merge by adding counts, so the processes of --procs combine
 * exactly. Knows nothing of sockets, protocols or scenarios. */
#ifndef LG_HIST_H
#define LG_HIST_H

#include <stdint.h>

#define LG_HIST_SUB_BITS 6                       /* 64 sub-buckets per power of two */
#define LG_HIST_SUB (1u << LG_HIST_SUB_BITS)
#define LG_HIST_POWERS 36                        /* up to 2^(36+5) ns, about 37 minutes */
#define LG_HIST_BUCKETS (LG_HIST_POWERS * LG_HIST_SUB)

typedef struct lg_hist_s {
    uint64_t count;
    uint64_t sum;          /* of the recorded values, for the mean */
    uint64_t max;
    uint64_t buckets[LG_HIST_BUCKETS];
} lg_hist_t;

void lg_hist_record(lg_hist_t *h, uint64_t value);
void lg_hist_merge(lg_hist_t *into, const lg_hist_t *from);
/* The value under which a fraction q (0..1) of the recorded values lie,
 * at the bucket's precision and never above the exact maximum; 0 when empty. */
uint64_t lg_hist_quantile(const lg_hist_t *h, double q);

#endif
