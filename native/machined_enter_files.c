/*
 * machined-enter copy and bind: the part of machined's CopyFromMachine,
 * CopyToMachine and BindMountMachine that must run in a single-threaded
 * process, because it joins a container's mount namespace (see
 * machined_enter.c). The daemon (src/backends/machine-files.ts) decides
 * and checks everything; this carries out one request and reports how it
 * ended. It copies what systemd 252 does in machine-dbus.c
 * (bus_machine_method_copy, bus_machine_method_bind_mount) and
 * shared/mount-util.c (bind_mount_in_namespace), in its own code.
 *
 *   machined-enter copy LEADER to|from HOST_PATH CONTAINER_PATH UID_SHIFT REPLACE
 *   machined-enter bind LEADER PROPAGATE_DIR INCOMING_DIR SOURCE DEST READ_ONLY MKDIR
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
 * call with its own message then) or "copy" / "mount" (the operation
 * itself failed). Details for the log go to stderr. Bad arguments: exit 1
 * with the usage on stderr and nothing on stdout.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "machined_enter.h"

/* COPY_DEPTH_MAX in systemd's copy.c. */
#define COPY_DEPTH_MAX 2048U

/* The message on stderr, and the line the daemon reads on stdout. */
static int fail_stage(int err, const char *stage, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vreport(err, fmt, ap);
        va_end(ap);
        printf("%d\t%s\t%s\n", err, stage, strerror(err));
        fflush(stdout);
        return EXIT_FAILED;
}

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

/* ── copy_tree_at(): COPY_MERGE, COPY_HARDLINKS and optionally COPY_REPLACE, as machined asks for it ── */

/* A file with more than one link, copied already: later links to it become links to the copy (COPY_HARDLINKS). */
struct copied_inode {
        dev_t dev;
        ino_t ino;
        char *rel; /* the copy's path, relative to copy_options.top */
};

struct copy_options {
        uid_t uid; /* (uid_t) -1: keep the source's */
        gid_t gid;
        bool replace;
        /* Copying out of a user-namespaced guest: its files become the host's root's, so set-ID bits and device nodes are not carried over. */
        bool drop_privileges;
        int top; /* the directory the copy's top-level entry is made in */
        struct copied_inode *inodes;
        size_t n_inodes, max_inodes;
};

static int copy_tree(int df, const char *from, const struct stat *st, int dt, const char *to, const char *rel, unsigned depth, struct copy_options *o);

static const struct copied_inode *copied_before(const struct stat *st, const struct copy_options *o) {
        if (st->st_nlink < 2)
                return NULL;
        for (size_t i = 0; i < o->n_inodes; i++)
                if (o->inodes[i].dev == st->st_dev && o->inodes[i].ino == st->st_ino)
                        return &o->inodes[i];
        return NULL;
}

static void remember_copy(const struct stat *st, const char *rel, struct copy_options *o) {
        if (st->st_nlink < 2)
                return;
        if (o->n_inodes == o->max_inodes) {
                size_t n = o->max_inodes == 0 ? 64 : o->max_inodes * 2;
                struct copied_inode *grown = realloc(o->inodes, n * sizeof *grown);
                if (!grown)
                        return; /* Not remembered: a later link becomes a copy of its own. */
                o->inodes = grown;
                o->max_inodes = n;
        }
        char *dup = strdup(rel);
        if (!dup)
                return;
        o->inodes[o->n_inodes++] = (struct copied_inode) { .dev = st->st_dev, .ino = st->st_ino, .rel = dup };
}

static void copy_xattrs(int fdf, int fdt) {
        char names[4096];
        ssize_t n = flistxattr(fdf, names, sizeof names);
        for (ssize_t i = 0; n > 0 && i < n; i += (ssize_t) strlen(names + i) + 1) {
                char value[4096];
                ssize_t len = fgetxattr(fdf, names + i, value, sizeof value);
                if (len >= 0)
                        (void) fsetxattr(fdt, names + i, value, (size_t) len, 0);
        }
}

static uid_t owner_uid(const struct stat *st, const struct copy_options *o) {
        return o->uid == (uid_t) -1 ? st->st_uid : o->uid;
}

static gid_t owner_gid(const struct stat *st, const struct copy_options *o) {
        return o->gid == (gid_t) -1 ? st->st_gid : o->gid;
}

/* The mode a copied leaf gets: without set-ID bits where ownership moves to the host's root (a guest's setuid file would be a setuid-root one). */
static mode_t leaf_mode(const struct stat *st, const struct copy_options *o) {
        return st->st_mode & (o->drop_privileges ? 01777 : 07777);
}

