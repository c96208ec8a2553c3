/* spec.c — speculative decoding; see spec.h for the contract. */
#include "spec.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { DRAFT_MODEL = 0, DRAFT_LOOKUP = 1, DRAFT_NONE = 2 };

struct eng_spec {
    eng_ctx *main, *draft;
    eng_spec_params p;
    int V;                      /* vocabulary size (logit row length) */
    int32_t *seq;               /* the whole sequence; seq[len-1] is pending */
    int len, cap;
    const int32_t *lookup;      /* extra prompt-lookup tokens (borrowed) */
    int n_lookup;
    eng_spec_accept a;          /* what it learnt of the drafters (per document: the caller's) */
    /* the cost model (cost_aware): ms, 0 = not measured yet */
    double v1, slope, dms;
    int pinned;                 /* eng_spec_set_costs: stop learning them */
    int since_plain;            /* steps since the last plain one */
    int last_k;
    int last_n;                 /* tokens produced by the last step */
    eng_sampler *last_smp;
    int32_t *drafts;            /* (max_draft) */
    float *rows;                /* (max_draft+1, V) main logits of a step */
    float *dlogits;             /* (V) draft-model logits */
    float *q;                   /* (max_draft, V) draft distributions (sampling) */
    float *pv;                  /* (V) main distribution / residual */
    eng_spec_stats st;
    char err[256];
};

static int fail(eng_spec *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(eng_spec *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, sizeof s->err, fmt, ap);
    va_end(ap);
    return -1;
}

void eng_spec_params_init(eng_spec_params *p)
{
    *p = (eng_spec_params){ .max_draft = 8, .min_draft = 1, .use_draft_model = 1, .use_lookup = 1,
                            .lookup_min = 2, .lookup_max = 4, .cost_aware = 1 };
}

eng_spec *eng_spec_new(eng_ctx *main, eng_ctx *draft, const eng_spec_params *p, char *err, size_t errlen)
{
    if (p->max_draft < 1 || p->max_draft > 32 || p->min_draft < 1 || p->min_draft > p->max_draft ||
        p->lookup_min < 1 || p->lookup_max < p->lookup_min) {
        snprintf(err, errlen, "speculative params out of range (1 <= min_draft <= max_draft <= 32, "
                 "1 <= lookup_min <= lookup_max)");
        return NULL;
    }
    const eng_hparams *hm = eng_model_hparams(eng_ctx_model(main));
    if (draft && eng_model_hparams(eng_ctx_model(draft))->n_vocab != hm->n_vocab) {
        snprintf(err, errlen, "draft model vocabulary (%d) differs from the main model's (%d)",
                 eng_model_hparams(eng_ctx_model(draft))->n_vocab, hm->n_vocab);
        return NULL;
    }
    eng_spec *s = calloc(1, sizeof *s);
    if (!s) { snprintf(err, errlen, "out of memory"); return NULL; }
    s->main = main;
    s->draft = p->use_draft_model ? draft : NULL;
    s->p = *p;
    s->V = hm->n_vocab;
    size_t K = (size_t)p->max_draft, V = (size_t)s->V;
    s->drafts = malloc(K * sizeof *s->drafts);
    s->rows = malloc((K + 1) * V * sizeof *s->rows);
    s->dlogits = malloc(V * sizeof *s->dlogits);
    s->q = malloc(K * V * sizeof *s->q);
    s->pv = malloc(V * sizeof *s->pv);
    if (!s->drafts || !s->rows || !s->dlogits || !s->q || !s->pv) {
        snprintf(err, errlen, "out of memory");
        eng_spec_free(s);
        return NULL;
    }
    eng_spec_set_accept(s, NULL);
    return s;
}

void eng_spec_free(eng_spec *s)
{
    if (!s) return;
    free(s->seq); free(s->drafts); free(s->rows); free(s->dlogits); free(s->q); free(s->pv);
    free(s);
}

const eng_spec_stats *eng_spec_get_stats(const eng_spec *s) { return &s->st; }

void eng_spec_get_accept(const eng_spec *s, eng_spec_accept *out) { *out = s->a; }

