/* gguf.h — a read-only GGUF (v2/v3) model file reader, small enough to audit.
 *
 * A GGUF file is: header ("GGUF", u32 version, u64 n_tensors, u64 n_kv), n_kv
 * typed metadata pairs, n_tensors tensor infos, padding to general.alignment
 * (default 32), then the tensor data section. All integers little-endian.
 *
 * gguf_open() mmaps the file read-only and validates everything up front:
 * every count, length, dimension, type, offset and size is bounds-checked
 * against the mapping before it is read; keys and tensor names must be unique;
 * tensors must lie inside the file, be aligned and not overlap. After a
 * successful open no accessor can read outside the mapping. Tensor data is
 * never copied: gguf_tensor.data points into the mapping.
 *
 * Ownership: a gguf_ctx owns the mapping (gguf_open) and every string and
 * struct it hands out; all returned pointers are borrowed and valid until
 * gguf_close(). gguf_open_mem() borrows the caller's buffer, which must outlive
 * the ctx. A ctx is immutable after open (except the cached model id), so
 * concurrent readers are fine once gguf_model_id() has been called once.
 *
 * Pointers into the file (string views, array data, tensor data) are NOT
 * NUL-terminated and array data may be unaligned: read elements with memcpy or
 * the gguf_arr_get_* helpers. Tensor data is aligned to the file's alignment
 * relative to the start of the buffer (page-aligned for gguf_open).
 *
 * Assumes a little-endian host; big-endian GGUF files are rejected.
 */
#ifndef SPARKD_GGUF_H
#define SPARKD_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Metadata value types, numbered as in the file. */
typedef enum {
    GGUF_VAL_U8 = 0, GGUF_VAL_I8 = 1, GGUF_VAL_U16 = 2, GGUF_VAL_I16 = 3,
    GGUF_VAL_U32 = 4, GGUF_VAL_I32 = 5, GGUF_VAL_F32 = 6, GGUF_VAL_BOOL = 7,
    GGUF_VAL_STR = 8, GGUF_VAL_ARR = 9, GGUF_VAL_U64 = 10, GGUF_VAL_I64 = 11,
    GGUF_VAL_F64 = 12,
    GGUF_VAL_COUNT = 13,     /* also returned for "no such value" */
} gguf_val_type;

/* Tensor storage types, numbered as ggml numbers them. Gaps (4, 5, 31-33,
 * 36-38) are types ggml removed; files using them are rejected. */
typedef enum {
    GGUF_F32 = 0, GGUF_F16 = 1, GGUF_Q4_0 = 2, GGUF_Q4_1 = 3,
    GGUF_Q5_0 = 6, GGUF_Q5_1 = 7, GGUF_Q8_0 = 8, GGUF_Q8_1 = 9,
    GGUF_Q2_K = 10, GGUF_Q3_K = 11, GGUF_Q4_K = 12, GGUF_Q5_K = 13,
    GGUF_Q6_K = 14, GGUF_Q8_K = 15, GGUF_IQ2_XXS = 16, GGUF_IQ2_XS = 17,
    GGUF_IQ3_XXS = 18, GGUF_IQ1_S = 19, GGUF_IQ4_NL = 20, GGUF_IQ3_S = 21,
    GGUF_IQ2_S = 22, GGUF_IQ4_XS = 23, GGUF_I8 = 24, GGUF_I16 = 25,
    GGUF_I32 = 26, GGUF_I64 = 27, GGUF_F64 = 28, GGUF_IQ1_M = 29,
    GGUF_BF16 = 30, GGUF_TQ1_0 = 34, GGUF_TQ2_0 = 35, GGUF_MXFP4 = 39,
    GGUF_TYPE_COUNT = 40,
} gguf_type;

