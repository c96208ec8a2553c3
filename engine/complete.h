/* complete.h — code completion on top of the engine: the FIM prompt, KV reuse
 * across requests, speculative decoding, and the stop rules of an editor
 * suggestion. Used by `sparkd complete` and by the language server.
 *
 * An eng_engine owns the main model, the optional draft model, one context
 * each and the speculative decoder. It runs one job at a time; a job is a
 * state machine advanced by eng_job_step(), each step a bounded amount of
 * device work (a prefill chunk or one speculative step, a few ms on the
 * bundled models), so a caller can cancel or preempt between steps.
 *
 * KV reuse: the engine remembers the tokens whose keys/values its contexts
 * hold; a new prompt sharing a prefix with them (the usual case: suffix-first
 * prompts while the user types at the cursor) only evaluates the rest.
 */
#ifndef SPARKD_ENG_COMPLETE_H
#define SPARKD_ENG_COMPLETE_H

#include <stddef.h>
#include <stdint.h>
#include "chat.h"
#include "fim.h"
#include "model.h"
#include "spec.h"

typedef struct {
    const char *model_path;     /* main model GGUF */
    const char *draft_path;     /* draft model GGUF, or NULL: no draft model */
    const char *device;         /* device spec ("cpu", "cpu:threads=2") */
    int n_ctx;                  /* context per sequence (0: min(model's, 4096)) */
    int fim_order;              /* -1: the model's own (SPM for sparkd's models, else PSM) */
    int use_lookup;             /* prompt-lookup drafting (default 1) */
    /* Called (on the loading thread) before each loading stage: "main model",
     * then "draft model" when there is one; NULL: no reports. */
    void (*on_stage)(void *ud, const char *stage, const char *path);
    void *stage_ud;
} eng_engine_params;

typedef struct eng_engine eng_engine;

/* A store of prefix KV states outside the engine (the SQLite cache), called
 * on the engine's thread. restore fills c from position 0 with the longest
 * stored prefix of tokens[0..n) and returns the positions it restored (c then
 * holds exactly those; 0 when nothing was found); save offers c's KV of
 * tokens[0..n) for storing (it must not block). */
typedef struct {
    void *ud;
    int (*restore)(void *ud, eng_ctx *c, const int32_t *tokens, int n);
    void (*save)(void *ud, eng_ctx *c, const int32_t *tokens, int n);
} eng_prefix_store;

void eng_engine_params_init(eng_engine_params *p);
eng_engine *eng_engine_new(const eng_engine_params *p, char *err, size_t errlen);
void eng_engine_free(eng_engine *e);
eng_model *eng_engine_model(const eng_engine *e);
int eng_engine_has_draft(const eng_engine *e);
/* The prompt form rewrites use: ENG_CHAT_CHATML or ENG_CHAT_NONE (FIM). */
eng_chat_format eng_engine_chat_format(const eng_engine *e);
/* Device faults the engine recovered from: a step failing because the
 * device was lost (wse.h) resets the device, drops the KV it held and
 * starts the job over, once; a second fault fails the job. */
uint64_t eng_engine_device_resets(const eng_engine *e);
/* The speculative decoder's counters and cost model, over the engine's life. */
const eng_spec_stats *eng_engine_spec_stats(const eng_engine *e);
/* The decoder's acceptance estimate of drafter 0 (draft model) or 1 (prompt
 * lookup) for the document of the latest job: each document (eng_request.path)
 * has its own, so what repeats in one file does not set the draft length in
 * another (the 32 most recent documents are remembered). */
double eng_engine_acceptance(const eng_engine *e, int drafter);
/* Uses st (copied; NULL: none) for prompts the contexts do not hold. */
void eng_engine_set_store(eng_engine *e, const eng_prefix_store *st);

