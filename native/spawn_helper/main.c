/*
 * machined-spawn-helper: the few steps of starting a container that Node
 * cannot take itself, because they must happen in a freshly cloned process
 * before it execs the payload (clone with new namespaces, mount, pivot_root,
 * setsid + TIOCSCTTY, dropping capabilities). machined-spawn (src/spawn/)
 * decides everything and hands this program a plan; this program only
 * carries it out, in order, and reports back. See src/spawn/helper.ts for
 * the other side and src/spawn/plan.ts for the plan itself.
 *
 * Processes, as in systemd-nspawn (nspawn.c: outer/inner child):
 *   machined-spawn (Node)  holds the console pty, talks to machined
 *     helper (this, H)     clones C, waits for "go", reaps C, receives
 *                          sd_notify datagrams, reports C's exit status
 *       container (C)      PID 1 of the new PID namespace: waits for "go"
 *                          (sent once machined has put it into the
 *                          machine's scope), enters a cgroup namespace
 *                          rooted there, runs the plan, execs the payload
 *
 * Protocol on stdin (from Node), one line each; every field is
 * percent-encoded and "-" stands for "none":
 *   <plan lines>            one step each: steps.c has the table (the
 *                           helper's own are clone, host-shared-dir and
 *                           host-dir, in host.c; the rest runs in C)
 *   .                       end of the plan
 *   go | abort              after "pid": let C continue, or kill it
 * and on stdout (to Node):
 *   pid <host pid of C>
 *   waiting                 C has made its mounts and nodes, and waits for "go"
 *   running                 C has exec'd the payload
 *   error <text>            a plan step failed (C has exited)
 *   notify <text>           an sd_notify datagram from C (\n and \\ escaped)
 *   exit code <n> | exit signal <n>
 * fd 3 is the console pty slave when there is one (the plan clones it as
 * /proc/self/fd/3); in pipe mode fds 4-6 are the payload's stdin, stdout
 * and stderr.
 *
 * Files: plan.c (the lines and the executor), steps.c (the table and the
 * container's steps), fs.c (what they do to files and mounts), host.c
 * (the helper's side), here (clone, then watch C until it exits).
 *
 * If Node goes away (stdin closes), C is killed: nobody would hold its
 * console or unregister it otherwise. C dies with H (PR_SET_PDEATHSIG).
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fdpass.h"
#include "spawn_helper.h"

/* What the helper watches while C lives. */
typedef struct Watch {
        pid_t pid;
        Reader *rd;           /* Node's commands */
        int go;               /* write end of C's "go" pipe; -1 once used */
        int err;              /* read end of C's error pipe; -1 at EOF */
        int fdpass;           /* C hands us fds here; -1 once closed */
        int sigchld;          /* a signalfd */
        int notify;           /* the sd_notify socket, once C sent it */
        int kmsg;             /* the kmsg FIFO, held open */
        char errbuf[4096];
        size_t errlen;
} Watch;

static void report_error(char *buf, size_t len) {
        buf[len] = 0;
        for (size_t i = 0; i < len; i++)
                if (buf[i] == '\n')
                        buf[i] = ' ';
        emit("error %s", buf);
}

/* C's error pipe: at EOF the exec succeeded (the pipe is close-on-exec), or C died after saying why. */
static void on_error_pipe(Watch *w) {
        ssize_t k = read(w->err, w->errbuf + w->errlen, sizeof w->errbuf - 1 - w->errlen);

        if (k > 0) {
                w->errlen += k;
                return;
        }
        close(w->err);
        w->err = -1;
        if (w->errlen > 0)
                report_error(w->errbuf, w->errlen);
        else
                emit("running");
}

/* An fd C hands over: 'n' the notify socket, 'k' the kmsg FIFO; 'w' without one: C waits for "go"; EOF closes the channel. */
static void on_fdpass(Watch *w) {
        char tag = 0;
        int fd = -1;
        size_t n_fds = 0;
        ssize_t n = fdpass_receive(w->fdpass, &tag, 1, &fd, 1, &n_fds, 0);

        if (n <= 0) {
                close(w->fdpass);
                w->fdpass = -1;
        } else if (n_fds == 1 && tag == 'n' && w->notify < 0)
                w->notify = fd;
        else if (n_fds == 1 && tag == 'k' && w->kmsg < 0)
                w->kmsg = fd;
        else if (n_fds == 0 && tag == 'w')
                emit("waiting");
        else if (n_fds == 1)
                close(fd);
}

