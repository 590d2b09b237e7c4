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
 * percent-encoded and "-" stands for "none" (the helper's own plan lines
 * are clone, host-shared-dir and host-dir; the rest runs in C):
 *   <plan lines>            see run_step()/host ops below
 *   .                       end of the plan
 *   go | abort              after "pid": let C continue, or kill it
 * and on stdout (to Node):
 *   pid <host pid of C>
 *   running                 C has exec'd the payload
 *   error <text>            a plan step failed (C has exited)
 *   notify <text>           an sd_notify datagram from C (\n and \\ escaped)
 *   exit code <n> | exit signal <n>
 * fd 3 is the console pty slave when there is one (the plan clones it as
 * /proc/self/fd/3); in pipe mode fds 4-6 are the payload's stdin, stdout
 * and stderr.
 *
 * If Node goes away (stdin closes), C is killed: nobody would hold its
 * console or unregister it otherwise. C dies with H (PR_SET_PDEATHSIG).
 */

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

#define MAX_FIELDS 256
#define MAX_NAMED_FDS 64
#define MAX_ENV 1024

extern char **environ;

typedef struct Step {
        int line;
        int optional;   /* "?op": a missing path (ENOENT) is not an error */
        int argc;
        char *argv[MAX_FIELDS];
} Step;

static Step *steps;
static size_t n_steps;

static struct { char *name; int fd; } named_fds[MAX_NAMED_FDS];
static size_t n_named_fds;

static char *env_list[MAX_ENV + 1];
static size_t n_env;

static char *shared_dirs[16];
static size_t n_shared_dirs;
static char *owned_dirs[16];
static size_t n_owned_dirs;

static int out_fd = STDOUT_FILENO;
static int go_pipe = -1;

/* ---- small utilities ---- */

