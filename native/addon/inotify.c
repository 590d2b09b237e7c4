/* inotify, for the one fd that carries every scope's cgroup.events watch (see poll_set.c). */

#include <errno.h>
#include <sys/inotify.h>

#include "addon.h"

napi_value js_inotify_open(napi_env env, napi_callback_info info) {
        napi_value result;
        int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

        if (fd < 0)
                return throw_errno(env, errno, "inotify_init1");
        napi_create_int32(env, fd, &result);
        return result;
}

napi_value js_inotify_watch_add(napi_env env, napi_callback_info info) {
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

napi_value js_inotify_watch_rm(napi_env env, napi_callback_info info) {
        int32_t args[2];

        if (get_int_args(env, info, 2, (const char *const[]) { "fd", "wd" }, args) < 0)
                return NULL;
        if (inotify_rm_watch(args[0], args[1]) < 0)
                return throw_errno(env, errno, "inotify_rm_watch");
        return NULL;
}