void eng_spec_set_accept(eng_spec *s, const eng_spec_accept *in)
{
    if (in) { s->a = *in; return; }
    int k = s->p.max_draft < 4 ? s->p.max_draft : 4;
    s->a = (eng_spec_accept){ .acc = { 0.5, 0.5 }, .k = { k, k }, .probe_gap = 16 };
}

/* Per-token acceptance of a drafter: accepted / (accepted + rejections)
 * over a decaying window, starting from 1/2. */
double eng_spec_acceptance(const eng_spec *s, int drafter)
{
    return (s->a.hit[drafter] + 1) / (s->a.hit[drafter] + s->a.miss[drafter] + 2);
}

static void publish_costs(eng_spec *s)
{
    s->st.verify_1_ms = s->v1;
    s->st.verify_slope_ms = s->slope;
    s->st.draft_ms = s->dms;
}

void eng_spec_set_costs(eng_spec *s, double verify_1_ms, double verify_slope_ms, double draft_ms)
{
    if (verify_1_ms > 0) s->v1 = verify_1_ms;
    if (verify_slope_ms > 0) s->slope = verify_slope_ms;
    if (draft_ms > 0) s->dms = draft_ms;
    s->pinned = 1;
    publish_costs(s);
}

/* A new sample into a moving average (the first one sets it). A sample is
 * clamped to [avg/2, 2 avg]: a step that lost the CPU for a while must not
 * skew the costs for long. */
static void ema(double *avg, double x)
{
    if (*avg <= 0) { *avg = x; return; }
    if (x > 2 * *avg) x = 2 * *avg;
    if (x < 0.5 * *avg) x = 0.5 * *avg;
    *avg = 0.8 * *avg + 0.2 * x;
}

const int32_t *eng_spec_tokens(const eng_spec *s, int *n)
{
    *n = s->len;
    return s->seq;
}
const char *eng_spec_error(const eng_spec *s) { return s->err; }
int eng_spec_current_k(const eng_spec *s)
{
    return s->p.cost_aware ? s->last_k : s->a.k[s->a.acc[1] >= s->a.acc[0] ? 1 : 0];
}

static int reserve(eng_spec *s, int n)
{
    if (n <= s->cap) return 0;
    int cap = s->cap ? s->cap : 256;
    while (cap < n) cap *= 2;
    int32_t *v = realloc(s->seq, (size_t)cap * sizeof *v);
    if (!v) return fail(s, "out of memory");
    s->seq = v;
    s->cap = cap;
    return 0;
}

/* Brings ctx to hold the KV of seq[0..upto), evaluating what it lacks. */
static int catch_up(eng_spec *s, eng_ctx *c, int upto, float *logits)
{
    if (eng_ctx_pos(c) > upto) eng_ctx_truncate(c, upto);
    int have = eng_ctx_pos(c);
    if (have == upto) return 0;
    if (eng_forward(c, s->seq + have, upto - have, logits, 0))
        return fail(s, "%s", eng_ctx_error(c));
    return 0;
}

int eng_spec_begin(eng_spec *s, const int32_t *prompt, int n, int keep,
                   const int32_t *lookup, int n_lookup)
{
    s->err[0] = 0;
    if (n < 1) return fail(s, "empty prompt");
    if (reserve(s, n + 64)) return -1;
    memcpy(s->seq, prompt, (size_t)n * sizeof *prompt);
    s->len = n;
    s->lookup = lookup;
    s->n_lookup = lookup ? n_lookup : 0;
    s->last_n = 0;
    if (keep > n - 1) keep = n - 1;
    if (keep < 0) keep = 0;
    eng_ctx_truncate(s->main, keep);
    if (s->draft) eng_ctx_truncate(s->draft, keep);
    int todo = n - 1 - eng_ctx_pos(s->main);
    double t0 = eng_now_ms();
    if (catch_up(s, s->main, n - 1, NULL)) return -1;
    /* A long prefill's time per token is the first guess at what each
     * extra token of a verification batch costs. */
    if (todo >= 16 && s->slope <= 0 && !s->pinned) s->slope = (eng_now_ms() - t0) / todo;
    if (s->draft && catch_up(s, s->draft, n - 1, NULL)) return -1;
    return 0;
}

