/* Ptys for machined-spawn's console (see main.c). */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "addon.h"

/*
 * A new pty pair, both ends close-on-exec and neither our controlling tty.
 * machined-spawn keeps the master and one slave fd open for the container's
 * whole life: with no slave open, the master reads EIO and the guest's
 * console writes stall.
 */
napi_value js_pty_open(napi_env env, napi_callback_info info) {
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
        set_int32(env, result, "master", master);
        set_int32(env, result, "slave", slave);
        napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, &value);
        napi_set_named_property(env, result, "path", value);
        return result;
}

napi_value js_pty_set_window_size(napi_env env, napi_callback_info info) {
        int32_t args[3];
        struct winsize ws = { 0 };

        if (get_int_args(env, info, 3, (const char *const[]) { "fd", "columns", "rows" }, args) < 0)
                return NULL;
        ws.ws_col = (unsigned short) args[1];
        ws.ws_row = (unsigned short) args[2];
        if (ioctl(args[0], TIOCSWINSZ, &ws) < 0)
                return throw_errno(env, errno, "ioctl");
        return NULL;
}
