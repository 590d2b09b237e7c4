/*
 * machined-enter: the daemon's hands inside a machine. Node is
 * multithreaded, and a multithreaded process may not join a mount
 * namespace (setns(CLONE_NEWNS) fails with EINVAL), so whatever must
 * happen inside a container runs in this small program, which the daemon
 * starts for one job and which exits when done (or, for a session, when
 * the session ends). The daemon decides and checks everything; this
 * program carries out one request and reports how it ended.
 *
 * Sessions and sockets (here and exec.c; src/backends/terminals.ts runs them):
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
 * Files (copy.c and bind.c; src/backends/machine-files.ts runs them):
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
 * (copy.c and bind.c say which stages); 2 (EXIT_NO_USER, exec)
 * unknown user ("no-such-user" on stderr); 3 (EXIT_NO_START, exec) the
 * program could not be started (e.g. missing; message on stderr);
 * 4 (EXIT_NO_LISTENER, connect) nothing listens at PATH (no such socket,
 * refused). With exec, after "started", the session's status (128+N for
 * a signal).
 *
 * Here: the arguments, openpt and connect. The parts: report.c (errors,
 * arguments), namespaces.c (joining a machine), exec.c, copy.c, bind.c.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "enter.h"
#include "fdpass.h"

/* fds and a text to the daemon over fd 3. */
static void send_to_daemon(const char *text, const int *fds, size_t n) {
        if (fdpass_send(3, text, strlen(text), fds, n, 0) < 0)
                fail("sendmsg");
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
        send_to_daemon(name, fds, n);
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
        send_to_daemon("connected", &fd, 1);
        return 0;
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
                return run_exec((long) pid, tty, user, login, env, n_env, command);
        return usage();
}
