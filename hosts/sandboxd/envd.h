/*
 * envd.h - the envd surface of the sandbox port (port 49983):
 *   process.Process/{Start,Connect,List,SendInput,SendSignal,CloseStdin,Update}
 *   filesystem.Filesystem/{Stat,MakeDir,Move,ListDir,Remove}
 *   GET /health, GET|POST /files, GET /envs, GET /metrics
 */
#ifndef SANDBOXD_ENVD_H
#define SANDBOXD_ENVD_H

#include "httpd.h"

/* Adds the process.Process routes. */
void envd_process_register(httpd_t *h);

/* Adds the filesystem.Filesystem routes. */
void envd_fs_register(httpd_t *h);

/* Adds /health, /files, /envs and /metrics. */
void envd_files_register(httpd_t *h);

#endif
