/*
 * AF_VSOCK and /dev/vhost-vsock, for machined-vmspawn's guest notify channel
 * (src/vmspawn/vsock-native.ts). Node cannot open AF_VSOCK sockets, nor wrap
 * one in a net.Socket (libuv only knows TCP and Unix sockets), so the
 * launcher reads the accepted connections through the poll set and read(2).
 *
 *   vsockListen()             -> fd or -errno   socket(AF_VSOCK, SOCK_STREAM) bound to
 *                                               VMADDR_CID_ANY:VMADDR_PORT_ANY, listening
 *   vsockLocalPort(fd)        -> port or -errno getsockname(2): the port the kernel picked
 *   vsockAccept(fd)           -> [fd, cid, port] or -errno
 *                                               accept4(2), non-blocking, close-on-exec,
 *                                               with the peer's address
 *   vhostVsockSetGuestCid(fd, cid) -> 0 or -errno
 *                                               ioctl(VHOST_VSOCK_SET_GUEST_CID) on an fd
 *                                               of /dev/vhost-vsock
 *
 * systemd-vmspawn does the same steps (open_vsock(), vsock_fix_child_cid()).
 * Unlike the rest of the module these return negative errno values, systemd
 * style, because a host without vsock is an answer the launcher expects,
 * not an exception; the typed view turns them into Node-style errors.
 */

#include <errno.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/vhost.h>
#include <linux/vm_sockets.h>

#include "addon.h"

/* Enough for the few connections a guest's PID 1 makes while booting; more wait or are refused. */
#define NOTIFY_BACKLOG 16

static napi_value int_value(napi_env env, int64_t n) {
        napi_value v;

        napi_create_int64(env, n, &v);
        return v;
}

/* Argument i as a non-negative integer no larger than max; -1 (and a TypeError thrown) otherwise. */
static int64_t arg_in_range(napi_env env, napi_callback_info info, size_t i, int64_t max, const char *what) {
        size_t argc = 2;
        napi_value argv[2];
        int64_t n;

        napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
        if (i >= argc || napi_get_value_int64(env, argv[i], &n) != napi_ok || n < 0 || n > max) {
                napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", what);
                return -1;
        }
        return n;
}

napi_value js_vsock_listen(napi_env env, napi_callback_info info) {
        struct sockaddr_vm addr = {
                .svm_family = AF_VSOCK,
                .svm_cid = VMADDR_CID_ANY,
                .svm_port = VMADDR_PORT_ANY,
        };
        int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

        if (fd < 0)
                return int_value(env, -errno);
        if (bind(fd, (struct sockaddr *) &addr, sizeof addr) < 0 || listen(fd, NOTIFY_BACKLOG) < 0) {
                int err = errno;

                close(fd);
                return int_value(env, -err);
        }
        return int_value(env, fd);
}

napi_value js_vsock_local_port(napi_env env, napi_callback_info info) {
        struct sockaddr_vm addr = { 0 };
        socklen_t len = sizeof addr;
        int64_t fd = arg_in_range(env, info, 0, INT32_MAX, "fd must be a file descriptor");

        if (fd < 0)
                return NULL;
        if (getsockname((int) fd, (struct sockaddr *) &addr, &len) < 0)
                return int_value(env, -errno);
        if (addr.svm_family != AF_VSOCK)
                return int_value(env, -EAFNOSUPPORT);
        return int_value(env, addr.svm_port);
}

napi_value js_vsock_accept(napi_env env, napi_callback_info info) {
        struct sockaddr_vm peer = { 0 };
        socklen_t len = sizeof peer;
        napi_value result;
        int64_t fd = arg_in_range(env, info, 0, INT32_MAX, "fd must be a file descriptor");
        int conn;

        if (fd < 0)
                return NULL;
        conn = accept4((int) fd, (struct sockaddr *) &peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (conn < 0)
                return int_value(env, -errno);
        napi_create_array_with_length(env, 3, &result);
        napi_set_element(env, result, 0, int_value(env, conn));
        /* Only AF_VSOCK peers have a CID; VMADDR_CID_ANY stands for none. */
        napi_set_element(env, result, 1, int_value(env, peer.svm_family == AF_VSOCK ? peer.svm_cid : VMADDR_CID_ANY));
        napi_set_element(env, result, 2, int_value(env, peer.svm_family == AF_VSOCK ? peer.svm_port : VMADDR_PORT_ANY));
        return result;
}

napi_value js_vhost_vsock_set_guest_cid(napi_env env, napi_callback_info info) {
        int64_t fd = arg_in_range(env, info, 0, INT32_MAX, "fd must be a file descriptor");
        int64_t cid = fd < 0 ? -1 : arg_in_range(env, info, 1, UINT32_MAX, "cid must be a 32-bit unsigned integer");
        uint64_t guest_cid;

        if (fd < 0 || cid < 0)
                return NULL;
        /* The ioctl takes a 64-bit CID, though valid ones are 32 bits. */
        guest_cid = (uint64_t) cid;
        if (ioctl((int) fd, VHOST_VSOCK_SET_GUEST_CID, &guest_cid) < 0)
                return int_value(env, -errno);
        return int_value(env, 0);
}
