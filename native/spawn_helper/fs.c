/* What the container's steps (steps.c) do to files, mounts, links and the process itself. */

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "spawn_helper.h"

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

unsigned long parse_mount_flags(const char *s) {
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

int mkdir_p(const char *path, mode_t mode) {
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
int remount_ro_one(const char *path) {
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

int remount_ro_tree(const char *path) {
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

/* pivot_root(".", ".") then detach the old root: no directory for it is needed in the image (as runc does). */
int pivot_into(const char *root, int read_only) {
        if (mount(root, root, NULL, MS_BIND | MS_REC, NULL) < 0)
                return -1;
        /* While the host's /proc still shows our mount table: the tree's own mounts go read-only with it. */
        if (read_only && remount_ro_tree(root) < 0)
                return -1;
        if (chdir(root) < 0)
                return -1;
        if (syscall(SYS_pivot_root, ".", ".") < 0)
                return -1;
        if (umount2(".", MNT_DETACH) < 0)
                return -1;
        return chdir("/");
}

int write_file(const char *path, mode_t mode, const char *content) {
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

/* A device node, FIFO, socket or file (TYPE c b p s f); one there already is kept, its mode set. */
int make_node(const char *path, const char *type, mode_t mode, const char *major, const char *minor) {
        static const struct { char letter; mode_t type; } types[] = {
                { 'c', S_IFCHR }, { 'b', S_IFBLK }, { 'p', S_IFIFO }, { 's', S_IFSOCK }, { 'f', S_IFREG },
        };
        dev_t dev = makedev(strtoul(major, NULL, 10), strtoul(minor, NULL, 10));

        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
                if (type[0] != types[i].letter)
                        continue;
                if (mknod(path, types[i].type | mode, dev) < 0 && errno != EEXIST)
                        return -1;
                return chmod(path, mode);
        }
        errno = EINVAL;
        return -1;
}

int make_console(const char *path) {
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

int link_up(const char *name) {
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

/* Drops from the bounding set every capability the hex mask lacks, and all ambient ones. */
int keep_capabilities(const char *hex_mask) {
        uint64_t keep = strtoull(hex_mask, NULL, 16);

        for (int cap = 0; cap < 64; cap++) {
                if (keep & (UINT64_C(1) << cap))
                        continue;
                if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
                        return -1;
        }
        (void) prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
        return 0;
}

void reset_signals(void) {
        sigset_t all;

        for (int s = 1; s < NSIG; s++)
                if (s != SIGKILL && s != SIGSTOP)
                        signal(s, SIG_DFL);
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
}
