/*
 * machined-enter: the daemon's hands inside a machine. Node is
 * multithreaded, and a multithreaded process may not join a mount
 * namespace (setns(CLONE_NEWNS) fails with EINVAL), so whatever must
 * happen inside a container runs in this small program, which the daemon
 * starts for one job and which exits when done (or, for a session, when
 * the session ends). The daemon decides and checks everything; this
 * program carries out one request and reports how it ended.
 *
 * Sessions and sockets (here; src/backends/terminals.ts runs them):
 *
 *   machined-enter openpt [--pid PID] [--peer]
 *       Joins the mount namespace of PID (and its user namespace when it
 *       has its own), opens /dev/ptmx there, unlocks it and sends the
 *       master (and with --peer the opened peer too) over fd 3, a Unix
 *       socket, with the peer's path ("/dev/pts/N") as the message.
 *       systemd's openpt_allocate_in_namespace().
 *
 *   machined-enter connect [--pid PID] -- PATH
 *       Joins the mount namespace of PID (and its user namespace when it
 *       has its own) and its root, connects a Unix stream socket to PATH
 *       there and sends it (non-blocking) over fd 3. Resolving PATH inside
 *       the machine's root keeps a guest's symlinks from pointing us at a
 *       socket of the host, which a path through /proc/PID/root would not
 *       (sd-bus's x-machine-unix: connects from inside the same way).
 *
 *   machined-enter exec [--pid PID] --tty PATH [--user NAME] [--login]
 *                       [--env K=V]... [-- PATH ARG0 ARGS...]
 *       Joins every namespace of PID that differs from ours (user, cgroup,
 *       ipc, uts, net, pid, mount) and its cgroups, looks the user up in the
 *       machine's /etc/passwd and /etc/group (never through NSS: that
 *       would load the guest's libraries into a process with the host's
 *       privileges), then forks the session: a new session with PATH as
 *       controlling terminal on stdin/stdout/stderr, the user's ids, groups
 *       and home, and the environment a login gives. Without a command it
 *       runs the user's shell as a login shell; --login runs the machine's
 *       login(1) as root instead. Prints "started" on stdout once the
 *       program runs, then waits for it and exits with its status. This is
 *       machined-ts's own path for machines whose guest has no systemd to
 *       ask (busybox, distroless): see docs/compat.md.
 *
 *   Without --pid these act on the host itself (the ".host" machine).
 *
 * Files (native/machined_enter_files.c; src/backends/machine-files.ts runs them):
 *
 *   machined-enter copy LEADER to|from HOST_PATH CONTAINER_PATH UID_SHIFT REPLACE
 *       CopyToMachine / CopyFromMachine: joins LEADER's mount namespace
 *       and root (not its user namespace) and copies one tree.
 *
 *   machined-enter bind LEADER PROPAGATE_DIR INCOMING_DIR SOURCE DEST READ_ONLY MKDIR
 *       BindMountMachine: mounts SOURCE through the propagation directory,
 *       then moves it to DEST inside LEADER's mount namespace.
 *
 * Exit status, for every subcommand: 0 done; 1 (EXIT_FAILED) usage or
 * system error, with a message ("machined-enter: ...") on stderr, and for
 * copy and bind also one line "<errno>\t<stage>\t<strerror>" on stdout
 * (machined_enter_files.c says which stages); 2 (EXIT_NO_USER, exec)
 * unknown user ("no-such-user" on stderr); 3 (EXIT_NO_START, exec) the
 * program could not be started (e.g. missing; message on stderr);
 * 4 (EXIT_NO_LISTENER, connect) nothing listens at PATH (no such socket,
 * refused). With exec, after "started", the session's status (128+N for
 * a signal).
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "machined_enter.h"

#define MAX_ENV 256
#define MAX_GROUPS 256

/* ── What both parts share: errors, arguments, namespaces ───────────────────────────────────────── */

void vreport(int err, const char *fmt, va_list ap) {
        fputs("machined-enter: ", stderr);
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, ": %s\n", strerror(err));
}

static void report(int err, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vreport(err, fmt, ap);
        va_end(ap);
}

static void fail(const char *what) {
        report(errno, "%s", what);
        exit(EXIT_FAILED);
}

