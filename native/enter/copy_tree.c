/*
 * The tree copy of machined-enter copy (copy.c): systemd's copy_tree_at()
 * with COPY_MERGE, COPY_HARDLINKS and optionally COPY_REPLACE, as machined
 * asks for it, in our own code. Files are opened relative to directory
 * fds and never followed through symlinks, so a tree the guest holds
 * cannot point the copy elsewhere.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "enter.h"

/* COPY_DEPTH_MAX in systemd's copy.c. */
#define COPY_DEPTH_MAX 2048U

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

int copy_tree_at(int df, const char *from, int dt, const char *to, uid_t uid, gid_t gid, bool replace, bool drop_privileges) {
        struct copy_options o = { .uid = uid, .gid = gid, .replace = replace, .drop_privileges = drop_privileges, .top = dt };
        struct stat st;
        int r;

        if (fstatat(df, from, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        r = copy_tree(df, from, &st, dt, to, to, COPY_DEPTH_MAX, &o);
        for (size_t i = 0; i < o.n_inodes; i++)
                free(o.inodes[i].rel);
        free(o.inodes);
        return r;
}
