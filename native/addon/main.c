/*
 * machined-ts native helpers: the few system calls Node does not offer.
 * One file a job:
 *
 *   process.c  pidfdOpen(pid) -> fd, pidfdOpenOrErrno(pid) -> fd or -errno,
 *              pidfdSendSignal(fd, sig), pidfdHasExited(fd), fdInode(fd),
 *              signalPipe([signo, ...]) -> fd (signals Node cannot handle)
 *   pty.c      ptyOpen() -> { master, slave, path }, ptySetWindowSize(fd, columns, rows)
 *   socket.c   getPeerCred(fd), socketPair(), unixConnect(path),
 *              sendFds(fd, buffer, [fd]), receiveFds(fd),
 *              receiveFdsInto(fd, buffer, fds): Unix sockets,
 *              fds passed with SCM_RIGHTS
 *   poll_set.c pollSetOpen(callback): many fds behind one uv_poll
 *   inotify.c  inotifyInit(), inotifyAddWatch(fd, path, mask), inotifyRmWatch(fd, wd)
 *   images.c   ofdLock, fileAttributes, setFileAttributes, btrfsSubvolumeInfo,
 *              btrfsSetReadOnly, blockDeviceSetReadOnly: the image
 *              pool's locks and ioctls; images_scan.c scanSearchPath (off the JS thread)
 *   guest_file.c readFileInRoot(root, path, max, callback): a small regular file
 *              of a guest, resolved inside its root by openat2() (off the JS thread)
 *   read_files.c readSmallFiles(paths, max, callback): many small files, such as
 *              /proc/PID/cgroup of every leader at start-up (off the JS thread)
 *   netlink.c  localAddresses(netns, max, callback): a network namespace's addresses
 *              (RTM_GETADDR, off the JS thread; the namespace joined by a thread of its own)
 *   service.c  unixSendDatagram(address, data) (sd_notify), fdSetCloexec(fd),
 *              isListeningUnixStream(fd) (socket activation)
 *   spawn.c    pipe() -> [read, write], spawnProgram(path, argv, fds, setsid) -> pid
 *              (posix_spawn), waitPidfd(fd) -> { code } | { signal } | undefined
 *   vsock.c    vsockListen(), vsockLocalPort(fd), vsockAccept(fd), vhostVsockSetGuestCid(fd, cid)
 *              (these return negative errno values instead of throwing)
 *   here       mallocTrim() -> boolean, releaseExecutablePages() -> KiB
 *
 * Failures throw an Error shaped like Node's own system errors: `code`
 * ('ESRCH'), negative `errno`, and `syscall`. src/native/addon.ts loads
 * it; the typed views are src/backends/native.ts (the daemon),
 * src/native/pidfd.ts (pidfds, for the daemon and machined-spawn),
 * src/native/fd-socket.ts (the sockets both transports pass fds on),
 * src/linux/pty.ts (ptys), src/vmspawn/signals.ts (signalPipe) and
 * src/vmspawn/vsock-native.ts (AF_VSOCK), src/native/images.ts (images),
 * src/native/guest-file.ts (a guest's files), src/native/local-addresses.ts (a network
 * namespace's addresses) and
 * src/native/service.ts (sd_notify and socket activation) and
 * src/native/spawn.ts (starting and reaping a program).
 */

#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

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

/*
 * The node binary is about 95 MiB; starting Node and loading the daemon
 * touch about 40 MiB of it (code and read-only data, with the kernel's
 * fault-around mapping 64 KiB at a time), and those pages stay mapped,
 * counted in the daemon's RSS, though most are never used again. This
 * unmaps them from the process (MADV_DONTNEED): they stay in the page
 * cache, shared with every other Node process, and a page used again
 * comes back on its next touch as a minor fault. Only read-only mappings
 * of the binary without a private (copied-on-write) page are touched, so
 * nothing is lost: what comes back is the file's content. Returns the KiB
 * that were resident in them.
 */
