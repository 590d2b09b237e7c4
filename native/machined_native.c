/*
 * machined-ts native helpers: the few system calls Node does not offer.
 *
 *   getPeerCred(fd)            -> { uid, gid, pid }   getsockopt(SO_PEERCRED)
 *   pidfdOpen(pid)             -> fd                  pidfd_open(2)
 *   pidfdSendSignal(fd, sig)   -> undefined           pidfd_send_signal(2)
 *   ptyOpen()                  -> { master, slave, path }  posix_openpt + open of the slave
 *   ptySetWindowSize(fd, c, r) -> undefined           ioctl(TIOCSWINSZ)
 *   signalPipe([signo, ...])   -> fd                  sigaction() + a self-pipe
 *   socketPair()               -> [fd, fd]            socketpair(AF_UNIX, SOCK_STREAM), close-on-exec
 *   receiveFds(fd)             -> { data, fds }       recvmsg(MSG_DONTWAIT) with SCM_RIGHTS
 *   sendFds(fd, buffer, [fd])  -> bytes sent          sendmsg(MSG_DONTWAIT) with SCM_RIGHTS
 *
 * Failures throw an Error shaped like Node's own system errors: `code`
 * ('ESRCH'), negative `errno`, and `syscall`. src/native/addon.ts loads
 * it; the typed views are src/backends/native.ts (the daemon),
 * src/native/pidfd.ts (pidfds, for the daemon and machined-spawn: a
 * single exit watch is a pollSet of its own), src/spawn/native.ts (ptys)
 * and src/vmspawn/signals.ts (signalPipe).
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <node_api.h>
#include <uv.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

/* Throws a Node-style system error for `err` (a positive errno) from `syscall_name`. */
static napi_value throw_errno(napi_env env, int err, const char *syscall_name) {
        const char *name = strerrorname_np(err);
        char message[256];
        napi_value code, msg, error, value;

        snprintf(message, sizeof message, "%s: %s", syscall_name, strerror(err));
        napi_create_string_utf8(env, name ? name : "EUNKNOWN", NAPI_AUTO_LENGTH, &code);
        napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg);
        napi_create_error(env, code, msg, &error);
        napi_create_int32(env, -err, &value);
        napi_set_named_property(env, error, "errno", value);
        napi_create_string_utf8(env, syscall_name, NAPI_AUTO_LENGTH, &value);
        napi_set_named_property(env, error, "syscall", value);
        napi_throw(env, error);
        return NULL;
}

/* Reads argument `i` as a non-negative int32; throws TypeError otherwise. */
static int get_int_arg(napi_env env, napi_value *argv, size_t argc, size_t i, const char *what, int32_t *ret) {
        napi_valuetype type;

        if (i >= argc || napi_typeof(env, argv[i], &type) != napi_ok || type != napi_number ||
            napi_get_value_int32(env, argv[i], ret) != napi_ok || *ret < 0) {
                char message[128];
                snprintf(message, sizeof message, "%s must be a non-negative integer", what);
                napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
                return -1;
        }
        return 0;
}

static void set_uint32(napi_env env, napi_value object, const char *key, uint32_t v) {
        napi_value value;
        napi_create_uint32(env, v, &value);
        napi_set_named_property(env, object, key, value);
}

static napi_value get_peer_cred(napi_env env, napi_callback_info info) {
        size_t argc = 1;
        napi_value argv[1], result;
        int32_t fd;
        struct ucred cred;
        socklen_t len = sizeof cred;

        napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
        if (get_int_arg(env, argv, argc, 0, "fd", &fd) < 0)
                return NULL;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
                return throw_errno(env, errno, "getsockopt");

        napi_create_object(env, &result);
        set_uint32(env, result, "uid", cred.uid);
        set_uint32(env, result, "gid", cred.gid);
        set_uint32(env, result, "pid", (uint32_t) cred.pid);
        return result;
}

