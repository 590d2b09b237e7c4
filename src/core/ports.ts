/**
 * Everything the core needs from the outside world, as interfaces. The
 * core imports no node:* module; backends/ implements these ports on Linux.
 * The tests' in-memory fakes (test/fakes/) are kept to the same contract
 * as the real ports by test/contract/.
 * @module
 */

import type { ImageMetadata, ImageRecord } from '../protocol/image.ts'
import type { ScopeSettings } from './scope-properties.ts'

/**
 * A process pinned by PID and start time (field 22 of /proc/PID/stat), so a
 * recycled PID is never mistaken for the process we were given.
 */
export interface ProcessRef {
  readonly pid: number
  readonly startTime: bigint
  /**
   * The inode number of a pidfd for the process where pidfds live on pidfs
   * (Linux 6.9+): never reused within a boot, so it names the process even
   * where the start time cannot tell two apart (newer systemd's
   * LEADER_PIDFDID=). undefined where the kernel gives no such number.
   */
  readonly pidfdId?: number | undefined
}

/**
 * A process held open through a pidfd, as newer systemd holds every leader
 * (PidRef): it keeps naming the same process after its PID is reused, says
 * when the process exits, and signals that process and no other. Disposing
 * of it lets go of the pidfd, and no exit callback comes after that.
 */
export interface ProcessHandle extends Disposable {
  /** The process, with its pidfd inode number where the kernel has one. */
  readonly ref: ProcessRef
  /** False once the process has exited; a zombie has exited (pidref_is_alive()). */
  isAlive(): Promise<boolean>
  /** Throws NoSuchProcessError once the process has exited, whoever has its PID now. */
  signal(signal: number): Promise<void>
  /** The UID it runs as (Processes.ownerUid's rule); undefined once it has exited. */
  ownerUid(): Promise<number | undefined>
  /** Calls back once, after the process has exited (soon after, if it already has), where announcesExit. */
  onExit(callback: () => void): Disposable
  /**
   * The same, handing `subject` to the callback: one callback shared by
   * many handles (the registry's, with the machine), no closure per handle.
   */
  onExit<T>(callback: (subject: T) => void, subject: T): Disposable
  /** Whether onExit() calls back at all: a handle without a pidfd (or one that could not be watched) never does. */
  readonly announcesExit: boolean
}

export interface Processes {
  /** Pins a live (non-zombie) process; undefined when there is none. */
  pin(pid: number): Promise<ProcessRef | undefined>
  /**
   * Pins the process a client's pidfd names (LeaderPIDFD=); undefined when
   * it has exited. Throws InvalidArgsError when the fd is not a pidfd. The
   * fd stays the caller's.
   */
  pinPidfd(fd: number): Promise<ProcessRef | undefined>
  /**
   * Holds the pinned process. undefined when it is not running any more:
   * exited, or its PID (or pidfd inode number, where `ref` has one) now
   * names another process.
   */
  hold(ref: ProcessRef): Promise<ProcessHandle | undefined>
  /**
   * Pins and holds, in one step, the live (non-zombie) process that has
   * `pid` now: what pin() then hold() do, with the process's start time
   * read once, after its pidfd is open. undefined when there is none.
   */
  holdPid(pid: number): Promise<ProcessHandle | undefined>
  /** True while the pinned process itself (not a PID successor) runs. */
  isAlive(ref: ProcessRef): Promise<boolean>
  /** Throws NoSuchProcessError when the pinned process is gone. */
  signal(ref: ProcessRef, signal: number): Promise<void>
  /** The UID the process runs as (real, effective, saved and fs alike); undefined once it is gone, or when they differ. */
  ownerUid(ref: ProcessRef): Promise<number | undefined>
}

/** A unit and where its processes live (relative to a hierarchy's root). */
export interface UnitRef {
  /** e.g. machine-foo.scope */
  readonly unit: string
  /** e.g. /machine.slice/machine-foo.scope */
  readonly cgroup: string
}

export interface CreateScopeRequest {
  readonly unit: string
  readonly description: string
  readonly leader: ProcessRef
  readonly settings: ScopeSettings
}

