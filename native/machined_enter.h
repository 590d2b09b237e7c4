/*
 * What the parts of machined-enter share (native/machined_enter.c: the
 * sessions, the namespaces, errors and arguments; native/machined_enter_files.c:
 * copies and bind mounts). See machined_enter.c for the subcommands and
 * the exit statuses.
 */

#ifndef MACHINED_ENTER_H
#define MACHINED_ENTER_H

#include <sched.h>
#include <stdarg.h>

/* Exit statuses (the daemon reads them: src/backends/terminals.ts, src/backends/machine-files.ts). */
#define EXIT_FAILED 1
#define EXIT_NO_USER 2
#define EXIT_NO_START 3
#define EXIT_NO_LISTENER 4

/* Which of a leader's namespaces enter() joins. */
#define JOIN_MOUNT CLONE_NEWNS
#define JOIN_USER_MOUNT (CLONE_NEWUSER | CLONE_NEWNS)
#define JOIN_ALL (CLONE_NEWUSER | CLONE_NEWCGROUP | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWNS)

/* "machined-enter: <fmt>: <strerror(err)>" on stderr. */
void vreport(int err, const char *fmt, va_list ap);

/* A decimal number up to max, nothing else; -EINVAL otherwise. */
int parse_uint(const char *s, unsigned long max, unsigned long *ret);

/* Joins PID's namespaces in `which` and its root; -errno with *what naming the step that failed. */
int enter(long pid, int which, const char **what);

/* The subcommands of machined_enter_files.c: argv holds the arguments after the subcommand's name. */
int run_copy_command(int argc, char **argv);
int run_bind_command(int argc, char **argv);

#endif