static napi_value pidfd_open(napi_env env, napi_callback_info info) {
        size_t argc = 1;
        napi_value argv[1], result;
        int32_t pid;
        long fd;

        napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
        if (get_int_arg(env, argv, argc, 0, "pid", &pid) < 0)
                return NULL;
        /* pidfds are always close-on-exec. */
        fd = syscall(SYS_pidfd_open, (pid_t) pid, 0);
        if (fd < 0)
                return throw_errno(env, errno, "pidfd_open");

        napi_create_int32(env, (int32_t) fd, &result);
        return result;
}

static napi_value pidfd_send_signal(napi_env env, napi_callback_info info) {
        size_t argc = 2;
        napi_value argv[2];
        int32_t fd, sig;

        napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
        if (get_int_arg(env, argv, argc, 0, "fd", &fd) < 0 || get_int_arg(env, argv, argc, 1, "signal", &sig) < 0)
                return NULL;
        if (syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0) < 0)
                return throw_errno(env, errno, "pidfd_send_signal");
        return NULL;
}

/*
 * Signals Node cannot handle: process.on() knows only the named signals,
 * not the real-time ones (machinectl poweroff sends SIGRTMIN+4 to a
 * machine's leader, which for machined-vmspawn is the Node process itself).
 * The handler writes the signal number as one byte into a non-blocking
 * pipe (write(2) is async-signal-safe); JavaScript reads the other end as a
 * stream. Each call makes its own pipe; a later call for the same signal
 * takes it over.
 */
static volatile sig_atomic_t signal_pipe_fd[65] = { 0 };

static void signal_to_pipe(int signo) {
        int saved_errno = errno;
        unsigned char b = (unsigned char) signo;
        int fd = signo > 0 && signo < 65 ? signal_pipe_fd[signo] - 1 : -1;

        if (fd >= 0)
                (void) !write(fd, &b, 1);
        errno = saved_errno;
}

static napi_value signal_pipe(napi_env env, napi_callback_info info) {
        size_t argc = 1;
        napi_value argv[1], result;
        bool is_array;
        uint32_t n;
        int32_t signals[64];
        int fds[2];

        napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
        if (argc < 1 || napi_is_array(env, argv[0], &is_array) != napi_ok || !is_array ||
            napi_get_array_length(env, argv[0], &n) != napi_ok || n == 0 || n > 64) {
                napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "signals must be an array of 1 to 64 signal numbers");
                return NULL;
        }
        for (uint32_t i = 0; i < n; i++) {
                napi_value v;
                napi_get_element(env, argv[0], i, &v);
                if (get_int_arg(env, &v, 1, 0, "signal", &signals[i]) < 0)
                        return NULL;
                if (signals[i] < 1 || signals[i] > 64 || signals[i] == SIGKILL || signals[i] == SIGSTOP) {
                        napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "not a catchable signal number");
                        return NULL;
                }
        }

        if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
                return throw_errno(env, errno, "pipe2");
        for (uint32_t i = 0; i < n; i++) {
                struct sigaction sa;

                memset(&sa, 0, sizeof sa);
                sa.sa_handler = signal_to_pipe;
                sa.sa_flags = SA_RESTART;
                sigemptyset(&sa.sa_mask);
                /* Stored +1 so that 0 means "none" in the zero-initialised table. */
                signal_pipe_fd[signals[i]] = fds[1] + 1;
                if (sigaction(signals[i], &sa, NULL) < 0) {
                        int err = errno;
                        for (uint32_t j = 0; j <= i; j++)
                                signal_pipe_fd[signals[j]] = 0;
                        close(fds[0]);
                        close(fds[1]);
                        return throw_errno(env, err, "sigaction");
                }
        }
        napi_create_int32(env, fds[0], &result);
        return result;
}

/*
 * A new pty pair, both ends close-on-exec and neither our controlling tty.
 * machined-spawn keeps the master and one slave fd open for the container's
 * whole life: with no slave open, the master reads EIO and the guest's
 * console writes stall (see ../shared/spec/this-machine.md).
 */
