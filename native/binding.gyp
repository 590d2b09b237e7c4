# The daemon's one native module: what Node cannot do by itself on a Unix
# socket or a process (SO_PEERCRED, pidfd_open, pidfd_send_signal, polling a
# pidfd). Built by `npm ci` through the package's install script; see
# src/backends/native.ts for the typed wrapper.
{
  'targets': [
    {
      'target_name': 'machined_native',
      'sources': ['machined_native.c'],
      'defines': ['NAPI_VERSION=8', '_GNU_SOURCE'],
      'cflags': ['-Wall', '-Wextra', '-Wno-unused-parameter', '-std=gnu11'],
    },
  ],
}
