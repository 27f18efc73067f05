// libedit (Debian libedit-dev) through its readline-compatible interface, for the
// REPL's line editing, history and completion. The accessors below keep libedit's
// global variables out of Swift (strict concurrency forbids touching C globals).
#include <stdio.h>
#include <locale.h>
#include <editline/readline.h>

// libedit's own signal handling retries an interrupted read once, so a Ctrl-C can be
// lost; the shell reads keys itself (`getc`) and handles SIGINT on its own.
static inline void patron_rl_setup(const char *name, rl_completion_func_t *complete, int (*getc_fn)(FILE *)) {
    rl_readline_name = name;
    rl_attempted_completion_function = complete;
    rl_catch_signals = 0;
    rl_getc_function = getc_fn;
}

static inline const char *patron_rl_line_buffer(void) { return rl_line_buffer; }

static inline void patron_rl_completion_done(void) { rl_attempted_completion_over = 1; }
