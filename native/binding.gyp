# The native parts, built by `npm ci` through the package's install script:
#  - machined_native: the daemon's N-API module, what Node cannot do by itself
#    on a Unix socket, a process or a pty (SO_PEERCRED, pidfd_open,
#    pidfd_send_signal, an epoll set of pidfds, openpt, TIOCSWINSZ), loaded
#    by src/native/addon.ts; typed views in src/backends/native.ts (daemon),
#    src/native/pidfd.ts (both) and src/spawn/native.ts (launcher).
#  - machined-spawn-helper: a small program machined-spawn runs to clone the
#    container and carry out its mount plan (Node cannot fork or clone).
#  - machined-enter: a small program the daemon runs to act inside a
#    machine's namespaces (ptys, login and shell sessions, sockets,
#    Copy*Machine and BindMountMachine): a multithreaded process such as
#    Node cannot join a mount namespace. src/backends/terminals.ts and
#    src/backends/machine-files.ts run it.
#  - machined_images: the image pool's N-API module (OFD locks, file
#    attributes, btrfs subvolume and block device ioctls), loaded by
#    src/native/images.ts.
{
  'targets': [
    {
      'target_name': 'machined_native',
      'sources': ['machined_native.c'],
      'defines': ['NAPI_VERSION=8', '_GNU_SOURCE'],
      'cflags': ['-Wall', '-Wextra', '-Wno-unused-parameter', '-std=gnu11'],
    },
    {
      'target_name': 'machined-spawn-helper',
      'type': 'executable',
      'sources': ['machined_spawn_helper.c'],
      'defines': ['_GNU_SOURCE'],
      'cflags': ['-Wall', '-Wextra', '-Wno-unused-parameter', '-std=gnu11'],
    },
    {
      'target_name': 'machined-enter',
      'type': 'executable',
      'sources': ['machined_enter.c', 'machined_enter_files.c'],
      'defines': ['_GNU_SOURCE'],
      'cflags': ['-Wall', '-Wextra', '-Wno-unused-parameter', '-std=gnu11'],
    },
    {
      'target_name': 'machined_images',
      'sources': ['machined_images.c', 'machined_images_scan.c'],
      'defines': ['NAPI_VERSION=8', '_GNU_SOURCE'],
      'cflags': ['-Wall', '-Wextra', '-Wno-unused-parameter', '-std=gnu11'],
    },
  ],
}
