/*
 * localAddresses(netns, max, callback): the IPv4 and IPv6 addresses of a
 * network namespace as the kernel lists them (an RTM_GETADDR dump over
 * NETLINK_ROUTE), what systemd's local_addresses() reads for
 * GetMachineAddresses. It replaces running `ip -j address show` (and
 * `nsenter` for a machine's own namespace): a child process per call cost
 * about ten milliseconds, longer than the rest of a `machinectl list`.
 *
 * `netns` null lists the daemon's own namespace; else it is a path to a
 * network namespace (/proc/LEADER/ns/net). A netlink socket belongs to
 * the namespace of the thread that creates it, so the socket is made by a
 * short-lived thread of its own that joins that namespace with setns()
 * and ends right after: no thread of Node's or libuv's ever changes
 * namespace. The dump is then read on a libuv worker.
 *
 * `callback(err, records)` on the JavaScript thread: records an array of
 * { family, scope, flags, ifindex, address } (address a Buffer of 4 or 16
 * bytes: IFA_LOCAL where there is one, else IFA_ADDRESS, as systemd takes
 * them; flags the IFA_F_* bits, IFA_FLAGS when the kernel sends it), every
 * address of the namespace, unfiltered and in the kernel's order. More
 * than `max` addresses fail with ENOBUFS, so a guest cannot make the
 * daemon hold an unbounded list.
 */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "addon.h"

/* How long one recv() of the dump may take before the read is given up. */
#define RECEIVE_TIMEOUT_SECONDS 5

struct address {
        unsigned char family, scope;
        uint32_t flags;
        int32_t ifindex;
        unsigned char bytes[16];
};

struct addresses_read {
        napi_async_work work;
        napi_ref callback;
        char *netns;                    /* NULL: the daemon's own */
        size_t max;
        struct address *list;
        size_t n, cap;
        int error;                      /* a positive errno, or 0 */
        const char *syscall_name;
};

struct socket_maker {
        int netns_fd;
        int fd;                         /* the socket, or -1 */
        int error;
        const char *syscall_name;
};

static int netlink_socket(void) {
        return socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
}

/* The thread that joins the namespace: it makes the socket there and ends, so nothing else runs in it. */
static void *make_socket_in_netns(void *data) {
        struct socket_maker *m = data;

        if (setns(m->netns_fd, CLONE_NEWNET) < 0) {
                m->error = errno;
                m->syscall_name = "setns";
                return NULL;
        }
        m->fd = netlink_socket();
        if (m->fd < 0) {
                m->error = errno;
                m->syscall_name = "socket";
        }
        return NULL;
}

/* A NETLINK_ROUTE socket in the namespace at `netns` (NULL: ours), or -1 with r->error set. */
static int open_route_socket(struct addresses_read *r) {
        struct socket_maker m = { .fd = -1 };
        pthread_t thread;
        int e;

        if (!r->netns) {
                m.fd = netlink_socket();
                if (m.fd < 0) {
                        r->error = errno;
                        r->syscall_name = "socket";
                }
                return m.fd;
        }
        m.netns_fd = open(r->netns, O_RDONLY | O_CLOEXEC);
        if (m.netns_fd < 0) {
                r->error = errno;
                r->syscall_name = "open";
                return -1;
        }
        e = pthread_create(&thread, NULL, make_socket_in_netns, &m);
        if (e != 0) {
                m.error = e;
                m.syscall_name = "pthread_create";
        } else
                pthread_join(thread, NULL);
        close(m.netns_fd);
        if (m.fd < 0) {
                r->error = m.error;
                r->syscall_name = m.syscall_name;
        }
        return m.fd;
}

/* One RTM_NEWADDR into r->list; 0, or -1 with r->error set when the list is full. Others are skipped. */
static int take_address(struct addresses_read *r, const struct nlmsghdr *h) {
        const struct ifaddrmsg *ifa = NLMSG_DATA(h);
        const struct rtattr *local = NULL, *address = NULL;
        struct address *a;
        uint32_t flags;
        size_t size;
        int length;

        if (h->nlmsg_len < NLMSG_LENGTH(sizeof *ifa))
                return 0;
        if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6)
                return 0;
        size = ifa->ifa_family == AF_INET ? 4 : 16;
        flags = ifa->ifa_flags;
        length = (int) IFA_PAYLOAD(h);
        for (const struct rtattr *at = IFA_RTA(ifa); RTA_OK(at, length); at = RTA_NEXT(at, length)) {
                if (at->rta_type == IFA_LOCAL && RTA_PAYLOAD(at) == size)
                        local = at;
                else if (at->rta_type == IFA_ADDRESS && RTA_PAYLOAD(at) == size)
                        address = at;
                else if (at->rta_type == IFA_FLAGS && RTA_PAYLOAD(at) == sizeof(uint32_t))
                        memcpy(&flags, RTA_DATA(at), sizeof flags);
        }
        if (!local)
                local = address;
        if (!local)
                return 0;
        if (r->n == r->max) {
                r->error = ENOBUFS;
                r->syscall_name = "recv";
                return -1;
        }
        if (r->n == r->cap) {
                size_t cap = r->cap == 0 ? 16 : r->cap * 2;
                struct address *p = realloc(r->list, cap * sizeof *p);
                if (!p) {
                        r->error = ENOMEM;
                        r->syscall_name = "realloc";
                        return -1;
                }
                r->list = p;
                r->cap = cap;
        }
        a = &r->list[r->n++];
        *a = (struct address) { .family = ifa->ifa_family, .scope = ifa->ifa_scope, .flags = flags, .ifindex = (int32_t) ifa->ifa_index };
        memcpy(a->bytes, RTA_DATA(local), size);
        return 0;
}

