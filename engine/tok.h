/* engine/tok.h — tokenizers of GGUF models: byte-level BPE and SentencePiece.
 *
 * An eng_tok holds one vocabulary and turns text into token ids and ids back into bytes the
 * way llama.cpp does for the same GGUF file:
 *   - byte-level BPE (tokenizer.ggml.model = "gpt2"): Qwen2/2.5(-Coder), StarCoder(2),
 *     DeepSeek-Coder, Llama-3 and sparkd's own models. The text is cut into words by the
 *     pre-tokenizer named by tokenizer.ggml.pre, every byte becomes its GPT-2 stand-in
 *     character, and the merges run on each word, lowest rank first.
 *   - SentencePiece (tokenizer.ggml.model = "llama"): Llama-2, CodeLlama. Spaces become "▁",
 *     a "▁" is put in front of the text, the highest-scoring adjacent pair is merged first, and
 *     characters the vocabulary lacks fall back to the <0xXX> byte tokens.
 * Control tokens (type CONTROL/UNKNOWN: "<|endoftext|>", "<|fim_prefix|>"...) are found in the
 * raw text before any of that, leftmost-longest first, only when the caller asks
 * (ENG_TOK_ENCODE_SPECIAL). USER_DEFINED tokens are always found, as llama.cpp and Hugging
 * Face do.
 *
 * Ownership and threads: an eng_tok copies everything it is built from and is immutable
 * afterwards, so any number of threads may encode and decode with one eng_tok at once (every
 * call allocates its own scratch). Views it returns are borrowed until eng_tok_free.
 * Build one from plain arrays (eng_tok_new) or from a GGUF file (eng_tok_from_gguf).
 *
 * Errors: constructors return NULL and write a one-line reason into err (when err != NULL).
 * Encoding and decoding return counts, or a negative ENG_TOK_E* code.
 */
#ifndef SPARKD_ENGINE_TOK_H
#define SPARKD_ENGINE_TOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct eng_tok eng_tok;

/* ---- Vocabulary description --------------------------------------------------------- */

typedef enum {
    ENG_TOK_MODEL_BPE = 1,  /* "gpt2": byte-level BPE with merges */
    ENG_TOK_MODEL_SPM = 2,  /* "llama": SentencePiece with scores and byte fallback */
} eng_tok_model;

/* Token types, the values of tokenizer.ggml.token_type. */
typedef enum {
    ENG_TOK_NORMAL = 1,
    ENG_TOK_UNKNOWN = 2,
    ENG_TOK_CONTROL = 3,       /* <s>, <|endoftext|>, FIM markers: matched only on request */
    ENG_TOK_USER_DEFINED = 4,  /* added text tokens: always matched, decoded verbatim */
    ENG_TOK_UNUSED = 5,
    ENG_TOK_BYTE = 6,          /* SPM <0xXX> byte-fallback tokens */
} eng_tok_type;

/* Pre-tokenizers: how BPE text is cut into words before merging. Each reproduces the
 * regexes llama.cpp uses for the tokenizer.ggml.pre names listed (see eng_tok_pre_parse). */
typedef enum {
    ENG_TOK_PRE_DEFAULT,         /* "default", missing: [\p{P}$+<=>^~|]+ then GPT-2,
                                  * then \p{N}+, then [0-9]{3} */
    ENG_TOK_PRE_GPT2,            /* "gpt2", "gpt-2": 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+|
                                  * ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
    ENG_TOK_PRE_LLAMA3,          /* "llama3", "llama-bpe", "llama-v3": (?i:'s|'t|'re|'ve|'m|
                                  * 'll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
                                  * ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
    ENG_TOK_PRE_QWEN2,           /* "qwen2": the Llama-3 pattern with \p{N} (single digits) */
    ENG_TOK_PRE_DEEPSEEK_CODER,  /* "deepseek-coder": [\r\n], \s?\p{L}+, \s?\p{P}+,
                                  * [U+0800-U+9FA5 U+AC00-U+D7FF]+, \p{N} in turn */
    ENG_TOK_PRE_STARCODER,       /* "starcoder", "refact": \p{N} (single digits), then GPT-2 */
} eng_tok_pre;

/* A byte string that is not NUL-terminated. */
typedef struct {
    const char *ptr;
    size_t len;
} eng_tok_str;

