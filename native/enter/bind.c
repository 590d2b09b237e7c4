/*
 * machined-enter bind: the part of machined's BindMountMachine that must
 * run in a single-threaded process, because it joins a container's mount
 * namespace (see main.c). The daemon (src/backends/machine-files.ts)
 * decides and checks everything; this carries out one request and
 * reports how it ended. It does what systemd 252 does in machine-dbus.c
 * (bus_machine_method_bind_mount) and systemd's src/shared/mount-util.c
 * (bind_mount_in_namespace), in its own code.
 *
 *   machined-enter bind LEADER PROPAGATE_DIR INCOMING_DIR SOURCE DEST READ_ONLY MKDIR
 *
 * Exit 0 on success. On failure exit 1, having written one line to
 * stdout: "<errno>\tmount\t<strerror>". Details for the log go to
 * stderr. Bad arguments: exit 1 with the usage on stderr and nothing on
 * stdout.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "enter.h"

static int mkdir_parents(const char *path, mode_t mode) {
        char buf[PATH_MAX];
        if (strlen(path) >= sizeof buf)
                return -ENAMETOOLONG;
        strcpy(buf, path);
        for (char *p = buf + 1; (p = strchr(p, '/')); p++) {
                *p = 0;
                if (mkdir(buf, mode) < 0 && errno != EEXIST)
                        return -errno;
                *p = '/';
        }
        return 0;
}

/* make_mount_point_inode_from_stat(): an empty directory or file to mount on. */
static int make_mount_point(const struct stat *st, const char *path, mode_t mode) {
        if (S_ISDIR(st->st_mode))
                return mkdir(path, mode) < 0 && errno != EEXIST ? -errno : 0;
        int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY, mode);
        if (fd < 0)
                return -errno;
        close(fd);
        return 0;
}

static int run_bind(pid_t leader, const char *propagate_dir, const char *incoming_dir, const char *source, const char *dest, bool read_only, bool make) {
        char path[PATH_MAX];
        /* A container manager that wants machined's mounts made this directory (nspawn, machined-spawn). */
        snprintf(path, sizeof path, "%s/", propagate_dir);
        if (access(path, F_OK) < 0)
                return fail_stage(errno == ENOENT ? EOPNOTSUPP : errno, "mount", "Target does not allow propagation of mount points");
        char *chased = realpath(source, NULL);
        if (!chased)
                return fail_stage(errno, "mount", "Failed to resolve source path of %s", source);
        struct stat st;
        if (lstat(chased, &st) < 0)
                return fail_stage(errno, "mount", "Failed to stat %s", chased);

        /* A private playground, MS_SLAVE, because MS_MOVE refuses mounts whose parent is shared. */
        char playground[] = "/tmp/propagate.XXXXXX";
        if (!mkdtemp(playground))
                return fail_stage(errno, "mount", "Failed to create playground");
        char mount_tmp[sizeof playground + 8], mount_outside[PATH_MAX];
        snprintf(mount_tmp, sizeof mount_tmp, "%s/mount", playground);
        int r = 0;
        bool playground_mounted = false, tmp_created = false, tmp_mounted = false, outside_created = false, outside_mounted = false;
        const char *what = "";
        if (mount(playground, playground, NULL, MS_BIND, NULL) < 0) { r = -errno; what = "bind playground"; goto out; }
        playground_mounted = true;
        if (mount(NULL, playground, NULL, MS_SLAVE, NULL) < 0) { r = -errno; what = "make playground a slave"; goto out; }
        if ((r = make_mount_point(&st, mount_tmp, 0700)) < 0) { what = "make mount point"; goto out; }
        tmp_created = true;
        if (mount(chased, mount_tmp, NULL, MS_BIND, NULL) < 0) { r = -errno; what = "bind source"; goto out; }
        tmp_mounted = true;
        if (read_only && mount(NULL, mount_tmp, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0) { r = -errno; what = "remount read-only"; goto out; }

        /* Into the propagation directory: the mount appears in the container's incoming directory, already read-only. */
        snprintf(mount_outside, sizeof mount_outside, "%s/XXXXXX", propagate_dir);
        if (S_ISDIR(st.st_mode)) {
                if (!mkdtemp(mount_outside)) { r = -errno; what = "create propagation mount point"; goto out; }
        } else {
                int fd = mkostemp(mount_outside, O_CLOEXEC);
                if (fd < 0) { r = -errno; what = "create propagation mount point"; goto out; }
                close(fd);
        }
        outside_created = true;
        if (mount(mount_tmp, mount_outside, NULL, MS_MOVE, NULL) < 0) { r = -errno; what = "move into the propagation directory"; goto out; }
        tmp_mounted = false;
        outside_mounted = true;

        /* Then, inside, from the incoming directory to its place. */
        pid_t child = fork();
        if (child < 0) { r = -errno; what = "fork"; goto out; }
        if (child == 0) {
                int q = enter(leader, JOIN_MOUNT, &what);
                if (q == 0) {
                        char inside[PATH_MAX];
                        snprintf(inside, sizeof inside, "%s/%s", incoming_dir, strrchr(mount_outside, '/') + 1);
                        if (make) {
                                (void) mkdir_parents(dest, 0755);
                                (void) make_mount_point(&st, dest, 0700);
                        }
                        if (mount(inside, dest, NULL, MS_MOVE, NULL) < 0)
                                q = -errno;
                }
                _exit(q < 0 ? -q : 0);
        }
        int status;
        while (waitpid(child, &status, 0) < 0)
                if (errno != EINTR) { r = -errno; what = "wait"; goto out; }
        if (!WIFEXITED(status)) { r = -EPROTO; what = "mount inside"; goto out; }
        if (WEXITSTATUS(status) != 0) { r = -WEXITSTATUS(status); what = "mount inside"; goto out; }

out:
        if (outside_mounted)
                (void) umount2(mount_outside, MNT_DETACH);
        if (outside_created)
                (void) (S_ISDIR(st.st_mode) ? rmdir(mount_outside) : unlink(mount_outside));
        if (tmp_mounted)
                (void) umount2(mount_tmp, MNT_DETACH);
        if (tmp_created)
                (void) (S_ISDIR(st.st_mode) ? rmdir(mount_tmp) : unlink(mount_tmp));
        if (playground_mounted)
                (void) umount2(playground, MNT_DETACH);
        (void) rmdir(playground);
        free(chased);
        if (r < 0)
                return fail_stage(-r, "mount", "Failed to %s", what);
        return 0;
}

int run_bind_command(int argc, char **argv) {
        unsigned long leader;
        if (argc == 7 && parse_uint(argv[0], INT_MAX, &leader) == 0)
                return run_bind((pid_t) leader, argv[1], argv[2], argv[3], argv[4], strcmp(argv[5], "1") == 0, strcmp(argv[6], "1") == 0);
        return usage();
}