typedef struct {
    const char *prefix; size_t prefix_len;  /* text before the cursor */
    const char *suffix; size_t suffix_len;  /* text after the cursor */
    const char *path;                       /* file path as the model sees it, or NULL */
    const eng_fim_file *files;              /* other open files (context), may be NULL */
    size_t n_files;
    int max_tokens;             /* default 64 */
    int max_lines;              /* default 8; 1 = single line */
    float temperature;          /* 0 = greedy */
    uint64_t seed;
    double deadline_ms;         /* absolute, eng_now_ms() clock; 0 = none */
    int ignore_eos;             /* benchmarks: decode through end-of-text (no text for it) */
    /* Quick start (0: off): when more than this many tokens of the full
     * prompt would have to be computed (a file just opened, a jump to
     * another place), answer from a short prompt of about this many tokens
     * on a side context, then let eng_job_warm_step prefill the full prompt
     * so that the next request finds it computed. For automatic (typing)
     * completions: the first suggestion comes within a keystroke, with less
     * context; the following ones have all of it. */
    int quick_start;

    /* Rewrites: when original is set, the job writes a new version of
     * original[0..original_len), the whole lines between prefix and suffix,
     * instead of filling a cursor. Models with a chat template (chat.h) get
     * an instruction prompt with the region; others a FIM prompt whose hole is
     * the region, with the original given as the file's earlier version
     * (repository context) and the instruction as a comment above the hole.
     * The original is the prompt-lookup draft source ("speculative edits":
     * most of a rewrite copies it). */
    const char *original; size_t original_len;
    const char *instruction;    /* NUL-terminated; at most ENG_CHAT_INSTRUCTION_MAX bytes */
    const char *language;       /* code fence tag of the chat prompt ("python"); may be NULL */
    const char *line_comment;   /* FIM: comment marker for the instruction line; NULL: none */
} eng_request;

/* Why a job ended. */
typedef enum {
    ENG_STOP_NONE = 0,          /* still running */
    ENG_STOP_EOS,               /* the model ended the middle (end-of-text / FIM marker) */
    ENG_STOP_LINES,             /* max_lines reached (or end of line in single-line mode) */
    ENG_STOP_BLOCK,             /* a line dedented below the cursor's block */
    ENG_STOP_SUFFIX,            /* the text reached the code already after the cursor */
    ENG_STOP_TOKENS,            /* max_tokens */
    ENG_STOP_DEADLINE,          /* deadline passed: what was generated so far */
    ENG_STOP_CONTEXT,           /* the context is full */
} eng_stop;

typedef struct {
    int prompt_tokens;          /* tokens in the prompt */
    int reused_tokens;          /* of which the KV was already held (in memory) */
    int restored_tokens;        /* of which the KV came from the prefix store */
    int generated_tokens;
    int resumes;                /* times the job was parked by another and resumed */
    int device_restarts;        /* started over after a device fault (0 or 1) */
    double prefill_ms, decode_ms;
    uint64_t steps, drafted, accepted;
    int quick;                  /* answered from a short prompt (quick_start) */
    double restore_ms;          /* asking the prefix store (the SQLite cache) */
    double warm_ms;             /* eng_job_warm_step time so far */
} eng_job_stats;

typedef struct eng_job eng_job;

void eng_request_init(eng_request *r);

/* Starts a job on e. One job runs at a time: starting one parks the running
 * job, which resumes where it was on its next eng_job_step (its prompt and
 * the tokens it produced are evaluated again; the text is the same as if it
 * had never been interrupted). The inputs are read during the call only.
 * Free every job before its engine. NULL + err on failure. */
eng_job *eng_job_start(eng_engine *e, const eng_request *r, char *err, size_t errlen);
/* Advances the job by one bounded piece of work. Returns 1 when finished,
 * 0 when there is more to do, -1 on error (eng_job_error()). */
int eng_job_step(eng_job *j);
/* After a quick-start job finished (stats.quick): prefills one chunk (a few
 * ms) of its full prompt on the main contexts, so the next request there
 * finds it computed (and the prefix store gets it when complete). Returns 0
 * while there is more, 1 when done or there is nothing to do (not a quick
 * job, or another job has the engine), -1 on a device error. Stopping early
 * is fine: what was computed is kept; free the job as usual. */
int eng_job_warm_step(eng_job *j);
/* The completion text so far (after the stop rules; always valid UTF-8 at
 * its end). Borrowed until the next step. */
const char *eng_job_text(const eng_job *j, size_t *len);
eng_stop eng_job_stop_reason(const eng_job *j);
const char *eng_stop_name(eng_stop s);
const eng_job_stats *eng_job_get_stats(const eng_job *j);
const char *eng_job_error(const eng_job *j);
void eng_job_free(eng_job *j);

#endif
