/* templates.c - template registry (see templates.h). */
#include "templates.h"

#include <stdlib.h>
#include <string.h>

#define MAX_TEMPLATES 64

typedef struct alias_entry {
    const char *name;
    const template_t *tmpl;
} alias_entry_t;

static template_t g_builtin[] = {
    {"base", "base", false},
    {"code-interpreter-v1", "code-interpreter-v1", true},
};
static template_t g_extra[MAX_TEMPLATES];
static int g_nextra;
static alias_entry_t g_aliases[MAX_TEMPLATES + 8];
static int g_naliases;

/* Adds a name that resolves to `t`. */
static void add_alias(const char *name, const template_t *t)
{
    if (g_naliases < (int)(sizeof g_aliases / sizeof g_aliases[0]))
        g_aliases[g_naliases++] = (alias_entry_t){name, t};
}

/* Built-ins first, then the --templates list (each a code-interpreter
 * capable template whose ID and alias are the given name). */
int templates_init(const char *extra)
{
    add_alias("base", &g_builtin[0]);
    add_alias("code-interpreter-v1", &g_builtin[1]);
    add_alias("code-interpreter", &g_builtin[1]);
    if (!extra)
        return 0;
    char *copy = strdup(extra);
    if (!copy)
        return -1;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        if (!*tok || templates_find(tok))
            continue;
        if (g_nextra == MAX_TEMPLATES)
            break;
        char *name = strdup(tok);
        if (!name)
            break;
        g_extra[g_nextra] = (template_t){name, name, true};
        add_alias(name, &g_extra[g_nextra]);
        g_nextra++;
    }
    free(copy);
    return 0;
}

/* Looks a name up, ignoring a ":tag" suffix as E2B's "name:tag" references. */
const template_t *templates_find(const char *name)
{
    if (!name)
        return NULL;
    size_t len = strcspn(name, ":");
    for (int i = 0; i < g_naliases; i++)
        if (strlen(g_aliases[i].name) == len && strncmp(g_aliases[i].name, name, len) == 0)
            return g_aliases[i].tmpl;
    return NULL;
}