/* A command from Node: "go" lets C continue; "abort" or EOF (registration failed, or the manager is gone) kills it. */
static void on_command(Watch *w) {
        char *line = read_line(w->rd);

        if (line && strcmp(line, "go") == 0 && w->go >= 0) {
                /* C is in its scope now: it may enter its cgroup namespace and exec. */
                if (write(w->go, "g", 1) != 1)
                        kill(w->pid, SIGKILL);
                close(w->go);
                w->go = -1;
        } else if (!line || strcmp(line, "abort") == 0) {
                if (!line && w->rd->eof)
                        host_manager_gone();
                kill(w->pid, SIGKILL);
        }
        free(line);
}

/* SIGCHLD: once C is reaped, the last words and its exit status. Returns 1 when C is gone. */
static int on_sigchld(Watch *w) {
        struct signalfd_siginfo si;
        int status;

        while (read(w->sigchld, &si, sizeof si) > 0)
                ;
        if (waitpid(w->pid, &status, WNOHANG) != w->pid)
                return 0;
        if (w->notify >= 0)
                drain_notify(w->notify, w->pid);
        if (w->err >= 0) {
                ssize_t k = read(w->err, w->errbuf + w->errlen, sizeof w->errbuf - 1 - w->errlen);
                if (k > 0)
                        w->errlen += k;
                if (w->errlen > 0)
                        report_error(w->errbuf, w->errlen);
        }
        host_cleanup();
        if (WIFEXITED(status))
                emit("exit code %d", WEXITSTATUS(status));
        else
                emit("exit signal %d", WTERMSIG(status));
        return 1;
}

/* Watches C until it exits; 0 then, 1 if polling failed. */
static int supervise(Watch *w) {
        for (;;) {
                struct pollfd p[5] = {
                        { .fd = w->err, .events = POLLIN },
                        { .fd = w->fdpass, .events = POLLIN },
                        { .fd = w->sigchld, .events = POLLIN },
                        { .fd = w->notify, .events = POLLIN },
                        { .fd = w->rd->eof ? -1 : STDIN_FILENO, .events = POLLIN },
                };
                /* A command may already sit in the reader's buffer (it came along with the plan). */
                int buffered = memchr(w->rd->buf, '\n', w->rd->len) != NULL;
                if (poll(p, 5, buffered ? 0 : -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        host_cleanup();
                        return 1;
                }
                if (p[0].revents)
                        on_error_pipe(w);
                if (p[1].revents)
                        on_fdpass(w);
                if (p[3].revents)
                        drain_notify(w->notify, w->pid);
                if (p[4].revents || buffered)
                        on_command(w);
                if (p[2].revents && on_sigchld(w))
                        return 0;
        }
}

int main(int argc, char **argv) {
        static Reader rd = { .fd = STDIN_FILENO };
        static Plan plan = { .clone_flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC };
        Watch w = { .rd = &rd, .notify = -1, .kmsg = -1 };
        int go[2], err[2], fdpass[2];
        sigset_t mask;

        (void) argc;
        (void) argv;
        /* The manager decides when the container ends; terminal signals and a lost reader must not kill us. */
        signal(SIGPIPE, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        signal(SIGINT, SIG_IGN);
        signal(SIGQUIT, SIG_IGN);

        if (read_plan(&rd, &plan) < 0)
                return 1;

        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        w.sigchld = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (w.sigchld < 0 || pipe2(go, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 ||
            socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, fdpass) < 0) {
                emit("error %s", strerror(errno));
                host_cleanup();
                return 1;
        }

        w.pid = (pid_t) syscall(SYS_clone, plan.clone_flags | SIGCHLD, NULL, NULL, NULL, NULL);
        if (w.pid < 0) {
                emit("error Failed to clone the container: %s", strerror(errno));
                host_cleanup();
                return 1;
        }
        if (w.pid == 0) {
                close(go[1]);
                close(err[0]);
                close(fdpass[0]);
                close(w.sigchld);
                plan.go_fd = go[0];
                plan.fdpass = fdpass[1];
                run_container(&plan, err[1]);
        }
        close(go[0]);
        close(err[1]);
        close(fdpass[1]);
        w.go = go[1];
        w.err = err[0];
        w.fdpass = fdpass[0];
        emit("pid %d", (int) w.pid);
        return supervise(&w);
}
