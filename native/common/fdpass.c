/* See fdpass.h. */

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fdpass.h"

ssize_t fdpass_send(int sock, const void *data, size_t len, const int *fds, size_t n_fds, int flags) {
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * FDPASS_MAX_FDS)];
        } control;
        struct iovec iov = { .iov_base = (void *) data, .iov_len = len };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

        if (n_fds > FDPASS_MAX_FDS) {
                errno = EINVAL;
                return -1;
        }
        if (n_fds > 0) {
                struct cmsghdr *cmsg;

                memset(&control, 0, sizeof control);
                msg.msg_control = control.buf;
                msg.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
                cmsg = CMSG_FIRSTHDR(&msg);
                cmsg->cmsg_level = SOL_SOCKET;
                cmsg->cmsg_type = SCM_RIGHTS;
                cmsg->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
                memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * n_fds);
        }
        return sendmsg(sock, &msg, flags | MSG_NOSIGNAL);
}

ssize_t fdpass_receive(int sock, void *buf, size_t len, int *fds, size_t max_fds, size_t *ret_n_fds, int flags) {
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * FDPASS_MAX_FDS)];
        } control;
        struct iovec iov = { .iov_base = buf, .iov_len = len };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf };
        size_t count = 0;
        ssize_t n;

        n = recvmsg(sock, &msg, flags | MSG_CMSG_CLOEXEC);
        if (n < 0)
                return -1;
        for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
                size_t k;
                int received[FDPASS_MAX_FDS];

                if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS)
                        continue;
                k = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                memcpy(received, CMSG_DATA(cmsg), sizeof(int) * k);
                for (size_t i = 0; i < k; i++) {
                        if (count < max_fds)
                                fds[count++] = received[i];
                        else
                                close(received[i]);
                }
        }
        *ret_n_fds = count;
        return n;
}
