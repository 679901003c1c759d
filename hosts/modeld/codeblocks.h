/*
 * codeblocks.h - fenced code blocks of a Markdown prompt, in order.
 *
 * A fence is a line of at least three backticks (or tildes), indented by at
 * most three spaces, optionally followed by an info string whose first word
 * is the language.  The block ends at a line holding only a fence of the
 * same character at least as long, or at the end of the text.  Lines end in
 * "\n" or "\r\n"; the code is returned without its final newline.
 *
 * An info string "tool NAME" (e.g. ```tool edit_file) makes a tool block:
 * its code is the JSON input of one call of the tool NAME (checked by
 * script_check, not here).
 */
#ifndef MODELD_CODEBLOCKS_H
#define MODELD_CODEBLOCKS_H

#include <stddef.h>

/* What modeld does with a block, chosen by its language. */
typedef enum {
    BLOCK_OTHER = 0, /* any other language, or none: ignored */
    BLOCK_SHELL,     /* bash, sh, shell: run_command */
    BLOCK_PYTHON,    /* python, py, python3: write_file + run_command */
    BLOCK_TOOL,      /* tool NAME: one call of NAME with the block as its input */
} block_lang_t;

typedef struct code_block {
    block_lang_t lang;
    char *code; /* malloc'd */
    char *tool; /* BLOCK_TOOL: the tool's name (malloc'd; "" when the info string has
                 * none); NULL for other blocks */
    int line;   /* 1-based line of the opening fence */
} code_block_t;

typedef struct code_blocks {
    code_block_t *v;
    size_t n;
} code_blocks_t;

/* Extracts every fenced block of `text` into `out` (which it initializes).
 * Returns 0, or -1 when out of memory (out is then empty). */
int codeblocks_extract(const char *text, code_blocks_t *out);

/* Frees the blocks. */
void codeblocks_free(code_blocks_t *b);

#endif
