/*
 * What the parts of machined-spawn-helper share (main.c says what the
 * program is and its protocol): the plan, its steps and their table, the
 * one executor that runs them, and the helpers the steps use.
 */

#ifndef MACHINED_SPAWN_HELPER_H
#define MACHINED_SPAWN_HELPER_H

#include <stddef.h>
#include <sys/types.h>

#define MAX_FIELDS 256
#define MAX_NAMED_FDS 64
#define MAX_ENV 1024

struct Plan;

/* One plan line: an operation and its fields, percent-decoded ("-" is NULL). */
typedef struct Step {
        int line;
        int optional;   /* "?op": a missing path (ENOENT) is not an error */
        int argc;
        char *argv[MAX_FIELDS];
        const struct StepKind *kind;   /* NULL: an operation this helper does not know (ENOSYS when run) */
} Step;

/* Where a step runs: in the helper as the plan is read (clone, host-dir), or in the container, in order. */
typedef enum StepSide { IN_HELPER, IN_CONTAINER } StepSide;

/* A row of the step table (steps.c). */
typedef struct StepKind {
        const char *name;
        int min_fields;   /* after the operation's name */
        StepSide side;
        int (*run)(const Step *st, struct Plan *plan);   /* 0, or -1 with errno set */
} StepKind;

/* The plan and what its steps leave for later ones. */
typedef struct Plan {
        Step *steps;      /* the container's steps, in order */
        size_t n_steps;
        unsigned long clone_flags;
        int go_fd;        /* the container reads "go" here (wait-go) */
        int fdpass;       /* the container sends the fds the helper keeps here */
        struct { char *name; int fd; } named_fds[MAX_NAMED_FDS];
        size_t n_named_fds;
        char *env[MAX_ENV + 1];
        size_t n_env;
} Plan;

/* plan.c: the protocol's lines, and the executor. */
void emit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
typedef struct Reader { int fd; char buf[65536]; size_t len; int eof; } Reader;
char *read_line(Reader *rd);
int read_plan(Reader *rd, Plan *plan);
const char *arg(const Step *st, int i);
int run_step(const Step *st, Plan *plan);
void run_container(Plan *plan, int err_fd) __attribute__((noreturn));

/* steps.c: the table. */
const StepKind *find_step_kind(const char *name);

/* fs.c: what the container's steps do to files, mounts and the process. */
unsigned long parse_mount_flags(const char *s);
int mkdir_p(const char *path, mode_t mode);
int remount_ro_one(const char *path);
int remount_ro_tree(const char *path);
int pivot_into(const char *root, int read_only);
int write_file(const char *path, mode_t mode, const char *content);
int make_node(const char *path, const char *type, mode_t mode, const char *major, const char *minor);
int make_console(const char *path);
int link_up(const char *name);
int keep_capabilities(const char *hex_mask);
void reset_signals(void);

/* loop.c: a raw image's file system through an auto-cleared loop device. */
int loop_mount(const char *image, const char *offset, const char *size, const char *fstype, const char *target, const char *flags, const char *data);

/* host.c: the helper's side. */
int step_clone(const Step *st, Plan *plan);
int step_host_shared_dir(const Step *st, Plan *plan);
int step_host_dir(const Step *st, Plan *plan);
int step_host_orphan_dir(const Step *st, Plan *plan);
void host_cleanup(void);
void host_manager_gone(void);
void drain_notify(int sock, pid_t leader);

#endif