/* Status codes of the getters (0 = success). */
enum {
    GGUF_OK = 0,
    GGUF_ENOKEY = -1,     /* no such key / index */
    GGUF_ETYPE = -2,      /* value has another type */
    GGUF_ERANGE = -3,     /* value does not fit the requested range */
    GGUF_ENOMEM = -4,
    GGUF_EINVAL = -5,     /* bad argument (writer) */
    GGUF_EDUP = -6,       /* duplicate key or tensor name (writer) */
};

#define GGUF_MAX_DIMS 4
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_TENSOR_NAME 64     /* spec limit; llama.cpp accepts 63 */
#define GGUF_MAX_KEY 65535

typedef struct gguf_ctx gguf_ctx;

/* One tensor, as described by its info record. ne[0] is the innermost
 * (contiguous) dimension; dimensions past n_dims are 1. */
typedef struct {
    const char *name;           /* NUL-terminated, owned by the ctx */
    uint32_t n_dims;            /* 1..4 */
    uint64_t ne[GGUF_MAX_DIMS]; /* elements per dimension, each >= 1 */
    uint32_t type;              /* gguf_type; always one with a known size */
    uint64_t offset;            /* relative to the data section */
    uint64_t nbytes;            /* bytes of data */
    uint64_t n_elems;           /* ne[0]*ne[1]*ne[2]*ne[3] */
    const void *data;           /* into the mapping; nbytes long */
} gguf_tensor;

/* ---- opening ---------------------------------------------------------- */

/* Maps and validates the file at path. Returns NULL on failure and writes a
 * message naming the file and the problem into err (may be NULL). */
gguf_ctx *gguf_open(const char *path, char *err, size_t errlen);
/* Parses len bytes at data (borrowed; must outlive the ctx). name is used in
 * messages (NULL: "<memory>"). */
gguf_ctx *gguf_open_mem(const void *data, size_t len, const char *name,
                        char *err, size_t errlen);
void gguf_close(gguf_ctx *ctx);

const char *gguf_name(const gguf_ctx *ctx);        /* path or name given */
uint32_t gguf_version(const gguf_ctx *ctx);        /* 2 or 3 */
uint32_t gguf_alignment(const gguf_ctx *ctx);
uint64_t gguf_data_offset(const gguf_ctx *ctx);    /* file offset of data section */
uint64_t gguf_size(const gguf_ctx *ctx);           /* bytes in the file/buffer */
const void *gguf_base(const gguf_ctx *ctx);        /* first byte of the file */

/* ---- metadata --------------------------------------------------------- */

int64_t gguf_n_kv(const gguf_ctx *ctx);
/* Key of entry i (NUL-terminated, owned by ctx), NULL if out of range. */
const char *gguf_key(const gguf_ctx *ctx, int64_t i);
gguf_val_type gguf_kv_type(const gguf_ctx *ctx, int64_t i);
/* Index of key, or -1. O(log n_kv). */
int64_t gguf_find_key(const gguf_ctx *ctx, const char *key);

/* Exact-type getters by key: GGUF_OK, GGUF_ENOKEY or GGUF_ETYPE; *out is
 * written only on GGUF_OK. */
int gguf_get_u32(const gguf_ctx *ctx, const char *key, uint32_t *out);
int gguf_get_i32(const gguf_ctx *ctx, const char *key, int32_t *out);
int gguf_get_u64(const gguf_ctx *ctx, const char *key, uint64_t *out);
int gguf_get_f32(const gguf_ctx *ctx, const char *key, float *out);
int gguf_get_bool(const gguf_ctx *ctx, const char *key, bool *out);
/* String view into the file: *s is NOT NUL-terminated, *len bytes. */
int gguf_get_str(const gguf_ctx *ctx, const char *key, const char **s, size_t *len);
/* NUL-terminated malloc'd copy (caller frees); GGUF_ENOMEM on allocation failure. */
int gguf_get_str_dup(const gguf_ctx *ctx, const char *key, char **out);

