/**
 * The container's setup as data: every mount, node and file PID 1 needs
 * (the Container Interface, docs/container-interface.md), in the order the helper
 * (native/spawn_helper/, its step table in steps.c) carries them out. Pure: unit tests read
 * the plan instead of a mount table.
 *
 * The order, and what it copies from systemd-nspawn (nspawn-mount.c
 * mount_all(), nspawn.c outer_child()/inner_child()):
 *   1. mounts stop propagating to the host (/ becomes a recursive slave);
 *   2. host paths the container needs (os-release, the pty, --bind sources,
 *      the incoming and unix-export directories) are cloned as detached
 *      mounts while the host's tree is still reachable;
 *   3. the root put together (a raw image's loop device, an ephemeral
 *      overlay: plan-root.ts) and pivot_root into it; from here on every path is the
 *      container's, so an absolute symlink in the image cannot lead out;
 *   4. /proc (with /proc/sys read-only and nspawn's masked entries), /run
 *      and /run/host, /sys read-only, /dev as a tmpfs with the basic nodes,
 *      devpts, /dev/console, /dev/shm, /dev/mqueue, /tmp, the --bind mounts,
 *      the hostname;
 *   5. wait for "go": the manager has had machined put us in the machine's
 *      scope meanwhile;
 *   6. a cgroup namespace rooted at that scope and cgroup2 on /sys/fs/cgroup;
 *   7. the console as controlling tty, the capability bounding set, exec.
 * @module
 */

import type { BindMount } from './options.ts'
import { uuidFromId } from './machine-id.ts'
import { rootSteps, type RootInput } from './plan-root.ts'

export interface PlanStep {
  readonly op: string
  /** null is "none" (e.g. no mount source). */
  readonly args: readonly (string | null)[]
  /** A missing path (ENOENT) skips the step instead of failing the start. */
  readonly optional?: boolean
}

export interface DeviceNode {
  /** Below /dev, e.g. "null" or "net/tun". */
  readonly name: string
  /** Permission bits, copied from the host's node. */
  readonly mode: number
  readonly major: number
  readonly minor: number
}

export interface PlanInput {
  /** The container's root: a directory (absolute, symlinks resolved) or a raw image, ephemeral or read-only (plan-root.ts). */
  readonly root: RootInput
  readonly privateNetwork: boolean
  /** The host makes a veth pair while PID 1 waits for "go"; its inner end, host0, is brought up after. */
  readonly networkVeth?: boolean
  /** Host path of the os-release to show at /run/host/os-release. */
  readonly hostOsRelease: string
  /** The pty slave standing in for /dev/console, or none (console=pipe). */
  readonly consolePath: string | undefined
  readonly hostname: string
  readonly managerId: string
  /** 32 hex digits. */
  readonly id: string
  /** 32 hex digits, fresh for every start (A1.2 item 16). */
  readonly bootId: string
  readonly binds: readonly (BindMount & { readonly sourceIsDirectory: boolean })[]
  /** Host directory machined can mount into (shared), seen inside as /run/host/incoming. */
  readonly propagateDir: string
  /** Host directory where the guest puts sockets for the host, seen inside as /run/host/unix-export. */
  readonly unixExportDir: string
  readonly devices: readonly DeviceNode[]
  readonly capabilities: bigint
  readonly environment: readonly string[]
  readonly argv: readonly string[]
}

const API_FLAGS = 'nosuid,nodev,noexec'

function step(op: string, ...args: (string | null)[]): PlanStep {
  return { op, args }
}

function optional(op: string, ...args: (string | null)[]): PlanStep {
  return { op, args, optional: true }
}

function octal(mode: number): string {
  return mode.toString(8)
}

function parentOf(path: string): string {
  const i = path.lastIndexOf('/')
  return i <= 0 ? '/' : path.slice(0, i)
}

/** Files nspawn hides behind an inaccessible file: they leak the host kernel's internals. */
export const PROC_INACCESSIBLE = ['/proc/kallsyms', '/proc/kcore', '/proc/keys', '/proc/sysrq-trigger', '/proc/timer_list'] as const
/** Directories nspawn makes read-only: hardware information and tunables. */
export const PROC_READ_ONLY = ['/proc/acpi', '/proc/apm', '/proc/asound', '/proc/bus', '/proc/fs', '/proc/irq', '/proc/scsi'] as const
/** The inodes systemd uses as sources for InaccessiblePaths= and friends (A1.5 item 38). */
export const INACCESSIBLE_NODES = [['reg', 'f'], ['dir', 'd'], ['fifo', 'p'], ['sock', 's'], ['chr', 'c'], ['blk', 'b']] as const

