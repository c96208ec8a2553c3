/* lsp_pos.h — LSP positions <-> byte offsets, for every position encoding.
 *
 * LSP counts a position's `character` in code units of the negotiated
 * encoding: UTF-16 (the default), UTF-8 or UTF-32. Documents are stored as
 * bytes (normally UTF-8). These functions work on one line's bytes (without
 * or with its terminator; a terminator is never counted into a column).
 *
 * Invalid UTF-8 is never fatal: each byte that does not start a valid,
 * complete, shortest-form sequence counts as one code point (U+FFFD), i.e. one
 * UTF-16 unit, one UTF-32 unit and one UTF-8 unit. Code points above U+FFFF
 * count as two UTF-16 units (a surrogate pair). A column that falls inside a
 * character (between two surrogates, or inside a multi-byte UTF-8 sequence for
 * the utf-8 encoding) is moved back to the start of that character. A column
 * past the end of the line is clamped to the end of the line's content.
 */
#ifndef SPARKD_LSP_POS_H
#define SPARKD_LSP_POS_H

#include <stddef.h>
#include <stdint.h>

typedef enum { LSP_ENC_UTF8, LSP_ENC_UTF16, LSP_ENC_UTF32 } lsp_encoding;

/* "utf-8" / "utf-16" / "utf-32" (exactly, as LSP spells them) -> encoding;
 * returns 0, or -1 for anything else (NULL included; *out untouched). */
int lsp_encoding_parse(const char *name, lsp_encoding *out);
/* The LSP name of enc (static); "unknown" for a value outside the enum. */
const char *lsp_encoding_name(lsp_encoding enc);

/* Decodes one code point at s[0..len). Returns its byte length (>= 1 when
 * len > 0) and stores the code point, or 0xFFFD for an invalid byte (length 1;
 * a real U+FFFD has length 3). len 0 returns 0. cp may be NULL. Overlongs,
 * UTF-16 surrogates (U+D800..DFFF) and values above U+10FFFF are invalid. */
size_t lsp_utf8_decode(const unsigned char *s, size_t len, uint32_t *cp);

/* Length of a line's content: bytes before "\n", "\r\n" or "\r" (or len). */
size_t lsp_line_content_len(const char *line, size_t len);

/* Byte offset within line for column col in encoding enc (clamped, see above).
 * *clamped is set to 1 when col was past the end, else 0 (may be NULL). */
size_t lsp_col_to_byte(const char *line, size_t len, lsp_encoding enc,
                       uint32_t col, int *clamped);

/* Column in encoding enc of byte offset `byte` within line (byte is clamped to
 * the content length; an offset inside a character counts to its start). */
uint32_t lsp_byte_to_col(const char *line, size_t len, lsp_encoding enc, size_t byte);

/* Number of enc code units in s[0..len) (used for ranges and lengths);
 * unlike the column functions it stops at nothing: terminators count too. */
size_t lsp_units(const char *s, size_t len, lsp_encoding enc);

#endif
