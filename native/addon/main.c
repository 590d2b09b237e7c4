/*
 * machined-ts native helpers: the few system calls Node does not offer.
 * One file a job:
 *
 *   process.c  pidfdOpen(pid) -> fd, pidfdSendSignal(fd, sig),
 *              signalPipe([signo, ...]) -> fd (signals Node cannot handle)
 *   pty.c      ptyOpen() -> { master, slave, path }, ptySetWindowSize(fd, columns, rows)
 *   socket.c   getPeerCred(fd), socketPair(), unixConnect(path),
 *              sendFds(fd, buffer, [fd]), receiveFds(fd): Unix sockets,
 *              fds passed with SCM_RIGHTS
 *   poll_set.c pollSetOpen(callback): many fds behind one uv_poll
 *   inotify.c  inotifyInit(), inotifyAddWatch(fd, path, mask), inotifyRmWatch(fd, wd)
 *   images.c   ofdLock, fileAttributes, setFileAttributes, btrfsSubvolumeInfo,
 *              btrfsSetReadOnly, blockDeviceSetReadOnly: the image
 *              pool's locks and ioctls; images_scan.c scanSearchPath (off the JS thread)
 *   service.c  unixSendDatagram(address, data) (sd_notify), fdSetCloexec(fd),
 *              isListeningUnixStream(fd) (socket activation)
 *   vsock.c    vsockListen(), vsockLocalPort(fd), vsockAccept(fd), vhostVsockSetGuestCid(fd, cid)
 *              (these return negative errno values instead of throwing)
 *   here       mallocTrim() -> boolean
 *
 * Failures throw an Error shaped like Node's own system errors: `code`
 * ('ESRCH'), negative `errno`, and `syscall`. src/native/addon.ts loads
 * it; the typed views are src/backends/native.ts (the daemon),
 * src/native/pidfd.ts (pidfds, for the daemon and machined-spawn),
 * src/native/fd-socket.ts (the sockets both transports pass fds on),
 * src/linux/pty.ts (ptys), src/vmspawn/signals.ts (signalPipe) and
 * src/vmspawn/vsock-native.ts (AF_VSOCK), src/native/images.ts (images) and
 * src/native/service.ts (sd_notify and socket activation).
 */

#include <malloc.h>

#include "addon.h"

/*
 * glibc keeps the pages of freed chunks inside its heap: after a burst of
 * registrations (many small short-lived buffers between long-lived ones)
 * about 30 MiB of an idle daemon's RSS with 10,000 machines was free heap.
 * malloc_trim(0) hands free pages anywhere in the heap back (MADV_DONTNEED).
 */
static napi_value malloc_trim_all(napi_env env, napi_callback_info info) {
        napi_value result;

        napi_get_boolean(env, malloc_trim(0) == 1, &result);
        return result;
}

#define ADDON_FUNCTION(name, fn) { name, NULL, fn, NULL, NULL, NULL, napi_enumerable, NULL }

static napi_value init(napi_env env, napi_value exports) {
        napi_property_descriptor functions[] = {
                ADDON_FUNCTION("pidfdOpen", js_pidfd_open),
                ADDON_FUNCTION("pidfdSendSignal", js_pidfd_send_signal),
                ADDON_FUNCTION("signalPipe", js_signal_pipe),
                ADDON_FUNCTION("ptyOpen", js_pty_open),
                ADDON_FUNCTION("ptySetWindowSize", js_pty_set_window_size),
                ADDON_FUNCTION("getPeerCred", js_get_peer_cred),
                ADDON_FUNCTION("socketPair", js_socket_pair),
                ADDON_FUNCTION("unixConnect", js_unix_connect),
                ADDON_FUNCTION("receiveFds", js_receive_fds),
                ADDON_FUNCTION("sendFds", js_send_fds),
                ADDON_FUNCTION("pollSetOpen", js_poll_set_open),
                ADDON_FUNCTION("inotifyInit", js_inotify_open),
                ADDON_FUNCTION("inotifyAddWatch", js_inotify_watch_add),
                ADDON_FUNCTION("inotifyRmWatch", js_inotify_watch_rm),
                ADDON_FUNCTION("ofdLock", js_ofd_lock),
                ADDON_FUNCTION("fileAttributes", js_file_attributes),
                ADDON_FUNCTION("setFileAttributes", js_set_file_attributes),
                ADDON_FUNCTION("btrfsSubvolumeInfo", js_btrfs_subvolume_info),
                ADDON_FUNCTION("btrfsSetReadOnly", js_btrfs_set_read_only),
                ADDON_FUNCTION("blockDeviceSetReadOnly", js_block_device_set_read_only),
                ADDON_FUNCTION("scanSearchPath", js_scan_search_path),
                ADDON_FUNCTION("unixSendDatagram", js_unix_send_datagram),
                ADDON_FUNCTION("fdSetCloexec", js_fd_set_cloexec),
                ADDON_FUNCTION("isListeningUnixStream", js_is_listening_unix_stream),
                ADDON_FUNCTION("vsockListen", js_vsock_listen),
                ADDON_FUNCTION("vsockLocalPort", js_vsock_local_port),
                ADDON_FUNCTION("vsockAccept", js_vsock_accept),
                ADDON_FUNCTION("vhostVsockSetGuestCid", js_vhost_vsock_set_guest_cid),
                ADDON_FUNCTION("mallocTrim", malloc_trim_all),
        };

        napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions);
        return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