/**
 * Scopes and the units processes live in: served by our own cgroup tree
 * when systemd is not PID 1, by org.freedesktop.systemd1 when it is.
 */
export interface Units {
  /** Creates the scope and moves the leader in (Create*, allocateUnit). */
  createScope(request: CreateScopeRequest): Promise<UnitRef>
  /** The unit a process lives in (cg_pid_get_unit); throws NoSuchProcessError. */
  unitOfPid(pid: number): Promise<UnitRef | undefined>
  /**
   * unitOfPid() for many processes at once (start-up: every leader on
   * file), where a backend can, off the JavaScript thread. A PID whose
   * process is gone, or whose unit could not be read, is left out. Each
   * answer is about the process the PID named when it was read: a caller
   * that holds a process afterwards uses it only once it knows the held
   * process is that one (it was alive before and after the read).
   */
  unitsOfPids(pids: readonly number[]): Promise<Map<number, UnitRef | undefined>>
  /** Whether any process still lives in the unit. */
  isPopulated(ref: UnitRef): Promise<boolean>
  /** Sends a signal to every process in the unit (KillUnit, whom=all). */
  kill(ref: UnitRef, signal: number): Promise<void>
  /**
   * Starts stopping the unit with the kill settings it was created with
   * (SIGTERM to every process by default, SIGKILL after the timeout);
   * resolves once the stop is under way, as PID 1's StopUnit does.
   */
  stop(ref: UnitRef): Promise<void>
  /** Calls back (possibly spuriously) whenever the unit may have emptied. */
  watch(ref: UnitRef, onChange: () => void): Disposable
  /** After a daemon restart: take back a unit machined created earlier. */
  reattach(ref: UnitRef): Promise<void>
  /** machined lets go of a unit it created: remove it as soon as it is empty. */
  release(ref: UnitRef): Promise<void>
  /**
   * After a restart: the scopes this backend made in earlier runs and still
   * finds, whether or not a machine claims them (a crash can leave one
   * between making it and saving the machine). Empty where a service
   * manager collects scopes itself.
   */
  leftoverScopes(): Promise<UnitRef[]>
}

/** Where state files live: /run/systemd/machines by default. */
export interface StateStore {
  /** Makes sure the directory exists (programs test for it to detect machined). */
  init(): Promise<void>
  /** Atomically replaces the state file of a machine. */
  write(name: string, contents: string): Promise<void>
  remove(name: string): Promise<void>
  /** The unit:<unit> → <name> symlink libsystemd follows. */
  linkUnit(unit: string, name: string): Promise<void>
  unlinkUnit(unit: string, name: string): Promise<void>
  /**
   * Removes the unit:<unit> link whatever it names, without reading it
   * first: for start-up, where listLinks() has just read every link and
   * nothing else writes the directory before the daemon serves.
   */
  removeLink(unit: string): Promise<void>
  /** Every machine state file: name and contents. Links and junk are skipped. */
  list(): Promise<{ name: string; contents: string }[]>
  /** Every unit:<unit> link and the machine name it points to. */
  listLinks(): Promise<{ unit: string; name: string }[]>
}

export interface Address {
  readonly family: 2 | 10
  readonly address: Uint8Array
}

/**
 * Looks inside a running machine through its leader's namespaces; a leader
 * of undefined means the host itself (the ".host" machine).
 */
export interface Inspector {
  /** Undefined when the leader shares the host's network namespace. */
  addresses(leader: ProcessRef | undefined): Promise<Address[] | undefined>
  /** undefined when the machine has neither /etc/os-release nor /usr/lib/os-release. */
  osRelease(leader: ProcessRef | undefined): Promise<Map<string, string> | undefined>
  /**
   * The leader's /proc/PID/uid_map and gid_map, raw; undefined when the
   * kernel has none for it (no user namespaces, or the leader is gone).
   */
  idMaps(leader: ProcessRef): Promise<{ uidMap: string; gidMap: string } | undefined>
}

