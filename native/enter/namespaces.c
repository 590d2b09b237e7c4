/*
 * Joining a machine: its namespaces, its root, its cgroups, and no more
 * capabilities than its leader has. Every subcommand of machined-enter
 * that acts inside a machine starts here.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "enter.h"

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
uint64_t leader_bounding_set(long pid) {
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
int limit_bounding_set(uint64_t set) {
        for (int cap = 0; cap < 64; cap++) {
                if (set & (UINT64_C(1) << cap))
                        continue;
                if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) /* EINVAL: past the kernel's last capability. */
                        return -1;
        }
        return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL ? -1 : 0;
}

void enter_or_fail(long pid, int which) {
        const char *what = "";
        int r = enter(pid, which, &what);

        if (r < 0) {
                errno = -r;
                fail(what);
        }
}
