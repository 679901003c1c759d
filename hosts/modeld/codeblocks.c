/* codeblocks.c - fenced code block extraction (see codeblocks.h). */
#include "codeblocks.h"

#include "buf.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Where the line scanner is. */
typedef enum {
    SCAN_TEXT = 0, /* outside any block */
    SCAN_CODE,     /* inside a block opened by `fence_char` x `fence_len` */
} scan_state_t;

/* One line of the input, without its terminator. */
typedef struct line {
    const char *s;
    size_t len;
} line_t;

/* Measures a fence at the start of `ln`: returns its length (>= 3) and sets
 * *ch and *rest (offset of the info string), or 0 if the line is no fence. */
static size_t fence_len(line_t ln, char *ch, size_t *rest)
{
    size_t i = 0;
    while (i < ln.len && i < 3 && ln.s[i] == ' ')
        i++;
    if (i >= ln.len || (ln.s[i] != '`' && ln.s[i] != '~'))
        return 0;
    char c = ln.s[i];
    size_t n = 0;
    while (i + n < ln.len && ln.s[i + n] == c)
        n++;
    if (n < 3)
        return 0;
    /* A backtick fence's info string may not contain backticks (CommonMark),
     * which also keeps inline ```code``` spans from opening a block. */
    if (c == '`' && memchr(ln.s + i + n, '`', ln.len - i - n))
        return 0;
    *ch = c;
    *rest = i + n;
    return n;
}

static block_lang_t lang_word(const char *w, size_t n);

/* The word of `s` (len bytes) starting at or after *pos: sets *w and its
 * length, and moves *pos past it. */
static size_t next_word(const char *s, size_t len, size_t *pos, const char **w)
{
    size_t i = *pos;
    while (i < len && isspace((unsigned char)s[i]))
        i++;
    size_t j = i;
    while (j < len && !isspace((unsigned char)s[j]) && s[j] != '{')
        j++;
    *w = s + i;
    *pos = j;
    return j - i;
}

/* Maps the first word of an info string to what modeld does with it; a
 * "tool" block's second word is the tool's name (*tool, malloc'd, "" when
 * missing).  Returns -1 when out of memory. */
static int lang_of(const char *s, size_t len, block_lang_t *lang, char **tool)
{
    size_t pos = 0;
    const char *w;
    size_t n = next_word(s, len, &pos, &w);
    *tool = NULL;
    if (n == 4 && strncasecmp(w, "tool", 4) == 0) {
        const char *name;
        size_t nn = next_word(s, len, &pos, &name);
        *lang = BLOCK_TOOL;
        return (*tool = strndup(name, nn)) ? 0 : -1;
    }
    *lang = lang_word(w, n);
    return 0;
}

/* Maps one word (shell or python names) to its block kind. */
static block_lang_t lang_word(const char *w, size_t n)
{
    static const char *shell[] = {"bash", "sh", "shell"};
    static const char *python[] = {"python", "py", "python3"};
    for (size_t k = 0; k < sizeof shell / sizeof *shell; k++)
        if (n == strlen(shell[k]) && strncasecmp(w, shell[k], n) == 0)
            return BLOCK_SHELL;
    for (size_t k = 0; k < sizeof python / sizeof *python; k++)
        if (n == strlen(python[k]) && strncasecmp(w, python[k], n) == 0)
            return BLOCK_PYTHON;
    return BLOCK_OTHER;
}

/* True when `ln` closes a block opened with `n` x `c`: only the fence
 * character (at least n of them) and trailing spaces. */
static bool is_closing(line_t ln, char c, size_t n)
{
    char ch;
    size_t rest;
    size_t m = fence_len(ln, &ch, &rest);
    if (m < n || ch != c)
        return false;
    for (size_t i = rest; i < ln.len; i++)
        if (ln.s[i] != ' ' && ln.s[i] != '\t')
            return false;
    return true;
}

/* Appends a finished block to the list, taking ownership of the code and
 * of *tool (set to NULL). */
static int push_block(code_blocks_t *out, block_lang_t lang, char **tool, int line, buf_t *code)
{
    code_block_t *v = realloc(out->v, (out->n + 1) * sizeof *v);
    if (!v)
        return -1;
    out->v = v;
    size_t len = code->len;
    if (len && code->data[len - 1] == '\n')
        len--; /* the newline that preceded the closing fence */
    char *s = buf_steal(code, NULL);
    if (!s)
        s = strdup("");
    if (!s)
        return -1;
    s[len] = '\0';
    v[out->n].lang = lang;
    v[out->n].code = s;
    v[out->n].tool = *tool;
    v[out->n].line = line;
    *tool = NULL;
    out->n++;
    return 0;
}

/* Scans the text line by line with a two-state machine (outside / inside a
 * block), collecting every block; an unclosed block runs to the end. */
int codeblocks_extract(const char *text, code_blocks_t *out)
{
    out->v = NULL;
    out->n = 0;
    scan_state_t st = SCAN_TEXT;
    char fch = 0;
    size_t flen = 0;
    block_lang_t lang = BLOCK_OTHER;
    char *tool = NULL;
    int lineno = 0, open_line = 0;
    buf_t code;
    buf_init(&code);
    const char *p = text ? text : "";
    for (;;) {
        lineno++;
        const char *nl = strchr(p, '\n');
        line_t ln = {p, nl ? (size_t)(nl - p) : strlen(p)};
        if (ln.len && ln.s[ln.len - 1] == '\r')
            ln.len--;
        if (st == SCAN_TEXT) {
            size_t rest;
            size_t n = fence_len(ln, &fch, &rest);
            if (n) {
                st = SCAN_CODE;
                flen = n;
                open_line = lineno;
                if (lang_of(ln.s + rest, ln.len - rest, &lang, &tool) < 0)
                    goto oom;
                buf_clear(&code);
            }
        } else if (is_closing(ln, fch, flen)) {
            if (push_block(out, lang, &tool, open_line, &code) < 0)
                goto oom;
            st = SCAN_TEXT;
        } else if (buf_append(&code, ln.s, ln.len) < 0 || buf_append(&code, "\n", 1) < 0) {
            goto oom;
        }
        if (!nl)
            break;
        p = nl + 1;
    }
    if (st == SCAN_CODE && push_block(out, lang, &tool, open_line, &code) < 0)
        goto oom;
    buf_free(&code);
    return 0;
oom:
    free(tool);
    buf_free(&code);
    codeblocks_free(out);
    return -1;
}

/* Frees every block and resets the list. */
void codeblocks_free(code_blocks_t *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->v[i].code);
        free(b->v[i].tool);
    }
    free(b->v);
    b->v = NULL;
    b->n = 0;
}