function procSteps(input: PlanInput): PlanStep[] {
  const steps = [
    step('mkdir', '/proc', '755'),
    step('mount', 'proc', '/proc', 'proc', API_FLAGS),
    // /proc/sys read-only: the container must not set the host's sysctls (A1.2 item 13) ...
    step('mount', '/proc/sys', '/proc/sys', null, 'bind'),
  ]
  // ... except its own network namespace's.
  if (input.privateNetwork) steps.push(step('mount', '/proc/sys/net', '/proc/sys/net', null, 'bind'))
  steps.push(step('mount', null, '/proc/sys', null, `bind,remount,ro,${API_FLAGS}`))
  for (const path of PROC_INACCESSIBLE) {
    steps.push(optional('mount', '/run/host/inaccessible/reg', path, null, 'bind'))
    steps.push(optional('mount', null, path, null, `bind,remount,ro,${API_FLAGS}`))
  }
  for (const path of PROC_READ_ONLY) {
    steps.push(optional('mount', path, path, null, 'bind'))
    steps.push(optional('mount', null, path, null, `bind,remount,ro,${API_FLAGS}`))
  }
  // A FIFO over /proc/kmsg, so the guest never reads the host's kernel log (item 15); kept open by the helper.
  steps.push(
    step('mknod', '/run/.machined-spawn-kmsg', 'p', '600', '0', '0'),
    step('hold-fifo', '/run/.machined-spawn-kmsg'),
    step('mount', '/run/.machined-spawn-kmsg', '/proc/kmsg', null, 'bind'),
    step('unlink', '/run/.machined-spawn-kmsg'),
  )
  // A boot ID of the container's own, so journalctl -b tells its boots apart (item 16).
  steps.push(
    step('write', '/run/.machined-spawn-boot-id', '444', `${uuidFromId(input.bootId)}\n`),
    step('mount', '/run/.machined-spawn-boot-id', '/proc/sys/kernel/random/boot_id', null, 'bind'),
    step('mount', null, '/proc/sys/kernel/random/boot_id', null, `bind,remount,ro,${API_FLAGS}`),
    step('unlink', '/run/.machined-spawn-boot-id'),
  )
  return steps
}

function runHostSteps(input: PlanInput): PlanStep[] {
  const steps = [
    step('mkdir', '/run/host', '755'),
    // A mount of its own, so it can be made read-only once filled (nspawn does the same).
    step('mount', '/run/host', '/run/host', null, 'bind'),
    step('write', '/run/host/container-manager', '444', `${input.managerId}\n`),
    step('write', '/run/host/container-uuid', '444', `${uuidFromId(input.id)}\n`),
    step('mkdir', '/run/host/inaccessible', '755'),
  ]
  for (const [name, type] of INACCESSIBLE_NODES) {
    const path = `/run/host/inaccessible/${name}`
    steps.push(type === 'd' ? step('mkdir', path, '0') : step('mknod', path, type, '0', '0', '0'))
  }
  steps.push(
    step('touch', '/run/host/os-release', '444'),
    step('attach', 'os-release', '/run/host/os-release'),
    step('mount', null, '/run/host/os-release', null, `bind,remount,ro,${API_FLAGS}`),
    // machined's BindMount moves new mounts in here from the host (item 41): a slave of a shared host directory.
    step('mkdir', '/run/host/incoming', '700'),
    step('attach', 'incoming', '/run/host/incoming'),
    step('mount', null, '/run/host/incoming', null, `bind,remount,ro,${API_FLAGS}`),
    step('mount', null, '/run/host/incoming', null, 'slave'),
    // The one guest-writable place under /run/host (item 43).
    step('mkdir', '/run/host/unix-export', '755'),
    step('attach', 'unix-export', '/run/host/unix-export'),
    step('mount', null, '/run/host/unix-export', null, 'bind,remount,nosuid,nodev,noexec'),
    step('notify-socket', '/run/host/notify'),
  )
  return steps
}

