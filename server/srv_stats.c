/* srv_stats.c — see srv_stats.h. */
#include "srv_stats.h"

#include <string.h>
#include <time.h>

uint64_t srv_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void srv_stats_init(srv_stats *s)
{
    memset(s, 0, sizeof *s);
    s->started_ns = srv_now_ns();
}

void srv_stats_latency(srv_stats *s, uint64_t us)
{
    int b = us ? 63 - __builtin_clzll(us) : 0;
    if (b >= SRV_STATS_BUCKETS) b = SRV_STATS_BUCKETS - 1;
    s->latency[b]++;
    s->latency_count++;
    s->latency_sum_us += us;
    if (us > s->latency_max_us) s->latency_max_us = us;
}

uint64_t srv_stats_quantile_us(const srv_stats *s, double q)
{
    if (!s->latency_count) return 0;
    uint64_t want = (uint64_t)(q * (double)s->latency_count);
    if (want >= s->latency_count) want = s->latency_count - 1;
    uint64_t seen = 0;
    for (int i = 0; i < SRV_STATS_BUCKETS; i++) {
        seen += s->latency[i];
        if (seen > want) return (uint64_t)2 << i;
    }
    return s->latency_max_us;
}

json_t *srv_stats_to_json(const srv_stats *s)
{
    json_t *hist = json_array();
    for (int i = 0; i < SRV_STATS_BUCKETS; i++)
        if (s->latency[i])
            json_array_append_new(hist, json_pack("{s:I,s:I}", "le_us", (json_int_t)((uint64_t)2 << i),
                                                  "count", (json_int_t)s->latency[i]));
    uint64_t up = (srv_now_ns() - s->started_ns) / 1000000u;
    return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:{s:I,s:I,s:I,s:I,s:I,s:o}}",
        "uptime_ms", (json_int_t)up,
        "requests", (json_int_t)s->requests,
        "notifications", (json_int_t)s->notifications,
        "errors", (json_int_t)s->errors,
        "bad_frames", (json_int_t)s->bad_frames,
        "cancel_requests", (json_int_t)s->cancelled,
        "latency",
          "count", (json_int_t)s->latency_count,
          "mean_us", (json_int_t)(s->latency_count ? s->latency_sum_us / s->latency_count : 0),
          "p50_us", (json_int_t)srv_stats_quantile_us(s, 0.5),
          "p99_us", (json_int_t)srv_stats_quantile_us(s, 0.99),
          "max_us", (json_int_t)s->latency_max_us,
          "histogram", hist);
}