int parse_uint(const char *s, unsigned long max, unsigned long *ret) {
        char *end;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno != 0 || *s == 0 || *end != 0 || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* The namespaces to join, user first (the others are owned by it), mount last but one, as systemd's namespace_enter(). */
static const struct {
        const char *name;
        int type;
} NAMESPACES[] = {
        { "user", CLONE_NEWUSER },
        { "cgroup", CLONE_NEWCGROUP },
        { "ipc", CLONE_NEWIPC },
        { "uts", CLONE_NEWUTS },
        { "net", CLONE_NEWNET },
        { "pid", CLONE_NEWPID },
        { "mnt", CLONE_NEWNS },
};
#define N_NAMESPACES (sizeof NAMESPACES / sizeof NAMESPACES[0])

static bool same_namespace(const char *name, long pid) {
        char a[64], b[64];
        struct stat sa, sb;

        snprintf(a, sizeof a, "/proc/self/ns/%s", name);
        snprintf(b, sizeof b, "/proc/%ld/ns/%s", pid, name);
        if (stat(a, &sa) < 0 || stat(b, &sb) < 0)
                return true; /* The kernel has no such namespace type: nothing to join. */
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/*
 * Moves us into the cgroups PID lives in (every hierarchy /proc/PID/cgroup
 * lists), so a session is counted, limited and stopped with its machine.
 * Best effort: a hierarchy we cannot write to is skipped.
 */
static void join_cgroups(long pid) {
        char path[PATH_MAX], line[PATH_MAX];
        FILE *f;

        snprintf(path, sizeof path, "/proc/%ld/cgroup", pid);
        f = fopen(path, "re");
        if (!f)
                return;
        while (fgets(line, sizeof line, f)) {
                char *controllers, *cgroup, *nl;
                const char *base;
                char target[PATH_MAX + 64];
                struct stat st;
                int fd;

                controllers = strchr(line, ':');
                if (!controllers)
                        continue;
                controllers++;
                cgroup = strchr(controllers, ':');
                if (!cgroup)
                        continue;
                *cgroup++ = 0;
                nl = strchr(cgroup, '\n');
                if (nl)
                        *nl = 0;
                if (controllers[0] == 0) /* cgroup2: /sys/fs/cgroup/unified on hybrid hosts. */
                        base = stat("/sys/fs/cgroup/unified/cgroup.procs", &st) == 0 ? "/sys/fs/cgroup/unified" : "/sys/fs/cgroup";
                else if (strcmp(controllers, "name=systemd") == 0)
                        base = "/sys/fs/cgroup/systemd";
                else
                        base = NULL;
                if (base)
                        snprintf(target, sizeof target, "%s%s/cgroup.procs", base, cgroup);
                else
                        snprintf(target, sizeof target, "/sys/fs/cgroup/%s%s/cgroup.procs", controllers, cgroup);
                fd = open(target, O_WRONLY | O_CLOEXEC);
                if (fd < 0)
                        continue;
                (void) !write(fd, "0\n", 2);
                close(fd);
        }
        fclose(f);
}

/*
 * Joins those of PID's namespaces that `which` names (JOIN_MOUNT for
 * copies and bind mounts, JOIN_USER_MOUNT for ptys and sockets, JOIN_ALL
 * with its cgroups for sessions; one equal to ours is left alone) and
 * its root directory, as systemd's namespace_enter() with a root fd.
 * Every namespace fd is opened before any is joined: once in the new
 * mount namespace, /proc is the machine's. Returns 0, or -errno with
 * *what naming the step that failed.
 */
int enter(long pid, int which, const char **what) {
        static char path[64];
        int fds[N_NAMESPACES], root, r = 0;

        for (size_t i = 0; i < N_NAMESPACES; i++)
                fds[i] = -1;
        for (size_t i = 0; i < N_NAMESPACES; i++) {
                if (!(which & NAMESPACES[i].type))
                        continue;
                if (same_namespace(NAMESPACES[i].name, pid))
                        continue;
                snprintf(path, sizeof path, "/proc/%ld/ns/%s", pid, NAMESPACES[i].name);
                fds[i] = open(path, O_RDONLY | O_CLOEXEC);
                if (fds[i] < 0) {
                        r = -errno;
                        *what = path;
                        goto out;
                }
        }
        snprintf(path, sizeof path, "/proc/%ld/root", pid);
        root = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root < 0) {
                r = -errno;
                *what = path;
                goto out;
        }
        if (which == JOIN_ALL)
                join_cgroups(pid);
        for (size_t i = 0; i < N_NAMESPACES && r == 0; i++) {
                if (fds[i] < 0)
                        continue;
                if (setns(fds[i], NAMESPACES[i].type) < 0) {
                        r = -errno;
                        *what = NAMESPACES[i].name;
                }
        }
        if (r == 0 && (fchdir(root) < 0 || chroot(".") < 0 || chdir("/") < 0)) {
                r = -errno;
                *what = "chroot";
        }
        close(root);
out:
        for (size_t i = 0; i < N_NAMESPACES; i++)
                if (fds[i] >= 0)
                        close(fds[i]);
        return r;
}

/*
 * The leader's capability bounding set (CapBnd: in /proc/PID/status, the
 * host's /proc: read before joining). A container's root runs with fewer
 * capabilities than we have (nspawn's default set); a session we start
 * there must not have more than it, or the guest's programs we run would
 * hold the host's full set (CAP_SYS_MODULE: a way out). ~0 for the host.
 */
static uint64_t leader_bounding_set(long pid) {
        char path[64], line[256];
        uint64_t set = UINT64_MAX;
        FILE *f;

        snprintf(path, sizeof path, "/proc/%ld/status", pid);
        f = fopen(path, "re");
        if (!f)
                fail(path);
        while (fgets(line, sizeof line, f))
                if (sscanf(line, "CapBnd: %" SCNx64, &set) == 1)
                        break;
        fclose(f);
        return set;
}

/* Drops from our bounding set what the leader's lacks: root's next exec gets no capability outside it. */
static int limit_bounding_set(uint64_t set) {
        for (int cap = 0; cap < 64; cap++) {
                if (set & (UINT64_C(1) << cap))
                        continue;
                if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) /* EINVAL: past the kernel's last capability. */
                        return -1;
        }
        return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL ? -1 : 0;
}
/* enter(), or exit with its error. */
static void enter_or_fail(long pid, int which) {
        const char *what = "";
        int r = enter(pid, which, &what);

        if (r < 0) {
                errno = -r;
                fail(what);
        }
}

