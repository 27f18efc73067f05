// libedit (Debian libedit-dev) through its readline-compatible interface, for the
// REPL's line editing, history and completion. The accessors below keep libedit's
// global variables out of Swift (strict concurrency forbids touching C globals).
#include <stdio.h>
#include <locale.h>
#include <termios.h>
#include <unistd.h>
#include <editline/readline.h>

// Called by readline() after it has recorded the terminal's modes and before it
// prints the prompt: puts the terminal in non-canonical, no-echo mode at once.
// libedit itself switches only at its first read, after the prompt is out, so keys
// typed the instant the prompt appears would reach a canonical terminal: echoed by
// the kernel, and Ctrl-D turned into a NUL byte (the end-of-file is lost). In
// non-canonical mode every key stays in the input queue as typed (no tcsetattr of
// ours or libedit's flushes it: all use TCSANOW or TCSADRAIN). ISIG stays on, so
// Ctrl-C is still SIGINT. A terminal without echo (libedit then does not edit) is
// left alone.
static inline int patron_rl_raw_before_prompt(void) {
    int fd = fileno(rl_instream ? rl_instream : stdin);
    struct termios t;
    if (tcgetattr(fd, &t) != 0 || !(t.c_lflag & ECHO) || !(t.c_lflag & ICANON)) return 0;
    t.c_lflag &= ~(tcflag_t)(ICANON | ECHO | ECHONL | IEXTEN);
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    (void)tcsetattr(fd, TCSANOW, &t);
    return 0;
}

// Must run before any other libedit call: the first one (using_history, readline)
// runs rl_initialize, which reads rl_catch_signals and rl_getc_function once. Set
// later they are ignored, and libedit then installs its own SIGINT handler around
// each read and reads keys with read(2) itself.
//
// With rl_catch_signals = 0 libedit installs no signal handlers (its handler
// re-raises the signal with kill(0, …), to the whole process group, and retries an
// interrupted read); the shell handles SIGINT itself and reads keys through
// `getc_fn`, which returns -1 on Ctrl-C to end the line.
static inline void patron_rl_setup(const char *name, rl_completion_func_t *complete, int (*getc_fn)(FILE *)) {
    rl_readline_name = name;
    rl_attempted_completion_function = complete;
    rl_catch_signals = 0;
    rl_getc_function = getc_fn;
    rl_pre_input_hook = patron_rl_raw_before_prompt;
}

static inline const char *patron_rl_line_buffer(void) { return rl_line_buffer; }

static inline void patron_rl_completion_done(void) { rl_attempted_completion_over = 1; }
