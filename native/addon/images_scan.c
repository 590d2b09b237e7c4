/*
 * scanSearchPath(dirs, names, callback): image_discover()'s look at the
 * search path, in one piece of work off the JavaScript thread (a libuv
 * worker), so listing a pool of thousands of images costs one round trip
 * instead of several per image. For every directory of `dirs` that exists
 * (symlinks resolved, as chase_symlinks_and_opendir()) it looks at each
 * entry (every one, or only those named in `names`), following symlinks,
 * and keeps directories, regular files named *.raw and block devices, with
 * what image_make() needs to know of them:
 *
 *   facts: Float64Array, FIELDS numbers per entry (see the F_* indices)
 *   names: the entries' names, each followed by a NUL
 *   dirs:  the resolved directory of each entry's search directory
 *
 * `callback(err, { names, dirs, facts })` is called on the JavaScript
 * thread. Times are µs and sizes bytes, exact as doubles below 2⁵³.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/btrfs.h>
#include <linux/fs.h>

#include "addon.h"
#include "images.h"

#define BTRFS_SUPER_MAGIC_ 0x9123683E
#define MAX_DIRS 16

enum {
        F_DIR,          /* index into the resolved directories */
        F_TYPE,         /* TYPE_* */
        F_READ_ONLY,    /* what the entry itself says: immutable flag, btrfs ro flag, no write bits, BLKROGET */
        F_EROFS,        /* faccessat(W_OK) failed with EROFS */
        F_CRTIME,       /* btime, or the subvolume's otime; 0 when not known */
        F_MTIME,
        F_SIZE,         /* st_size, or the block device's size */
        F_USED,         /* st_blocks × 512 */
        FIELDS
};

enum {
        TYPE_DIRECTORY,
        TYPE_SUBVOLUME,
        TYPE_RAW,
        TYPE_BLOCK,
        TYPE_OTHER,     /* there, but no image (reported only when names are asked for: image_find() stops at it) */
};

struct buffer {
        char *data;
        size_t length, size;
};

struct scan {
        napi_async_work work;
        napi_ref callback;
        char *dirs[MAX_DIRS];
        size_t n_dirs;
        char **names;           /* NULL: every entry */
        size_t n_names;
        char *resolved[MAX_DIRS];
        struct buffer out_names;
        double *facts;
        size_t n_facts, facts_size;
        int error;
};

static int append(struct buffer *b, const char *s, size_t n) {
        if (b->length + n > b->size) {
                size_t size = (b->size + n) * 2;
                char *p = realloc(b->data, size);
                if (!p)
                        return -ENOMEM;
                b->data = p;
                b->size = size;
        }
        memcpy(b->data + b->length, s, n);
        b->length += n;
        return 0;
}

static double usec(struct statx_timestamp t) {
        return (double) t.tv_sec * 1e6 + (double) (t.tv_nsec / 1000);
}

/*
 * Looks at `name` in the open directory `dfd` (whose own mount is
 * read-only when `dir_erofs`); appends it when it is an image candidate.
 * statx() answers most of it: an entry that is no mount root lies on the
 * directory's mount (so only mount roots need their own faccessat()), and
 * where the file system reports the immutable attribute through statx()
 * a directory needs no FS_IOC_GETFLAGS.
 */
