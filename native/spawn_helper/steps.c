/*
 * The step table: every operation a plan may hold (src/spawn/plan.ts
 * writes them), how many fields it needs at least, where it runs, and
 * the function that carries it out. The container's steps are below; the
 * helper's (clone, host-shared-dir, host-dir) are in host.c.
 */

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "fdpass.h"
#include "spawn_helper.h"

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

extern char **environ;

static mode_t octal(const char *s) {
        return (mode_t) strtoul(s, NULL, 8);
}

/* Fails with `err` when `count` has reached `max`: a plan may hold only so many of a kind. */
static int room_for(size_t count, size_t max, int err) {
        if (count < max)
                return 0;
        errno = err;
        return -1;
}

/* Everything before this ran before machined placed us in the machine's scope; what follows (the cgroup namespace, the payload) needs us in it. EOF means: abort. */
static int step_wait_go(const Step *st, Plan *p) {
        char c = 'w';

        /* Every node and mount is made: the manager may have us moved into the machine's scope now (its device
         * policy would refuse the mknods made before this point, as nspawn's outer child is done before it registers). */
        if (fdpass_send(p->fdpass, &c, 1, NULL, 0, 0) < 0)
                return -1;
        for (;;) {
                ssize_t k = read(p->go_fd, &c, 1);
                if (k == 1)
                        break;
                if (k < 0 && errno == EINTR)
                        continue;
                _exit(1);
        }
        close(p->go_fd);
        return 0;
}

static int step_unshare_cgroup(const Step *st, Plan *p) {
        return unshare(CLONE_NEWCGROUP);
}

/*
 * clone-tree NAME PATH [rec]: a detached bind mount of a host path, taken
 * before pivot_root and attached inside afterwards (open_tree/move_mount),
 * so no host path is ever resolved inside the image and no old root has
 * to stay reachable.
 */
static int step_clone_tree(const Step *st, Plan *p) {
        unsigned flags = OPEN_TREE_CLONE | O_CLOEXEC;
        int fd;

        if (room_for(p->n_named_fds, MAX_NAMED_FDS, EMFILE) < 0)
                return -1;
        if (arg(st, 3) && strcmp(arg(st, 3), "rec") == 0)
                flags |= AT_RECURSIVE;
        fd = (int) syscall(SYS_open_tree, AT_FDCWD, arg(st, 2), flags);
        if (fd < 0)
                return -1;
        p->named_fds[p->n_named_fds].name = st->argv[1];
        p->named_fds[p->n_named_fds++].fd = fd;
        return 0;
}

/* attach NAME TARGET: move a cloned tree onto TARGET (inside the container). */
static int step_attach(const Step *st, Plan *p) {
        for (size_t i = 0; i < p->n_named_fds; i++)
                if (strcmp(p->named_fds[i].name, arg(st, 1)) == 0)
                        return (int) syscall(SYS_move_mount, p->named_fds[i].fd, "", AT_FDCWD, arg(st, 2), MOVE_MOUNT_F_EMPTY_PATH);
        errno = EBADF;
        return -1;
}

/* pivot-root ROOT [ro]: "ro" makes the root and every mount below it read-only first (nspawn's --read-only). */
static int step_pivot_root(const Step *st, Plan *p) {
        return pivot_into(arg(st, 1), arg(st, 2) && strcmp(arg(st, 2), "ro") == 0);
}

/* loop-mount IMAGE OFFSET SIZE FSTYPE TARGET FLAGS [DATA] (loop.c). */
static int step_loop_mount(const Step *st, Plan *p) {
        return loop_mount(arg(st, 1), arg(st, 2), arg(st, 3), arg(st, 4), arg(st, 5), arg(st, 6), arg(st, 7));
}

static int step_mount(const Step *st, Plan *p) {
        return mount(arg(st, 1), arg(st, 2), arg(st, 3), parse_mount_flags(arg(st, 4)), arg(st, 5));
}

static int step_remount_ro(const Step *st, Plan *p) {
        return remount_ro_one(arg(st, 1));
}

static int step_remount_ro_tree(const Step *st, Plan *p) {
        return remount_ro_tree(arg(st, 1));
}

static int step_mkdir(const Step *st, Plan *p) {
        return mkdir_p(arg(st, 1), octal(arg(st, 2)));
}

static int step_touch(const Step *st, Plan *p) {
        int fd = open(arg(st, 1), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, octal(arg(st, 2)));
        return fd < 0 ? -1 : close(fd);
}

/* mknod PATH TYPE MODE MAJOR MINOR; TYPE c b p s f */
static int step_mknod(const Step *st, Plan *p) {
        return make_node(arg(st, 1), arg(st, 2), octal(arg(st, 3)), arg(st, 4), arg(st, 5));
}

static int step_symlink(const Step *st, Plan *p) {
        return symlink(arg(st, 1), arg(st, 2)) < 0 && errno != EEXIST ? -1 : 0;
}

static int step_write(const Step *st, Plan *p) {
        return write_file(arg(st, 1), octal(arg(st, 2)), arg(st, 3));
}

static int step_unlink(const Step *st, Plan *p) {
        return unlink(arg(st, 1));
}

static int step_hostname(const Step *st, Plan *p) {
        return sethostname(arg(st, 1), strlen(arg(st, 1)));
}

static int step_loopback_up(const Step *st, Plan *p) {
        return link_up("lo");
}

static int step_link_up(const Step *st, Plan *p) {
        return link_up(arg(st, 1));
}