function devSteps(input: PlanInput): PlanStep[] {
  const steps = [
    // Not noexec: some software maps /dev/zero executable.
    step('mount', 'tmpfs', '/dev', 'tmpfs', 'nosuid,strictatime', 'mode=0755'),
    step('mkdir', '/dev/char', '755'),
  ]
  for (const d of input.devices) {
    const path = `/dev/${d.name}`
    if (d.name.includes('/')) steps.push(step('mkdir', parentOf(path), '755'))
    steps.push(step('mknod', path, 'c', octal(d.mode), String(d.major), String(d.minor)))
    steps.push(step('symlink', `../${d.name}`, `/dev/char/${d.major}:${d.minor}`))
  }
  steps.push(
    step('mkdir', '/dev/pts', '755'),
    step('mount', 'devpts', '/dev/pts', 'devpts', 'nosuid,noexec', 'newinstance,ptmxmode=0666,mode=620,gid=5'),
    step('symlink', 'pts/ptmx', '/dev/ptmx'),
  )
  if (input.consolePath !== undefined) {
    steps.push(step('touch', '/dev/console', '600'), step('attach', 'console', '/dev/console'))
  }
  steps.push(
    step('mkdir', '/dev/shm', '1777'),
    step('mount', 'tmpfs', '/dev/shm', 'tmpfs', 'nosuid,nodev,strictatime', 'mode=01777'),
    step('mkdir', '/dev/mqueue', '755'),
    step('mount', 'mqueue', '/dev/mqueue', 'mqueue', API_FLAGS),
    // systemd makes these itself; a command run without an init wants them too.
    step('symlink', '/proc/self/fd', '/dev/fd'),
    step('symlink', '/proc/self/fd/0', '/dev/stdin'),
    step('symlink', '/proc/self/fd/1', '/dev/stdout'),
    step('symlink', '/proc/self/fd/2', '/dev/stderr'),
  )
  return steps
}

function depth(path: string): number {
  return path.split('/').filter((p) => p !== '').length
}

function bindSteps(input: PlanInput): PlanStep[] {
  const steps: PlanStep[] = []
  // Shallow destinations first, as nspawn sorts its custom mounts, so --bind=/a and --bind=/b:/a/b nest.
  const order = input.binds.map((b, i) => ({ b, i })).sort((x, y) => depth(x.b.destination) - depth(y.b.destination) || x.i - y.i)
  for (const { b, i } of order) {
    steps.push(step('mkdir', parentOf(b.destination), '755'))
    steps.push(b.sourceIsDirectory ? step('mkdir', b.destination, '755') : step('touch', b.destination, '644'))
    steps.push(step('attach', `bind${i}`, b.destination))
    if (b.readOnly) steps.push(step(b.recursive ? 'remount-ro-tree' : 'remount-ro', b.destination))
  }
  return steps
}

/** The whole plan; the helper's own lines (clone, host-shared-dir) come first. */
export function buildPlan(input: PlanInput): PlanStep[] {
  const namespaces = ['pid', 'mount', 'uts', 'ipc', ...(input.privateNetwork ? ['net'] : [])]
  const root = rootSteps(input.root)
  const steps: PlanStep[] = [
    step('clone', namespaces.join(',')),
    step('host-shared-dir', input.propagateDir),
    // The helper makes and removes it, so it goes even if we die first.
    step('host-dir', input.unixExportDir),
    ...root.host,
    step('mount', null, '/', null, 'slave,rec'),
    step('clone-tree', 'os-release', input.hostOsRelease),
    step('clone-tree', 'incoming', input.propagateDir),
    step('clone-tree', 'unix-export', input.unixExportDir),
  ]
  if (input.consolePath !== undefined) steps.push(step('clone-tree', 'console', input.consolePath))
  input.binds.forEach((b, i) => steps.push(step('clone-tree', `bind${i}`, b.source, b.recursive ? 'rec' : null)))
  steps.push(...root.container)

  steps.push(
    step('mkdir', '/run', '755'),
    step('mount', 'tmpfs', '/run', 'tmpfs', 'nosuid,nodev,strictatime', 'mode=0755'),
    ...runHostSteps(input),
    ...procSteps(input),
    step('mount', null, '/run/host', null, `bind,remount,ro,${API_FLAGS}`),
    step('mkdir', '/sys', '755'),
    step('mount', 'sysfs', '/sys', 'sysfs', `ro,${API_FLAGS}`),
    ...devSteps(input),
    step('mkdir', '/tmp', '1777'),
    step('mount', 'tmpfs', '/tmp', 'tmpfs', 'nosuid,nodev,strictatime', 'mode=01777'),
    ...bindSteps(input),
    step('hostname', input.hostname),
  )
  if (input.privateNetwork) steps.push(step('loopback-up'))

  steps.push(step('wait-go'))
  if (input.networkVeth === true) steps.push(step('link-up', 'host0'))
  steps.push(
    step('unshare-cgroup'),
    step('mount', 'cgroup2', '/sys/fs/cgroup', 'cgroup2', API_FLAGS),
    input.consolePath !== undefined ? step('console', '/dev/console') : step('stdio'),
    step('capbset-keep', input.capabilities.toString(16)),
    step('chdir', '/'),
    ...input.environment.map((e) => step('env', e)),
    step('exec', ...input.argv),
  )
  return steps
}