export interface CopyRequest {
  /** The container's leader: its mount namespace and root are where containerPath is resolved. */
  readonly leader: ProcessRef
  /** "from": container → host (CopyFromMachine); "to": host → container. */
  readonly direction: 'from' | 'to'
  /** Absolute, with a file name; resolved on the host as usual. */
  readonly hostPath: string
  /** Absolute, with a file name; resolved inside the guest's root, so ".." and symlinks never leave it. */
  readonly containerPath: string
  /** The machine's UID shift: 0 keeps owners; otherwise they become root on the receiving side. */
  readonly uidShift: number
  /** Replace files (not directories) that are in the way (MACHINE_COPY_REPLACE). */
  readonly replace: boolean
}

export interface BindMountRequest {
  readonly leader: ProcessRef
  /** Host directory the container manager shares into the guest (…/propagate/NAME). */
  readonly propagateDir: string
  /** Where the guest sees that directory (/run/host/incoming). */
  readonly incomingDir: string
  readonly source: string
  readonly destination: string
  readonly readOnly: boolean
  /** Create the destination (and its parents) when missing. */
  readonly mkdir: boolean
}

/**
 * A container's files, reached through its leader's mount namespace
 * (machine-dbus.c: open_root_directory, copy, bind_mount). Failures are
 * MachinedErrors whose message is strerror() unless noted.
 */
export interface MachineFiles {
  /**
   * An fd of this process for the directory the leader sees as "/" (the
   * host's "/" for undefined); the caller owns it. FileNotFoundError once
   * the leader is gone.
   */
  openRootDirectory(leader: ProcessRef | undefined): Promise<number>
  /**
   * copy_tree_at() with COPY_MERGE: directories merge, a file in the way is
   * FileExists unless `replace`. A host directory that cannot be opened
   * fails with "Failed to open host directory PATH: …".
   */
  copy(request: CopyRequest): Promise<void>
  /** bind_mount_in_namespace(): EOPNOTSUPP where the manager made no propagation directory. */
  bindMount(request: BindMountRequest): Promise<void>
}

/** A pseudo terminal allocated in a machine, as OpenMachinePTY answers it. */
export interface MachinePty {
  /** The master side: an fd of this process, the caller's to pass on (or close). */
  readonly master: number
  /** The peer's path as the machine sees it, e.g. /dev/pts/3. */
  readonly path: string
}

/** What OpenMachineShell runs, already checked and defaulted (shell-request.ts). */
export interface ShellSpec {
  readonly user: string
  /** Absolute path of the program. */
  readonly path: string
  /** Its argv, argv[0] first; never empty. */
  readonly args: readonly string[]
  /** KEY=VALUE assignments for it. */
  readonly environment: readonly string[]
}

/**
 * Terminals inside a running machine (systemd's machine_openpt(),
 * machine_start_getty(), machine_start_shell()); a leader of undefined
 * means the host itself. Each resolves to a pty whose master the caller
 * owns, with the session already started on its peer.
 */
export interface Terminals {
  /** A pty allocated in the machine, nothing on it. */
  openPty(leader: ProcessRef | undefined): Promise<MachinePty>
  /** A pty with a login prompt on it. */
  openLogin(leader: ProcessRef | undefined): Promise<MachinePty>
  /**
   * A pty with `spec` running on it as its user. Throws NoSuchProcessError
   * (ESRCH, what systemd's user lookup fails with) when the machine has no
   * such user and we look it up ourselves (guests without systemd).
   */
  openShell(leader: ProcessRef | undefined, spec: ShellSpec): Promise<MachinePty>
}

/** An image as the pool found it (ImageRecord), and whether it is a vendor image. */
export interface Image extends ImageRecord {
  /** IMAGE_IS_VENDOR(): under /usr (read-only, never changed, never cleaned). */
  readonly vendor: boolean
}

/**
 * The machine image pool (systemd's discover-image.c): images found in the
 * search path (/etc/machines, /run/machines, /var/lib/machines, …), and
 * the file-system work on them. Every change takes nspawn's locks (an
 * image in use is EBUSY) and fails with a MachinedError whose message is
 * strerror() unless noted; the core checks names, rights and the
 * read-only rules (vendor images, .host) before it calls.
 */