static void emit(const char *fmt, ...) {
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
                ssize_t w = write(out_fd, buf + off, n - off);
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

/* A line reader on a raw fd, so nothing after the plan is read ahead and lost. */
typedef struct Reader { int fd; char buf[65536]; size_t len; int eof; } Reader;

/* Returns a malloc'ed line without '\n', or NULL at EOF. */
static char *read_line(Reader *rd) {
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
        return 0;
}

static const char *arg(const Step *st, int i) {
        return i < st->argc ? st->argv[i] : NULL;
}

static int need(const Step *st, int n) {
        if (st->argc < n + 1) {
                errno = EINVAL;
                return -1;
        }
        return 0;
}

static int named_fd(const char *name) {
        for (size_t i = 0; i < n_named_fds; i++)
                if (strcmp(named_fds[i].name, name) == 0)
                        return named_fds[i].fd;
        return -1;
}

static unsigned long parse_mount_flags(const char *s) {
        static const struct { const char *name; unsigned long flag; } table[] = {
                { "ro", MS_RDONLY }, { "nosuid", MS_NOSUID }, { "nodev", MS_NODEV }, { "noexec", MS_NOEXEC },
                { "remount", MS_REMOUNT }, { "bind", MS_BIND }, { "rec", MS_REC }, { "private", MS_PRIVATE },
                { "slave", MS_SLAVE }, { "shared", MS_SHARED }, { "strictatime", MS_STRICTATIME }, { "move", MS_MOVE },
        };
        unsigned long flags = 0;
        char *copy, *save = NULL, *tok;

        if (!s)
                return 0;
        copy = strdup(s);
        for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
                for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
                        if (strcmp(tok, table[i].name) == 0)
                                flags |= table[i].flag;
        free(copy);
        return flags;
}

static int mkdir_p(const char *path, mode_t mode) {
        char buf[4096];
        size_t len = strlen(path);

        if (len >= sizeof buf) {
                errno = ENAMETOOLONG;
                return -1;
        }
        memcpy(buf, path, len + 1);
        for (char *p = buf + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = 0;
                if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                        return -1;
                *p = '/';
        }
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
                return -1;
        return 0;
}

/*
 * Makes one mount (or every mount below it) read-only while keeping its
 * other per-mount flags: a bind remount replaces them all.
 */
static int remount_ro_one(const char *path) {
        struct statvfs sv;
        unsigned long flags = MS_BIND | MS_REMOUNT | MS_RDONLY;

        if (statvfs(path, &sv) < 0)
                return -1;
        if (sv.f_flag & ST_NOSUID) flags |= MS_NOSUID;
        if (sv.f_flag & ST_NODEV) flags |= MS_NODEV;
        if (sv.f_flag & ST_NOEXEC) flags |= MS_NOEXEC;
        if (sv.f_flag & ST_NOATIME) flags |= MS_NOATIME;
        if (sv.f_flag & ST_NODIRATIME) flags |= MS_NODIRATIME;
        if (sv.f_flag & ST_RELATIME) flags |= MS_RELATIME;
        return mount(NULL, path, NULL, flags, NULL);
}

static int remount_ro_tree(const char *path) {
        FILE *f;
        char line[8192];
        size_t plen = strlen(path);
        int r = 0;

        if (remount_ro_one(path) < 0)
                return -1;
        f = fopen("/proc/self/mountinfo", "re");
        if (!f)
                return -1;
        while (fgets(line, sizeof line, f)) {
                char mp[4096];
                /* Field 5 is the mount point (octal escapes for spaces; good enough for our paths). */
                if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
                        continue;
                if (strncmp(mp, path, plen) == 0 && mp[plen] == '/' && remount_ro_one(mp) < 0)
                        r = -1;
        }
        fclose(f);
        return r;
}

/* Sends one fd to the helper over the socketpair, tagged with a byte. */
static int send_fd(int sock, char tag, int fd) {
        struct msghdr mh = { 0 };
        struct iovec iov = { .iov_base = &tag, .iov_len = 1 };
        union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } control;
        struct cmsghdr *c;

        memset(&control, 0, sizeof control);
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = control.buf;
        mh.msg_controllen = sizeof control.buf;
        c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
        return sendmsg(sock, &mh, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

static int link_up(const char *name) {
        struct ifreq ifr = { 0 };
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        if (fd < 0)
                return -1;
        strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
        if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0 || (ifr.ifr_flags |= IFF_UP, ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)) {
                int e = errno;
                close(fd);
                errno = e;
                return -1;
        }
        close(fd);
        return 0;
}

/* pivot_root(".", ".") then detach the old root: no directory for it is needed in the image (as runc does). */
static int pivot_into(const char *root) {
        if (mount(root, root, NULL, MS_BIND | MS_REC, NULL) < 0)
                return -1;
        if (chdir(root) < 0)
                return -1;
        if (syscall(SYS_pivot_root, ".", ".") < 0)
                return -1;
        if (umount2(".", MNT_DETACH) < 0)
                return -1;
        return chdir("/");
}

static int write_file(const char *path, mode_t mode, const char *content) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
        size_t len = content ? strlen(content) : 0;

        if (fd < 0)
                return -1;
        for (size_t off = 0; off < len;) {
                ssize_t w = write(fd, content + off, len - off);
                if (w < 0) {
                        int e = errno;
                        close(fd);
                        errno = e;
                        return -1;
                }
                off += w;
        }
        return close(fd);
}

