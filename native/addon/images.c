/*
 * The image pool's part of the module: the ioctls and locks the machine image pool
 * needs and Node does not offer (systemd's discover-image.c,
 * chattr-util.c, btrfs-util.c and lockfile-util.c do the same in C).
 *
 *   ofdLock(fd, exclusive)          -> true, or false when someone else holds a conflicting lock
 *                                      fcntl(F_OFD_SETLK), flock() where the kernel has no OFD locks
 *   fileAttributes(fd)              -> flags          ioctl(FS_IOC_GETFLAGS)
 *   setFileAttributes(fd, v, mask)  -> old flags      ioctl(FS_IOC_GETFLAGS/SETFLAGS)
 *   btrfsSubvolumeInfo(fd)          -> { id, readOnly, otimeUsec }   ioctl(BTRFS_IOC_GET_SUBVOL_INFO)
 *   btrfsSetReadOnly(fd, readOnly)  -> undefined      ioctl(BTRFS_IOC_SUBVOL_GETFLAGS/SETFLAGS)
 *   blockDeviceSetReadOnly(fd, ro)  -> undefined      ioctl(BLKROSET)
 *   scanSearchPath(dirs, names, cb) -> (see machined_images_scan.c) the search path's images, off the JS thread
 *
 * Every call is one non-blocking system call on an fd the caller opened.
 * Failures throw an Error shaped like Node's own system errors: `code`
 * ('ENOTTY'), negative `errno`, and `syscall`. src/native/images.ts gives
 * the typed view.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/btrfs.h>
#include <linux/fs.h>

#include "addon.h"
#include "images.h"

/* Reads the arguments: an fd first, then up to two more numbers or booleans. */
static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
        size_t argc = want;
        int32_t fd;

        if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want ||
            napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
                napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected an fd and the call's arguments");
                return -1;
        }
        return fd;
}

static int get_bool(napi_env env, napi_value v) {
        bool b = false;
        napi_get_value_bool(env, v, &b);
        return b;
}

static napi_value boolean(napi_env env, bool b) {
        napi_value result;
        napi_get_boolean(env, b, &result);
        return result;
}

/*
 * make_lock_file(): an open file description lock, so two opens in one
 * process conflict as two processes do, and nspawn's locks (also OFD) are
 * seen. Old kernels without OFD locks (EINVAL) get BSD locks, as there.
 */
napi_value js_ofd_lock(napi_env env, napi_callback_info info) {
        napi_value argv[2];
        int fd = get_args(env, info, 2, argv);
        if (fd < 0)
                return NULL;
        bool exclusive = get_bool(env, argv[1]);
        struct flock fl = { .l_type = exclusive ? F_WRLCK : F_RDLCK, .l_whence = SEEK_SET };

        if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
                return boolean(env, true);
        if (errno == EINVAL && flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) == 0)
                return boolean(env, true);
        if (errno == EAGAIN || errno == EACCES || errno == EWOULDBLOCK)
                return boolean(env, false);
        return throw_errno(env, errno, "fcntl");
}

napi_value js_file_attributes(napi_env env, napi_callback_info info) {
        napi_value argv[1], result;
        int fd = get_args(env, info, 1, argv);
        unsigned attr = 0;

        if (fd < 0)
                return NULL;
        if (ioctl(fd, FS_IOC_GETFLAGS, &attr) < 0)
                return throw_errno(env, errno, "ioctl");
        napi_create_uint32(env, attr, &result);
        return result;
}

/* chattr_fd(): changes the bits in `mask` to those of `value`; answers the flags before. */
napi_value js_set_file_attributes(napi_env env, napi_callback_info info) {
        napi_value argv[3], result;
        int fd = get_args(env, info, 3, argv);
        uint32_t value = 0, mask = 0;
        unsigned old = 0, new;

        if (fd < 0)
                return NULL;
        napi_get_value_uint32(env, argv[1], &value);
        napi_get_value_uint32(env, argv[2], &mask);
        if (ioctl(fd, FS_IOC_GETFLAGS, &old) < 0)
                return throw_errno(env, errno, "ioctl");
        new = (old & ~mask) | (value & mask);
        if (new != old && ioctl(fd, FS_IOC_SETFLAGS, &new) < 0)
                return throw_errno(env, errno, "ioctl");
        napi_create_uint32(env, old, &result);
        return result;
}

napi_value js_btrfs_subvolume_info(napi_env env, napi_callback_info info) {
        napi_value argv[1], result, value;
        int fd = get_args(env, info, 1, argv);
        struct btrfs_ioctl_get_subvol_info_args args;

        if (fd < 0)
                return NULL;
        memset(&args, 0, sizeof args);
        if (ioctl(fd, BTRFS_IOC_GET_SUBVOL_INFO, &args) < 0)
                return throw_errno(env, errno, "ioctl");
        napi_create_object(env, &result);
        napi_create_bigint_uint64(env, args.treeid, &value);
        napi_set_named_property(env, result, "id", value);
        napi_set_named_property(env, result, "readOnly", boolean(env, (args.flags & ROOT_SUBVOL_RDONLY) != 0));
        napi_create_bigint_uint64(env, (uint64_t) args.otime.sec * 1000000 + args.otime.nsec / 1000, &value);
        napi_set_named_property(env, result, "otimeUsec", value);
        return result;
}

napi_value js_btrfs_set_read_only(napi_env env, napi_callback_info info) {
        napi_value argv[2];
        int fd = get_args(env, info, 2, argv);
        uint64_t flags, nflags;

        if (fd < 0)
                return NULL;
        if (ioctl(fd, BTRFS_IOC_SUBVOL_GETFLAGS, &flags) < 0)
                return throw_errno(env, errno, "ioctl");
        nflags = get_bool(env, argv[1]) ? flags | BTRFS_SUBVOL_RDONLY : flags & ~BTRFS_SUBVOL_RDONLY;
        if (nflags != flags && ioctl(fd, BTRFS_IOC_SUBVOL_SETFLAGS, &nflags) < 0)
                return throw_errno(env, errno, "ioctl");
        return NULL;
}

napi_value js_block_device_set_read_only(napi_env env, napi_callback_info info) {
        napi_value argv[2];
        int fd = get_args(env, info, 2, argv);
        int state;

        if (fd < 0)
                return NULL;
        state = get_bool(env, argv[1]);
        if (ioctl(fd, BLKROSET, &state) < 0)
                return throw_errno(env, errno, "ioctl");
        return NULL;
}
