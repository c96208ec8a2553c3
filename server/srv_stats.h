/* srv_stats.h — counters and a latency histogram for `sparkd/stats`.
 *
 * Latencies go into power-of-two buckets of microseconds (bucket i holds
 * [2^i, 2^(i+1)) us; bucket 0 also holds 0), so recording is O(1) and the
 * percentiles are exact to a factor of two.
 */
#ifndef SPARKD_SRV_STATS_H
#define SPARKD_SRV_STATS_H

#include <jansson.h>
#include <stdint.h>

#define SRV_STATS_BUCKETS 32

typedef struct {
    uint64_t started_ns;            /* monotonic clock at start */
    uint64_t requests;              /* requests answered (result or error) */
    uint64_t notifications;
    uint64_t errors;                /* error responses sent */
    uint64_t bad_frames;            /* framing errors */
    uint64_t cancelled;             /* $/cancelRequest received */
    uint64_t latency[SRV_STATS_BUCKETS];
    uint64_t latency_count;
    uint64_t latency_sum_us;
    uint64_t latency_max_us;
} srv_stats;

uint64_t srv_now_ns(void);          /* CLOCK_MONOTONIC in ns */

void srv_stats_init(srv_stats *s);
void srv_stats_latency(srv_stats *s, uint64_t us);
/* Upper bound of the bucket holding the q-quantile (0..1), in us; 0 if empty. */
uint64_t srv_stats_quantile_us(const srv_stats *s, double q);
/* The stats as a JSON object (new reference). */
json_t *srv_stats_to_json(const srv_stats *s);

#endif