/* Contents, owner, mode, timestamps, extended attributes; the new file goes again on failure. */
static int copy_regular(int df, const char *from, const struct stat *st, int dt, const char *to, const struct copy_options *o) {
        /* O_NONBLOCK and the check after: a FIFO or device swapped in since the stat must neither block us nor be read. */
        int fdf = openat(df, from, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);
        if (fdf < 0)
                return -errno;
        struct stat opened;
        if (fstat(fdf, &opened) < 0 || !S_ISREG(opened.st_mode) || opened.st_dev != st->st_dev || opened.st_ino != st->st_ino) {
                close(fdf);
                return -ESTALE;
        }
        int fdt = openat(dt, to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW, leaf_mode(st, o));
        if (fdt < 0) {
                int e = errno;
                close(fdf);
                return -e;
        }
        int r = 0;
        for (;;) {
                ssize_t n = copy_file_range(fdf, NULL, fdt, NULL, 1U << 30, 0);
                if (n == 0)
                        break;
                if (n > 0)
                        continue;
                if (errno != EXDEV && errno != EINVAL && errno != EOPNOTSUPP && errno != ENOSYS) {
                        r = -errno;
                        break;
                }
                /* Not between these file systems: plain reads and writes for what is left. */
                char buf[65536];
                ssize_t k;
                while ((k = read(fdf, buf, sizeof buf)) > 0) {
                        for (ssize_t done = 0; done < k;) {
                                ssize_t w = write(fdt, buf + done, (size_t) (k - done));
                                if (w < 0) {
                                        r = -errno;
                                        break;
                                }
                                done += w;
                        }
                        if (r < 0)
                                break;
                }
                if (k < 0)
                        r = -errno;
                break;
        }
        if (r == 0 && fchown(fdt, owner_uid(st, o), owner_gid(st, o)) < 0)
                r = -errno;
        if (r == 0 && fchmod(fdt, leaf_mode(st, o)) < 0)
                r = -errno;
        if (r == 0) {
                copy_xattrs(fdf, fdt);
                (void) futimens(fdt, (struct timespec[]) { st->st_atim, st->st_mtim });
        }
        close(fdf);
        close(fdt);
        if (r < 0)
                (void) unlinkat(dt, to, 0);
        return r;
}

static int copy_symlink(int df, const char *from, const struct stat *st, int dt, const char *to, const struct copy_options *o) {
        char target[PATH_MAX];
        ssize_t n = readlinkat(df, from, target, sizeof target - 1);
        if (n < 0)
                return -errno;
        target[n] = 0;
        if (symlinkat(target, dt, to) < 0)
                return -errno;
        if (fchownat(dt, to, owner_uid(st, o), owner_gid(st, o), AT_SYMLINK_NOFOLLOW) < 0) {
                int e = errno;
                (void) unlinkat(dt, to, 0);
                return -e;
        }
        (void) utimensat(dt, to, (struct timespec[]) { st->st_atim, st->st_mtim }, AT_SYMLINK_NOFOLLOW);
        return 0;
}

/* FIFOs, device nodes and sockets are made anew, not opened. */
static int copy_node(const struct stat *st, int dt, const char *to, const struct copy_options *o) {
        /* A user namespace cannot make device nodes; what claims to be one there (a FUSE file, say) is not made on the host either. */
        if (o->drop_privileges && (S_ISBLK(st->st_mode) || S_ISCHR(st->st_mode)))
                return -EPERM;
        if (mknodat(dt, to, st->st_mode & ~(mode_t) (o->drop_privileges ? 06000 : 0), st->st_rdev) < 0)
                return -errno;
        int r = 0;
        if (fchownat(dt, to, owner_uid(st, o), owner_gid(st, o), AT_SYMLINK_NOFOLLOW) < 0 || fchmodat(dt, to, leaf_mode(st, o), 0) < 0)
                r = -errno;
        if (r < 0)
                (void) unlinkat(dt, to, 0);
        else
                (void) utimensat(dt, to, (struct timespec[]) { st->st_atim, st->st_mtim }, AT_SYMLINK_NOFOLLOW);
        return r;
}