/* Lenient getters. gguf_get_int accepts any integer type (not bool) and
 * returns GGUF_ERANGE if the value is outside [min, max]. gguf_get_float
 * accepts F32 and F64. The _or forms store def and return GGUF_OK when the key
 * is absent, but still fail on a present value of the wrong type or range. */
int gguf_get_int(const gguf_ctx *ctx, const char *key, int64_t min, int64_t max,
                 int64_t *out);
int gguf_get_float(const gguf_ctx *ctx, const char *key, double *out);
int gguf_get_int_or(const gguf_ctx *ctx, const char *key, int64_t def,
                    int64_t min, int64_t max, int64_t *out);
int gguf_get_float_or(const gguf_ctx *ctx, const char *key, double def, double *out);
int gguf_get_bool_or(const gguf_ctx *ctx, const char *key, bool def, bool *out);

/* Arrays, by entry index (from gguf_find_key). gguf_arr_type returns
 * GGUF_VAL_COUNT and gguf_arr_len 0 if entry i is not an array. Nested
 * arrays are rejected at open. */
gguf_val_type gguf_arr_type(const gguf_ctx *ctx, int64_t i);
uint64_t gguf_arr_len(const gguf_ctx *ctx, int64_t i);
/* Numeric arrays: the raw little-endian elements (gguf_val_size(type) bytes
 * each, possibly unaligned). NULL for string arrays and non-arrays. */
const void *gguf_arr_data(const gguf_ctx *ctx, int64_t i);
/* String element j: a view (not NUL-terminated), O(1). NULL if i is not a
 * string array or j is out of range. */
const char *gguf_arr_str(const gguf_ctx *ctx, int64_t i, uint64_t j, size_t *len);
/* Element j of a numeric array, converted: _int takes integer and bool
 * arrays, _float takes F32/F64 and integer arrays. */
int gguf_arr_get_int(const gguf_ctx *ctx, int64_t i, uint64_t j, int64_t *out);
int gguf_arr_get_float(const gguf_ctx *ctx, int64_t i, uint64_t j, double *out);

/* Bytes of one scalar of type t (0 for STR, ARR and invalid types). */
size_t gguf_val_size(gguf_val_type t);
const char *gguf_val_type_name(gguf_val_type t);   /* "u32", "str", "?" */

/* ---- tensors ---------------------------------------------------------- */

int64_t gguf_n_tensors(const gguf_ctx *ctx);
/* Tensor i in file order, NULL if out of range. */
const gguf_tensor *gguf_tensor_at(const gguf_ctx *ctx, int64_t i);
/* Tensor by name, NULL if absent. O(log n_tensors). */
const gguf_tensor *gguf_find_tensor(const gguf_ctx *ctx, const char *name);

/* Type table for every ggml type. Unknown/removed types: name NULL,
 * block size and bytes 0. */
const char *gguf_type_name(uint32_t type);          /* "Q4_K" */
uint32_t gguf_type_block_size(uint32_t type);       /* elements per block */
uint32_t gguf_type_block_bytes(uint32_t type);      /* bytes per block */
/* Bytes of n elements of type (n a multiple of the block size), 0 if the
 * type is unknown, n is not a whole number of blocks, or it overflows. */
uint64_t gguf_type_nbytes(uint32_t type, uint64_t n);

/* ---- identity and printing -------------------------------------------- */

/* Content identity of the model: a 128-bit non-cryptographic hash of every
 * byte of the file (metadata and tensor data), as 32 lowercase hex chars +
 * NUL into out. Reads the whole file the first time (about a second per few
 * GB); the result is cached in ctx, so call it once before sharing the ctx
 * between threads. Returns out. */
const char *gguf_model_id(gguf_ctx *ctx, char out[33]);

/* `sparkd model info`: header, all metadata (arrays and long strings
 * abbreviated unless verbose), the tensor table, parameter count and size. */
void gguf_print_info(const gguf_ctx *ctx, FILE *out, int verbose);

#endif
