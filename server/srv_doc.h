/* srv_doc.h — one open text document: its bytes, line structure and hash.
 *
 * The text lives in a list of chunks of at most SRV_DOC_CHUNK_MAX bytes, each
 * caching its line-break count and its polynomial hash. An edit rebuilds only
 * the chunks it touches (plus a neighbour to keep chunks from fragmenting), so
 * typing in a 1 MB file costs a few KB of copying, not 1 MB. Line breaks are
 * "\n", "\r\n" and a lone "\r" (as LSP defines them); a "\r\n" pair is never
 * split across chunks.
 *
 * The content hash is a polynomial hash mod 2^61-1 over all bytes; it depends
 * only on the text (not on chunk boundaries or edit history) and is combined
 * from the per-chunk values in O(chunks).
 */
#ifndef SPARKD_SRV_DOC_H
#define SPARKD_SRV_DOC_H

#include <stddef.h>
#include <stdint.h>
#include "lsp_pos.h"

#define SRV_DOC_CHUNK_MAX 4096

typedef struct srv_doc srv_doc;

/* New document holding a copy of text. NULL on out of memory. */
srv_doc *srv_doc_new(const char *text, size_t len);
void srv_doc_free(srv_doc *d);

size_t srv_doc_len(const srv_doc *d);
/* Number of lines: line breaks + 1. */
size_t srv_doc_line_count(const srv_doc *d);
/* Content hash of the whole text (see above). */
uint64_t srv_doc_hash(const srv_doc *d);
/* Hash of an arbitrary byte string, equal to srv_doc_hash of a document
 * holding exactly those bytes. */
uint64_t srv_doc_hash_bytes(const char *s, size_t len);

/* Replaces bytes [start, end) with text. Offsets are clamped to the document
 * and end < start is treated as end = start. Returns 0, or -1 on out of
 * memory (document unchanged). */
int srv_doc_replace(srv_doc *d, size_t start, size_t end, const char *text, size_t len);

/* LSP position -> byte offset. A line past the last maps to the end of the
 * document; a character past the end of its line maps to the end of the
 * line's content. *clamped (may be NULL) is 1 when either was clamped. */
size_t srv_doc_offset(const srv_doc *d, lsp_encoding enc, uint32_t line, uint32_t character,
                      int *clamped);
/* Byte offset -> LSP position (offset clamped to the document length). */
void srv_doc_position(const srv_doc *d, lsp_encoding enc, size_t offset,
                      uint32_t *line, uint32_t *character);

/* Copies bytes [start, end) (clamped) into out, which must hold end-start
 * bytes. Returns the number copied. */
size_t srv_doc_copy(const srv_doc *d, size_t start, size_t end, char *out);
/* The whole text as a malloc'd NUL-terminated string (caller frees). */
char *srv_doc_text(const srv_doc *d, size_t *len);
/* Number of chunks (for tests and benchmarks). */
size_t srv_doc_chunk_count(const srv_doc *d);

#endif
