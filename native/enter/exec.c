/*
 * machined-enter exec: a login or shell session inside a machine whose
 * guest has no systemd to ask (busybox, distroless): joins every namespace
 * of the leader and its cgroups, looks the user up in the machine's own
 * /etc/passwd and /etc/group (never through NSS: that would load the
 * guest's libraries into a process with the host's privileges), then forks
 * the session on the given terminal with the user's ids, groups, home and
 * the environment a login gives. main.c has the arguments.
 */

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "enter.h"

#define MAX_GROUPS 256

/* getpwnam() from the machine's files, without NSS. */
static struct passwd *find_user(const char *user) {
        struct passwd *pw;
        FILE *f = fopen("/etc/passwd", "re");

        if (!f)
                return NULL;
        while ((pw = fgetpwent(f)))
                if (strcmp(pw->pw_name, user) == 0)
                        break;
        /* fgetpwent()'s buffer outlives the FILE. */
        fclose(f);
        return pw;
}

/* getgrouplist() from the machine's files, without NSS. */
static size_t find_groups(const char *user, gid_t primary, gid_t *out, size_t max) {
        struct group *gr;
        size_t n = 0;
        FILE *f;

        out[n++] = primary;
        f = fopen("/etc/group", "re");
        if (!f)
                return n;
        while ((gr = fgetgrent(f)) && n < max) {
                if (gr->gr_gid == primary)
                        continue;
                for (char **m = gr->gr_mem; *m; m++)
                        if (strcmp(*m, user) == 0) {
                                out[n++] = gr->gr_gid;
                                break;
                        }
        }
        fclose(f);
        return n;
}

/* Sets KEY=value unless the caller gave KEY already (what the caller gives wins over ours). */
static void env_default(char **env, size_t *n, const char *key, const char *value) {
        size_t k = strlen(key);
        char *s;

        for (size_t i = 0; i < *n; i++)
                if (strncmp(env[i], key, k) == 0 && env[i][k] == '=')
                        return;
        s = malloc(k + 1 + strlen(value) + 1);
        if (!s)
                fail("malloc");
        sprintf(s, "%s=%s", key, value);
        env[(*n)++] = s;
}

/* The environment of a login: what the caller gave, then ours; NULL-terminated in env[MAX_ENV + 8]. */
static void login_env(char **env, char **given, size_t n_given, const struct passwd *pw, const char *shell) {
        size_t n = 0;

        for (size_t i = 0; i < n_given && n < MAX_ENV; i++)
                env[n++] = given[i];
        env_default(env, &n, "HOME", pw->pw_dir);
        env_default(env, &n, "USER", pw->pw_name);
        env_default(env, &n, "LOGNAME", pw->pw_name);
        env_default(env, &n, "SHELL", shell);
        env_default(env, &n, "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        env_default(env, &n, "TERM", "vt220");
        env[n] = NULL;
}

static const char *find_login(void) {
        static const char *const candidates[] = { "/bin/login", "/usr/bin/login", "/sbin/login", "/usr/sbin/login" };

        for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++)
                if (access(candidates[i], X_OK) == 0)
                        return candidates[i];
        return NULL;
}

/* The child: the session on `tty`, as the user, with nothing of the host's but the terminal; writes errno to status_fd if it cannot exec. */
static void run_session(const char *tty, uint64_t bounding, const struct passwd *pw, const gid_t *groups, size_t n_groups,
                        const char *path, char **argv, char **env, int status_fd) {
        int fd, err;

        signal(SIGPIPE, SIG_DFL);
        if (limit_bounding_set(bounding) < 0 || setsid() < 0)
                goto fail;
        fd = open(tty, O_RDWR | O_CLOEXEC);
        if (fd < 0 || ioctl(fd, TIOCSCTTY, 0) < 0)
                goto fail;
        if (dup2(fd, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
                goto fail;
        /* Nothing of the host's but the terminal reaches the session: whatever fd we were started with goes at exec (the status pipe too). */
        if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
                /* Before Linux 5.11: one fd at a time. */
                long max = sysconf(_SC_OPEN_MAX);
                for (long i = 3; i < (max > 0 ? max : 1024); i++)
                        (void) fcntl((int) i, F_SETFD, FD_CLOEXEC);
        }
        if (setgroups(n_groups, groups) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
                goto fail;
        if (chdir(pw->pw_dir) < 0)
                (void) !chdir("/");
        execve(path, argv, env);
fail:
        err = errno;
        (void) !write(status_fd, &err, sizeof err);
        _exit(127);
}

/* Waits for the session; its exit status, or 128+N for a signal. */
static int wait_session(pid_t child) {
        for (;;) {
                int status;

                if (waitpid(child, &status, 0) < 0) {
                        if (errno == EINTR)
                                continue;
                        return 1;
                }
                return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
}

int run_exec(long pid, const char *tty, const char *user, bool login, char **given_env, size_t n_given, char **command) {
        char *env[MAX_ENV + 8];
        gid_t groups[MAX_GROUPS];
        size_t n_groups;
        struct passwd *pw;
        const char *path, *shell;
        char **argv, *login_argv[] = { "login", NULL };
        int status_pipe[2], err = 0;
        pid_t child;
        ssize_t r;
        uint64_t bounding = pid > 0 ? leader_bounding_set(pid) : UINT64_MAX;

        if (pid > 0)
                enter_or_fail(pid, JOIN_ALL);
        if (login)
                user = "root";
        pw = find_user(user);
        if (!pw) {
                fputs("no-such-user\n", stderr);
                return EXIT_NO_USER;
        }
        shell = pw->pw_shell && pw->pw_shell[0] ? pw->pw_shell : "/bin/sh";
        n_groups = find_groups(pw->pw_name, pw->pw_gid, groups, MAX_GROUPS);
        login_env(env, given_env, n_given, pw, shell);

        if (login) {
                path = find_login();
                if (!path) {
                        fputs("machined-enter: the machine has no login program\n", stderr);
                        return EXIT_NO_START;
                }
                argv = login_argv;
        } else if (command && command[0]) {
                path = command[0];
                argv = command[1] ? command + 1 : command;
        } else {
                fputs("machined-enter: exec needs --login or a command\n", stderr);
                return 1;
        }

        if (pipe2(status_pipe, O_CLOEXEC) < 0)
                fail("pipe");
        child = fork();
        if (child < 0)
                fail("fork");
        if (child == 0) {
                close(status_pipe[0]);
                run_session(tty, bounding, pw, groups, n_groups, path, argv, env, status_pipe[1]);
        }
        close(status_pipe[1]);
        r = read(status_pipe[0], &err, sizeof err);
        close(status_pipe[0]);
        if (r == (ssize_t) sizeof err) {
                fprintf(stderr, "machined-enter: failed to start %s: %s\n", path, strerror(err));
                (void) waitpid(child, NULL, 0);
                return EXIT_NO_START;
        }
        /* The daemon answers the call once it reads this. */
        if (write(1, "started\n", 8) < 0) {
                /* Nobody listens: the session runs anyway. */
        }
        close(1);
        return wait_session(child);
}
