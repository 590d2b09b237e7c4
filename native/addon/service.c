/*
 * What a service needs from the manager that runs it (see main.c), which
 * Node cannot do itself: sending an sd_notify(3) datagram, and taking over
 * the sockets of socket activation (sd_listen_fds(3)).
 *
 *   unixSendDatagram(address, data) -> bytes sent
 *                            one datagram on a fresh AF_UNIX SOCK_DGRAM
 *                            socket to `address` (a Buffer: a path, or a
 *                            leading NUL byte for an abstract name), as
 *                            sd_notify() sends to $NOTIFY_SOCKET
 *   fdSetCloexec(fd)         FD_CLOEXEC on an inherited fd, so the helper
 *                            programs and the embedded bus never inherit a
 *                            listening socket (sd_listen_fds() does the same)
 *   isListeningUnixStream(fd) -> boolean
 *                            sd_is_socket_unix(fd, SOCK_STREAM, 1, …): an
 *                            inherited fd is served only when it is one
 */

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "addon.h"

napi_value js_unix_send_datagram(napi_env env, napi_callback_info info) {
        size_t argc = 2, address_length, length;
        napi_value argv[2], result;
        void *address, *data;
        struct sockaddr_un sa;
        socklen_t sa_len;
        ssize_t n;
        int fd;

        napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
        if (argc < 2 || napi_get_buffer_info(env, argv[0], &address, &address_length) != napi_ok || address_length == 0 ||
            napi_get_buffer_info(env, argv[1], &data, &length) != napi_ok) {
                napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "address must be a non-empty Buffer, data a Buffer");
                return NULL;
        }
        if (unix_address(address, address_length, &sa, &sa_len) < 0)
                return throw_errno(env, ENAMETOOLONG, "sendmsg");
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return throw_errno(env, errno, "socket");
        /* sd_notify() blocks too: the manager reads its notify socket promptly, and a datagram goes whole or not at all. */
        n = sendto(fd, data, length, MSG_NOSIGNAL, (struct sockaddr *) &sa, sa_len);
        if (n < 0) {
                int err = errno;

                close(fd);
                return throw_errno(env, err, "sendmsg");
        }
        close(fd);
        napi_create_int64(env, (int64_t) n, &result);
        return result;
}

napi_value js_fd_set_cloexec(napi_env env, napi_callback_info info) {
        int32_t fd;
        int flags;

        if (get_int_args(env, info, 1, (const char *const[]) { "fd" }, &fd) < 0)
                return NULL;
        flags = fcntl(fd, F_GETFD);
        if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0)
                return throw_errno(env, errno, "fcntl");
        return NULL;
}

napi_value js_is_listening_unix_stream(napi_env env, napi_callback_info info) {
        int32_t fd;
        int type = 0, listening = 0;
        struct sockaddr_storage sa;
        socklen_t len = sizeof type, sa_len = sizeof sa;
        napi_value result;
        bool ok;

        if (get_int_args(env, info, 1, (const char *const[]) { "fd" }, &fd) < 0)
                return NULL;
        ok = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
        len = sizeof listening;
        ok = ok && getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening != 0;
        ok = ok && getsockname(fd, (struct sockaddr *) &sa, &sa_len) == 0 && sa.ss_family == AF_UNIX;
        napi_get_boolean(env, ok, &result);
        return result;
}
