/*
 * machined-enter copy: the part of machined's CopyFromMachine and
 * CopyToMachine that must run in a single-threaded process, because it
 * joins a container's mount namespace (see main.c). The daemon
 * (src/backends/machine-files.ts) decides and checks everything; this
 * carries out one request and reports how it ended. It copies what
 * systemd 252 does in machine-dbus.c (bus_machine_method_copy), in its
 * own code; copy_tree.c copies the tree.
 *
 *   machined-enter copy LEADER to|from HOST_PATH CONTAINER_PATH UID_SHIFT REPLACE
 *
 * Paths inside the container are resolved after joining the leader's
 * mount namespace and root (the root of /proc/LEADER/root), so ".." stops
 * at the guest's root and absolute symlinks restart there: nothing the
 * guest holds can point the copy at a host file. The leader's user
 * namespace is not joined: ownership is set as the host sees it.
 *
 * Exit 0 on success. On failure exit 1, having written one line to
 * stdout: "<errno>\t<stage>\t<strerror>", stage being "host-dir" (the
 * host side's parent directory could not be opened; systemd fails the
 * call with its own message then) or "copy" (the copy itself failed).
 * Details for the log go to stderr. Bad arguments: exit 1 with the usage
 * on stderr and nothing on stdout.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "enter.h"

/* The directory part and the last component of an absolute path (the daemon checked it has one). */
static int split_path(const char *path, char *dir, size_t dir_size, const char **base) {
        const char *slash = strrchr(path, '/');
        if (!slash || slash[1] == 0)
                return -EINVAL;
        size_t n = slash == path ? 1 : (size_t) (slash - path);
        if (n >= dir_size)
                return -ENAMETOOLONG;
        memcpy(dir, path, n);
        dir[n] = 0;
        *base = slash + 1;
        return 0;
}

/* open_parent(): the directory a path's last component lives in. */
static int open_parent(const char *path, const char **base) {
        char dir[PATH_MAX];
        int r = split_path(path, dir, sizeof dir, base);
        if (r < 0)
                return r;
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

static int run_copy(pid_t leader, bool copy_from, const char *host_path, const char *container_path, uid_t shift, bool replace) {
        const char *host_base, *container_base;
        int hostfd = open_parent(host_path, &host_base);
        if (hostfd < 0)
                return fail_stage(-hostfd, "host-dir", "Failed to open host directory %s", host_path);
        const char *what;
        int r = enter(leader, JOIN_MOUNT, &what);
        if (r < 0)
                return fail_stage(-r, "copy", "Failed to join the mount namespace of PID %d", (int) leader);
        int containerfd = open_parent(container_path, &container_base);
        if (containerfd < 0)
                return fail_stage(-containerfd, "copy", "Failed to open destination directory");
        /* With a UID shift, files become the container's root (copy-to) or the host's root (copy-from); without one they keep their owners. */
        int df = copy_from ? containerfd : hostfd, dt = copy_from ? hostfd : containerfd;
        uid_t uid = shift == 0 ? (uid_t) -1 : copy_from ? 0 : shift;
        gid_t gid = shift == 0 ? (gid_t) -1 : copy_from ? 0 : (gid_t) shift;
        const char *from = copy_from ? container_base : host_base, *to = copy_from ? host_base : container_base;
        r = copy_tree_at(df, from, dt, to, uid, gid, replace, shift != 0 && copy_from);
        if (r < 0)
                return fail_stage(-r, "copy", "Failed to copy tree");
        return 0;
}

int run_copy_command(int argc, char **argv) {
        unsigned long leader, shift;
        if (argc == 6 && parse_uint(argv[0], INT_MAX, &leader) == 0 &&
            parse_uint(argv[4], UINT32_MAX - 1, &shift) == 0 && (strcmp(argv[1], "to") == 0 || strcmp(argv[1], "from") == 0))
                return run_copy((pid_t) leader, strcmp(argv[1], "from") == 0, argv[2], argv[3], (uid_t) shift, strcmp(argv[5], "1") == 0);
        return usage();
}