/* Ids of the tokens with a role; -1 where the model has none. */
typedef struct {
    int32_t bos, eos, eot, pad, unk;
    int32_t fim_pre, fim_suf, fim_mid;  /* prefix / suffix / middle markers */
    int32_t fim_pad, fim_rep, fim_sep;  /* pad, repo name, file separator */
    bool add_bos, add_eos;              /* what the model card asks prompts to carry */
} eng_tok_special;

/* Everything eng_tok_new needs; all arrays are borrowed for the call only. */
typedef struct {
    eng_tok_model model;
    const char *pre;            /* tokenizer.ggml.pre (BPE); NULL or "" = "default" */
    uint32_t n_vocab;
    const eng_tok_str *tokens;  /* [n_vocab] vocabulary strings, as stored in the GGUF */
    const int32_t *types;       /* [n_vocab] eng_tok_type values; NULL = all NORMAL */
    const float *scores;        /* [n_vocab] SPM merge scores; NULL = all 0 */
    uint32_t n_merges;
    const eng_tok_str *merges;  /* [n_merges] BPE merges "left right", rank = index */
    eng_tok_special special;    /* FIM and EOT ids left at -1 are looked up by their well-
                                 * known names (Qwen, StarCoder, DeepSeek, CodeLlama) */
    bool add_space_prefix;      /* SPM: put "▁" before the text (default true) */
} eng_tok_params;

/* Limits on what a vocabulary may hold; larger inputs are refused with an error. */
#define ENG_TOK_MAX_VOCAB (1u << 22)
#define ENG_TOK_MAX_MERGES (1u << 23)
#define ENG_TOK_MAX_TOKEN_LEN 4096u
#define ENG_TOK_MAX_TEXT ((size_t)1 << 30)  /* longest text one encode/split accepts */

/* Error codes returned (negated counts) by encode/decode/split. */
#define ENG_TOK_ENOMEM (-1)  /* out of memory */
#define ENG_TOK_E2BIG (-2)   /* text longer than ENG_TOK_MAX_TEXT */

/* ---- Construction ------------------------------------------------------------------- */

/* Zeroes p, sets every special id to -1 and add_space_prefix to true. */
void eng_tok_params_init(eng_tok_params *p);

/* Builds a tokenizer. Fails (NULL, reason in err) on: n_vocab 0 or above ENG_TOK_MAX_VOCAB, a
 * token longer than ENG_TOK_MAX_TOKEN_LEN, an unknown pre name, a merge that does not split
 * into two known tokens or whose result is not a token (the message names the merge's index),
 * a special id out of range, or memory. */
eng_tok *eng_tok_new(const eng_tok_params *p, char *err, size_t errlen);

/* Reads the tokenizer.ggml.* keys of an open GGUF file (engine/gguf.h; g is borrowed for the
 * call): model ("gpt2" or "llama", else an error), pre, tokens, token_type, scores, merges
 * (required for gpt2), bos/eos/eot/padding/unknown ids, add_bos_token/add_eos_token/
 * add_space_prefix, and the FIM ids fim_pre/suf/mid/pad/rep/sep_token_id (or the older
 * prefix/suffix/middle_token_id), then the well-known names as eng_tok_new does. Absent ids
 * are -1 (SentencePiece: unk 0, bos 1, eos 2, as llama.cpp). A bos/eos id outside the
 * vocabulary is an error; other such ids are ignored, as llama.cpp does, since real files
 * carry them. The error message starts with the file's name. */
struct gguf_ctx;
eng_tok *eng_tok_from_gguf(const struct gguf_ctx *g, char *err, size_t errlen);

void eng_tok_free(eng_tok *t);  /* NULL is fine */

/* ---- Queries ------------------------------------------------------------------------ */

uint32_t eng_tok_n_vocab(const eng_tok *t);
eng_tok_model eng_tok_model_kind(const eng_tok *t);
eng_tok_pre eng_tok_pre_kind(const eng_tok *t);
const eng_tok_special *eng_tok_specials(const eng_tok *t);  /* borrowed */

/* The vocabulary string of id (GPT-2 characters for BPE, "▁" for SPM), not NUL-terminated,
 * *len bytes; NULL (and *len 0) when id is out of range. */
const char *eng_tok_text(const eng_tok *t, int32_t id, size_t *len);

/* The bytes id stands for in text: BPE characters mapped back to bytes, "▁" -> ' ', <0xXX> ->
 * the byte, control and user-defined tokens their own text. NULL when id is out of range.
 * eng_tok_max_piece_len: the longest piece of the vocabulary. */
const char *eng_tok_piece(const eng_tok *t, int32_t id, size_t *len);
size_t eng_tok_max_piece_len(const eng_tok *t);

