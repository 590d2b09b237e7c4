/*
 * A raw disk image's root file system as the container's root (nspawn's
 * --image=: loop_device_make() and dissected_image_mount()): a loop device
 * over the image's root partition (an offset and a size machined-spawn
 * found with partx and blkid), mounted in the container's own mount
 * namespace. The device is auto-cleared (LO_FLAGS_AUTOCLEAR): once the
 * namespace, and with it the mount, is gone, the kernel detaches it, so
 * nothing is left attached whatever happens to machined-spawn or to us.
 */

#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <unistd.h>

#include "spawn_helper.h"

#ifndef LOOP_CONFIGURE
#define LOOP_CONFIGURE 0x4C0A
struct loop_config {
        __u32 fd;
        __u32 block_size;
        struct loop_info64 info;
        __u64 __reserved[8];
};
#endif

/* How often a free device is asked for when another process takes it first. */
#define LOOP_ATTEMPTS 64

/* LOOP_CONFIGURE (Linux 5.8), else the older two-step LOOP_SET_FD + LOOP_SET_STATUS64. */
static int configure(int loop, int backing, const struct loop_info64 *info) {
        struct loop_config cfg;

        memset(&cfg, 0, sizeof cfg);
        cfg.fd = (__u32) backing;
        cfg.info = *info;
        if (ioctl(loop, LOOP_CONFIGURE, &cfg) == 0)
                return 0;
        if (errno != EINVAL && errno != ENOTTY)
                return -1;
        if (ioctl(loop, LOOP_SET_FD, backing) < 0)
                return -1;
        if (ioctl(loop, LOOP_SET_STATUS64, info) < 0) {
                int e = errno;
                (void) ioctl(loop, LOOP_CLR_FD);
                errno = e;
                return -1;
        }
        return 0;
}

/* A free loop device configured over `backing`: its fd, and its path in `dev`. -1 with errno set. */
static int attach(int backing, const struct loop_info64 *info, int read_only, char *dev, size_t dev_size) {
        int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);

        if (ctl < 0)
                return -1;
        for (int attempt = 0; attempt < LOOP_ATTEMPTS; attempt++) {
                int n = ioctl(ctl, LOOP_CTL_GET_FREE), loop, e;

                if (n < 0)
                        break;
                snprintf(dev, dev_size, "/dev/loop%d", n);
                loop = open(dev, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
                if (loop < 0)
                        break;
                if (configure(loop, backing, info) == 0) {
                        close(ctl);
                        return loop;
                }
                e = errno;
                close(loop);
                /* Another process configured it between GET_FREE and ours: ask again. */
                if (e != EBUSY) {
                        errno = e;
                        break;
                }
        }
        {
                int e = errno ? errno : EBUSY;
                close(ctl);
                errno = e;
        }
        return -1;
}

/*
 * loop-mount IMAGE OFFSET SIZE FSTYPE TARGET FLAGS [DATA]: SIZE 0 is "to
 * the end"; FLAGS as the mount step's ("ro" makes the device read-only too).
 */
int loop_mount(const char *image, const char *offset, const char *size, const char *fstype, const char *target, const char *flags, const char *data) {
        unsigned long mount_flags = parse_mount_flags(flags);
        int read_only = (mount_flags & MS_RDONLY) != 0;
        struct loop_info64 info;
        char dev[64];
        int backing, loop, r, e;

        memset(&info, 0, sizeof info);
        info.lo_offset = strtoull(offset, NULL, 10);
        info.lo_sizelimit = strtoull(size, NULL, 10);
        info.lo_flags = LO_FLAGS_AUTOCLEAR | (read_only ? LO_FLAGS_READ_ONLY : 0);
        backing = open(image, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOCTTY);
        if (backing < 0)
                return -1;
        loop = attach(backing, &info, read_only, dev, sizeof dev);
        e = errno;
        close(backing);
        if (loop < 0) {
                errno = e;
                return -1;
        }
        r = mount(dev, target, fstype, mount_flags, data);
        e = errno;
        /* The mount holds the device now; with our fd gone, its end detaches it (auto-clear). */
        close(loop);
        errno = e;
        return r;
}