/* Prompt lookup: the tokens that followed the most recent earlier occurrence
 * of the sequence's last n tokens (n from lookup_max down). */
static int draft_lookup(eng_spec *s, int k)
{
    for (int n = s->p.lookup_max; n >= s->p.lookup_min; n--) {
        if (s->len < n + 1) continue;
        const int32_t *key = s->seq + s->len - n;
        /* the sequence itself, most recent first (excluding the key itself) */
        for (int j = s->len - n - 1; j >= 0; j--) {
            if (memcmp(s->seq + j, key, (size_t)n * sizeof *key)) continue;
            int m = s->len - (j + n);
            if (m > k) m = k;
            memcpy(s->drafts, s->seq + j + n, (size_t)m * sizeof *key);
            return m;
        }
        for (int j = s->n_lookup - n - 1; j >= 0; j--) {
            if (memcmp(s->lookup + j, key, (size_t)n * sizeof *key)) continue;
            int m = s->n_lookup - (j + n);
            if (m > k) m = k;
            memcpy(s->drafts, s->lookup + j + n, (size_t)m * sizeof *key);
            return m;
        }
    }
    return 0;
}

/* Draft model: k tokens, greedy or sampled from its distribution q. */
static int draft_model(eng_spec *s, eng_sampler *smp, int greedy, int k)
{
    /* The draft context lags by the tokens of steps that did not use it;
     * catching up is one batch, so only single-token forwards are timed. */
    int lag = s->len - eng_ctx_pos(s->draft);
    double t0 = eng_now_ms();
    if (catch_up(s, s->draft, s->len, s->dlogits)) return -1;   /* feeds the pending token */
    int timed = lag == 1;
    if (!timed) t0 = eng_now_ms();
    s->st.draft_forwards++;
    for (int i = 0; i < k; i++) {
        int32_t t;
        if (greedy) {
            t = eng_sampler_sample(smp, s->dlogits, (size_t)s->V, NULL);
        } else {
            float *q = s->q + (size_t)i * s->V;
            if (eng_sampler_probs(smp, s->dlogits, (size_t)s->V, q) < 0) return fail(s, "sampler failed");
            t = eng_sampler_sample_probs(smp, q, (size_t)s->V);
        }
        if (t < 0) return fail(s, "sampler failed on the draft");
        s->drafts[i] = t;
        if (i + 1 < k) {
            if (eng_forward(s->draft, &t, 1, s->dlogits, 0)) return fail(s, "%s", eng_ctx_error(s->draft));
            s->st.draft_forwards++;
        }
    }
    timed += k - 1;
    if (!s->pinned && timed > 0) ema(&s->dms, (eng_now_ms() - t0) / timed);
    return k;
}

/* Verifies drafts[0..k) against the main rows; writes the produced tokens
 * (accepted drafts + one more) to out and returns how many drafts held. */
static int verify(eng_spec *s, eng_sampler *smp, int greedy, int k, int who, int32_t *out, int *n_out)
{
    int a = 0;
    for (;; a++) {
        const float *row = s->rows + (size_t)a * s->V;
        int32_t t;
        if (greedy || a == k) {
            t = eng_sampler_sample(smp, row, (size_t)s->V, NULL);
            if (t < 0) return fail(s, "sampler failed");
            eng_sampler_accept(smp, t);
            out[a] = t;
            if (a < k && t == s->drafts[a]) continue;
            *n_out = a + 1;
            return a;
        }
        /* Rejection sampling: accept x with min(1, p(x)/q(x)). */
        int32_t x = s->drafts[a];
        if (eng_sampler_probs(smp, row, (size_t)s->V, s->pv) < 0) return fail(s, "sampler failed");
        const float *q = who == DRAFT_MODEL ? s->q + (size_t)a * s->V : NULL;
        double qx = q ? q[x] : 1.0, px = s->pv[x];
        if (qx > 0 && eng_sampler_uniform(smp) * qx < px) {
            eng_sampler_accept(smp, x);
            out[a] = x;
            continue;
        }
        /* Rejected: resample from norm(max(0, p - q)). */
        if (q) for (int i = 0; i < s->V; i++) s->pv[i] = s->pv[i] > q[i] ? s->pv[i] - q[i] : 0;
        else s->pv[x] = 0;
        t = eng_sampler_sample_probs(smp, s->pv, (size_t)s->V);
        if (t < 0) return fail(s, "sampler failed on the residual");
        eng_sampler_accept(smp, t);
        out[a] = t;
        *n_out = a + 1;
        return a;
    }
}