/* The type of id; 0 (no type) when id is out of range. */
eng_tok_type eng_tok_type_of(const eng_tok *t, int32_t id);

/* True for CONTROL, UNKNOWN and UNUSED tokens: ids that are not text. */
bool eng_tok_is_special(const eng_tok *t, int32_t id);

/* The id whose vocabulary string is exactly text[0..len), or -1. */
int32_t eng_tok_lookup(const eng_tok *t, const char *text, size_t len);

/* ---- Encoding ----------------------------------------------------------------------- */

#define ENG_TOK_ENCODE_SPECIAL 1u    /* find control tokens in the text (parse_special) */
#define ENG_TOK_ENCODE_NO_PREFIX 2u  /* SPM: no dummy "▁" in front: the text continues
                                      * earlier text (a FIM suffix, a later chunk) */

/* Encodes text[0..len) (any bytes; invalid UTF-8 is kept byte for byte) into ids. Writes at
 * most cap ids to out and returns how many the whole text needs: when that is more than cap,
 * call again with a bigger buffer (out may be NULL when cap is 0). No BOS/EOS is added: prompt
 * builders add them (see eng_tok_special.add_bos). flags: ENG_TOK_ENCODE_*; `true` means
 * ENG_TOK_ENCODE_SPECIAL. Leave SPECIAL off for user text, so that a file containing
 * "<|endoftext|>" stays text. Returns ENG_TOK_ENOMEM or ENG_TOK_E2BIG on failure. */
int64_t eng_tok_encode(const eng_tok *t, const char *text, size_t len, unsigned flags,
                       int32_t *out, size_t cap);

/* ---- Decoding ----------------------------------------------------------------------- */

/* The GPT-2 stand-in character of byte b, as UTF-8 in out; returns its length (1 or 2).
 * Byte-level BPE vocabularies spell every byte as one visible character: printable bytes as
 * themselves, the 68 others as U+0100..U+0143 in byte order. (Tools writing vocabularies
 * use this too.) */
size_t eng_tok_byte_char(uint8_t b, char out[2]);

/* The bytes the vocabulary string s[0..n) of a token of this type stands for, written to out
 * (never more than n bytes); returns their count. What eng_tok_piece returns, precomputed. */
size_t eng_tok_str_bytes(eng_tok_model model, eng_tok_type type, const char *s, size_t n,
                         char *out);

#define ENG_TOK_DECODE_SPECIAL 1u      /* emit the text of control tokens (else nothing) */
#define ENG_TOK_DECODE_STRIP_SPACE 2u  /* drop one leading ' ' (SPM's dummy prefix) */

/* Concatenates the pieces of ids[0..n) into out (at most cap bytes, not NUL-terminated) and
 * returns the total length needed. Exact bytes: invalid UTF-8 stays as it is. Ids out of
 * range decode to nothing. */
int64_t eng_tok_decode(const eng_tok *t, const int32_t *ids, size_t n, unsigned flags,
                       char *out, size_t cap);

/* A streaming decoder for text shown while it is generated: it never emits part of a UTF-8
 * character. Bytes that may still complete a character are held back until the next token;
 * bytes that can no longer be part of a valid character come out as U+FFFD (one per maximal
 * invalid subpart, as Unicode recommends). Owns its buffer; borrows t. */
typedef struct eng_tok_stream eng_tok_stream;

eng_tok_stream *eng_tok_stream_new(const eng_tok *t, unsigned flags);  /* ENG_TOK_DECODE_* */
void eng_tok_stream_free(eng_tok_stream *s);

/* Feeds one token; returns the text that is complete now (possibly empty) and its length in
 * *len. The view is valid until the next call on s. */
const char *eng_tok_stream_push(eng_tok_stream *s, int32_t id, size_t *len);

/* End of stream: returns the held-back bytes, each incomplete sequence as one U+FFFD. */
const char *eng_tok_stream_flush(eng_tok_stream *s, size_t *len);

/* Forgets held bytes and starts over (as if new). */
void eng_tok_stream_reset(eng_tok_stream *s);

/* ---- Pre-tokenizers (tok_pre.c; exposed for tests and tools) ------------------------ */

/* Maps a tokenizer.ggml.pre name to its pre-tokenizer; NULL/"" is "default". Returns 0, or -1
 * for a name llama.cpp would not load either. */
int eng_tok_pre_parse(const char *name, eng_tok_pre *out);
const char *eng_tok_pre_name(eng_tok_pre pre);

