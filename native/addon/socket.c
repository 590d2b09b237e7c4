/*
 * Unix sockets (see main.c): who is at the other end, connecting, and
 * passing fds with SCM_RIGHTS through common/fdpass.c, without blocking.
 * src/native/fd-socket.ts builds the sockets of both transports on these:
 * the daemon's D-Bus connection, and the Varlink replies that carry fds.
 */

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "addon.h"
#include "fdpass.h"

/* The most bytes one receiveFds() returns. */
#define RECEIVE_MAX_BYTES 65536

napi_value js_get_peer_cred(napi_env env, napi_callback_info info) {
        napi_value result;
        int32_t fd;
        struct ucred cred;
        socklen_t len = sizeof cred;

        if (get_int_args(env, info, 1, (const char *const[]) { "fd" }, &fd) < 0)
                return NULL;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
                return throw_errno(env, errno, "getsockopt");

        napi_create_object(env, &result);
        set_uint32(env, result, "uid", cred.uid);
        set_uint32(env, result, "gid", cred.gid);
        set_uint32(env, result, "pid", (uint32_t) cred.pid);
        return result;
}

/* A connected pair of Unix stream sockets, both close-on-exec: one end goes to a helper program as fd 3. */
napi_value js_socket_pair(napi_env env, napi_callback_info info) {
        int fds[2];

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
                return throw_errno(env, errno, "socketpair");
        return fd_pair(env, fds);
}

/*
 * The address of a Unix socket named by `length` bytes at `path`: a path
 * (given without its NUL, which must still fit), or a leading NUL byte and
 * an abstract name (exactly as long as given). -1 when it does not fit.
 */
int unix_address(const void *path, size_t length, struct sockaddr_un *ret, socklen_t *ret_len) {
        bool abstract = length > 0 && ((const char *) path)[0] == 0;

        if (length > sizeof ret->sun_path - (abstract ? 0 : 1))
                return -1;
        *ret = (struct sockaddr_un) { .sun_family = AF_UNIX };
        memcpy(ret->sun_path, path, length);
        *ret_len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + length + (abstract ? 0 : 1));
        return 0;
}

/*
 * A non-blocking, close-on-exec Unix stream socket connected to the path
 * in a Buffer (a leading NUL byte names an abstract socket). A Unix
 * connect() does not go on in the background: it succeeds at once, or
 * fails (EAGAIN when the listener's backlog is full, as node:net reports).
 */
napi_value js_unix_connect(napi_env env, napi_callback_info info) {
        size_t argc = 1, length;
        napi_value argv[1], result;
        void *path;
        struct sockaddr_un sa;
        socklen_t sa_len;
        int fd;

        napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
        if (argc < 1 || napi_get_buffer_info(env, argv[0], &path, &length) != napi_ok || length == 0) {
                napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "path must be a non-empty Buffer");
                return NULL;
        }
        if (unix_address(path, length, &sa, &sa_len) < 0)
                return throw_errno(env, ENAMETOOLONG, "connect");
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return throw_errno(env, errno, "socket");
        if (connect(fd, (struct sockaddr *) &sa, sa_len) < 0) {
                int err = errno;
                close(fd);
                return throw_errno(env, err, "connect");
        }
        napi_create_int32(env, fd, &result);
        return result;
}

/*
 * What waits on a Unix socket, without blocking: up to 64 KiB and the fds
 * that came with them (close-on-exec, the caller's). An empty `data` is
 * the end of the stream; throws EAGAIN when nothing waits. The kernel
 * hands fds out with the read that holds the first byte they were sent
 * with, and ends that read no later than the end of that send.
 */
napi_value js_receive_fds(napi_env env, napi_callback_info info) {
        napi_value result, value, array;
        int32_t fd;
        char data[RECEIVE_MAX_BYTES];
        int fds[FDPASS_MAX_FDS];
        size_t n_fds;
        ssize_t n;

        if (get_int_args(env, info, 1, (const char *const[]) { "fd" }, &fd) < 0)
                return NULL;
        n = fdpass_receive(fd, data, sizeof data, fds, FDPASS_MAX_FDS, &n_fds, MSG_DONTWAIT);
        if (n < 0)
                return throw_errno(env, errno, "recvmsg");
        napi_create_array_with_length(env, n_fds, &array);
        for (size_t i = 0; i < n_fds; i++) {
                napi_create_int32(env, fds[i], &value);
                napi_set_element(env, array, (uint32_t) i, value);
        }
        napi_create_object(env, &result);
        napi_create_buffer_copy(env, (size_t) n, data, NULL, &value);
        napi_set_named_property(env, result, "data", value);
        napi_set_named_property(env, result, "fds", array);
        return result;
}

