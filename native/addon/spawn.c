/*
 * Starting a program without node:child_process (see main.c). machined-spawn
 * starts its helper on the path from launch to the container's init, and
 * child_process.spawn() cost it about 9 ms there: loading node:child_process
 * (with dgram, socket lists and the like) and libuv's fork() of a ~50 MB
 * Node process, which copies its page tables and blocks until the child
 * execs. glibc's posix_spawn() clones with CLONE_VM | CLONE_VFORK instead:
 * no page tables are copied, and the parent waits only until the exec.
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "addon.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* Caller-given lengths are bounded: a program's argv here is a handful of words, its fds a handful of numbers. */
#define SPAWN_ARGS_MAX 4096
#define SPAWN_FDS_MAX 256

extern char **environ;

/* pipe() -> [readFd, writeFd], both close-on-exec (a child gets them only as its fds[i] in spawnProgram()). */
napi_value js_pipe(napi_env env, napi_callback_info info) {
        int fds[2];

        if (pipe2(fds, O_CLOEXEC) < 0)
                return throw_errno(env, errno, "pipe2");
        return fd_pair(env, fds);
}

/* An array argument's length, at most `max`; throws a TypeError naming `what` and returns -1 otherwise. */
static int get_array(napi_env env, napi_value v, uint32_t max, const char *what, uint32_t *ret_n) {
        bool is_array;

        if (napi_is_array(env, v, &is_array) != napi_ok || !is_array || napi_get_array_length(env, v, ret_n) != napi_ok ||
            *ret_n > max) {
                napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", what);
                return -1;
        }
        return 0;
}

typedef struct Spawn {
        char *path;
        char **argv;          /* NULL-terminated */
        uint32_t n_args;
        int *fds;             /* fds[i] becomes the child's fd i */
        int *dups;            /* our copies of fds that dup2 onto lower numbers would overwrite; -1 if none */
        uint32_t n_fds;
        bool setsid;
} Spawn;

static void spawn_free(Spawn *s) {
        free(s->path);
        for (uint32_t i = 0; s->argv && i < s->n_args; i++)
                free(s->argv[i]);
        free(s->argv);
        for (uint32_t i = 0; s->dups && i < s->n_fds; i++)
                if (s->dups[i] >= 0)
                        close(s->dups[i]);
        free(s->fds);
        free(s->dups);
}

/* Reads (path, argv, fds, setsid) into `s`; throws and returns -1 on a wrong argument. */
static int get_spawn_args(napi_env env, napi_callback_info info, Spawn *s) {
        napi_value argv[4];
        size_t argc = 4;
        napi_valuetype type;

        napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
        if (argc < 4 || napi_typeof(env, argv[0], &type) != napi_ok || type != napi_string ||
            napi_typeof(env, argv[3], &type) != napi_ok || type != napi_boolean) {
                napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "spawnProgram(path: string, argv: string[], fds: number[], setsid: boolean)");
                return -1;
        }
        napi_get_value_bool(env, argv[3], &s->setsid);
        if (get_array(env, argv[1], SPAWN_ARGS_MAX, "argv must be an array of at most 4096 strings", &s->n_args) < 0 ||
            get_array(env, argv[2], SPAWN_FDS_MAX, "fds must be an array of at most 256 fds", &s->n_fds) < 0)
                return -1;
        s->path = string_of(env, argv[0]);
        s->argv = calloc(s->n_args + 1, sizeof(char *));
        s->fds = calloc(s->n_fds + 1, sizeof(int));
        s->dups = calloc(s->n_fds + 1, sizeof(int));
        for (uint32_t i = 0; s->dups && i < s->n_fds; i++)
                s->dups[i] = -1;
        if (!s->path || !s->argv || !s->fds || !s->dups) {
                throw_errno(env, ENOMEM, "malloc");
                return -1;
        }
        for (uint32_t i = 0; i < s->n_args; i++) {
                napi_value v;
                napi_get_element(env, argv[1], i, &v);
                if (napi_typeof(env, v, &type) != napi_ok || type != napi_string) {
                        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "argv must be an array of strings");
                        return -1;
                }
                s->argv[i] = string_of(env, v);
                if (!s->argv[i]) {
                        throw_errno(env, ENOMEM, "malloc");
                        return -1;
                }
        }
        for (uint32_t i = 0; i < s->n_fds; i++) {
                napi_value v;
                napi_get_element(env, argv[2], i, &v);
                if (get_int_arg(env, &v, 1, 0, "fd", &s->fds[i]) < 0)
                        return -1;
        }
        return 0;
}