/* Sends the dump request and reads its answer to NLMSG_DONE. */
static void dump_addresses(struct addresses_read *r, int fd) {
        struct {
                struct nlmsghdr header;
                struct ifaddrmsg message;
        } request = {
                .header = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg)), .nlmsg_type = RTM_GETADDR,
                            .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = 1 },
                .message = { .ifa_family = AF_UNSPEC },
        };
        struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
        struct timeval timeout = { .tv_sec = RECEIVE_TIMEOUT_SECONDS };
        /* Aligned for nlmsghdr; a dump part never exceeds a page or 8 KiB, whichever is larger. */
        static __thread uint32_t buffer[32768 / sizeof(uint32_t)];

        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        if (sendto(fd, &request, request.header.nlmsg_len, 0, (struct sockaddr *) &kernel, sizeof kernel) < 0) {
                r->error = errno;
                r->syscall_name = "sendto";
                return;
        }
        for (;;) {
                ssize_t n = recv(fd, buffer, sizeof buffer, 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r->error = errno;
                        r->syscall_name = "recv";
                        return;
                }
                if (n == 0) {
                        r->error = EPIPE;
                        r->syscall_name = "recv";
                        return;
                }
                int left = (int) n;
                for (const struct nlmsghdr *h = (const struct nlmsghdr *) buffer; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
                        if (h->nlmsg_seq != request.header.nlmsg_seq)
                                continue;
                        if (h->nlmsg_type == NLMSG_DONE)
                                return;
                        if (h->nlmsg_type == NLMSG_ERROR) {
                                const struct nlmsgerr *e = NLMSG_DATA(h);
                                r->error = h->nlmsg_len >= NLMSG_LENGTH(sizeof *e) && e->error < 0 ? -e->error : EPROTO;
                                r->syscall_name = "recv";
                                return;
                        }
                        if (h->nlmsg_type == RTM_NEWADDR && take_address(r, h) < 0)
                                return;
                }
        }
}

static void execute(napi_env env, void *data) {
        struct addresses_read *r = data;
        int fd = open_route_socket(r);

        if (fd < 0)
                return;
        dump_addresses(r, fd);
        close(fd);
}

static void free_read(struct addresses_read *r) {
        free(r->netns);
        free(r->list);
        free(r);
}

static napi_value address_object(napi_env env, const struct address *a) {
        napi_value o, bytes;
        void *data;

        napi_create_object(env, &o);
        set_uint32(env, o, "family", a->family);
        set_uint32(env, o, "scope", a->scope);
        set_uint32(env, o, "flags", a->flags);
        set_int32(env, o, "ifindex", a->ifindex);
        napi_create_buffer_copy(env, a->family == AF_INET ? 4 : 16, a->bytes, &data, &bytes);
        napi_set_named_property(env, o, "address", bytes);
        return o;
}

static void complete(napi_env env, napi_status status, void *data) {
        struct addresses_read *r = data;
        napi_value argv[2];

        napi_get_undefined(env, &argv[0]);
        napi_get_null(env, &argv[1]);
        if (r->error != 0)
                argv[0] = errno_error(env, r->error, r->syscall_name);
        else {
                napi_create_array_with_length(env, r->n, &argv[1]);
                for (size_t i = 0; i < r->n; i++)
                        napi_set_element(env, argv[1], (uint32_t) i, address_object(env, &r->list[i]));
        }
        async_done(env, r->callback, r->work, argv);
        free_read(r);
}

napi_value js_local_addresses(napi_env env, napi_callback_info info) {
        size_t argc = 3;
        napi_value argv[3];
        napi_valuetype types[3];
        int64_t max = -1;
        struct addresses_read *r;

        napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
        for (size_t i = 0; i < 3; i++)
                if (i >= argc || napi_typeof(env, argv[i], &types[i]) != napi_ok)
                        types[i] = napi_undefined;
        if ((types[0] != napi_string && types[0] != napi_null) || types[1] != napi_number || types[2] != napi_function ||
            napi_get_value_int64(env, argv[1], &max) != napi_ok || max < 0 || max > 1 << 20) {
                napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected (network namespace path or null, max addresses, callback)");
                return NULL;
        }
        r = calloc(1, sizeof *r);
        if (!r)
                return throw_errno(env, ENOMEM, "calloc");
        r->max = (size_t) max;
        if (types[0] == napi_string) {
                r->netns = string_of(env, argv[0]);
                if (!r->netns) {
                        free_read(r);
                        return throw_errno(env, ENOMEM, "malloc");
                }
        }
        async_queue(env, argv[2], "machined-local-addresses", execute, complete, r, &r->callback, &r->work);
        return NULL;
}