/* Hands an fd the helper keeps over the socketpair, tagged with a byte ('n' notify socket, 'k' kmsg FIFO); ours is closed. */
static int hand_to_helper(Plan *p, char tag, int fd) {
        int r = fdpass_send(p->fdpass, &tag, 1, &fd, 1, 0) < 0 ? -1 : 0;

        if (r < 0) {
                int e = errno;
                close(fd);
                errno = e;
                return -1;
        }
        return close(fd);
}

/* The sd_notify socket, bound inside; its fd goes to the helper, which reads it (nspawn: /run/host/notify). */
static int step_notify_socket(const Step *st, Plan *p) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int one = 1, fd;

        if (strlen(arg(st, 1)) >= sizeof sa.sun_path) {
                errno = ENAMETOOLONG;
                return -1;
        }
        strcpy(sa.sun_path, arg(st, 1));
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -1;
        if (bind(fd, (struct sockaddr *) &sa, sizeof sa) < 0 || setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0) {
                int e = errno;
                close(fd);
                errno = e;
                return -1;
        }
        return hand_to_helper(p, 'n', fd);
}

/* A FIFO kept open by the helper (nspawn's /proc/kmsg stand-in), so readers never block on open. */
static int step_hold_fifo(const Step *st, Plan *p) {
        int fd = open(arg(st, 1), O_RDWR | O_NONBLOCK | O_CLOEXEC);

        return fd < 0 ? -1 : hand_to_helper(p, 'k', fd);
}

static int step_capbset_keep(const Step *st, Plan *p) {
        return keep_capabilities(arg(st, 1));
}

static int step_console(const Step *st, Plan *p) {
        return make_console(arg(st, 1));
}

/* pipe mode: the caller's own stdio, passed to us as fds 4-6 */
static int step_stdio(const Step *st, Plan *p) {
        if (setsid() < 0)
                return -1;
        if (dup2(4, 0) < 0 || dup2(5, 1) < 0 || dup2(6, 2) < 0)
                return -1;
        close(4);
        close(5);
        close(6);
        return 0;
}

static int step_chdir(const Step *st, Plan *p) {
        return chdir(arg(st, 1));
}

static int step_env(const Step *st, Plan *p) {
        if (room_for(p->n_env, MAX_ENV, E2BIG) < 0)
                return -1;
        p->env[p->n_env++] = st->argv[1];
        return 0;
}

static int step_exec(const Step *st, Plan *p) {
        char *argv[MAX_FIELDS + 1];

        for (int i = 1; i < st->argc; i++)
                argv[i - 1] = st->argv[i];
        argv[st->argc - 1] = NULL;
        p->env[p->n_env] = NULL;
        reset_signals();
        umask(0022);
        /* Nothing of ours leaks into the payload but its stdio. */
        (void) syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
        environ = p->env;
        execvp(argv[0], argv);
        return -1;
}

static const StepKind STEPS[] = {
        /* The helper's, run as the plan is read. */
        { "clone", 0, IN_HELPER, step_clone },
        { "host-shared-dir", 1, IN_HELPER, step_host_shared_dir },
        { "host-dir", 1, IN_HELPER, step_host_dir },
        { "host-orphan-dir", 1, IN_HELPER, step_host_orphan_dir },
        /* The container's, in the order the plan gives. */
        { "wait-go", 0, IN_CONTAINER, step_wait_go },
        { "unshare-cgroup", 0, IN_CONTAINER, step_unshare_cgroup },
        { "clone-tree", 2, IN_CONTAINER, step_clone_tree },
        { "attach", 2, IN_CONTAINER, step_attach },
        { "pivot-root", 1, IN_CONTAINER, step_pivot_root },
        { "loop-mount", 6, IN_CONTAINER, step_loop_mount },
        { "mount", 4, IN_CONTAINER, step_mount },
        { "remount-ro", 1, IN_CONTAINER, step_remount_ro },
        { "remount-ro-tree", 1, IN_CONTAINER, step_remount_ro_tree },
        { "mkdir", 2, IN_CONTAINER, step_mkdir },
        { "touch", 2, IN_CONTAINER, step_touch },
        { "mknod", 5, IN_CONTAINER, step_mknod },
        { "symlink", 2, IN_CONTAINER, step_symlink },
        { "write", 2, IN_CONTAINER, step_write },
        { "unlink", 1, IN_CONTAINER, step_unlink },
        { "hostname", 1, IN_CONTAINER, step_hostname },
        { "loopback-up", 0, IN_CONTAINER, step_loopback_up },
        { "link-up", 1, IN_CONTAINER, step_link_up },
        { "notify-socket", 1, IN_CONTAINER, step_notify_socket },
        { "hold-fifo", 1, IN_CONTAINER, step_hold_fifo },
        { "capbset-keep", 1, IN_CONTAINER, step_capbset_keep },
        { "console", 1, IN_CONTAINER, step_console },
        { "stdio", 0, IN_CONTAINER, step_stdio },
        { "chdir", 1, IN_CONTAINER, step_chdir },
        { "env", 1, IN_CONTAINER, step_env },
        { "exec", 1, IN_CONTAINER, step_exec },
};

const StepKind *find_step_kind(const char *name) {
        for (size_t i = 0; i < sizeof STEPS / sizeof STEPS[0]; i++)
                if (strcmp(STEPS[i].name, name) == 0)
                        return &STEPS[i];
        return NULL;
}