static napi_value pty_open(napi_env env, napi_callback_info info) {
        napi_value result, value;
        char path[128];
        int master, slave;

        master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (master < 0)
                return throw_errno(env, errno, "posix_openpt");
        if (grantpt(master) < 0 || unlockpt(master) < 0 || ptsname_r(master, path, sizeof path) != 0) {
                int err = errno;
                close(master);
                return throw_errno(env, err, "unlockpt");
        }
        slave = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (slave < 0) {
                int err = errno;
                close(master);
                return throw_errno(env, err, "open");
        }
        napi_create_object(env, &result);
        napi_create_int32(env, master, &value);
        napi_set_named_property(env, result, "master", value);
        napi_create_int32(env, slave, &value);
        napi_set_named_property(env, result, "slave", value);
        napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, &value);
        napi_set_named_property(env, result, "path", value);
        return result;
}

static napi_value pty_set_window_size(napi_env env, napi_callback_info info) {
        size_t argc = 3;
        napi_value argv[3];
        int32_t fd, columns, rows;
        struct winsize ws = { 0 };

        napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
        if (get_int_arg(env, argv, argc, 0, "fd", &fd) < 0 || get_int_arg(env, argv, argc, 1, "columns", &columns) < 0 ||
            get_int_arg(env, argv, argc, 2, "rows", &rows) < 0)
                return NULL;
        ws.ws_col = (unsigned short) columns;
        ws.ws_row = (unsigned short) rows;
        if (ioctl(fd, TIOCSWINSZ, &ws) < 0)
                return throw_errno(env, errno, "ioctl");
        return NULL;
}

/* A connected pair of Unix stream sockets, both close-on-exec: one end goes to a helper program as fd 3. */
static napi_value socket_pair(napi_env env, napi_callback_info info) {
        napi_value result, value;
        int fds[2];

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
                return throw_errno(env, errno, "socketpair");
        napi_create_array_with_length(env, 2, &result);
        for (uint32_t i = 0; i < 2; i++) {
                napi_create_int32(env, fds[i], &value);
                napi_set_element(env, result, i, value);
        }
        return result;
}

/*
 * One message waiting on a Unix socket, without blocking: its bytes and
 * the fds that came with it (close-on-exec, owned by the caller). Used
 * after the helper that sent them has exited, so everything is queued.
 */
#define RECEIVE_MAX_FDS 8
static napi_value receive_fds(napi_env env, napi_callback_info info) {
        size_t argc = 1;
        napi_value argv[1], result, value, array;
        int32_t fd;
        char data[4096];
        char control[CMSG_SPACE(sizeof(int) * RECEIVE_MAX_FDS)];
        struct iovec iov = { .iov_base = data, .iov_len = sizeof data };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control };
        struct cmsghdr *cmsg;
        ssize_t n;
        uint32_t count = 0;

        napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
        if (get_int_arg(env, argv, argc, 0, "fd", &fd) < 0)
                return NULL;
        n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0)
                return throw_errno(env, errno, "recvmsg");
        napi_create_array(env, &array);
        for (cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
                if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS)
                        continue;
                size_t k = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                int *fds = (int *) CMSG_DATA(cmsg);
                for (size_t i = 0; i < k; i++) {
                        napi_create_int32(env, fds[i], &value);
                        napi_set_element(env, array, count++, value);
                }
        }
        napi_create_object(env, &result);
        napi_create_buffer_copy(env, (size_t) n, data, NULL, &value);
        napi_set_named_property(env, result, "data", value);
        napi_set_named_property(env, result, "fds", array);
        return result;
}

/*
 * Sends bytes with fds attached to their first byte on a Unix socket,
 * without blocking: how many bytes went (the rest is the caller's to send
 * without fds); throws EAGAIN when none could.
 */
