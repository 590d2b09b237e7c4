/* Errors and arguments, for every subcommand of machined-enter (enter.h). */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enter.h"

void vreport(int err, const char *fmt, va_list ap) {
        fputs("machined-enter: ", stderr);
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, ": %s\n", strerror(err));
}

void report(int err, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vreport(err, fmt, ap);
        va_end(ap);
}

void fail(const char *what) {
        report(errno, "%s", what);
        exit(EXIT_FAILED);
}

int fail_stage(int err, const char *stage, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vreport(err, fmt, ap);
        va_end(ap);
        printf("%d\t%s\t%s\n", err, stage, strerror(err));
        fflush(stdout);
        return EXIT_FAILED;
}

int parse_uint(const char *s, unsigned long max, unsigned long *ret) {
        char *end;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno != 0 || *s == 0 || *end != 0 || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

int usage(void) {
        fputs("usage: machined-enter openpt|connect|exec [--pid PID] [options] [-- ...]\n"
              "       machined-enter copy LEADER to|from HOST_PATH CONTAINER_PATH UID_SHIFT REPLACE\n"
              "       machined-enter bind LEADER PROPAGATE_DIR INCOMING_DIR SOURCE DEST READ_ONLY MKDIR\n", stderr);
        return EXIT_FAILED;
}