static napi_value release_executable_pages(napi_env env, napi_callback_info info) {
        struct region { unsigned long start, end, rss_kib; int copied; } regions[64];
        size_t n = 0;
        int current = 0; /* whether the lines being read describe regions[n - 1] */
        char exe[PATH_MAX], line[PATH_MAX + 128];
        ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
        double released = 0;
        napi_value result;
        FILE *f;

        if (len < 0)
                return throw_errno(env, errno, "readlink");
        exe[len] = 0;
        f = fopen("/proc/self/smaps", "re");
        if (!f)
                return throw_errno(env, errno, "open");
        while (fgets(line, sizeof line, f)) {
                unsigned long start, end, kib;
                char perms[8];
                int path_at = 0;

                if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", &start, &end, perms, &path_at) >= 3 && path_at > 0) {
                        char *path = line + path_at;

                        path[strcspn(path, "\n")] = 0;
                        current = n < sizeof regions / sizeof regions[0] && strcmp(path, exe) == 0 && perms[1] == '-' && perms[3] == 'p';
                        if (current)
                                regions[n++] = (struct region) { start, end, 0, 0 };
                        continue;
                }
                if (!current)
                        continue;
                if (sscanf(line, "Rss: %lu kB", &kib) == 1)
                        regions[n - 1].rss_kib = kib;
                else if (sscanf(line, "Anonymous: %lu kB", &kib) == 1 && kib > 0)
                        regions[n - 1].copied = 1;
        }
        fclose(f);
        for (size_t i = 0; i < n; i++)
                if (!regions[i].copied && madvise((void *) regions[i].start, regions[i].end - regions[i].start, MADV_DONTNEED) == 0)
                        released += (double) regions[i].rss_kib;
        napi_create_double(env, released, &result);
        return result;
}

#define ADDON_FUNCTION(name, fn) { name, NULL, fn, NULL, NULL, NULL, napi_enumerable, NULL }

static napi_value init(napi_env env, napi_value exports) {
        napi_property_descriptor functions[] = {
                ADDON_FUNCTION("pidfdOpen", js_pidfd_open),
                ADDON_FUNCTION("pidfdSendSignal", js_pidfd_send_signal),
                ADDON_FUNCTION("pidfdHasExited", js_pidfd_has_exited),
                ADDON_FUNCTION("pidfdOpenOrErrno", js_pidfd_open_or_errno),
                ADDON_FUNCTION("fdInode", js_fd_inode),
                ADDON_FUNCTION("signalPipe", js_signal_pipe),
                ADDON_FUNCTION("ptyOpen", js_pty_open),
                ADDON_FUNCTION("ptySetWindowSize", js_pty_set_window_size),
                ADDON_FUNCTION("getPeerCred", js_get_peer_cred),
                ADDON_FUNCTION("socketPair", js_socket_pair),
                ADDON_FUNCTION("unixConnect", js_unix_connect),
                ADDON_FUNCTION("receiveFds", js_receive_fds),
                ADDON_FUNCTION("receiveFdsInto", js_receive_fds_into),
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
                ADDON_FUNCTION("readFileInRoot", js_read_file_in_root),
                ADDON_FUNCTION("readSmallFiles", js_read_small_files),
                ADDON_FUNCTION("localAddresses", js_local_addresses),
                ADDON_FUNCTION("unixSendDatagram", js_unix_send_datagram),
                ADDON_FUNCTION("fdSetCloexec", js_fd_set_cloexec),
                ADDON_FUNCTION("isListeningUnixStream", js_is_listening_unix_stream),
                ADDON_FUNCTION("pipe", js_pipe),
                ADDON_FUNCTION("spawnProgram", js_spawn_program),
                ADDON_FUNCTION("waitPidfd", js_wait_pidfd),
                ADDON_FUNCTION("vsockListen", js_vsock_listen),
                ADDON_FUNCTION("vsockLocalPort", js_vsock_local_port),
                ADDON_FUNCTION("vsockAccept", js_vsock_accept),
                ADDON_FUNCTION("vhostVsockSetGuestCid", js_vhost_vsock_set_guest_cid),
                ADDON_FUNCTION("mallocTrim", malloc_trim_all),
                ADDON_FUNCTION("releaseExecutablePages", release_executable_pages),
        };

        napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions);
        return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