#define SEND_MAX_FDS 16
static napi_value send_fds(napi_env env, napi_callback_info info) {
        size_t argc = 3;
        napi_value argv[3], result, value;
        int32_t fd;
        void *data;
        size_t length;
        uint32_t count = 0;
        int fds[SEND_MAX_FDS];
        char control[CMSG_SPACE(sizeof(int) * SEND_MAX_FDS)] = { 0 };
        struct iovec iov;
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
        ssize_t n;

        napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
        if (get_int_arg(env, argv, argc, 0, "fd", &fd) < 0)
                return NULL;
        if (argc < 3 || napi_get_buffer_info(env, argv[1], &data, &length) != napi_ok || napi_get_array_length(env, argv[2], &count) != napi_ok ||
            count > SEND_MAX_FDS || length == 0) {
                napi_throw_type_error(env, NULL, "sendFds(fd, buffer, fds): a non-empty Buffer and at most 16 fds");
                return NULL;
        }
        for (uint32_t i = 0; i < count; i++) {
                if (napi_get_element(env, argv[2], i, &value) != napi_ok || napi_get_value_int32(env, value, &fds[i]) != napi_ok) {
                        napi_throw_type_error(env, NULL, "sendFds: fds must be integers");
                        return NULL;
                }
        }
        iov.iov_base = data;
        iov.iov_len = length;
        if (count > 0) {
                struct cmsghdr *cmsg;
                msg.msg_control = control;
                msg.msg_controllen = CMSG_SPACE(sizeof(int) * count);
                cmsg = CMSG_FIRSTHDR(&msg);
                cmsg->cmsg_level = SOL_SOCKET;
                cmsg->cmsg_type = SCM_RIGHTS;
                cmsg->cmsg_len = CMSG_LEN(sizeof(int) * count);
                memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * count);
        }
        n = sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0)
                return throw_errno(env, errno, "sendmsg");
        napi_create_int64(env, (int64_t) n, &result);
        return result;
}

/*
 * ---- Many fds, one poll (memory: one uv_poll for every machine) ----
 *
 * A daemon with 10,000 machines watches 10,000 leaders' pidfds and 10,000
 * scopes' cgroup.events. One uv_poll (and one N-API callback, reference and
 * async context) per fd costs about 1.4 KiB each; an epoll set holds any
 * number of fds behind a single uv_poll instead, and one inotify fd (put in
 * such a set) carries every cgroup.events watch.
 *
 *   pollSetOpen(callback)      -> { add(fd, token, once), remove(fd), close() }
 *       callback(tokens) gets the tokens (uint32) of the fds that became
 *       readable. An fd added with `once` reports one time only
 *       (EPOLLONESHOT: a pidfd stays readable for ever after its process
 *       exits); other fds report while readable (level-triggered), so their
 *       owner must drain them. remove() before closing an fd.
 *   inotifyInit()              -> fd                  inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
 *   inotifyAddWatch(fd, path, mask) -> wd             inotify_add_watch(2)
 *   inotifyRmWatch(fd, wd)     -> undefined           inotify_rm_watch(2)
 *   mallocTrim()               -> boolean             malloc_trim(0): true if memory went back to the kernel
 */

#include <malloc.h>
#include <sys/epoll.h>
#include <sys/inotify.h>

typedef struct PollSet {
        uv_poll_t poll;
        napi_env env;
        napi_ref callback;
        napi_async_context context;
        int epfd;
        int closed;
} PollSet;

static void poll_set_free(uv_handle_t *handle) {
        PollSet *set = handle->data;

        close(set->epfd);
        free(set);
}

static void poll_set_release(PollSet *set) {
        if (set->closed)
                return;
        set->closed = 1;
        uv_poll_stop(&set->poll);
        napi_delete_reference(set->env, set->callback);
        napi_async_destroy(set->env, set->context);
        /* The epoll fd is closed once libuv has let go of the handle. */
        uv_close((uv_handle_t *) &set->poll, poll_set_free);
}

static void poll_set_ready(uv_poll_t *poll, int status, int events) {
        PollSet *set = poll->data;
        napi_env env = set->env;
        napi_handle_scope scope;
        napi_value callback, recv, result, tokens, value;
        struct epoll_event ready[256];
        uint32_t count = 0;
        int n;

        if (set->closed)
                return;
        napi_open_handle_scope(env, &scope);
        napi_create_array(env, &tokens);
        do {
                n = epoll_wait(set->epfd, ready, (int) (sizeof ready / sizeof ready[0]), 0);
                for (int i = 0; i < n; i++) {
                        napi_create_uint32(env, (uint32_t) ready[i].data.u64, &value);
                        napi_set_element(env, tokens, count++, value);
                }
        } while (n == (int) (sizeof ready / sizeof ready[0]));
        if (count > 0) {
                napi_get_reference_value(env, set->callback, &callback);
                napi_get_global(env, &recv);
                if (napi_make_callback(env, set->context, recv, callback, 1, &tokens, &result) == napi_pending_exception) {
                        napi_value exception;
                        napi_get_and_clear_last_exception(env, &exception);
                        napi_fatal_exception(env, exception);
                }
        }
        napi_close_handle_scope(env, scope);
}