/* A directory that exists already is merged into (COPY_MERGE); what exists inside it is left alone. */
static int copy_directory(int df, const char *from, const struct stat *st, int dt, const char *to, const char *rel, unsigned depth, struct copy_options *o) {
        if (depth == 0)
                return -ENAMETOOLONG;
        int fdf = openat(df, from, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
        if (fdf < 0)
                return -errno;
        DIR *d = fdopendir(fdf);
        if (!d) {
                int e = errno;
                close(fdf);
                return -e;
        }
        bool created = mkdirat(dt, to, st->st_mode & 07777) >= 0;
        if (!created && errno != EEXIST) {
                int e = errno;
                closedir(d);
                return -e;
        }
        int fdt = openat(dt, to, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
        if (fdt < 0) {
                int e = errno;
                closedir(d);
                return -e;
        }
        int r = 0;
        struct dirent *de;
        while ((errno = 0, de = readdir(d))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                struct stat child;
                if (fstatat(dirfd(d), de->d_name, &child, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = -errno;
                        continue;
                }
                char child_rel[PATH_MAX];
                int q = snprintf(child_rel, sizeof child_rel, "%s/%s", rel, de->d_name) >= (int) sizeof child_rel ? -ENAMETOOLONG
                        : copy_tree(dirfd(d), de->d_name, &child, fdt, de->d_name, child_rel, depth - 1, o);
                if (q == -EEXIST)
                        q = 0;
                if (q < 0)
                        r = q;
        }
        if (errno != 0 && r == 0)
                r = -errno;
        if (created) {
                if (fchown(fdt, owner_uid(st, o), owner_gid(st, o)) < 0 || fchmod(fdt, st->st_mode & 07777) < 0)
                        r = -errno;
                copy_xattrs(dirfd(d), fdt);
                (void) futimens(fdt, (struct timespec[]) { st->st_atim, st->st_mtim });
        }
        close(fdt);
        closedir(d);
        return r;
}

static int copy_leaf(int df, const char *from, const struct stat *st, int dt, const char *to, const char *rel, struct copy_options *o) {
        if (S_ISLNK(st->st_mode))
                return copy_symlink(df, from, st, dt, to, o);
        const struct copied_inode *first = copied_before(st, o);
        if (first && linkat(o->top, first->rel, dt, to, 0) >= 0)
                return 0;
        int r;
        if (S_ISREG(st->st_mode))
                r = copy_regular(df, from, st, dt, to, o);
        else if (S_ISFIFO(st->st_mode) || S_ISBLK(st->st_mode) || S_ISCHR(st->st_mode) || S_ISSOCK(st->st_mode))
                r = copy_node(st, dt, to, o);
        else
                r = -EOPNOTSUPP;
        if (r == 0 && !first)
                remember_copy(st, rel, o);
        return r;
}

static int copy_tree(int df, const char *from, const struct stat *st, int dt, const char *to, const char *rel, unsigned depth, struct copy_options *o) {
        if (S_ISDIR(st->st_mode))
                return copy_directory(df, from, st, dt, to, rel, depth, o);
        int r = copy_leaf(df, from, st, dt, to, rel, o);
        /* COPY_REPLACE: a leaf in the way is removed and the copy tried once more. */
        if (r == -EEXIST && o->replace) {
                if (unlinkat(dt, to, 0) < 0)
                        return r;
                r = copy_leaf(df, from, st, dt, to, rel, o);
        }
        return r;
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
        struct copy_options o = { .uid = (uid_t) -1, .gid = (gid_t) -1, .replace = replace, .top = dt };
        if (shift != 0) {
                o.uid = copy_from ? 0 : shift;
                o.gid = copy_from ? 0 : (gid_t) shift;
                o.drop_privileges = copy_from;
        }
        const char *from = copy_from ? container_base : host_base, *to = copy_from ? host_base : container_base;
        struct stat st;
        if (fstatat(df, from, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return fail_stage(errno, "copy", "Failed to copy tree");
        r = copy_tree(df, from, &st, dt, to, to, COPY_DEPTH_MAX, &o);
        if (r < 0)
                return fail_stage(-r, "copy", "Failed to copy tree");
        return 0;
}

/* ── bind_mount_in_namespace() ──────────────────────────────────────────────────────────────────── */

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

static int usage(void) {
        fprintf(stderr, "usage: machined-enter copy LEADER to|from HOST_PATH CONTAINER_PATH UID_SHIFT REPLACE\n"
                        "       machined-enter bind LEADER PROPAGATE_DIR INCOMING_DIR SOURCE DEST READ_ONLY MKDIR\n");
        return EXIT_FAILED;
}

int run_copy_command(int argc, char **argv) {
        unsigned long leader, shift;
        if (argc == 6 && parse_uint(argv[0], INT_MAX, &leader) == 0 &&
            parse_uint(argv[4], UINT32_MAX - 1, &shift) == 0 && (strcmp(argv[1], "to") == 0 || strcmp(argv[1], "from") == 0))
                return run_copy((pid_t) leader, strcmp(argv[1], "from") == 0, argv[2], argv[3], (uid_t) shift, strcmp(argv[5], "1") == 0);
        return usage();
}

int run_bind_command(int argc, char **argv) {
        unsigned long leader;
        if (argc == 7 && parse_uint(argv[0], INT_MAX, &leader) == 0)
                return run_bind((pid_t) leader, argv[1], argv[2], argv[3], argv[4], strcmp(argv[5], "1") == 0, strcmp(argv[6], "1") == 0);
        return usage();
}
