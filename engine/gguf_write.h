/* gguf_write.h — builds GGUF v3 files: metadata of every type, tensors of
 * every ggml type, plus reference quantizers F32 -> F16/BF16/Q8_0/Q4_0.
 *
 * Usage: w = gguf_writer_new(); gguf_writer_set_*(w, ...) for each key;
 * gguf_writer_add_tensor*(w, ...) for each tensor; gguf_writer_write(w, path);
 * gguf_writer_free(w). Keys and tensors are written in the order added.
 *
 * Ownership: keys, names, metadata values and quantized tensors are copied
 * into the writer. gguf_writer_add_tensor() copies the data when copy is
 * true and otherwise borrows it: borrowed data must stay valid until the last
 * write. Every function returns GGUF_OK or a negative GGUF_E* code (gguf.h);
 * a failed call leaves the writer unchanged.
 *
 * Layout: tensor data is aligned to 32 bytes (or to general.alignment if the
 * caller sets that key, u32 power of two), every tensor padded to the
 * alignment, exactly as llama.cpp writes and expects.
 *
 * What llama.cpp expects (the caller's business, listed here once). Keys:
 *   general.architecture = "llama" | "qwen2" | "starcoder2" ...   (str)
 *   general.name, general.file_type (u32)
 *   <arch>.context_length, <arch>.embedding_length, <arch>.block_count,
 *   <arch>.feed_forward_length, <arch>.attention.head_count,
 *   <arch>.attention.head_count_kv                                (u32)
 *   <arch>.attention.layer_norm_rms_epsilon, <arch>.rope.freq_base (f32)
 *   tokenizer.ggml.model ("gpt2" | "llama"), tokenizer.ggml.pre (str),
 *   tokenizer.ggml.tokens (arr[str]), tokenizer.ggml.token_type (arr[i32]),
 *   tokenizer.ggml.scores (arr[f32]), tokenizer.ggml.merges (arr[str]),
 *   tokenizer.ggml.bos_token_id / eos_token_id / padding_token_id (u32),
 *   tokenizer.ggml.add_bos_token (bool), tokenizer.ggml.fim_pre_token_id ...
 * Tensors (ne[0] = input dim, ne[1] = output dim for matrices):
 *   token_embd.weight (n_embd, n_vocab)
 *   blk.N.attn_norm.weight (n_embd)
 *   blk.N.attn_q.weight (n_embd, n_embd)   + blk.N.attn_q.bias for qwen2
 *   blk.N.attn_k.weight (n_embd, n_kv)     + .bias for qwen2
 *   blk.N.attn_v.weight (n_embd, n_kv)     + .bias for qwen2
 *   blk.N.attn_output.weight (n_embd, n_embd)
 *   blk.N.ffn_norm.weight (n_embd)
 *   blk.N.ffn_gate.weight, blk.N.ffn_up.weight (n_embd, n_ff)
 *   blk.N.ffn_down.weight (n_ff, n_embd)
 *   output_norm.weight (n_embd); output.weight (n_embd, n_vocab), absent
 *   when the embeddings are tied.
 * Norm weights and biases should be F32; names are at most 63 bytes.
 */
#ifndef SPARKD_GGUF_WRITE_H
#define SPARKD_GGUF_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gguf.h"

#define GGUF_WRITER_MAX_NAME 63     /* llama.cpp's GGML_MAX_NAME - 1 */

typedef struct gguf_writer gguf_writer;

gguf_writer *gguf_writer_new(void);     /* NULL on out of memory */
void gguf_writer_free(gguf_writer *w);

/* ---- metadata (GGUF_EDUP if the key exists, GGUF_EINVAL for an empty key or
 * a general.alignment that is not a u32 power of two) ------------------- */
int gguf_writer_set_u8(gguf_writer *w, const char *key, uint8_t v);
int gguf_writer_set_i8(gguf_writer *w, const char *key, int8_t v);
int gguf_writer_set_u16(gguf_writer *w, const char *key, uint16_t v);
int gguf_writer_set_i16(gguf_writer *w, const char *key, int16_t v);
int gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v);
int gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v);
int gguf_writer_set_u64(gguf_writer *w, const char *key, uint64_t v);
int gguf_writer_set_i64(gguf_writer *w, const char *key, int64_t v);
int gguf_writer_set_f32(gguf_writer *w, const char *key, float v);
int gguf_writer_set_f64(gguf_writer *w, const char *key, double v);
int gguf_writer_set_bool(gguf_writer *w, const char *key, bool v);
int gguf_writer_set_str(gguf_writer *w, const char *key, const char *s);
int gguf_writer_set_str_n(gguf_writer *w, const char *key, const char *s, size_t len);
/* n numeric elements of type (not STR/ARR) in host (= little-endian) layout,
 * gguf_val_size(type) bytes each; bools must be 0 or 1. */
int gguf_writer_set_arr(gguf_writer *w, const char *key, gguf_val_type type,
                        const void *data, size_t n);
/* n strings; lens may be NULL (then each is NUL-terminated). */
int gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *strs,
                            const size_t *lens, size_t n);

/* ---- tensors ---------------------------------------------------------- */

/* A tensor of any known type whose data is already in its storage format:
 * nbytes must equal gguf_type_nbytes(type, n_elems) and ne[0] must be a
 * multiple of the type's block size. GGUF_EINVAL otherwise (also for a name
 * of 0 or > 63 bytes, n_dims outside 1..4, a zero dimension). */
int gguf_writer_add_tensor(gguf_writer *w, const char *name, gguf_type type,
                           uint32_t n_dims, const uint64_t *ne,
                           const void *data, size_t nbytes, bool copy);
/* A tensor given as F32 values (ne[0]*...*ne[n_dims-1] floats, row-major
 * with ne[0] innermost), stored as type F32, F16, BF16, Q8_0 or Q4_0 with
 * gguf_quantize(). The quantized data is owned by the writer. */
int gguf_writer_add_tensor_f32(gguf_writer *w, const char *name, gguf_type type,
                               uint32_t n_dims, const uint64_t *ne, const float *src);

/* ---- output ----------------------------------------------------------- */

/* Writes the file via path.tmp + rename. 0 or -1 with a message in err. */
int gguf_writer_write(const gguf_writer *w, const char *path, char *err, size_t errlen);
/* The whole file in a malloc'd buffer (*out, caller frees). 0 or -1. */
int gguf_writer_write_mem(const gguf_writer *w, void **out, size_t *len);

/* ---- reference quantizers ---------------------------------------------- */

/* Round to nearest even; NaN stays NaN, overflow becomes infinity. */
uint16_t gguf_fp32_to_fp16(float f);
uint16_t gguf_fp32_to_bf16(float f);
/* Converts n floats (n a multiple of the block size) to type F32, F16, BF16,
 * Q8_0 or Q4_0 as ggml's reference quantizers do, per block of 32 in float
 * arithmetic: Q8_0: d = max|x|/127, q = roundf(x * (1/d)) (half away from 0).
 * Q4_0: d = m/-8 where m is the first element of largest magnitude,
 * q = min(15, (int)(x * (1/d) + 8.5)). d is stored as F16 (round to nearest
 * even). tools/gguf.py produces byte-identical output. Returns bytes written
 * to dst, or 0 for another type or a partial block. */
size_t gguf_quantize(gguf_type type, const float *src, void *dst, int64_t n);

#endif
