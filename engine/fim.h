/* engine/fim.h — fill-in-the-middle prompts: the token sequence a code model completes.
 *
 * The FIM markers come from the tokenizer (eng_tok_specials: fim_pre/suf/mid, and fim_rep /
 * fim_sep for repository context); their vocabulary strings tell the family:
 *   Qwen2.5-Coder   <|fim_prefix|> <|fim_suffix|> <|fim_middle|> <|repo_name|> <|file_sep|>
 *   StarCoder(2)    <fim_prefix>   <fim_suffix>   <fim_middle>   <repo_name>   <file_sep>
 *   DeepSeek-Coder  <｜fim▁begin｜> <｜fim▁hole｜>  <｜fim▁end｜>
 *   CodeLlama       ▁<PRE>         ▁<SUF>         ▁<MID>
 * sparkd's own models use the Qwen names. The layout only depends on which ids exist.
 *
 * Orders, with <pre> <suf> <mid> the three markers, P the prefix, S the suffix:
 *   PSM        [BOS] [ctx] <pre> P <suf> S <mid>        every FIM model is trained on it
 *   SPM        [BOS] [ctx] <suf> S <pre> P <mid>        llama.cpp's --spm-infill
 *   SPM_PAPER  [BOS] [ctx] <pre> <suf> S <mid> P        Bavarian et al. 2022, CodeLlama's
 *                                                      suffix-first mode, bigcode's Megatron
 *   PLAIN      [BOS] [ctx] P                           continuation, for models without FIM
 * Why suffix first: while the user types at the cursor, only the end of P changes. In PSM the
 * suffix comes after P, so its KV must be recomputed on every keystroke; in both SPM forms S
 * and all of P up to the cursor are a stable start of the sequence, so a keystroke costs a
 * few tokens of prefill.
 * Which suffix-first form: ENG_FIM_SPM is llama.cpp's (--spm-infill): each marker introduces
 * the same text as in PSM and <mid> still follows P directly, so it is the suffix-first form
 * closest to what a PSM-trained model has seen. ENG_FIM_SPM_PAPER is "SPM variant 2" of the
 * FIM paper, the one StarCoder (bigcode's Megatron FIM code, half of its FIM samples) and
 * CodeLlama (suffix-first infilling) were trained on; there the middle continues P with no
 * marker in between, so text typed into a shown suggestion is already in the KV cache. Use
 * the form the model was trained on: SPM_PAPER for StarCoder(2) and CodeLlama, PSM for
 * Qwen2.5-Coder and DeepSeek-Coder (their reports describe PSM only), PSM when unsure.
 *
 * Repository context [ctx] (models with a file separator, Qwen's repo-level layout):
 *   <repo_name>name\n <file_sep>path\ntext\n ... <file_sep>current_path\n
 * then the FIM part. For models without <file_sep> the files can be given as plain text, each
 * after a comment line ("// path\n", with the comment marker the caller names), else they are
 * left out.
 *
 * SentencePiece (CodeLlama): P is encoded with the tokenizer's leading dummy space, as
 * CodeLlama's reference does; S and context text drop it when it is a token of its own.
 * eng_tok_encode has no switch to skip it, so a dummy merged into S's first word stays.
 *
 * Budgets (in tokens, measured by tokenizing): the prefix keeps its end (what is nearest the
 * cursor), the suffix and every context file keep their beginning; cuts fall at line
 * boundaries unless that would waste more than half the budget. Text is tokenized once per
 * part, on a window around the kept end that grows (doubling) only while it holds too few
 * tokens, so a 1 MB file costs about one window. Context files are listed in the prompt in the
 * given order; the budget is handed out from the last file backwards (put the most relevant
 * file last: it ends up nearest the code being completed), and files that no longer fit are
 * left out.
 *
 * Ownership: eng_fim_build borrows the tokenizer and every input for the call; the prompt it
 * fills owns its token array (eng_fim_prompt_free). Thread-safe as the tokenizer is.
 */
#ifndef SPARKD_ENGINE_FIM_H
#define SPARKD_ENGINE_FIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tok.h"

typedef enum {
    ENG_FIM_NONE = 0,       /* no prefix/suffix/middle markers: plain continuation only */
    ENG_FIM_QWEN,           /* <|fim_prefix|> ... (Qwen2.5-Coder, sparkd's own models) */
    ENG_FIM_STARCODER,      /* <fim_prefix> ... (StarCoder, StarCoder2; SantaCoder's
                             * <fim-prefix>) */
    ENG_FIM_DEEPSEEK,       /* <｜fim▁begin｜> ... */
    ENG_FIM_CODELLAMA,      /* ▁<PRE> ... */
    ENG_FIM_GENERIC,        /* markers named in the metadata, names not known */
} eng_fim_family;

