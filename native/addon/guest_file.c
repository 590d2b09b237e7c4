/*
 * readFileInRoot(root, path, max, callback): one small regular file of a
 * guest (a machine's /proc/LEADER/root, an image's directory), in one piece
 * of work off the JavaScript thread, where resolving it component by
 * component and reading it with Node's fs costs a libuv round trip per
 * lstat(), open(), fstat(), read() and close().
 *
 * The path is resolved by the kernel inside the root: openat2() with
 * RESOLVE_IN_ROOT makes absolute symlinks and ".." stop at the root fd, as
 * chase(CHASE_PREFIX_ROOT) does in userspace, but atomically (a guest that
 * swaps a directory for a symlink in between cannot lead it out), and
 * RESOLVE_NO_MAGICLINKS refuses the guest's /proc/.../fd/N and the like
 * (ELOOP). The open never blocks on a FIFO (O_NONBLOCK) and never takes a
 * controlling tty (O_NOCTTY). What is not a regular file, or is larger
 * than `max` bytes (also when it grows past it while being read), is
 * "none": the callback gets null. So a device (/dev/zero) is never read.
 *
 * `callback(err, text)` is called on the JavaScript thread: text the file
 * as UTF-8 (invalid sequences replaced, as Buffer.toString() does), or null;
 * err a Node-style system error whose syscall names the step, "openat2"
 * for the resolution itself (ENOSYS where the kernel has no openat2, EPERM
 * where a seccomp filter refuses it: the caller falls back then).
 */

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/openat2.h>

#include "addon.h"

/* openat2() answers EAGAIN when a rename or mount raced its ".." checks under RESOLVE_IN_ROOT; it may be retried. */
#define EAGAIN_RETRIES 16

struct guest_read {
        napi_async_work work;
        napi_ref callback;
        char *root, *path;
        size_t max;
        char *data;
        size_t length;
        int found;                      /* a regular file of at most max bytes was read */
        int error;                      /* a positive errno, or 0 */
        const char *syscall_name;
};

static int open_in_root(int root_fd, const char *path) {
        struct open_how how = {
                .flags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC,
                .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
        };

        for (int i = 0;; i++) {
                long fd = syscall(SYS_openat2, root_fd, path, &how, sizeof how);
                if (fd >= 0)
                        return (int) fd;
                if (errno != EAGAIN || i == EAGAIN_RETRIES)
                        return -errno;
        }
}

/* Reads fd to its end into g->data; g->found stays 0 once more than g->max bytes came. Returns 0 or -errno. */
static int read_to_end(struct guest_read *g, int fd, off_t size_hint) {
        size_t cap = g->max + 1, size = (size_t) size_hint + 1;

        if (size > cap)
                size = cap;
        g->data = malloc(size);
        if (!g->data)
                return -ENOMEM;
        for (;;) {
                if (g->length == size) {
                        if (size == cap)
                                return 0;       /* max + 1 bytes: too large, however much more there is */
                        size = size > cap / 2 ? cap : size * 2;
                        char *p = realloc(g->data, size);
                        if (!p)
                                return -ENOMEM;
                        g->data = p;
                }
                ssize_t n = read(fd, g->data + g->length, size - g->length);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                g->length += (size_t) n;
        }
        g->found = 1;
        return 0;
}

static void execute(napi_env env, void *data) {
        struct guest_read *g = data;
        struct stat st;
        int root_fd, fd, r;

        root_fd = open(g->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0) {
                g->error = errno;
                g->syscall_name = "open";
                return;
        }
        fd = open_in_root(root_fd, g->path);
        close(root_fd);
        if (fd < 0) {
                g->error = -fd;
                g->syscall_name = "openat2";
                return;
        }
        if (fstat(fd, &st) < 0) {
                g->error = errno;
                g->syscall_name = "fstat";
        } else if (S_ISREG(st.st_mode) && (uintmax_t) st.st_size <= g->max) {
                r = read_to_end(g, fd, st.st_size);
                if (r < 0) {
                        g->error = -r;
                        g->syscall_name = "read";
                }
        }
        close(fd);
}

static void free_read(struct guest_read *g) {
        free(g->root);
        free(g->path);
        free(g->data);
        free(g);
}

static void complete(napi_env env, napi_status status, void *data) {
        struct guest_read *g = data;
        napi_value argv[2];

        napi_get_undefined(env, &argv[0]);
        napi_get_null(env, &argv[1]);
        if (g->error != 0)
                argv[0] = errno_error(env, g->error, g->syscall_name);
        else if (g->found)
                napi_create_string_utf8(env, g->length > 0 ? g->data : "", g->length, &argv[1]);
        async_done(env, g->callback, g->work, argv);
        free_read(g);
}

napi_value js_read_file_in_root(napi_env env, napi_callback_info info) {
        size_t argc = 4;
        napi_value argv[4];
        napi_valuetype types[4];
        int64_t max = -1;
        struct guest_read *g;

        napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
        for (size_t i = 0; i < 4; i++)
                if (i >= argc || napi_typeof(env, argv[i], &types[i]) != napi_ok)
                        types[i] = napi_undefined;
        if (types[0] != napi_string || types[1] != napi_string || types[2] != napi_number || types[3] != napi_function ||
            napi_get_value_int64(env, argv[2], &max) != napi_ok || max < 0 || max >= INT32_MAX) {
                napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected (root, path, max bytes below 2 GiB, callback)");
                return NULL;
        }
        g = calloc(1, sizeof *g);
        if (!g)
                return throw_errno(env, ENOMEM, "calloc");
        g->root = string_of(env, argv[0]);
        g->path = string_of(env, argv[1]);
        g->max = (size_t) max;
        if (!g->root || !g->path) {
                free_read(g);
                return throw_errno(env, ENOMEM, "malloc");
        }
        async_queue(env, argv[3], "machined-guest-file", execute, complete, g, &g->callback, &g->work);
        return NULL;
}
