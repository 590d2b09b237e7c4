/* Errors, arguments and async work for every part of the module (addon.h). */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addon.h"

napi_value errno_error(napi_env env, int err, const char *syscall_name) {
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
        return error;
}

napi_value throw_errno(napi_env env, int err, const char *syscall_name) {
        napi_throw(env, errno_error(env, err, syscall_name));
        return NULL;
}

int get_int_arg(napi_env env, napi_value *argv, size_t argc, size_t i, const char *what, int32_t *ret) {
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

int get_int_args(napi_env env, napi_callback_info info, size_t n, const char *const names[], int32_t *ret) {
        napi_value argv[4];
        size_t argc = 4;

        napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
        for (size_t i = 0; i < n && i < 4; i++)
                if (get_int_arg(env, argv, argc, i, names[i], &ret[i]) < 0)
                        return -1;
        return 0;
}

void set_int32(napi_env env, napi_value object, const char *key, int32_t v) {
        napi_value value;
        napi_create_int32(env, v, &value);
        napi_set_named_property(env, object, key, value);
}

void set_uint32(napi_env env, napi_value object, const char *key, uint32_t v) {
        napi_value value;
        napi_create_uint32(env, v, &value);
        napi_set_named_property(env, object, key, value);
}

napi_value fd_pair(napi_env env, const int fds[2]) {
        napi_value result, value;

        napi_create_array_with_length(env, 2, &result);
        for (uint32_t i = 0; i < 2; i++) {
                napi_create_int32(env, fds[i], &value);
                napi_set_element(env, result, i, value);
        }
        return result;
}

char *string_of(napi_env env, napi_value v) {
        size_t n = 0;
        char *s;
        if (napi_get_value_string_utf8(env, v, NULL, 0, &n) != napi_ok)
                return NULL;
        s = malloc(n + 1);
        if (s)
                napi_get_value_string_utf8(env, v, s, n + 1, &n);
        return s;
}

void async_queue(napi_env env, napi_value callback, const char *name, napi_async_execute_callback execute,
                 napi_async_complete_callback complete, void *data, napi_ref *ref, napi_async_work *work) {
        napi_value resource_name;

        napi_create_reference(env, callback, 1, ref);
        napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource_name);
        napi_create_async_work(env, NULL, resource_name, execute, complete, data, work);
        napi_queue_async_work(env, *work);
}

void async_done(napi_env env, napi_ref ref, napi_async_work work, napi_value argv[2]) {
        napi_value callback, global;

        napi_get_reference_value(env, ref, &callback);
        napi_get_global(env, &global);
        napi_call_function(env, global, callback, 2, argv, NULL);
        napi_delete_reference(env, ref);
        napi_delete_async_work(env, work);
}