static int make_console(const char *path) {
        int fd;

        if (setsid() < 0)
                return -1;
        /* Session leader without a controlling tty: opening the pty without O_NOCTTY makes it ours. */
        fd = open(path, O_RDWR);
        if (fd < 0)
                return -1;
        if (ioctl(fd, TIOCSCTTY, 0) < 0 && errno != EPERM) {
                int e = errno;
                close(fd);
                errno = e;
                return -1;
        }
        if (dup2(fd, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
                return -1;
        if (fd > 2)
                close(fd);
        return 0;
}

static void reset_signals(void) {
        sigset_t all;

        for (int s = 1; s < NSIG; s++)
                if (s != SIGKILL && s != SIGSTOP)
                        signal(s, SIG_DFL);
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
}

/* ---- the container side: one plan step ---- */

static int run_step(const Step *st, int fdpass) {
        const char *op = st->argv[0];

        if (strcmp(op, "wait-go") == 0) {
                /* Everything before this ran while machined placed us in the machine's scope; what follows
                 * (the cgroup namespace, the payload) needs us in it. EOF means: abort. */
                char c;
                for (;;) {
                        ssize_t k = read(go_pipe, &c, 1);
                        if (k == 1)
                                break;
                        if (k < 0 && errno == EINTR)
                                continue;
                        _exit(1);
                }
                close(go_pipe);
                return 0;
        }
        if (strcmp(op, "unshare-cgroup") == 0)
                return unshare(CLONE_NEWCGROUP);
        if (strcmp(op, "clone-tree") == 0) {
                /* clone-tree NAME PATH [rec]: a detached bind mount of a host path, taken before pivot_root
                 * and attached inside afterwards (open_tree/move_mount), so no host path is ever resolved
                 * inside the image and no old root has to stay reachable. */
                if (need(st, 2) < 0)
                        return -1;
                if (n_named_fds >= MAX_NAMED_FDS) {
                        errno = EMFILE;
                        return -1;
                }
                unsigned flags = OPEN_TREE_CLONE | O_CLOEXEC;
                if (arg(st, 3) && strcmp(arg(st, 3), "rec") == 0)
                        flags |= AT_RECURSIVE;
                int fd = (int) syscall(SYS_open_tree, AT_FDCWD, arg(st, 2), flags);
                if (fd < 0)
                        return -1;
                named_fds[n_named_fds].name = st->argv[1];
                named_fds[n_named_fds++].fd = fd;
                return 0;
        }
        if (strcmp(op, "attach") == 0) {
                /* attach NAME TARGET: move a cloned tree onto TARGET (inside the container). */
                if (need(st, 2) < 0)
                        return -1;
                int fd = named_fd(arg(st, 1));
                if (fd < 0) {
                        errno = EBADF;
                        return -1;
                }
                return (int) syscall(SYS_move_mount, fd, "", AT_FDCWD, arg(st, 2), MOVE_MOUNT_F_EMPTY_PATH);
        }
        if (strcmp(op, "pivot-root") == 0)
                return need(st, 1) < 0 ? -1 : pivot_into(arg(st, 1));
        if (strcmp(op, "mount") == 0) {
                if (need(st, 4) < 0)
                        return -1;
                return mount(arg(st, 1), arg(st, 2), arg(st, 3), parse_mount_flags(arg(st, 4)), arg(st, 5));
        }
        if (strcmp(op, "remount-ro") == 0)
                return need(st, 1) < 0 ? -1 : remount_ro_one(arg(st, 1));
        if (strcmp(op, "remount-ro-tree") == 0)
                return need(st, 1) < 0 ? -1 : remount_ro_tree(arg(st, 1));
        if (strcmp(op, "mkdir") == 0)
                return need(st, 2) < 0 ? -1 : mkdir_p(arg(st, 1), (mode_t) strtoul(arg(st, 2), NULL, 8));
        if (strcmp(op, "touch") == 0) {
                if (need(st, 2) < 0)
                        return -1;
                int fd = open(arg(st, 1), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, (mode_t) strtoul(arg(st, 2), NULL, 8));
                return fd < 0 ? -1 : close(fd);
        }
        if (strcmp(op, "mknod") == 0) {
                /* mknod PATH TYPE MODE MAJOR MINOR; TYPE c b p s f */
                if (need(st, 5) < 0)
                        return -1;
                mode_t type;
                switch (arg(st, 2)[0]) {
                case 'c': type = S_IFCHR; break;
                case 'b': type = S_IFBLK; break;
                case 'p': type = S_IFIFO; break;
                case 's': type = S_IFSOCK; break;
                case 'f': type = S_IFREG; break;
                default: errno = EINVAL; return -1;
                }
                mode_t mode = (mode_t) strtoul(arg(st, 3), NULL, 8);
                dev_t dev = makedev(strtoul(arg(st, 4), NULL, 10), strtoul(arg(st, 5), NULL, 10));
                if (mknod(arg(st, 1), type | mode, dev) < 0 && errno != EEXIST)
                        return -1;
                return chmod(arg(st, 1), mode);
        }
        if (strcmp(op, "symlink") == 0) {
                if (need(st, 2) < 0)
                        return -1;
                if (symlink(arg(st, 1), arg(st, 2)) < 0 && errno != EEXIST)
                        return -1;
                return 0;
        }
        if (strcmp(op, "write") == 0)
                return need(st, 2) < 0 ? -1 : write_file(arg(st, 1), (mode_t) strtoul(arg(st, 2), NULL, 8), arg(st, 3));
        if (strcmp(op, "unlink") == 0)
                return need(st, 1) < 0 ? -1 : unlink(arg(st, 1));
        if (strcmp(op, "hostname") == 0)
                return need(st, 1) < 0 ? -1 : sethostname(arg(st, 1), strlen(arg(st, 1)));
        if (strcmp(op, "loopback-up") == 0)
                return link_up("lo");
        if (strcmp(op, "link-up") == 0)
                return need(st, 1) < 0 ? -1 : link_up(arg(st, 1));
        if (strcmp(op, "notify-socket") == 0) {
                /* The sd_notify socket, bound inside; its fd goes to the helper, which reads it (nspawn: /run/host/notify). */
                struct sockaddr_un sa = { .sun_family = AF_UNIX };
                int one = 1, fd;
                if (need(st, 1) < 0)
                        return -1;
                if (strlen(arg(st, 1)) >= sizeof sa.sun_path) {
                        errno = ENAMETOOLONG;
                        return -1;
                }
                strcpy(sa.sun_path, arg(st, 1));
                fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                if (fd < 0)
                        return -1;
                if (bind(fd, (struct sockaddr *) &sa, sizeof sa) < 0 ||
                    setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0 ||
                    send_fd(fdpass, 'n', fd) < 0)
                        return -1;
                return close(fd);
        }
        if (strcmp(op, "hold-fifo") == 0) {
                /* A FIFO kept open by the helper (nspawn's /proc/kmsg stand-in), so readers never block on open. */
                if (need(st, 1) < 0)
                        return -1;
                int fd = open(arg(st, 1), O_RDWR | O_NONBLOCK | O_CLOEXEC);
                if (fd < 0 || send_fd(fdpass, 'k', fd) < 0)
                        return -1;
                return close(fd);
        }
        if (strcmp(op, "capbset-keep") == 0) {
                if (need(st, 1) < 0)
                        return -1;
                uint64_t keep = strtoull(arg(st, 1), NULL, 16);
                for (int cap = 0; cap < 64; cap++) {
                        if (keep & (UINT64_C(1) << cap))
                                continue;
                        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
                                return -1;
                }
                (void) prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
                return 0;
        }
        if (strcmp(op, "console") == 0)
                return need(st, 1) < 0 ? -1 : make_console(arg(st, 1));
        if (strcmp(op, "stdio") == 0) {
                /* pipe mode: the caller's own stdio, passed to us as fds 4-6 */
                if (setsid() < 0)
                        return -1;
                if (dup2(4, 0) < 0 || dup2(5, 1) < 0 || dup2(6, 2) < 0)
                        return -1;
                close(4);
                close(5);
                close(6);
                return 0;
        }
        if (strcmp(op, "chdir") == 0)
                return need(st, 1) < 0 ? -1 : chdir(arg(st, 1));
        if (strcmp(op, "env") == 0) {
                if (need(st, 1) < 0)
                        return -1;
                if (n_env >= MAX_ENV) {
                        errno = E2BIG;
                        return -1;
                }
                env_list[n_env++] = st->argv[1];
                return 0;
        }
        if (strcmp(op, "exec") == 0) {
                char *argv[MAX_FIELDS + 1];
                if (need(st, 1) < 0)
                        return -1;
                for (int i = 1; i < st->argc; i++)
                        argv[i - 1] = st->argv[i];
                argv[st->argc - 1] = NULL;
                env_list[n_env] = NULL;
                reset_signals();
                umask(0022);
                /* Nothing of ours leaks into the payload but its stdio. */
                (void) syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
                environ = env_list;
                execvp(argv[0], argv);
                return -1;
        }
        errno = ENOSYS;
        return -1;
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

static void container_main(int go_fd, int err_fd, int fdpass) {
        /* Die with the helper (getppid() is 0 here: the parent lives outside our PID namespace). */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) {
                (void) !write(err_fd, "prctl: cannot set the parent-death signal", 41);
                _exit(1);
        }
        go_pipe = go_fd;
        umask(0);
        for (size_t i = 0; i < n_steps; i++) {
                if (run_step(&steps[i], fdpass) < 0) {
                        int e = errno;
                        if (steps[i].optional && e == ENOENT)
                                continue;
                        report_step_error(err_fd, &steps[i], e);
                        _exit(1);
                }
        }
        (void) !write(err_fd, "The plan ends without exec", 26);
        _exit(1);
}

/* ---- the helper side ---- */

static void report_error(char *buf, size_t len) {
        buf[len] = 0;
        for (size_t i = 0; i < len; i++)
                if (buf[i] == '\n')
                        buf[i] = ' ';
        emit("error %s", buf);
}

static int host_shared_dir(const char *path) {
        /* A host directory that is a shared mount: mounts made below it later propagate into the container's slave copy (nspawn's /run/host/incoming). */
        if (mkdir_p(path, 0700) < 0)
                return -1;
        if (mount(path, path, NULL, MS_BIND, NULL) < 0)
                return -1;
        if (mount(NULL, path, NULL, MS_SHARED, NULL) < 0) {
                int e = errno;
                (void) umount2(path, MNT_DETACH);
                errno = e;
                return -1;
        }
        shared_dirs[n_shared_dirs++] = strdup(path);
        return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) st;
        (void) ftw;
        /* Best effort: whatever cannot go stays, and the walk goes on. */
        if (flag == FTW_DP)
                (void) rmdir(path);
        else
                (void) unlink(path);
        return 0;
}

/* A host directory the container uses (nspawn's unix-export directory): made now, removed with everything in it
 * when the container is gone, even if the manager died meanwhile. */
static int host_dir(const char *path) {
        if (mkdir_p(path, 0755) < 0)
                return -1;
        owned_dirs[n_owned_dirs++] = strdup(path);
        return 0;
}

static void host_cleanup(void) {
        for (size_t i = n_shared_dirs; i > 0; i--) {
                (void) umount2(shared_dirs[i - 1], MNT_DETACH);
                (void) rmdir(shared_dirs[i - 1]);
        }
        n_shared_dirs = 0;
        for (size_t i = n_owned_dirs; i > 0; i--)
                (void) nftw(owned_dirs[i - 1], remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
        n_owned_dirs = 0;
}

static unsigned long parse_clone_flags(const char *s) {
        static const struct { const char *name; unsigned long flag; } table[] = {
                { "pid", CLONE_NEWPID }, { "mount", CLONE_NEWNS }, { "uts", CLONE_NEWUTS },
                { "ipc", CLONE_NEWIPC }, { "net", CLONE_NEWNET },
        };
        unsigned long flags = 0;
        char *copy = strdup(s ? s : ""), *save = NULL, *tok;

        for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
                for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
                        if (strcmp(tok, table[i].name) == 0)
                                flags |= table[i].flag;
        free(copy);
        return flags;
}

static int recv_fd(int sock, char *tag) {
        struct msghdr mh = { 0 };
        struct iovec iov = { .iov_base = tag, .iov_len = 1 };
        union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } control;
        struct cmsghdr *c;
        int fd = -1;

        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = control.buf;
        mh.msg_controllen = sizeof control.buf;
        if (recvmsg(sock, &mh, MSG_CMSG_CLOEXEC) <= 0)
                return -1;
        for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
                        memcpy(&fd, CMSG_DATA(c), sizeof(int));
        return fd;
}

/* Reads every queued sd_notify datagram; only PID 1 of the container is listened to (CONTAINER_INTERFACE: NotifyAccess=main). */
static void drain_notify(int sock, pid_t leader) {
        for (;;) {
                char data[4097], escaped[8200];
                struct iovec iov = { .iov_base = data, .iov_len = sizeof data - 1 };
                union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * 16)]; } control;
                struct msghdr mh = { 0 };
                struct ucred *cred = NULL;
                struct cmsghdr *c;
                ssize_t n;
                size_t w = 0;

                mh.msg_iov = &iov;
                mh.msg_iovlen = 1;
                mh.msg_control = control.buf;
                mh.msg_controllen = sizeof control.buf;
                n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
                if (n < 0)
                        return;
                for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
                        if (c->cmsg_level != SOL_SOCKET)
                                continue;
                        if (c->cmsg_type == SCM_CREDENTIALS)
                                cred = (struct ucred *) CMSG_DATA(c);
                        else if (c->cmsg_type == SCM_RIGHTS) {
                                /* fd-store requests: we keep nothing. */
                                int *fds = (int *) CMSG_DATA(c);
                                size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                                for (size_t i = 0; i < k; i++)
                                        close(fds[i]);
                        }
                }
                if (!cred || cred->pid != leader)
                        continue;
                for (ssize_t i = 0; i < n && w < sizeof escaped - 3; i++) {
                        if (data[i] == '\n') { escaped[w++] = '\\'; escaped[w++] = 'n'; }
                        else if (data[i] == '\\') { escaped[w++] = '\\'; escaped[w++] = '\\'; }
                        else if (data[i] == 0) { escaped[w++] = '\\'; escaped[w++] = '0'; }
                        else escaped[w++] = data[i];
                }
                escaped[w] = 0;
                emit("notify %s", escaped);
        }
}

