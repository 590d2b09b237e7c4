/*
 * What the parts of the N-API module share: Node-style errors, argument
 * reading, and the functions each part defines (main.c exports them).
 */

#ifndef MACHINED_ADDON_H
#define MACHINED_ADDON_H

#include <node_api.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

/* A Node-style system error (code 'ESRCH', negative errno, syscall) for `err`, a positive errno, not thrown. */
napi_value errno_error(napi_env env, int err, const char *syscall_name);
/* Throws a Node-style system error (code 'ESRCH', negative errno, syscall) for `err`, a positive errno. */
napi_value throw_errno(napi_env env, int err, const char *syscall_name);

/* Reads argv[i] as a non-negative int32; throws TypeError naming `what` and returns -1 otherwise. */
int get_int_arg(napi_env env, napi_value *argv, size_t argc, size_t i, const char *what, int32_t *ret);

/* Reads the first `n` (at most 4) arguments of a call as non-negative int32s, named by `names` in errors. */
int get_int_args(napi_env env, napi_callback_info info, size_t n, const char *const names[], int32_t *ret);

/* socket.c: a Unix socket's address from a path, or a leading NUL byte and an abstract name; -1 if too long. */
int unix_address(const void *path, size_t length, struct sockaddr_un *ret, socklen_t *ret_len);

/* A string argument as a malloc'd C string (free() it); NULL if it is no string or memory ran out. */
char *string_of(napi_env env, napi_value v);

/* Holds `callback` and queues `execute` on a libuv worker, then `complete` on the JavaScript thread. */
void async_queue(napi_env env, napi_value callback, const char *name, napi_async_execute_callback execute,
                 napi_async_complete_callback complete, void *data, napi_ref *ref, napi_async_work *work);
/* From `complete`: calls the held callback with (argv[0], argv[1]), then lets it and the work go. */
void async_done(napi_env env, napi_ref ref, napi_async_work work, napi_value argv[2]);

/* [fds[0], fds[1]]: the two ends of a new pipe or socket pair, as JavaScript sees them. */
napi_value fd_pair(napi_env env, const int fds[2]);

void set_int32(napi_env env, napi_value object, const char *key, int32_t v);
void set_uint32(napi_env env, napi_value object, const char *key, uint32_t v);

/* The module's functions, by file (main.c exports them under their JavaScript names); js_ keeps them
 * apart from the C library's own (glibc has a pidfd_open()). */
/* process.c */
napi_value js_pidfd_open(napi_env env, napi_callback_info info);
napi_value js_pidfd_send_signal(napi_env env, napi_callback_info info);
napi_value js_pidfd_has_exited(napi_env env, napi_callback_info info);
napi_value js_pidfd_open_or_errno(napi_env env, napi_callback_info info);
napi_value js_fd_inode(napi_env env, napi_callback_info info);
napi_value js_signal_pipe(napi_env env, napi_callback_info info);
/* pty.c */
napi_value js_pty_open(napi_env env, napi_callback_info info);
napi_value js_pty_set_window_size(napi_env env, napi_callback_info info);
/* socket.c */
napi_value js_get_peer_cred(napi_env env, napi_callback_info info);
napi_value js_socket_pair(napi_env env, napi_callback_info info);
napi_value js_unix_connect(napi_env env, napi_callback_info info);
napi_value js_receive_fds(napi_env env, napi_callback_info info);
napi_value js_receive_fds_into(napi_env env, napi_callback_info info);
napi_value js_send_fds(napi_env env, napi_callback_info info);
/* poll_set.c */
napi_value js_poll_set_open(napi_env env, napi_callback_info info);
/* inotify.c */
napi_value js_inotify_open(napi_env env, napi_callback_info info);
napi_value js_inotify_watch_add(napi_env env, napi_callback_info info);
napi_value js_inotify_watch_rm(napi_env env, napi_callback_info info);
/* images.c, images_scan.c */
napi_value js_ofd_lock(napi_env env, napi_callback_info info);
napi_value js_file_attributes(napi_env env, napi_callback_info info);
napi_value js_set_file_attributes(napi_env env, napi_callback_info info);
napi_value js_btrfs_subvolume_info(napi_env env, napi_callback_info info);
napi_value js_btrfs_set_read_only(napi_env env, napi_callback_info info);
napi_value js_block_device_set_read_only(napi_env env, napi_callback_info info);
napi_value js_scan_search_path(napi_env env, napi_callback_info info);
/* read_files.c */
napi_value js_read_small_files(napi_env env, napi_callback_info info);
/* netlink.c */
napi_value js_local_addresses(napi_env env, napi_callback_info info);
/* guest_file.c */
napi_value js_read_file_in_root(napi_env env, napi_callback_info info);
/* service.c */
napi_value js_unix_send_datagram(napi_env env, napi_callback_info info);
napi_value js_fd_set_cloexec(napi_env env, napi_callback_info info);
napi_value js_is_listening_unix_stream(napi_env env, napi_callback_info info);
/* spawn.c */
napi_value js_pipe(napi_env env, napi_callback_info info);
napi_value js_spawn_program(napi_env env, napi_callback_info info);
napi_value js_wait_pidfd(napi_env env, napi_callback_info info);
/* vsock.c */
napi_value js_vsock_listen(napi_env env, napi_callback_info info);
napi_value js_vsock_local_port(napi_env env, napi_callback_info info);
napi_value js_vsock_accept(napi_env env, napi_callback_info info);
napi_value js_vhost_vsock_set_guest_cid(napi_env env, napi_callback_info info);

#endif