/*
 * The child's file actions: fd i becomes fds[i], nothing else stays open.
 * The dup2()s run in order, so a source below fds.length other than its
 * own slot (our stdin 0 as the child's fd 4, when its fd 0 is a pipe) would
 * be overwritten by an earlier one: such sources are first copied above
 * fds.length here, in the parent (close-on-exec, closed after the spawn).
 * A dup2() onto the same number only clears close-on-exec: glibc does that
 * for adddup2 with fd == newfd since 2.29 (POSIX's Austin Group issue 411).
 */
static int file_actions(Spawn *s, posix_spawn_file_actions_t *fa, const char **ret_syscall) {
        int r;

        for (uint32_t i = 0; i < s->n_fds; i++)
                if ((uint32_t) s->fds[i] < s->n_fds && (uint32_t) s->fds[i] != i) {
                        s->dups[i] = fcntl(s->fds[i], F_DUPFD_CLOEXEC, (int) s->n_fds);
                        if (s->dups[i] < 0) {
                                *ret_syscall = "fcntl";
                                return errno;
                        }
                }
        *ret_syscall = "posix_spawn_file_actions_adddup2";
        for (uint32_t i = 0; i < s->n_fds; i++) {
                r = posix_spawn_file_actions_adddup2(fa, s->dups[i] >= 0 ? s->dups[i] : s->fds[i], (int) i);
                if (r != 0)
                        return r;
        }
        *ret_syscall = "posix_spawn_file_actions_addclosefrom_np";
        return posix_spawn_file_actions_addclosefrom_np(fa, (int) s->n_fds);
}

/*
 * The child starts as libuv's uv_spawn() would start it: every signal at
 * its default disposition (Node ignores SIGPIPE, and ignored signals survive
 * exec) and none blocked, and in a session of its own when asked. The set
 * of signals to default is filled byte by byte: glibc's sigfillset() leaves
 * out its two internal signals (32 and 33, thread cancellation and setxid),
 * and posix_spawn() then sets those that we have handlers for to SIG_IGN in
 * the child, which the program would keep ignoring after exec.
 */
static int attributes(const Spawn *s, posix_spawnattr_t *attr) {
        sigset_t all, none;
        int r;

        memset(&all, 0xff, sizeof all);
        sigemptyset(&none);
        r = posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | (s->setsid ? POSIX_SPAWN_SETSID : 0));
        if (r == 0)
                r = posix_spawnattr_setsigdefault(attr, &all);
        if (r == 0)
                r = posix_spawnattr_setsigmask(attr, &none);
        return r;
}

/*
 * spawnProgram(path, argv, fds, setsid) -> pid: runs the program at `path`
 * (no PATH search) with `argv` (argv[0] included) and our environment;
 * its fd i is fds[i]. The caller reaps it (waitPidfd()).
 */
napi_value js_spawn_program(napi_env env, napi_callback_info info) {
        Spawn s = { 0 };
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        const char *failed = "posix_spawn";
        napi_value result = NULL;
        pid_t pid;
        int r;

        if (get_spawn_args(env, info, &s) < 0) {
                spawn_free(&s);
                return NULL;
        }
        posix_spawn_file_actions_init(&fa);
        posix_spawnattr_init(&attr);
        r = file_actions(&s, &fa, &failed);
        if (r == 0 && (r = attributes(&s, &attr)) != 0)
                failed = "posix_spawnattr_setflags";
        if (r == 0 && (r = posix_spawn(&pid, s.path, &fa, &attr, s.argv, environ)) != 0)
                failed = "posix_spawn";
        posix_spawnattr_destroy(&attr);
        posix_spawn_file_actions_destroy(&fa);
        spawn_free(&s);
        if (r != 0)
                return throw_errno(env, r, failed);
        napi_create_int32(env, pid, &result);
        return result;
}

/*
 * waitPidfd(pidfd) -> { code } | { signal } | undefined: reaps the child
 * behind a pidfd if it has exited (undefined while it runs), so that no
 * zombie is left; waitid(P_PIDFD) never touches another child of ours.
 */
napi_value js_wait_pidfd(napi_env env, napi_callback_info info) {
        siginfo_t si = { 0 };
        napi_value result;
        int32_t fd;

        if (get_int_args(env, info, 1, (const char *const[]) { "fd" }, &fd) < 0)
                return NULL;
        if (waitid((idtype_t) P_PIDFD, (id_t) fd, &si, WEXITED | WNOHANG) < 0)
                return throw_errno(env, errno, "waitid");
        if (si.si_pid == 0)
                return NULL;
        napi_create_object(env, &result);
        if (si.si_code == CLD_EXITED)
                set_int32(env, result, "code", si.si_status);
        else
                set_int32(env, result, "signal", si.si_status);
        return result;
}