static int look(struct scan *s, size_t dir, int dfd, int dir_erofs, const char *name) {
        struct statx sx;
        double f[FIELDS] = { 0 };
        size_t len = strlen(name);
        int fd, r;

        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
                return 0;
        if (statx(dfd, name, 0, STATX_BASIC_STATS | STATX_BTIME, &sx) < 0)
                return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
        f[F_DIR] = dir;
        if ((sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) && !(sx.stx_attributes & STATX_ATTR_MOUNT_ROOT))
                f[F_EROFS] = dir_erofs;
        else
                f[F_EROFS] = faccessat(dfd, name, W_OK, AT_EACCESS) < 0 && errno == EROFS;
        f[F_CRTIME] = (sx.stx_mask & STATX_BTIME) && sx.stx_btime.tv_sec != 0 ? usec(sx.stx_btime) : 0;
        if (S_ISDIR(sx.stx_mode) && sx.stx_ino != 256 && (sx.stx_attributes_mask & STATX_ATTR_IMMUTABLE)) {
                f[F_READ_ONLY] = (sx.stx_attributes & STATX_ATTR_IMMUTABLE) != 0;
        } else if (S_ISDIR(sx.stx_mode)) {
                fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOCTTY);
                if (fd < 0)
                        return errno == ENOENT ? 0 : -errno;
                struct statfs sfs;
                struct btrfs_ioctl_get_subvol_info_args info;
                unsigned attr = 0;
                if (sx.stx_ino == 256 && fstatfs(fd, &sfs) == 0 && sfs.f_type == BTRFS_SUPER_MAGIC_) {
                        memset(&info, 0, sizeof info);
                        if (ioctl(fd, BTRFS_IOC_GET_SUBVOL_INFO, &info) >= 0) {
                                f[F_TYPE] = TYPE_SUBVOLUME;
                                f[F_READ_ONLY] = (info.flags & ROOT_SUBVOL_RDONLY) != 0;
                                f[F_CRTIME] = (double) info.otime.sec * 1e6 + (double) (info.otime.nsec / 1000);
                        }
                }
                if (f[F_TYPE] == TYPE_DIRECTORY && ioctl(fd, FS_IOC_GETFLAGS, &attr) == 0)
                        f[F_READ_ONLY] = (attr & FS_IMMUTABLE_FL) != 0;
                close(fd);
        } else if (S_ISREG(sx.stx_mode) && len > 4 && strcmp(name + len - 4, ".raw") == 0) {
                f[F_TYPE] = TYPE_RAW;
                f[F_READ_ONLY] = (sx.stx_mode & 0222) == 0;
                f[F_MTIME] = usec(sx.stx_mtime);
                f[F_SIZE] = (double) sx.stx_size;
                f[F_USED] = (double) sx.stx_blocks * 512;
        } else if (S_ISBLK(sx.stx_mode)) {
                f[F_TYPE] = TYPE_BLOCK;
                f[F_CRTIME] = 0;
                f[F_READ_ONLY] = (sx.stx_mode & 0222) == 0;
                fd = openat(dfd, name, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
                if (fd >= 0) {
                        int ro = 0;
                        uint64_t size = 0;
                        if (ioctl(fd, BLKROGET, &ro) == 0 && ro)
                                f[F_READ_ONLY] = 1;
                        if (ioctl(fd, BLKGETSIZE64, &size) == 0)
                                f[F_SIZE] = (double) size;
                        close(fd);
                }
        } else if (s->names)
                f[F_TYPE] = TYPE_OTHER;
        else
                return 0;

        if (s->n_facts + FIELDS > s->facts_size) {
                size_t size = (s->facts_size + FIELDS) * 2;
                double *p = realloc(s->facts, size * sizeof(double));
                if (!p)
                        return -ENOMEM;
                s->facts = p;
                s->facts_size = size;
        }
        memcpy(s->facts + s->n_facts, f, sizeof f);
        s->n_facts += FIELDS;
        r = append(&s->out_names, name, len + 1);
        return r;
}

