/*
 * Many fds, one poll (memory: one uv_poll for every machine).
 *
 * A daemon with 10,000 machines watches 10,000 leaders' pidfds and 10,000
 * scopes' cgroup.events. One uv_poll (and one N-API callback, reference and
 * async context) per fd costs about 1.4 KiB each; an epoll set holds any
 * number of fds behind a single uv_poll instead, and one inotify fd (put in
 * such a set) carries every cgroup.events watch. A socket's fd may sit in
 * such a set although libuv watches it too (a node:net socket's): libuv
 * allows one handle an fd, and the set's handle watches the epoll fd.
 *
 *   pollSetOpen(callback)      -> { add(fd, token, once, writable), remove(fd), ref(keep), close() }
 *       callback(tokens) gets the tokens (uint32) of the fds that became
 *       readable (or, added `writable`, writable; an error or hang-up
 *       reports too). An fd added with `once` reports one time only
 *       (EPOLLONESHOT: a pidfd stays readable for ever after its process
 *       exits); other fds report while ready (level-triggered), so their
 *       owner must drain them. remove() before closing an fd. The set
 *       does not keep the event loop alive until ref(true).
 */

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <uv.h>

#include "addon.h"

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
        /* The epoll fd and the memory go once libuv has let go of the handle. */
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
        size_t argc = 4;
        napi_value argv[4];
        int32_t fd;
        uint32_t token;
        bool once = false, writable = false;
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
        if (argc >= 4)
                napi_get_value_bool(env, argv[3], &writable);
        ev.events = (writable ? EPOLLOUT : EPOLLIN) | (once ? EPOLLONESHOT : 0);
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

/* ref(true) keeps the event loop alive while the set is open, as an open socket does; ref(false) lets it end. */
static napi_value poll_set_ref(napi_env env, napi_callback_info info) {
        size_t argc = 1;
        napi_value argv[1];
        bool keep = true;
        PollSet *set = poll_set_of(env, info, &argc, argv);

        if (!set)
                return NULL;
        if (argc >= 1)
                napi_get_value_bool(env, argv[0], &keep);
        if (keep)
                uv_ref((uv_handle_t *) &set->poll);
        else
                uv_unref((uv_handle_t *) &set->poll);
        return NULL;
}

static napi_value poll_set_close(napi_env env, napi_callback_info info) {
        PollSet *set;

        napi_get_cb_info(env, info, NULL, NULL, NULL, (void **) &set);
        poll_set_release(set);
        return NULL;
}

/* The set's methods, each bound to it. */
static napi_value poll_set_object(napi_env env, PollSet *set) {
        static const struct {
                const char *name;
                napi_callback fn;
        } methods[] = {
                { "add", poll_set_add }, { "remove", poll_set_remove }, { "ref", poll_set_ref }, { "close", poll_set_close },
        };
        napi_value result, fn;

        napi_create_object(env, &result);
        for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
                napi_create_function(env, methods[i].name, NAPI_AUTO_LENGTH, methods[i].fn, set, &fn);
                napi_set_named_property(env, result, methods[i].name, fn);
        }
        return result;
}

napi_value js_poll_set_open(napi_env env, napi_callback_info info) {
        size_t argc = 1;
        napi_value argv[1], resource_name;
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
        return poll_set_object(env, set);
}
