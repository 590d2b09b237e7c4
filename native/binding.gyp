# The native parts, built by `npm ci` through the package's install script:
#  - machined_native (addon/): the daemon's N-API module, what Node cannot
#    do by itself on a Unix socket, a process or a pty (SO_PEERCRED,
#    SCM_RIGHTS, pidfd_open, pidfd_send_signal, an epoll set of fds,
#    openpt, TIOCSWINSZ, AF_VSOCK, posix_spawn (machined-spawn's helper, without
#    a fork of Node), the image pool's locks and ioctls, sd_notify
#    datagrams, a guest's files read inside its root with openat2), loaded
#    by src/native/addon.ts; typed views in
#    src/backends/native.ts (daemon), src/native/pidfd.ts (both),
#    src/native/fd-socket.ts (fd passing, both transports) and
#    src/linux/pty.ts (ptys, for mctl and the launchers).
#  - machined-spawn-helper (spawn_helper/): a small program machined-spawn
#    runs to clone the container and carry out its mount plan (Node cannot
#    fork or clone).
#  - machined-enter (enter/): a small program the daemon runs to act inside
#    a machine's namespaces (ptys, login and shell sessions, sockets,
#    Copy*Machine and BindMountMachine): a multithreaded process such as
#    Node cannot join a mount namespace. src/backends/terminals.ts and
#    src/backends/machine-files.ts run it.
#  - machined-gunzip (gunzip/): decodes gzip'd imports with zlib between
#    the file and tar (startDecoder() in src/backends/transfer-compress.ts).
# common/ holds what they share: passing fds over a Unix socket.
{
  'target_defaults': {
    'defines': ['_GNU_SOURCE'],
    'include_dirs': ['common'],
    'cflags': ['-Wall', '-Wextra', '-Wno-unused-parameter', '-std=gnu11'],
  },
  'targets': [
    {
      'target_name': 'machined_native',
      'sources': [
        'addon/main.c', 'addon/errors.c', 'addon/process.c', 'addon/pty.c', 'addon/socket.c',
        'addon/poll_set.c', 'addon/inotify.c', 'addon/vsock.c', 'addon/images.c', 'addon/images_scan.c',
        'addon/guest_file.c', 'addon/read_files.c', 'addon/netlink.c', 'addon/service.c', 'addon/spawn.c', 'common/fdpass.c',
      ],
      'defines': ['NAPI_VERSION=8'],
      # Only the module's entry point is visible: nothing of ours can take the place of the C library's.
      'cflags': ['-fvisibility=hidden'],
    },
    {
      'target_name': 'machined-spawn-helper',
      'type': 'executable',
      'sources': [
        'spawn_helper/main.c', 'spawn_helper/plan.c', 'spawn_helper/steps.c', 'spawn_helper/fs.c',
        'spawn_helper/host.c', 'spawn_helper/loop.c', 'common/fdpass.c',
      ],
    },
    {
      'target_name': 'machined-enter',
      'type': 'executable',
      'sources': [
        'enter/main.c', 'enter/report.c', 'enter/namespaces.c', 'enter/exec.c', 'enter/copy.c',
        'enter/copy_tree.c', 'enter/bind.c', 'common/fdpass.c',
      ],
    },
    {
      'target_name': 'machined-gunzip',
      'type': 'executable',
      'sources': ['gunzip/main.c'],
      # zlib: node-gyp's include path puts Node's own zlib.h (the same API) first; the library is the system's run-time
      # one (Debian's zlib1g, a required package), named by its soname so that linking needs no -dev package.
      'libraries': ['-l:libz.so.1'],
    },
  ],
}