/*
 * The arguments sendFds() and receiveFdsInto() start with: an fd, and a
 * non-empty Buffer named `what`. Throws and returns -1 when they are not.
 */
static int get_fd_and_buffer(napi_env env, napi_value *argv, size_t argc, const char *what, int32_t *ret_fd, void **ret_data, size_t *ret_length) {
        if (get_int_arg(env, argv, argc, 0, "fd", ret_fd) < 0)
                return -1;
        if (argc < 3 || napi_get_buffer_info(env, argv[1], ret_data, ret_length) != napi_ok || *ret_length == 0) {
                char message[64];
                snprintf(message, sizeof message, "%s must be a non-empty Buffer", what);
                napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
                return -1;
        }
        return 0;
}

/*
 * receiveFds() without an allocation: reads what waits, up to the length
 * of the Buffer `into`, into it; the count of fds that came along goes to
 * `fds[0]`, the fds to `fds[1]`… (an Int32Array of FDPASS_MAX_FDS + 1).
 * Returns the bytes read (0: the end of the stream); throws as
 * receiveFds() does. A socket read per message would otherwise make an
 * external Buffer each time, and the garbage collector free its memory.
 */
napi_value js_receive_fds_into(napi_env env, napi_callback_info info) {
        size_t argc = 3, length, n_fds_max, n_fds;
        napi_value argv[3], result;
        napi_typedarray_type type;
        int32_t fd, *fds;
        void *data;
        ssize_t n;

        napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
        if (get_fd_and_buffer(env, argv, argc, "into", &fd, &data, &length) < 0)
                return NULL;
        if (napi_get_typedarray_info(env, argv[2], &type, &n_fds_max, (void **) &fds, NULL, NULL) != napi_ok ||
            type != napi_int32_array || n_fds_max < FDPASS_MAX_FDS + 1) {
                napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "fds must be an Int32Array of 254 elements");
                return NULL;
        }
        n = fdpass_receive(fd, data, length, fds + 1, FDPASS_MAX_FDS, &n_fds, MSG_DONTWAIT);
        if (n < 0)
                return throw_errno(env, errno, "recvmsg");
        fds[0] = (int32_t) n_fds;
        napi_create_int64(env, (int64_t) n, &result);
        return result;
}

/* The fds of sendFds()'s array argument; throws and returns -1 when it is not an array of at most FDPASS_MAX_FDS ints. */
static int get_fds(napi_env env, napi_value array, int fds[FDPASS_MAX_FDS], uint32_t *ret_n) {
        if (napi_get_array_length(env, array, ret_n) != napi_ok || *ret_n > FDPASS_MAX_FDS) {
                napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "fds must be an array of at most 253 fds");
                return -1;
        }
        for (uint32_t i = 0; i < *ret_n; i++) {
                napi_value value;
                napi_get_element(env, array, i, &value);
                if (get_int_arg(env, &value, 1, 0, "fd", &fds[i]) < 0)
                        return -1;
        }
        return 0;
}

/*
 * Sends bytes with fds attached to their first byte on a Unix socket,
 * without blocking: how many bytes went (the fds went with the first of
 * them; the rest is the caller's to send without fds); throws EAGAIN when
 * the socket takes nothing now.
 */
napi_value js_send_fds(napi_env env, napi_callback_info info) {
        size_t argc = 3, length;
        napi_value argv[3], result;
        int32_t fd;
        void *data;
        uint32_t n_fds;
        int fds[FDPASS_MAX_FDS];
        ssize_t n;

        napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
        if (get_fd_and_buffer(env, argv, argc, "data", &fd, &data, &length) < 0)
                return NULL;
        if (get_fds(env, argv[2], fds, &n_fds) < 0)
                return NULL;
        n = fdpass_send(fd, data, length, fds, n_fds, MSG_DONTWAIT);
        if (n < 0)
                return throw_errno(env, errno, "sendmsg");
        napi_create_int64(env, (int64_t) n, &result);
        return result;
}
