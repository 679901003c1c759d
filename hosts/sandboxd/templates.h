/*
 * templates.h - the sandbox templates sandboxd accepts.
 *
 * Templates only decide whether the code interpreter (port 49999) is
 * available: every sandbox has the same filesystem view (the host's /usr,
 * /etc, ... read-only, its own /home/user and /tmp).
 *
 *   base                  envd only (port 49999 answers E2B's 502 "port is not open")
 *   code-interpreter-v1   envd + code interpreter; alias "code-interpreter"
 *   --templates a,b       extra names, behaving like code-interpreter-v1
 */
#ifndef SANDBOXD_TEMPLATES_H
#define SANDBOXD_TEMPLATES_H

#include <stdbool.h>

typedef struct template {
    const char *id;          /* templateID returned by the API */
    const char *alias;       /* alias returned by the API */
    bool code_interpreter;   /* serves port 49999 */
} template_t;

/* Registers the built-in templates plus a comma-separated list of extra
 * names (may be NULL).  Returns 0 or -1. */
int templates_init(const char *extra);

/* Finds a template by ID or alias (an optional ":tag" suffix is ignored);
 * NULL if unknown. */
const template_t *templates_find(const char *name);

#endif
