/*
 * readSmallFiles(paths, max, callback): many small files (a /proc/PID/
 * file of each of thousands of processes at start-up) read in one piece of
 * work off the JavaScript thread, a libuv worker, so the kernel's work of
 * making them up runs on another CPU while the daemon's thread goes on
 * with its own. Through Node's fs each file costs an open(), a read() and
 * a close() on the JavaScript thread, or as many libuv round trips.
 *
 * Each file is read whole with read(2) until end of file, as a /proc file
 * must be (it is made up by the kernel as it is read), up to `max` bytes.
 * `callback(err, results)` is called on the JavaScript thread; results[i]
 * is paths[i]'s text as UTF-8 (invalid sequences replaced, as
 * Buffer.toString() does), or a positive errno where it could not be read
 * (EFBIG where it is longer than `max`). err is set only when memory ran
 * out for the batch as a whole.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addon.h"

/* Bounds what one call may ask for: paths per batch, and bytes per file. */
#define MAX_PATHS (1u << 20)
#define MAX_BYTES (1u << 20)

struct file {
        char *path;
        char *text;
        size_t length;
        int error;
};

struct batch {
        napi_async_work work;
        napi_ref callback;
        struct file *files;
        uint32_t n;
        size_t max;
        char *buffer;   /* max + 1 bytes: one past `max` tells a longer file */
        int error;
};

static int read_one(struct file *f, char *buffer, size_t max) {
        size_t length = 0;
        int fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

        if (fd < 0)
                return errno;
        for (;;) {
                ssize_t n = read(fd, buffer + length, max + 1 - length);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        int err = errno;
                        close(fd);
                        return err;
                }
                if (n == 0)
                        break;
                length += (size_t) n;
                if (length > max) {
                        close(fd);
                        return EFBIG;
                }
        }
        close(fd);
        f->text = malloc(length + 1);
        if (!f->text)
                return ENOMEM;
        memcpy(f->text, buffer, length);
        f->length = length;
        return 0;
}

static void execute(napi_env env, void *data) {
        struct batch *b = data;

        b->buffer = malloc(b->max + 1);
        if (!b->buffer) {
                b->error = ENOMEM;
                return;
        }
        for (uint32_t i = 0; i < b->n; i++) {
                struct file *f = &b->files[i];
                if (f->error == 0)
                        f->error = f->path ? read_one(f, b->buffer, b->max) : ENOMEM;
        }
}

static void free_batch(struct batch *b) {
        for (uint32_t i = 0; i < b->n; i++) {
                free(b->files[i].path);
                free(b->files[i].text);
        }
        free(b->files);
        free(b->buffer);
        free(b);
}

static void complete(napi_env env, napi_status status, void *data) {
        struct batch *b = data;
        napi_value argv[2], value;

        napi_get_undefined(env, &argv[0]);
        napi_get_undefined(env, &argv[1]);
        if (b->error != 0)
                argv[0] = errno_error(env, b->error, "read");
        else {
                napi_create_array_with_length(env, b->n, &argv[1]);
                for (uint32_t i = 0; i < b->n; i++) {
                        struct file *f = &b->files[i];
                        if (f->error != 0)
                                napi_create_uint32(env, (uint32_t) f->error, &value);
                        else
                                napi_create_string_utf8(env, f->text, f->length, &value);
                        napi_set_element(env, argv[1], i, value);
                }
        }
        async_done(env, b->callback, b->work, argv);
        free_batch(b);
}

napi_value js_read_small_files(napi_env env, napi_callback_info info) {
        size_t argc = 3;
        napi_value argv[3];
        napi_valuetype type;
        bool is_array = false;
        uint32_t n = 0, max = 0;
        struct batch *b;

        if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 ||
            napi_is_array(env, argv[0], &is_array) != napi_ok || !is_array ||
            napi_get_array_length(env, argv[0], &n) != napi_ok || n > MAX_PATHS ||
            napi_get_value_uint32(env, argv[1], &max) != napi_ok || max == 0 || max > MAX_BYTES ||
            napi_typeof(env, argv[2], &type) != napi_ok || type != napi_function) {
                napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected (paths (at most 2^20), max (1 to 2^20 bytes), callback)");
                return NULL;
        }
        b = calloc(1, sizeof *b);
        if (!b || !(b->files = calloc(n ? n : 1, sizeof *b->files))) {
                free(b);
                return throw_errno(env, ENOMEM, "calloc");
        }
        b->n = n;
        b->max = max;
        for (uint32_t i = 0; i < n; i++) {
                napi_value p;
                size_t length = 0;
                napi_get_element(env, argv[0], i, &p);
                napi_typeof(env, p, &type);
                if (type != napi_string) {
                        free_batch(b);
                        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "every path must be a string");
                        return NULL;
                }
                napi_get_value_string_utf8(env, p, NULL, 0, &length);
                b->files[i].path = string_of(env, p);
                /* A NUL inside the string would cut the path short: that file is not read (EINVAL). */
                if (b->files[i].path && strlen(b->files[i].path) != length)
                        b->files[i].error = EINVAL;
        }
        async_queue(env, argv[2], "machined-read-small-files", execute, complete, b, &b->callback, &b->work);
        return NULL;
}