static void adapt(eng_spec *s, int who, int k, int a)
{
    s->st.drafted[who] += (uint64_t)k;
    s->st.accepted[who] += (uint64_t)a;
    s->a.hit[who] = 0.95 * s->a.hit[who] + a;
    s->a.miss[who] = 0.95 * s->a.miss[who] + (a < k);
    s->a.acc[who] = 0.7 * s->a.acc[who] + 0.3 * ((double)a / k);
    int nk = a == k ? k + 2 : (k + a + 1) / 2;
    if (nk > s->p.max_draft) nk = s->p.max_draft;
    if (nk < s->p.min_draft) nk = s->p.min_draft;
    s->a.k[who] = nk;
}

/* Expected tokens from a step that drafts k at acceptance a: 1 + a + ... + a^k. */
static double expected_tokens(double a, int k)
{
    double e = 1, p = 1;
    for (int i = 0; i < k; i++) e += (p *= a);
    return e;
}

/* The cost model's choice: the drafter and k with the most expected tokens
 * per ms, or none. m: lookup tokens available; kmodel: the most the draft
 * model may draft. */
static int choose(eng_spec *s, int m, int kmodel, int *k)
{
    *k = 0;
    if (s->v1 <= 0) return DRAFT_NONE;          /* measure a plain step first */
    double slope = s->slope > 0 ? s->slope : 0.5 * s->v1;
    double dcost = s->dms > 0 ? s->dms : 0.1 * s->v1;
    /* Drafting must beat a plain step by 10 %: the costs are wall-time
     * estimates, and a wrong "yes" costs more than a wrong "no". */
    double best = 1.1 / s->v1;
    int who = DRAFT_NONE;
    for (int d = 0; d < 2; d++) {
        int kmax = d == DRAFT_LOOKUP ? m : kmodel;
        double a = eng_spec_acceptance(s, d), per = slope + (d == DRAFT_MODEL ? dcost : 0);
        for (int j = 1; j <= kmax; j++) {
            double r = expected_tokens(a, j) / (s->v1 + per * j);
            if (r > best) best = r, who = d, *k = j;
        }
    }
    if (who != DRAFT_NONE) {
        /* Every 8th step is plain even so: the slope is measured against
         * v1, so v1 must stay current (the context grows, the load varies). */
        if (++s->since_plain >= 8) {
            *k = 0;
            return DRAFT_NONE;
        }
        s->a.idle = 0;
        s->a.probe_gap = 16;
        return who;
    }
    if (s->a.probe_gap < 16) s->a.probe_gap = 16;
    if (++s->a.idle < s->a.probe_gap) return who;
    /* Probe: a short draft from the drafter seen least, to refresh its
     * acceptance and the slope (both change with the text and the load).
     * Each probe that changes nothing doubles the wait for the next. */
    s->a.idle = 0;
    if (s->a.probe_gap < 256) s->a.probe_gap *= 2;
    int d = m > 0 && (kmodel <= 0 || s->a.hit[1] + s->a.miss[1] <= s->a.hit[0] + s->a.miss[0]) ? DRAFT_LOOKUP
          : kmodel > 0 ? DRAFT_MODEL : DRAFT_NONE;
    if (d == DRAFT_NONE) return d;
    int kmax = d == DRAFT_LOOKUP ? m : kmodel;
    *k = kmax < 2 ? kmax : 2;
    return d;
}