static PollSet *poll_set_of(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
        PollSet *set;

        napi_get_cb_info(env, info, argc, argv, NULL, (void **) &set);
        if (set->closed) {
                throw_errno(env, EBADF, "epoll_ctl");
                return NULL;
        }
        return set;
}

static napi_value poll_set_add(napi_env env, napi_callback_info info) {
        size_t argc = 3;
        napi_value argv[3];
        int32_t fd;
        uint32_t token;
        bool once = false;
        struct epoll_event ev = { 0 };
        PollSet *set = poll_set_of(env, info, &argc, argv);

        if (!set || get_int_arg(env, argv, argc, 0, "fd", &fd) < 0)
                return NULL;
        if (argc < 2 || napi_get_value_uint32(env, argv[1], &token) != napi_ok) {
                napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "token must be a uint32");
                return NULL;
        }
        if (argc >= 3)
                napi_get_value_bool(env, argv[2], &once);
        ev.events = EPOLLIN | (once ? EPOLLONESHOT : 0);
        ev.data.u64 = token;
        if (epoll_ctl(set->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
                return throw_errno(env, errno, "epoll_ctl");
        return NULL;
}

static napi_value poll_set_remove(napi_env env, napi_callback_info info) {
        size_t argc = 1;
        napi_value argv[1];
        int32_t fd;
        PollSet *set = poll_set_of(env, info, &argc, argv);

        if (!set || get_int_arg(env, argv, argc, 0, "fd", &fd) < 0)
                return NULL;
        if (epoll_ctl(set->epfd, EPOLL_CTL_DEL, fd, NULL) < 0 && errno != ENOENT)
                return throw_errno(env, errno, "epoll_ctl");
        return NULL;
}

static napi_value poll_set_close(napi_env env, napi_callback_info info) {
        PollSet *set;

        napi_get_cb_info(env, info, NULL, NULL, NULL, (void **) &set);
        poll_set_release(set);
        return NULL;
}

static napi_value poll_set_open(napi_env env, napi_callback_info info) {
        size_t argc = 1;
        napi_value argv[1], result, fn, resource_name;
        napi_valuetype type;
        uv_loop_t *loop;
        PollSet *set;
        int r;

        napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
        if (argc < 1 || napi_typeof(env, argv[0], &type) != napi_ok || type != napi_function) {
                napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "callback must be a function");
                return NULL;
        }
        if (napi_get_uv_event_loop(env, &loop) != napi_ok)
                return NULL;
        set = calloc(1, sizeof *set);
        if (!set)
                return throw_errno(env, ENOMEM, "calloc");
        set->env = env;
        set->epfd = epoll_create1(EPOLL_CLOEXEC);
        if (set->epfd < 0) {
                int err = errno;
                free(set);
                return throw_errno(env, err, "epoll_create1");
        }
        r = uv_poll_init(loop, &set->poll, set->epfd);
        if (r < 0) {
                close(set->epfd);
                free(set);
                return throw_errno(env, -r, "uv_poll_init");
        }
        set->poll.data = set;
        r = uv_poll_start(&set->poll, UV_READABLE, poll_set_ready);
        if (r < 0) {
                uv_close((uv_handle_t *) &set->poll, poll_set_free);
                return throw_errno(env, -r, "uv_poll_start");
        }
        /* Like a single watch: the set alone does not keep the process alive. */
        uv_unref((uv_handle_t *) &set->poll);
        napi_create_reference(env, argv[0], 1, &set->callback);
        napi_create_string_utf8(env, "machined-ts:pollSet", NAPI_AUTO_LENGTH, &resource_name);
        napi_async_init(env, NULL, resource_name, &set->context);

        napi_create_object(env, &result);
        napi_create_function(env, "add", NAPI_AUTO_LENGTH, poll_set_add, set, &fn);
        napi_set_named_property(env, result, "add", fn);
        napi_create_function(env, "remove", NAPI_AUTO_LENGTH, poll_set_remove, set, &fn);
        napi_set_named_property(env, result, "remove", fn);
        napi_create_function(env, "close", NAPI_AUTO_LENGTH, poll_set_close, set, &fn);
        napi_set_named_property(env, result, "close", fn);
        return result;
}