/* ── openpt, connect, exec ─────────────────────────────────────────────────────────────────────── */

static int send_fds(const char *text, const int *fds, size_t n) {
        char control[CMSG_SPACE(sizeof(int) * 2)] = { 0 };
        struct iovec iov = { .iov_base = (void *) text, .iov_len = strlen(text) };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = CMSG_SPACE(sizeof(int) * n) };
        struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);

        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int) * n);
        memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * n);
        return sendmsg(3, &msg, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

static int do_openpt(long pid, bool peer) {
        char name[64];
        int fds[2], n = 1;

        if (pid > 0)
                enter_or_fail(pid, JOIN_USER_MOUNT);
        fds[0] = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (fds[0] < 0)
                fail("/dev/ptmx");
        if (unlockpt(fds[0]) < 0 || ptsname_r(fds[0], name, sizeof name) != 0)
                fail("unlockpt");
        if (peer) {
                fds[1] = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
                if (fds[1] < 0)
                        fail(name);
                n = 2;
        }
        if (send_fds(name, fds, n) < 0)
                fail("sendmsg");
        return 0;
}

static int do_connect(long pid, const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        if (!path || strlen(path) >= sizeof sa.sun_path) {
                fputs("machined-enter: connect needs a socket path\n", stderr);
                return 1;
        }
        if (pid > 0)
                enter_or_fail(pid, JOIN_USER_MOUNT);
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                fail("socket");
        if (connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0) {
                int err = errno;
                report(err, "%s", path);
                return err == ENOENT || err == ECONNREFUSED || err == ENOTDIR ? EXIT_NO_LISTENER : EXIT_FAILED;
        }
        if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
                fail("fcntl");
        if (send_fds("connected", &fd, 1) < 0)
                fail("sendmsg");
        return 0;
}

/* getpwnam() and getgrouplist() from the machine's files, without NSS. */
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

static bool env_has(char **env, size_t n, const char *key) {
        size_t k = strlen(key);

        for (size_t i = 0; i < n; i++)
                if (strncmp(env[i], key, k) == 0 && env[i][k] == '=')
                        return true;
        return false;
}

static char *concat(const char *a, const char *b) {
        char *s = malloc(strlen(a) + strlen(b) + 1);

        if (!s)
                fail("malloc");
        strcpy(s, a);
        strcat(s, b);
        return s;
}

static const char *find_login(void) {
        static const char *const candidates[] = { "/bin/login", "/usr/bin/login", "/sbin/login", "/usr/sbin/login" };

        for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++)
                if (access(candidates[i], X_OK) == 0)
                        return candidates[i];
        return NULL;
}