int eng_spec_step(eng_spec *s, eng_sampler *smp, int32_t *out, int cap)
{
    s->err[0] = 0;
    if (s->len < 1) return fail(s, "eng_spec_begin was not called");
    if (cap < 1) return fail(s, "no room for a token in the output");
    int greedy = eng_sampler_get_params(smp)->temperature <= 0;
    int room = eng_ctx_n_ctx(s->main) - s->len;         /* positions left for pending + drafts */
    if (room < 1) return fail(s, "context full (%d tokens)", eng_ctx_n_ctx(s->main));
    if (room > cap) room = cap;     /* the caller wants at most cap tokens: draft no more */

    int who = DRAFT_NONE, k = 0;
    int kmodel = 0;
    if (s->draft) {
        kmodel = s->p.cost_aware ? s->p.max_draft : s->a.k[DRAFT_MODEL];
        int droom = eng_ctx_n_ctx(s->draft) - s->len;
        if (kmodel > room - 1) kmodel = room - 1;
        if (kmodel > droom) kmodel = droom;
    }
    if (s->p.cost_aware) {
        int want = s->p.max_draft < room - 1 ? s->p.max_draft : room - 1;
        int m = s->p.use_lookup && want > 0 ? draft_lookup(s, want) : 0;
        who = choose(s, m, kmodel, &k);
        if (who == DRAFT_MODEL && (k = draft_model(s, smp, greedy, k)) < 0) return -1;
    } else if (s->p.use_lookup) {
        int want = s->a.k[DRAFT_LOOKUP] < room - 1 ? s->a.k[DRAFT_LOOKUP] : room - 1;
        if (want > 0 && (k = draft_lookup(s, want)) > 0 &&
            (!s->draft || s->a.acc[DRAFT_LOOKUP] >= s->a.acc[DRAFT_MODEL] - 0.1))
            who = DRAFT_LOOKUP;
        else
            k = 0;
    }
    if (!s->p.cost_aware && who == DRAFT_NONE && kmodel > 0) {
        if ((k = draft_model(s, smp, greedy, kmodel)) < 0) return -1;
        who = DRAFT_MODEL;
    }
    s->last_k = k;

    /* Verify: the pending token and the drafts in one batch. */
    int base = s->len - 1;
    int32_t batch[33];
    batch[0] = s->seq[base];
    memcpy(batch + 1, s->drafts, (size_t)k * sizeof *batch);
    double t0 = eng_now_ms();
    if (eng_forward(s->main, batch, k + 1, s->rows, 1)) return fail(s, "%s", eng_ctx_error(s->main));
    double took = eng_now_ms() - t0;
    if (!s->pinned) {
        if (k == 0) ema(&s->v1, took), s->since_plain = 0;
        else if (s->v1 > 0) ema(&s->slope, took > s->v1 ? (took - s->v1) / k : 0.001 * s->v1);
    }
    publish_costs(s);
    s->st.steps++;
    if (who == DRAFT_NONE) s->st.plain_steps++;
    int n_out = 0;
    int a = verify(s, smp, greedy, k, who, out, &n_out);
    if (a < 0) return -1;
    if (who != DRAFT_NONE) adapt(s, who, k, a);

    if (reserve(s, s->len + n_out + 1)) return -1;
    memcpy(s->seq + s->len, out, (size_t)n_out * sizeof *out);
    s->len += n_out;
    eng_ctx_truncate(s->main, s->len - 1);          /* KV rollback to what was accepted */
    if (s->draft) eng_ctx_truncate(s->draft, s->len - 1);
    s->st.tokens += (uint64_t)n_out;
    s->last_n = n_out;
    s->last_smp = smp;
    return n_out;
}

void eng_spec_keep(eng_spec *s, int n)
{
    if (n < 0) n = 0;
    if (n >= s->last_n) return;
    int drop = s->last_n - n;
    s->len -= drop;
    s->st.tokens -= (uint64_t)drop;
    eng_ctx_truncate(s->main, s->len - 1);
    if (s->draft) eng_ctx_truncate(s->draft, s->len - 1);
    if (s->last_smp) eng_sampler_rewind(s->last_smp, (size_t)drop);
    s->last_n = n;
}
