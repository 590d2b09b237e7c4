# The native parts, built by `npm ci` through the package's install script:
#  - machined_native: the daemon's N-API module, what Node cannot do by itself
#    on a Unix socket, a process or a pty (SO_PEERCRED, pidfd_open,
#    pidfd_send_signal, polling a pidfd, openpt, TIOCSWINSZ); typed wrappers
#    in src/backends/native.ts (daemon) and src/spawn/native.ts (launcher).
#  - machined-spawn-helper: a small program machined-spawn runs to clone the
#    container and carry out its mount plan (Node cannot fork or clone).
#  - machined-mount-helper: what machined does inside a container's mount
#    namespace for Copy*Machine and BindMountMachine (setns() needs a
#    single-threaded process); src/backends/mount-helper.ts runs it.
#  - machined-enter: a small program the daemon runs to act inside a
#    machine's namespaces (ptys, login and shell sessions): a
#    multithreaded process such as Node cannot join a mount namespace.
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
      'target_name': 'machined-mount-helper',
      'type': 'executable',
      'sources': ['machined_mount_helper.c'],
      'defines': ['_GNU_SOURCE'],
      'cflags': ['-Wall', '-Wextra', '-Wno-unused-parameter', '-std=gnu11'],
    },
    {
      'target_name': 'machined-enter',
      'type': 'executable',
      'sources': ['machined_enter.c'],
      'defines': ['_GNU_SOURCE'],
      'cflags': ['-Wall', '-Wextra', '-Wno-unused-parameter', '-std=gnu11'],
    },
  ],
}