static napi_value inotify_open(napi_env env, napi_callback_info info) {
        napi_value result;
        int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

        if (fd < 0)
                return throw_errno(env, errno, "inotify_init1");
        napi_create_int32(env, fd, &result);
        return result;
}

static napi_value inotify_watch_add(napi_env env, napi_callback_info info) {
        size_t argc = 3, len;
        napi_value argv[3], result;
        int32_t fd, mask, wd;
        char path[4096];

        napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
        if (get_int_arg(env, argv, argc, 0, "fd", &fd) < 0)
                return NULL;
        if (argc < 3 || napi_get_value_string_utf8(env, argv[1], path, sizeof path, &len) != napi_ok ||
            napi_get_value_int32(env, argv[2], &mask) != napi_ok) {
                napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "path must be a string and mask a number");
                return NULL;
        }
        if (len >= sizeof path - 1)
                return throw_errno(env, ENAMETOOLONG, "inotify_add_watch");
        wd = inotify_add_watch(fd, path, (uint32_t) mask);
        if (wd < 0)
                return throw_errno(env, errno, "inotify_add_watch");
        napi_create_int32(env, wd, &result);
        return result;
}

static napi_value inotify_watch_rm(napi_env env, napi_callback_info info) {
        size_t argc = 2;
        napi_value argv[2];
        int32_t fd, wd;

        napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
        if (get_int_arg(env, argv, argc, 0, "fd", &fd) < 0 || get_int_arg(env, argv, argc, 1, "wd", &wd) < 0)
                return NULL;
        if (inotify_rm_watch(fd, wd) < 0)
                return throw_errno(env, errno, "inotify_rm_watch");
        return NULL;
}

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

/* ---- end of: many fds, one poll ---- */

static napi_value init(napi_env env, napi_value exports) {
        napi_property_descriptor properties[] = {
                { "getPeerCred", NULL, get_peer_cred, NULL, NULL, NULL, napi_enumerable, NULL },
                { "pidfdOpen", NULL, pidfd_open, NULL, NULL, NULL, napi_enumerable, NULL },
                { "pidfdSendSignal", NULL, pidfd_send_signal, NULL, NULL, NULL, napi_enumerable, NULL },
                { "ptyOpen", NULL, pty_open, NULL, NULL, NULL, napi_enumerable, NULL },
                { "ptySetWindowSize", NULL, pty_set_window_size, NULL, NULL, NULL, napi_enumerable, NULL },
                { "signalPipe", NULL, signal_pipe, NULL, NULL, NULL, napi_enumerable, NULL },
                { "socketPair", NULL, socket_pair, NULL, NULL, NULL, napi_enumerable, NULL },
                { "receiveFds", NULL, receive_fds, NULL, NULL, NULL, napi_enumerable, NULL },
                { "sendFds", NULL, send_fds, NULL, NULL, NULL, napi_enumerable, NULL },
                /* Many fds, one poll. */
                { "pollSetOpen", NULL, poll_set_open, NULL, NULL, NULL, napi_enumerable, NULL },
                { "inotifyInit", NULL, inotify_open, NULL, NULL, NULL, napi_enumerable, NULL },
                { "inotifyAddWatch", NULL, inotify_watch_add, NULL, NULL, NULL, napi_enumerable, NULL },
                { "inotifyRmWatch", NULL, inotify_watch_rm, NULL, NULL, NULL, napi_enumerable, NULL },
                { "mallocTrim", NULL, malloc_trim_all, NULL, NULL, NULL, napi_enumerable, NULL },
        };

        napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties);
        return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