static int do_exec(long pid, const char *tty, const char *user, bool login, char **given_env, size_t n_given, char **command) {
        char *env[MAX_ENV + 8];
        size_t n_env = 0;
        gid_t groups[MAX_GROUPS];
        size_t n_groups;
        struct passwd *pw;
        const char *path, *shell;
        char **argv, *default_argv[2];
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

        /* The environment of a login: what the caller gave wins over ours. */
        for (size_t i = 0; i < n_given && n_env < MAX_ENV; i++)
                env[n_env++] = given_env[i];
        if (!env_has(env, n_env, "HOME"))
                env[n_env++] = concat("HOME=", pw->pw_dir);
        if (!env_has(env, n_env, "USER"))
                env[n_env++] = concat("USER=", pw->pw_name);
        if (!env_has(env, n_env, "LOGNAME"))
                env[n_env++] = concat("LOGNAME=", pw->pw_name);
        if (!env_has(env, n_env, "SHELL"))
                env[n_env++] = concat("SHELL=", shell);
        if (!env_has(env, n_env, "PATH"))
                env[n_env++] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        if (!env_has(env, n_env, "TERM"))
                env[n_env++] = "TERM=vt220";
        env[n_env] = NULL;

        if (login) {
                path = find_login();
                if (!path) {
                        fputs("machined-enter: the machine has no login program\n", stderr);
                        return EXIT_NO_START;
                }
                default_argv[0] = "login";
                default_argv[1] = NULL;
                argv = default_argv;
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
                int fd;

                close(status_pipe[0]);
                signal(SIGPIPE, SIG_DFL);
                if (limit_bounding_set(bounding) < 0)
                        goto child_fail;
                if (setsid() < 0)
                        goto child_fail;
                fd = open(tty, O_RDWR | O_CLOEXEC);
                if (fd < 0)
                        goto child_fail;
                if (ioctl(fd, TIOCSCTTY, 0) < 0)
                        goto child_fail;
                if (dup2(fd, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
                        goto child_fail;
                /* Nothing of the host's but the terminal reaches the session: whatever fd we were started with goes at exec (the status pipe too). */
                if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
                        /* Before Linux 5.11: one fd at a time. */
                        long max = sysconf(_SC_OPEN_MAX);
                        for (long i = 3; i < (max > 0 ? max : 1024); i++)
                                (void) fcntl((int) i, F_SETFD, FD_CLOEXEC);
                }
                if (setgroups(n_groups, groups) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
                        goto child_fail;
                if (chdir(pw->pw_dir) < 0)
                        (void) !chdir("/");
                execve(path, argv, env);
        child_fail:
                err = errno;
                (void) !write(status_pipe[1], &err, sizeof err);
                _exit(127);
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

static int usage(void) {
        fputs("usage: machined-enter openpt|connect|exec [--pid PID] [options] [-- ...]\n"
              "       machined-enter copy LEADER to|from HOST_PATH CONTAINER_PATH UID_SHIFT REPLACE\n"
              "       machined-enter bind LEADER PROPAGATE_DIR INCOMING_DIR SOURCE DEST READ_ONLY MKDIR\n", stderr);
        return EXIT_FAILED;
}

int main(int argc, char *argv[]) {
        unsigned long pid = 0;
        bool peer = false, login = false;
        const char *tty = NULL, *user = "root";
        char *env[MAX_ENV];
        size_t n_env = 0;
        char **command = NULL;
        int i;

        /* Not dumpable: until the session's program runs, the machine's root (same user namespace, CAP_SYS_PTRACE there) may not ptrace us or open our /proc files. */
        if (prctl(PR_SET_DUMPABLE, 0) < 0)
                fail("prctl");
        if (argc < 2)
                return usage();
        /* The files' subcommands take positional arguments. */
        if (strcmp(argv[1], "copy") == 0)
                return run_copy_command(argc - 2, argv + 2);
        if (strcmp(argv[1], "bind") == 0)
                return run_bind_command(argc - 2, argv + 2);
        for (i = 2; i < argc; i++) {
                const char *a = argv[i];
                if (strcmp(a, "--") == 0) {
                        command = argv + i + 1;
                        break;
                } else if (strcmp(a, "--pid") == 0 && i + 1 < argc) {
                        if (parse_uint(argv[++i], INT_MAX, &pid) < 0)
                                return usage();
                } else if (strcmp(a, "--peer") == 0)
                        peer = true;
                else if (strcmp(a, "--login") == 0)
                        login = true;
                else if (strcmp(a, "--tty") == 0 && i + 1 < argc)
                        tty = argv[++i];
                else if (strcmp(a, "--user") == 0 && i + 1 < argc)
                        user = argv[++i];
                else if (strcmp(a, "--env") == 0 && i + 1 < argc && n_env < MAX_ENV)
                        env[n_env++] = argv[++i];
                else {
                        fprintf(stderr, "machined-enter: unknown argument '%s'\n", a);
                        return EXIT_FAILED;
                }
        }
        if (strcmp(argv[1], "openpt") == 0)
                return do_openpt((long) pid, peer);
        if (strcmp(argv[1], "connect") == 0)
                return do_connect((long) pid, command && command[0] ? command[0] : NULL);
        if (strcmp(argv[1], "exec") == 0 && tty)
                return do_exec((long) pid, tty, user, login, env, n_env, command);
        return usage();
}