int main(int argc, char **argv) {
        Reader rd = { .fd = STDIN_FILENO };
        unsigned long clone_flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC;
        int go[2], err[2], fdpass[2], sfd, notify_fd = -1, kmsg_fd = -1, lineno = 0;
        char errbuf[4096];
        size_t errlen = 0;
        sigset_t mask;
        pid_t pid;
        char *line;

        (void) argc;
        (void) argv;
        /* The manager decides when the container ends; terminal signals and a lost reader must not kill us. */
        signal(SIGPIPE, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        signal(SIGINT, SIG_IGN);
        signal(SIGQUIT, SIG_IGN);

        while ((line = read_line(&rd))) {
                Step st;
                lineno++;
                if (strcmp(line, ".") == 0) {
                        free(line);
                        break;
                }
                if (parse_step(line, lineno, &st) < 0) {
                        emit("error plan line %d is malformed", lineno);
                        return 1;
                }
                if (strcmp(st.argv[0], "clone") == 0) {
                        clone_flags = parse_clone_flags(arg(&st, 1));
                        continue;
                }
                if (strcmp(st.argv[0], "host-shared-dir") == 0 || strcmp(st.argv[0], "host-dir") == 0) {
                        int shared = strcmp(st.argv[0], "host-shared-dir") == 0;
                        if (need(&st, 1) < 0 || (shared ? host_shared_dir(arg(&st, 1)) : host_dir(arg(&st, 1))) < 0) {
                                emit("error Failed to prepare %s: %s", arg(&st, 1) ? arg(&st, 1) : "-", strerror(errno));
                                host_cleanup();
                                return 1;
                        }
                        continue;
                }
                steps = realloc(steps, sizeof(Step) * (n_steps + 1));
                steps[n_steps++] = st;
        }
        if (rd.eof && rd.len == 0 && lineno == 0) {
                emit("error no plan");
                return 1;
        }

        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (sfd < 0 || pipe2(go, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 ||
            socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, fdpass) < 0) {
                emit("error %s", strerror(errno));
                host_cleanup();
                return 1;
        }

        pid = (pid_t) syscall(SYS_clone, clone_flags | SIGCHLD, NULL, NULL, NULL, NULL);
        if (pid < 0) {
                emit("error Failed to clone the container: %s", strerror(errno));
                host_cleanup();
                return 1;
        }
        if (pid == 0) {
                close(go[1]);
                close(err[0]);
                close(fdpass[0]);
                close(sfd);
                container_main(go[0], err[1], fdpass[1]);
        }
        close(go[0]);
        close(err[1]);
        close(fdpass[1]);
        emit("pid %d", (int) pid);

        for (;;) {
                struct pollfd p[5] = {
                        { .fd = err[0], .events = POLLIN },
                        { .fd = fdpass[0], .events = POLLIN },
                        { .fd = sfd, .events = POLLIN },
                        { .fd = notify_fd, .events = POLLIN },
                        { .fd = rd.eof ? -1 : STDIN_FILENO, .events = POLLIN },
                };
                /* A command may already sit in the reader's buffer (it came along with the plan). */
                int buffered = memchr(rd.buf, '\n', rd.len) != NULL;
                if (poll(p, 5, buffered ? 0 : -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                if (p[0].revents) {
                        ssize_t k = read(err[0], errbuf + errlen, sizeof errbuf - 1 - errlen);
                        if (k > 0)
                                errlen += k;
                        else {
                                /* EOF: the exec succeeded (the pipe is close-on-exec), or C died after saying why. */
                                close(err[0]);
                                err[0] = -1;
                                if (errlen > 0)
                                        report_error(errbuf, errlen);
                                else
                                        emit("running");
                        }
                }
                if (p[1].revents) {
                        char tag = 0;
                        int fd = recv_fd(fdpass[0], &tag);
                        if (fd >= 0 && tag == 'n' && notify_fd < 0)
                                notify_fd = fd;
                        else if (fd >= 0 && tag == 'k' && kmsg_fd < 0)
                                kmsg_fd = fd;
                        else if (fd >= 0)
                                close(fd);
                        else {
                                close(fdpass[0]);
                                fdpass[0] = -1;
                        }
                }
                if (p[3].revents)
                        drain_notify(notify_fd, pid);
                if (p[4].revents || buffered) {
                        line = read_line(&rd);
                        if (line && strcmp(line, "go") == 0 && go[1] >= 0) {
                                /* C is in its scope now: it may enter its cgroup namespace and exec. */
                                if (write(go[1], "g", 1) != 1)
                                        kill(pid, SIGKILL);
                                close(go[1]);
                                go[1] = -1;
                        } else if (!line || strcmp(line, "abort") == 0) {
                                /* Registration failed, or the manager is gone: nobody holds the console or will unregister. */
                                kill(pid, SIGKILL);
                        }
                        free(line);
                }
                if (p[2].revents) {
                        struct signalfd_siginfo si;
                        int status;
                        while (read(sfd, &si, sizeof si) > 0)
                                ;
                        if (waitpid(pid, &status, WNOHANG) == pid) {
                                if (notify_fd >= 0)
                                        drain_notify(notify_fd, pid);
                                if (err[0] >= 0) {
                                        ssize_t k = read(err[0], errbuf + errlen, sizeof errbuf - 1 - errlen);
                                        if (k > 0)
                                                errlen += k;
                                        if (errlen > 0)
                                                report_error(errbuf, errlen);
                                }
                                host_cleanup();
                                if (WIFEXITED(status))
                                        emit("exit code %d", WEXITSTATUS(status));
                                else
                                        emit("exit signal %d", WTERMSIG(status));
                                return 0;
                        }
                }
        }
        host_cleanup();
        return 1;
}
