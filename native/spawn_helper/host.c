/*
 * The helper's side: its plan steps (clone flags and the host directories
 * it makes, and undoes when the container is gone) and the container's
 * sd_notify datagrams.
 */

#include <errno.h>
#include <ftw.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spawn_helper.h"

/* Host directories the helper made and undoes when the container is gone. */
typedef struct DirList {
        char *paths[16];
        size_t n;
} DirList;

static DirList shared_dirs, owned_dirs, orphan_dirs;

/* machined-spawn closed our stdin (it died): nobody else will clean up after the container. */
static int manager_gone;

/* clone [pid,mount,uts,ipc,net]: the namespaces the container gets. */
int step_clone(const Step *st, Plan *plan) {
        static const struct { const char *name; unsigned long flag; } table[] = {
                { "pid", CLONE_NEWPID }, { "mount", CLONE_NEWNS }, { "uts", CLONE_NEWUTS },
                { "ipc", CLONE_NEWIPC }, { "net", CLONE_NEWNET },
        };
        const char *s = arg(st, 1);
        char *copy = strdup(s ? s : ""), *save = NULL, *tok;

        plan->clone_flags = 0;
        for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
                for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
                        if (strcmp(tok, table[i].name) == 0)
                                plan->clone_flags |= table[i].flag;
        free(copy);
        return 0;
}

/* mkdir -p, once there is room in `list` to remember the directory by. */
static int make_host_dir(const DirList *list, const char *path, mode_t mode) {
        if (list->n >= sizeof list->paths / sizeof list->paths[0]) {
                errno = EMFILE;
                return -1;
        }
        return mkdir_p(path, mode);
}

/* A host directory that is a shared mount: mounts made below it later propagate into the container's slave copy (nspawn's /run/host/incoming). */
int step_host_shared_dir(const Step *st, Plan *plan) {
        const char *path = arg(st, 1);

        if (make_host_dir(&shared_dirs, path, 0700) < 0 || mount(path, path, NULL, MS_BIND, NULL) < 0)
                return -1;
        if (mount(NULL, path, NULL, MS_SHARED, NULL) < 0) {
                int e = errno;
                (void) umount2(path, MNT_DETACH);
                errno = e;
                return -1;
        }
        shared_dirs.paths[shared_dirs.n++] = strdup(path);
        return 0;
}

/* A host directory the container uses (nspawn's unix-export directory): made now, removed with everything in it
 * when the container is gone, even if the manager died meanwhile. */
int step_host_dir(const Step *st, Plan *plan) {
        if (make_host_dir(&owned_dirs, arg(st, 1), 0755) < 0)
                return -1;
        owned_dirs.paths[owned_dirs.n++] = strdup(arg(st, 1));
        return 0;
}

/*
 * A host directory machined-spawn made and keeps across the container's
 * reboots (an ephemeral container's overlay layer): it removes it itself
 * at the end; we remove it only if it died first.
 */
int step_host_orphan_dir(const Step *st, Plan *plan) {
        if (orphan_dirs.n >= sizeof orphan_dirs.paths / sizeof orphan_dirs.paths[0]) {
                errno = EMFILE;
                return -1;
        }
        orphan_dirs.paths[orphan_dirs.n++] = strdup(arg(st, 1));
        return 0;
}

void host_manager_gone(void) {
        manager_gone = 1;
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

void host_cleanup(void) {
        for (size_t i = shared_dirs.n; i > 0; i--) {
                (void) umount2(shared_dirs.paths[i - 1], MNT_DETACH);
                (void) rmdir(shared_dirs.paths[i - 1]);
        }
        shared_dirs.n = 0;
        for (size_t i = owned_dirs.n; i > 0; i--)
                (void) nftw(owned_dirs.paths[i - 1], remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
        owned_dirs.n = 0;
        for (size_t i = orphan_dirs.n; i > 0 && manager_gone; i--)
                (void) nftw(orphan_dirs.paths[i - 1], remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
        orphan_dirs.n = 0;
}

/* "notify <text>" for one datagram: \n, \\ and NUL escaped. */
static void emit_notify(const char *data, size_t n) {
        char escaped[8200];
        size_t w = 0;

        for (size_t i = 0; i < n && w < sizeof escaped - 3; i++) {
                if (data[i] == '\n') { escaped[w++] = '\\'; escaped[w++] = 'n'; }
                else if (data[i] == '\\') { escaped[w++] = '\\'; escaped[w++] = '\\'; }
                else if (data[i] == 0) { escaped[w++] = '\\'; escaped[w++] = '0'; }
                else escaped[w++] = data[i];
        }
        escaped[w] = 0;
        emit("notify %s", escaped);
}

/* Reads every queued sd_notify datagram; only PID 1 of the container is listened to (CONTAINER_INTERFACE: NotifyAccess=main). */
void drain_notify(int sock, pid_t leader) {
        for (;;) {
                char data[4097];
                struct iovec iov = { .iov_base = data, .iov_len = sizeof data - 1 };
                union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * 16)]; } control;
                struct msghdr mh = { 0 };
                struct ucred *cred = NULL;
                struct cmsghdr *c;
                ssize_t n;

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
                emit_notify(data, (size_t) n);
        }
}