typedef enum {
    ENG_FIM_PSM = 0,
    ENG_FIM_SPM,
    ENG_FIM_SPM_PAPER,
    ENG_FIM_PLAIN,
} eng_fim_order;

/* Error codes (eng_fim_build returns 0 or one of these; err gets the message). */
#define ENG_FIM_ENOFIM (-1)  /* a FIM order asked of a model without FIM markers */
#define ENG_FIM_EINVAL (-2)  /* bad argument: NULL text with a length, unknown order... */
#define ENG_FIM_ENOMEM (-3)
#define ENG_FIM_ETOK (-4)    /* the tokenizer failed (text above ENG_TOK_MAX_TEXT) */

/* One file of repository context; borrowed. */
typedef struct {
    const char *path;       /* NUL-terminated, as the model should see it (relative to root) */
    const char *text;
    size_t len;
} eng_fim_file;

typedef struct {
    eng_fim_order order;
    const char *model_name;     /* for messages only; NULL: "this model" */

    const char *prefix;         /* text before the cursor */
    size_t prefix_len;
    const char *suffix;         /* text after the cursor (ignored by PLAIN) */
    size_t suffix_len;

    size_t prefix_max;          /* token budgets of the prefix and suffix text */
    size_t suffix_max;

    /* KV stability: when the prefix does not fit, start it at this byte offset if the text
     * from there still fits (pass back the previous prompt's prefix_text_start). When it no
     * longer fits, the new cut leaves prefix_max / 8 tokens free, so that the next keystrokes
     * fit from the same start again. 0: no hint. */
    size_t prefix_keep_from;

    /* Repository context; everything optional. */
    const char *repo_name;      /* NUL-terminated; the <repo_name> line (needs fim_rep) */
    const char *path;           /* NUL-terminated; the current file's path; NULL: "untitled" */
    const eng_fim_file *files;
    size_t n_files;
    size_t extra_max;           /* tokens for all of [ctx], markers and paths included */
    size_t file_max;            /* at most this many tokens per file text; 0: no cap */
    const char *line_comment;   /* models without <file_sep>: "//", "#"...; NULL: no files */
} eng_fim_input;

/* The built prompt. Ranges are token indices into tokens, [begin, end); a part that is absent
 * has begin == end. Markers lie between the parts (see the orders above), so tokens before
 * prefix_begin (SPM: before suffix_begin) are what a later keystroke at the cursor leaves
 * unchanged. */
typedef struct {
    int32_t *tokens;            /* owned */
    size_t n_tokens;
    eng_fim_family family;
    eng_fim_order order;
    size_t ctx_begin, ctx_end;          /* repository context, its markers included */
    size_t prefix_begin, prefix_end;    /* prefix text tokens */
    size_t suffix_begin, suffix_end;    /* suffix text tokens */
    size_t n_files;                     /* context files included (whole or cut) */
    size_t prefix_text_start;   /* byte offset in the prefix where the kept text starts */
    size_t suffix_text_end;     /* byte offset in the suffix where the kept text ends */
} eng_fim_prompt;

/* The family of t's FIM markers; ENG_FIM_NONE when fim_pre, fim_suf or fim_mid is missing. */
eng_fim_family eng_fim_detect(const eng_tok *t);
const char *eng_fim_family_name(eng_fim_family f);  /* static string */
const char *eng_fim_order_name(eng_fim_order o);    /* static string */

/* Zeroes in and sets the defaults: PSM, prefix_max 1536, suffix_max 512, extra_max 1024. */
void eng_fim_input_init(eng_fim_input *in);

/* Builds the prompt for in with t's template into *out (zeroed first; free it with
 * eng_fim_prompt_free, also after a failure). BOS leads when the model asks for it
 * (eng_tok_special.add_bos). Text is tokenized without parsing special tokens, so a file
 * containing "<|endoftext|>" stays text. Returns 0, or a negative ENG_FIM_E* code with a
 * one-line reason in err; for a model without markers and a FIM order: ENG_FIM_ENOFIM, "model
 * X has no FIM tokens; sparkd can only do plain continuation with it". */
int eng_fim_build(const eng_tok *t, const eng_fim_input *in, eng_fim_prompt *out, char *err,
                  size_t errlen);

void eng_fim_prompt_free(eng_fim_prompt *p);  /* frees the tokens, zeroes p; NULL is fine */

/* Tokens that end a FIM middle: eos, eot, and every FIM marker the model has (a model that
 * emits <|file_sep|> or <|fim_pad|> has finished the hole). Writes up to cap distinct ids to
 * out and returns how many there are (at most 8). */
size_t eng_fim_stop_tokens(const eng_tok *t, int32_t *out, size_t cap);

#endif
