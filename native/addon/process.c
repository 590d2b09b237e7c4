/* pidfds, and signals Node cannot handle (see main.c). */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "addon.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

/* pidfd_open(2) of the PID argument; a failure is thrown (`throwing`) or answered as -errno. */
static napi_value pidfd_open_arg(napi_env env, napi_callback_info info, bool throwing) {
        napi_value result;
        int32_t pid;
        long fd;

        if (get_int_args(env, info, 1, (const char *const[]) { "pid" }, &pid) < 0)
                return NULL;
        /* pidfds are always close-on-exec. */
        fd = syscall(SYS_pidfd_open, (pid_t) pid, 0);
        if (fd < 0 && throwing)
                return throw_errno(env, errno, "pidfd_open");
        napi_create_int32(env, fd < 0 ? -errno : (int32_t) fd, &result);
        return result;
}

napi_value js_pidfd_open(napi_env env, napi_callback_info info) {
        return pidfd_open_arg(env, info, true);
}

/*
 * pidfdOpen() that answers -errno instead of throwing: a restart over
 * thousands of dead leaders' state files meets ESRCH for each, and a
 * thrown Error (with its stack) cost several times the system call.
 */
napi_value js_pidfd_open_or_errno(napi_env env, napi_callback_info info) {
        return pidfd_open_arg(env, info, false);
}

/*
 * Whether the process behind a pidfd has exited (a zombie has), without
 * reading /proc: the kernel makes the pidfd readable when it exits.
 */
napi_value js_pidfd_has_exited(napi_env env, napi_callback_info info) {
        struct pollfd p = { .events = POLLIN };
        napi_value result;
        int32_t fd;
        int r;

        if (get_int_args(env, info, 1, (const char *const[]) { "fd" }, &fd) < 0)
                return NULL;
        p.fd = fd;
        r = poll(&p, 1, 0);
        if (r < 0)
                return throw_errno(env, errno, "poll");
        napi_get_boolean(env, r > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)) != 0, &result);
        return result;
}

/*
 * The inode number of an fd (a pidfd's, on pidfs, names its process for
 * the whole boot), or -1 when it is beyond 2^53 and a JavaScript number
 * cannot hold it: fstatSync(fd, { bigint: true }) made some twenty BigInts
 * on every registration.
 */
napi_value js_fd_inode(napi_env env, napi_callback_info info) {
        napi_value result;
        struct stat st;
        int32_t fd;

        if (get_int_args(env, info, 1, (const char *const[]) { "fd" }, &fd) < 0)
                return NULL;
        if (fstat(fd, &st) < 0)
                return throw_errno(env, errno, "fstat");
        napi_create_double(env, st.st_ino <= (1ULL << 53) ? (double) st.st_ino : -1, &result);
        return result;
}

napi_value js_pidfd_send_signal(napi_env env, napi_callback_info info) {
        int32_t args[2];

        if (get_int_args(env, info, 2, (const char *const[]) { "fd", "signal" }, args) < 0)
                return NULL;
        if (syscall(SYS_pidfd_send_signal, args[0], args[1], NULL, 0) < 0)
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

/* The signal numbers of signalPipe()'s array argument: 1 to 64 catchable ones; throws and returns -1 otherwise. */
static int get_signals(napi_env env, napi_callback_info info, int32_t signals[64], uint32_t *ret_n) {
        size_t argc = 1;
        napi_value argv[1];
        bool is_array;

        napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
        if (argc < 1 || napi_is_array(env, argv[0], &is_array) != napi_ok || !is_array ||
            napi_get_array_length(env, argv[0], ret_n) != napi_ok || *ret_n == 0 || *ret_n > 64) {
                napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "signals must be an array of 1 to 64 signal numbers");
                return -1;
        }
        for (uint32_t i = 0; i < *ret_n; i++) {
                napi_value v;
                napi_get_element(env, argv[0], i, &v);
                if (get_int_arg(env, &v, 1, 0, "signal", &signals[i]) < 0)
                        return -1;
                if (signals[i] < 1 || signals[i] > 64 || signals[i] == SIGKILL || signals[i] == SIGSTOP) {
                        napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "not a catchable signal number");
                        return -1;
                }
        }
        return 0;
}

napi_value js_signal_pipe(napi_env env, napi_callback_info info) {
        napi_value result;
        int32_t signals[64];
        uint32_t n;
        int fds[2];

        if (get_signals(env, info, signals, &n) < 0)
                return NULL;
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
