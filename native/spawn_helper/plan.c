/*
 * The plan: reading its lines (the protocol in main.c) and the one
 * executor that runs its steps, the helper's as they are read and the
 * container's in order, through the table in steps.c.
 */

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spawn_helper.h"

/* One line to machined-spawn, on stdout. */
void emit(const char *fmt, ...) {
        char buf[8192];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        if ((size_t) n > sizeof buf - 2)
                n = sizeof buf - 2;
        buf[n++] = '\n';
        for (ssize_t off = 0; off < n;) {
                ssize_t w = write(STDOUT_FILENO, buf + off, n - off);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        return;
                }
                off += w;
        }
}

static int hexval(char c) {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
}

/* Decodes %XX in place; "-" alone means NULL. */
static char *decode_field(char *s) {
        char *r = s, *w = s;

        if (strcmp(s, "-") == 0)
                return NULL;
        while (*r) {
                if (r[0] == '%' && hexval(r[1]) >= 0 && hexval(r[2]) >= 0) {
                        *w++ = (char) (hexval(r[1]) * 16 + hexval(r[2]));
                        r += 3;
                } else
                        *w++ = *r++;
        }
        *w = 0;
        return s;
}

/* A line read from a raw fd (nothing after the plan is read ahead and lost): malloc'ed, without '\n'; NULL at EOF. */
char *read_line(Reader *rd) {
        for (;;) {
                char *nl = memchr(rd->buf, '\n', rd->len);
                if (nl) {
                        size_t n = nl - rd->buf;
                        char *line = strndup(rd->buf, n);
                        memmove(rd->buf, nl + 1, rd->len - n - 1);
                        rd->len -= n + 1;
                        return line;
                }
                if (rd->eof || rd->len == sizeof rd->buf)
                        return NULL;
                ssize_t k = read(rd->fd, rd->buf + rd->len, sizeof rd->buf - rd->len);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0) {
                        rd->eof = 1;
                        continue;
                }
                rd->len += k;
        }
}

static int parse_step(char *line, int lineno, Step *st) {
        char *save = NULL, *tok;

        memset(st, 0, sizeof *st);
        st->line = lineno;
        for (tok = strtok_r(line, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
                if (st->argc >= MAX_FIELDS)
                        return -E2BIG;
                st->argv[st->argc++] = decode_field(tok);
        }
        if (st->argc == 0 || !st->argv[0])
                return -EINVAL;
        if (st->argv[0][0] == '?') {
                st->optional = 1;
                st->argv[0]++;
        }
        st->kind = find_step_kind(st->argv[0]);
        return 0;
}

const char *arg(const Step *st, int i) {
        return i < st->argc ? st->argv[i] : NULL;
}

/* The executor: one step, its fields counted first. 0, or -1 with errno set. */
int run_step(const Step *st, Plan *plan) {
        if (!st->kind) {
                errno = ENOSYS;
                return -1;
        }
        if (st->argc < st->kind->min_fields + 1) {
                errno = EINVAL;
                return -1;
        }
        return st->kind->run(st, plan);
}

/*
 * Reads the plan up to ".": runs the helper's steps at once and keeps the
 * container's, in order. 0, or -1 once the failure is reported (and what
 * the helper's steps made is undone).
 */
int read_plan(Reader *rd, Plan *plan) {
        int lineno = 0;
        char *line;

        while ((line = read_line(rd))) {
                Step st;
                lineno++;
                if (strcmp(line, ".") == 0) {
                        free(line);
                        break;
                }
                if (parse_step(line, lineno, &st) < 0) {
                        emit("error plan line %d is malformed", lineno);
                        return -1;
                }
                if (st.kind && st.kind->side == IN_HELPER) {
                        if (run_step(&st, plan) < 0) {
                                emit("error Failed to prepare %s: %s", arg(&st, 1) ? arg(&st, 1) : "-", strerror(errno));
                                host_cleanup();
                                return -1;
                        }
                        continue;
                }
                plan->steps = realloc(plan->steps, sizeof(Step) * (plan->n_steps + 1));
                plan->steps[plan->n_steps++] = st;
        }
        if (rd->eof && rd->len == 0 && lineno == 0) {
                emit("error no plan");
                return -1;
        }
        return 0;
}

static void report_step_error(int err_fd, const Step *st, int err) {
        char msg[4096];
        int n = snprintf(msg, sizeof msg, "%s", st->argv[0]);

        for (int i = 1; i < st->argc && n < (int) sizeof msg - 1; i++)
                n += snprintf(msg + n, sizeof msg - n, " %s", st->argv[i] ? st->argv[i] : "-");
        if (n >= (int) sizeof msg)
                n = sizeof msg - 1;
        n += snprintf(msg + n, sizeof msg - n, ": %s", strerror(err));
        if (strcmp(st->argv[0], "exec") == 0)
                n = snprintf(msg, sizeof msg, "Failed to execute %s: %s", st->argv[1], strerror(err));
        if (n >= (int) sizeof msg)
                n = sizeof msg - 1;
        (void) !write(err_fd, msg, n);
}

/* The container (C): runs its steps in order up to exec; a failure goes to err_fd and ends it. */
void run_container(Plan *plan, int err_fd) {
        /* Die with the helper (getppid() is 0 here: the parent lives outside our PID namespace). */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) {
                (void) !write(err_fd, "prctl: cannot set the parent-death signal", 41);
                _exit(1);
        }
        umask(0);
        for (size_t i = 0; i < plan->n_steps; i++) {
                const Step *st = &plan->steps[i];
                if (run_step(st, plan) < 0) {
                        int e = errno;
                        if (st->optional && e == ENOENT)
                                continue;
                        report_step_error(err_fd, st, e);
                        _exit(1);
                }
        }
        (void) !write(err_fd, "The plan ends without exec", 26);
        _exit(1);
}