/* Cuts text[0..len) into words. Returns the number of words and stores in *ends a malloc'd
 * array (caller frees; NULL when the count is 0) of each word's end offset in bytes: word i is
 * [ends[i-1], ends[i]), word 0 starts at 0. Returns ENG_TOK_ENOMEM or ENG_TOK_E2BIG. */
int64_t eng_tok_pre_split(eng_tok_pre pre, const char *text, size_t len, uint32_t **ends);

/* Unicode class of a code point (unicode_tab.c, generated by tools/gen_unicode.py): a
 * category group in the low bits, ENG_TOK_UC_SPACE for White_Space (what \s matches). */
enum {
    ENG_TOK_UC_UNASSIGNED = 0,
    ENG_TOK_UC_LETTER = 1,    /* \p{L} */
    ENG_TOK_UC_NUMBER = 2,    /* \p{N} */
    ENG_TOK_UC_PUNCT = 3,     /* \p{P} */
    ENG_TOK_UC_SYMBOL = 4,    /* \p{S} */
    ENG_TOK_UC_MARK = 5,      /* \p{M} */
    ENG_TOK_UC_SEPARATOR = 6, /* \p{Z} */
    ENG_TOK_UC_OTHER = 7,     /* \p{C} except unassigned */
    ENG_TOK_UC_GROUP = 7,     /* mask of the group bits */
    ENG_TOK_UC_SPACE = 8,
};
uint8_t eng_tok_uclass(uint32_t cp);

/* Reads one UTF-8 character from s[0..n) (n >= 1), strictly (no overlongs, surrogates or code
 * points above U+10FFFF). Returns the bytes it spans and sets *cp to the code point, or to
 * ENG_TOK_UTF8_BAD for an ill-formed sequence (the return value is then the length of its
 * maximal subpart, >= 1) or ENG_TOK_UTF8_MORE when all n bytes are a valid start of a longer
 * character (the return value is then n). */
#define ENG_TOK_UTF8_BAD 0xFFFFFFFFu
#define ENG_TOK_UTF8_MORE 0xFFFFFFFEu
size_t eng_tok_utf8_next(const char *s, size_t n, uint32_t *cp);

/* ---- Internals ---------------------------------------------------------------------- */
/* Shared by engine/tok.c (builds it) and engine/tok_enc.c (encodes with it), which define
 * ENG_TOK_INTERNAL first. Everyone else sees an opaque eng_tok. */
#ifdef ENG_TOK_INTERNAL
#include <string.h>

struct eng_tok {
    eng_tok_model model;
    eng_tok_pre pre;
    uint32_t n_vocab;
    bool ignore_merges;         /* Llama-3: a word that is a token is that token */
    bool add_space_prefix;      /* SPM dummy prefix */
    eng_tok_special special;

    char *texts;                /* vocabulary strings, back to back */
    uint32_t *text_off;         /* (n_vocab + 1) token i is texts[text_off[i] .. i+1] */
    char *pieces;               /* decoded bytes of each token, back to back */
    uint32_t *piece_off;        /* (n_vocab + 1) */
    size_t max_piece;
    uint8_t *types;             /* (n_vocab) eng_tok_type */
    float *scores;              /* (n_vocab) SPM scores */

    int32_t *tok_slot;          /* (tok_mask + 1) text -> id, open addressing, -1 empty */
    uint32_t tok_mask;

    uint32_t n_merges;
    int32_t *merge;             /* (n_merges, 3) left id, right id, result id */
    uint64_t *pair_key;         /* (pair_mask + 1) left << 32 | right, ~0 empty */
    int32_t *pair_rank;         /* (pair_mask + 1) */
    uint32_t pair_mask;

    int32_t byte_tok[256];      /* BPE: GPT-2 char of each byte; SPM: <0xXX>; -1 none */

    int32_t *sp_ids;            /* matchable special ids, by first byte then longest first */
    uint32_t n_user_defined;    /* of those, USER_DEFINED (matched even without SPECIAL) */
    uint32_t sp_first[257];     /* sp_ids[sp_first[b] .. sp_first[b+1]] start with byte b */
};

static inline uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 33);
}

static inline uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ n;
    for (; n >= 8; s += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0x100000001b3ULL;
        h ^= h >> 29;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    return mix64(h ^ w);
}

static inline const char *tok_str(const eng_tok *t, int32_t id, size_t *len)
{
    *len = t->text_off[id + 1] - t->text_off[id];
    return t->texts + t->text_off[id];
}

#endif /* ENG_TOK_INTERNAL */

#endif
