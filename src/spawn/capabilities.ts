/**
 * The capability bounding set of the container's PID 1 (Container
 * Interface checklist items 32-34, docs/container-interface.md): nspawn's default
 * retained set minus the audit capabilities, which the Container Interface
 * says to drop (the audit subsystem is not namespaced; nspawn keeps them and
 * relies on the kernel refusing). CAP_NET_ADMIN only with a private network.
 * @module
 */

/** linux/capability.h numbers. */
export const CAP = {
  CHOWN: 0, DAC_OVERRIDE: 1, DAC_READ_SEARCH: 2, FOWNER: 3, FSETID: 4, KILL: 5, SETGID: 6, SETUID: 7, SETPCAP: 8,
  LINUX_IMMUTABLE: 9, NET_BIND_SERVICE: 10, NET_BROADCAST: 11, NET_ADMIN: 12, NET_RAW: 13, IPC_LOCK: 14, IPC_OWNER: 15,
  SYS_MODULE: 16, SYS_RAWIO: 17, SYS_CHROOT: 18, SYS_PTRACE: 19, SYS_PACCT: 20, SYS_ADMIN: 21, SYS_BOOT: 22, SYS_NICE: 23,
  SYS_RESOURCE: 24, SYS_TIME: 25, SYS_TTY_CONFIG: 26, MKNOD: 27, LEASE: 28, AUDIT_WRITE: 29, AUDIT_CONTROL: 30, SETFCAP: 31,
  AUDIT_READ: 37,
} as const

type CapName = keyof typeof CAP

export const RETAINED_CAPABILITIES: readonly CapName[] = [
  'CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'IPC_OWNER', 'KILL', 'LEASE', 'LINUX_IMMUTABLE', 'MKNOD',
  'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_RAW', 'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_ADMIN', 'SYS_BOOT',
  'SYS_CHROOT', 'SYS_NICE', 'SYS_PTRACE', 'SYS_RESOURCE', 'SYS_TTY_CONFIG',
]

/** The bounding set to keep, as a bit mask. */
export function capabilityMask(options: { privateNetwork: boolean }): bigint {
  const names: CapName[] = [...RETAINED_CAPABILITIES]
  if (options.privateNetwork) names.push('NET_ADMIN')
  return names.reduce((mask, n) => mask | (1n << BigInt(CAP[n])), 0n)
}
