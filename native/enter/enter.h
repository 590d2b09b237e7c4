/*
 * What the parts of machined-enter share (main.c says what the program
 * does, its subcommands and exit statuses): errors and arguments
 * (report.c), joining a machine (namespaces.c), and each subcommand's
 * entry point (main.c: openpt, connect; exec.c; copy.c; bind.c).
 */

#ifndef MACHINED_ENTER_H
#define MACHINED_ENTER_H

#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Exit statuses (the daemon reads them: src/backends/terminals.ts, src/backends/machine-files.ts). */
#define EXIT_FAILED 1
#define EXIT_NO_USER 2
#define EXIT_NO_START 3
#define EXIT_NO_LISTENER 4

/* Which of a leader's namespaces enter() joins. */
#define JOIN_MOUNT CLONE_NEWNS
#define JOIN_USER_MOUNT (CLONE_NEWUSER | CLONE_NEWNS)
#define JOIN_ALL (CLONE_NEWUSER | CLONE_NEWCGROUP | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWNS)

/* report.c: "machined-enter: <fmt>: <strerror(err)>" on stderr. */
void vreport(int err, const char *fmt, va_list ap);
void report(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* report(errno, what), then exit(EXIT_FAILED). */
void fail(const char *what) __attribute__((noreturn));
/* For copy and bind: the message on stderr and "<errno>\t<stage>\t<strerror>" on stdout; returns EXIT_FAILED. */
int fail_stage(int err, const char *stage, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A decimal number up to max, nothing else; -EINVAL otherwise. */
int parse_uint(const char *s, unsigned long max, unsigned long *ret);
/* The usage on stderr; returns EXIT_FAILED. */
int usage(void);

/* namespaces.c: joins PID's namespaces in `which` and its root; -errno with *what naming the step that failed. */
int enter(long pid, int which, const char **what);
/* enter(), or exit with its error. */
void enter_or_fail(long pid, int which);
/* The leader's capability bounding set, read from the host's /proc (~0 for the host), and dropping ours to it. */
uint64_t leader_bounding_set(long pid);
int limit_bounding_set(uint64_t set);

/* The subcommands; the files' take the arguments after the subcommand's name. */
#define MAX_ENV 256
int run_exec(long pid, const char *tty, const char *user, bool login, char **given_env, size_t n_given, char **command);
int run_copy_command(int argc, char **argv);
/* copy_tree.c: copies `from` (in df) to `to` (in dt); uid/gid (uid_t) -1 keep the source's owners. 0 or -errno. */
int copy_tree_at(int df, const char *from, int dt, const char *to, uid_t uid, gid_t gid, bool replace, bool drop_privileges);
int run_bind_command(int argc, char **argv);

#endif
