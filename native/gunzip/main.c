/*
 * machined-gunzip: decodes the gzip stream on stdin onto stdout with zlib,
 * the decoder of gzip'd imports (src/backends/transfer-decode.ts runs it
 * between the file or pipe and tar, or dd for raw images).
 *
 * systemd-import decodes gzip in its own process with zlib
 * (import_uncompress()) and writes into tar's stdin; GNU gzip's own inflate
 * (`gzip -dc`) takes about three times zlib's CPU time. Doing it in the
 * daemon with node:zlib cost half as much again as this program, in
 * thread-pool round trips, stream bookkeeping and socket wake-ups, all on
 * the CPUs tar needs; here the daemon does nothing per byte, and progress
 * is this program's position in its stdin, as for the other decoders.
 *
 * Like node:zlib's gunzip (which the daemon used before): a stream may
 * hold several members, one after the other; zero bytes after a member
 * are padding and ignored; anything else after a member must be the next
 * member. A stream cut off inside a member is an error.
 *
 * Exit status: 0 decoded; 1 the stream is not gzip, is corrupt or cut off,
 * or reading or writing failed, with one line on stderr ("unexpected end of
 * file", or zlib's or the system's words). When the reader goes away, the
 * write's SIGPIPE ends the program (so a decoder that only followed tar's
 * end is told from one that failed by itself).
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

/* 128 KiB reads and 256 KiB writes: few system calls, and what tar reads (10 KiB records) is never short of data. */
#define IN_BYTES (128 * 1024)
#define OUT_BYTES (256 * 1024)

/*
 * How far the decoder may run ahead of its reader: tar takes 1 MiB records
 * and writes out one only once it has all of it, so with less room than a
 * few records (a pipe holds 64 KiB, a socket about 200 KiB) the two take
 * turns instead of working at once.
 */
#define AHEAD_BYTES (4 * 1024 * 1024)

static unsigned char in[IN_BYTES], out[OUT_BYTES];

static int failure(const char *what) {
        fprintf(stderr, "%s\n", what);
        return 1;
}

static int write_all(const unsigned char *p, size_t n) {
        while (n > 0) {
                ssize_t w = write(STDOUT_FILENO, p, n);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        return -1;
                }
                p += w;
                n -= (size_t) w;
        }
        return 0;
}

int main(void) {
        z_stream z;
        bool in_member = false, any_member = false;
        int r;

        /* Node ignores SIGPIPE, and a spawned child may inherit that: the reader's end must end us by the signal. */
        signal(SIGPIPE, SIG_DFL);
        /* stdout is a socket (Node's stdio pipes are socketpairs) or a pipe; FORCE, as root, may go past wmem_max. Best effort. */
        if (setsockopt(STDOUT_FILENO, SOL_SOCKET, SO_SNDBUFFORCE, &(int) { AHEAD_BYTES }, sizeof(int)) < 0 &&
            setsockopt(STDOUT_FILENO, SOL_SOCKET, SO_SNDBUF, &(int) { AHEAD_BYTES }, sizeof(int)) < 0)
                (void) fcntl(STDOUT_FILENO, F_SETPIPE_SZ, AHEAD_BYTES);

        memset(&z, 0, sizeof z);
        /* 15 + 16: a window of up to 32 KiB, gzip's header and trailer (never raw deflate or zlib's). */
        if (inflateInit2(&z, 15 + 16) != Z_OK)
                return failure("out of memory");
        for (;;) {
                ssize_t n = read(STDIN_FILENO, in, sizeof in);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return failure(strerror(errno));
                }
                if (n == 0)
                        break;
                z.next_in = in;
                z.avail_in = (uInt) n;
                while (z.avail_in > 0) {
                        if (!in_member) {
                                /* Between members: padding, or the next member's header. */
                                if (*z.next_in == 0) {
                                        z.next_in++;
                                        z.avail_in--;
                                        continue;
                                }
                                if (inflateReset(&z) != Z_OK)
                                        return failure("out of memory");
                                in_member = any_member = true;
                        }
                        z.next_out = out;
                        z.avail_out = sizeof out;
                        r = inflate(&z, Z_NO_FLUSH);
                        if (r == Z_STREAM_END)
                                in_member = false;
                        else if (r == Z_NEED_DICT)
                                return failure("missing dictionary");
                        else if (r == Z_MEM_ERROR)
                                return failure("out of memory");
                        else if (r != Z_OK && r != Z_BUF_ERROR)
                                return failure(z.msg ? z.msg : "invalid data");
                        if (write_all(out, sizeof out - z.avail_out) < 0)
                                return failure(strerror(errno));
                }
        }
        /* An empty stream is no gzip stream either (node:zlib says the same). */
        if (in_member || !any_member)
                return failure("unexpected end of file");
        inflateEnd(&z);
        return 0;
}