export interface ImagePool {
  /** Where new images go (/var/lib/machines): the Manager's PoolPath. */
  readonly poolPath: string
  /** image_discover(): every image, the first of a name in the search path winning, .host last. */
  discover(): Promise<Image[]>
  /** image_find(): undefined when there is no image of that (valid) name. */
  find(name: string): Promise<Image | undefined>
  /** image_remove(): the image and its .roothash, and settings files but the admin's in /etc. */
  remove(image: Image): Promise<void>
  /** image_rename(): EEXIST when the name is taken (or ".host": EBUSY); settings files follow. */
  rename(image: Image, newName: string): Promise<void>
  /**
   * image_clone() into the pool: a btrfs snapshot where it can, else a
   * reflinked or full copy; nothing is left behind when it fails.
   */
  clone(image: Image, newName: string, readOnly: boolean): Promise<void>
  /** image_read_only(). */
  setReadOnly(image: Image, readOnly: boolean): Promise<void>
  /** image_set_limit(): btrfs subvolumes with quota only (NotSupported elsewhere). */
  setLimit(image: Image, limit: bigint): Promise<void>
  /** The pool's quota (SetPoolLimit): NotSupported where it is not a btrfs subvolume with quota. */
  setPoolLimit(limit: bigint): Promise<void>
  /** PoolUsage and PoolLimit: UINT64_MAX each when not known. */
  poolQuota(): Promise<{ usage: bigint; limit: bigint }>
  /** image_read_metadata(): hostname, machine ID, machine-info and os-release (raw images through a loop device). */
  metadata(image: Image): Promise<ImageMetadata>
  /** Whether scanUsage() measures at all (the admin may not want trees walked). */
  readonly measuresUsage: boolean
  /** Disk usage of a directory tree (hard links once), for images whose file system reports none. */
  scanUsage(image: Image): Promise<bigint>
}

/** How an image runs as a machine: in machined-spawn, or in machined-vmspawn (a raw image with a kernel beside it). */
export type LaunchKind = 'container' | 'vm'

/** A launcher started for an image: what ends it, if it ends before its machine registered. */
export interface Launch {
  /** Resolves with a one-line account (status, last lines it wrote) once the launcher has ended. */
  readonly ended: Promise<string>
}

/**
 * Machines from images, as services (machinectl start/enable/disable):
 * through systemd's machined-spawn@NAME.service and
 * machined-vmspawn@NAME.service where systemd is PID 1, by the daemon's own
 * supervisor elsewhere. The core has checked the caller and found the
 * image; failures are MachinedErrors.
 */
export interface MachineServices {
  /** Starts the image's launcher; resolves once it runs (not once its machine registered). */
  start(image: Image): Promise<Launch>
  /** Whether the machine of this name runs as one of these services right now (starting it again does nothing). */
  runs(name: string): Promise<boolean>
  /** Start the image's machine with the daemon (or the host) from now on. */
  enable(image: Image): Promise<void>
  disable(name: string): Promise<void>
  enabled(name: string): Promise<boolean>
}

/** Facts about the host, for the ".host" machine systemd-machined always lists. */
export interface HostInfo {
  /** /etc/machine-id as 16 bytes (all zero when unknown). */
  readonly machineId: Uint8Array
  /** When the host booted, CLOCK_REALTIME µs. */
  readonly bootRealtimeUsec: bigint
  /** PID 1, pinned. */
  readonly init: ProcessRef
}

export interface Clock {
  /** CLOCK_REALTIME in microseconds. */
  realtimeUsec(): bigint
  /** CLOCK_MONOTONIC in microseconds. */
  monotonicUsec(): bigint
  setTimeout(callback: () => void, ms: number): Disposable
}

export interface Log {
  debug(message: string, fields?: Record<string, unknown>): void
  info(message: string, fields?: Record<string, unknown>): void
  warn(message: string, fields?: Record<string, unknown>): void
  error(message: string, fields?: Record<string, unknown>): void
}

export interface Disposable {
  dispose(): void
}
