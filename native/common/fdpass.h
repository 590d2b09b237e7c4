/*
 * Passing fds over a Unix socket (SCM_RIGHTS): the one implementation the
 * N-API module (sendFds/receiveFds, which both of the daemon's transports
 * use), machined-spawn-helper and machined-enter share.
 */

#ifndef MACHINED_FDPASS_H
#define MACHINED_FDPASS_H

#include <stddef.h>
#include <sys/types.h>

/* SCM_MAX_FD: the most fds the kernel takes with one sendmsg(2). */
#define FDPASS_MAX_FDS 253

/*
 * sendmsg(2) of `len` bytes with `n_fds` fds (at most FDPASS_MAX_FDS)
 * attached to their first byte; `flags` as sendmsg's, MSG_NOSIGNAL added.
 * Returns the bytes sent (the fds went with the first of them), or -1
 * with errno set.
 */
ssize_t fdpass_send(int sock, const void *data, size_t len, const int *fds, size_t n_fds, int flags);

/*
 * recvmsg(2) of up to `len` bytes, and the fds that came with them
 * (close-on-exec, the caller's) into `fds`, their count in *ret_n_fds.
 * Room is made for FDPASS_MAX_FDS, so the kernel never drops any; those
 * beyond `max_fds` are closed. Returns the bytes read (0 at the end of
 * the stream), or -1 with errno set.
 */
ssize_t fdpass_receive(int sock, void *buf, size_t len, int *fds, size_t max_fds, size_t *ret_n_fds, int flags);

#endif