static void execute(napi_env env, void *data) {
        struct scan *s = data;

        for (size_t i = 0; i < s->n_dirs && s->error == 0; i++) {
                char resolved[PATH_MAX];
                if (!realpath(s->dirs[i], resolved)) {
                        if (errno == ENOENT || errno == ENOTDIR)
                                continue;
                        s->error = errno;
                        break;
                }
                s->resolved[i] = strdup(resolved);
                int dfd = open(resolved, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (dfd < 0) {
                        if (errno != ENOENT && errno != ENOTDIR)
                                s->error = errno;
                        continue;
                }
                int r = 0;
                int erofs = faccessat(dfd, ".", W_OK, AT_EACCESS) < 0 && errno == EROFS;
                if (s->names) {
                        for (size_t k = 0; k < s->n_names && r == 0; k++)
                                r = look(s, i, dfd, erofs, s->names[k]);
                } else {
                        DIR *d = fdopendir(dup(dfd));
                        struct dirent *de;
                        if (!d)
                                r = -errno;
                        else {
                                while (r == 0 && (errno = 0, de = readdir(d)))
                                        r = look(s, i, dfd, erofs, de->d_name);
                                if (r == 0 && errno != 0)
                                        r = -errno;
                                closedir(d);
                        }
                }
                close(dfd);
                if (r < 0)
                        s->error = -r;
        }
}

static void free_scan(struct scan *s) {
        for (size_t i = 0; i < s->n_dirs; i++) {
                free(s->dirs[i]);
                free(s->resolved[i]);
        }
        for (size_t i = 0; i < s->n_names; i++)
                free(s->names[i]);
        free(s->names);
        free(s->out_names.data);
        free(s->facts);
        free(s);
}

static void complete(napi_env env, napi_status status, void *data) {
        struct scan *s = data;
        napi_value argv[2], value, buffer, dirs;
        void *bytes;

        napi_get_undefined(env, &argv[0]);
        napi_get_undefined(env, &argv[1]);
        if (s->error != 0)
                argv[0] = errno_error(env, s->error, "scan");
        else {
                napi_create_object(env, &argv[1]);
                napi_create_arraybuffer(env, s->n_facts * sizeof(double), &bytes, &buffer);
                if (s->n_facts > 0)
                        memcpy(bytes, s->facts, s->n_facts * sizeof(double));
                napi_create_typedarray(env, napi_float64_array, s->n_facts, buffer, 0, &value);
                napi_set_named_property(env, argv[1], "facts", value);
                napi_create_string_utf8(env, s->out_names.data ? s->out_names.data : "", s->out_names.length, &value);
                napi_set_named_property(env, argv[1], "names", value);
                napi_create_array_with_length(env, s->n_dirs, &dirs);
                for (size_t i = 0; i < s->n_dirs; i++) {
                        if (s->resolved[i])
                                napi_create_string_utf8(env, s->resolved[i], NAPI_AUTO_LENGTH, &value);
                        else
                                napi_get_null(env, &value);
                        napi_set_element(env, dirs, i, value);
                }
                napi_set_named_property(env, argv[1], "dirs", dirs);
        }
        async_done(env, s->callback, s->work, argv);
        free_scan(s);
}

napi_value js_scan_search_path(napi_env env, napi_callback_info info) {
        size_t argc = 3;
        napi_value argv[3];
        napi_valuetype type;
        uint32_t n = 0;
        struct scan *s = calloc(1, sizeof *s);

        if (!s)
                return throw_errno(env, ENOMEM, "calloc");
        if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 ||
            napi_get_array_length(env, argv[0], &n) != napi_ok || n > MAX_DIRS ||
            napi_typeof(env, argv[2], &type) != napi_ok || type != napi_function) {
                free(s);
                napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected (dirs, names | null, callback)");
                return NULL;
        }
        for (uint32_t i = 0; i < n; i++) {
                napi_value d;
                napi_get_element(env, argv[0], i, &d);
                s->dirs[s->n_dirs++] = string_of(env, d);
        }
        napi_typeof(env, argv[1], &type);
        if (type == napi_object) {
                uint32_t k = 0;
                napi_get_array_length(env, argv[1], &k);
                s->names = calloc(k + 1, sizeof(char *));
                for (uint32_t i = 0; s->names && i < k; i++) {
                        napi_value v;
                        napi_get_element(env, argv[1], i, &v);
                        s->names[s->n_names++] = string_of(env, v);
                }
        }
        async_queue(env, argv[2], "machined-images-scan", execute, complete, s, &s->callback, &s->work);
        return NULL;
}
