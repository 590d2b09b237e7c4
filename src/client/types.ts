/**
 * What the client library hands out and takes in: plain data, the same
 * over Varlink and D-Bus.
 * @module
 */

import type { KillWhom, MachineClass, MachineState } from '../protocol/vocabulary.ts'
import type { ImageClient } from './image-types.ts'

export interface RegisterOptions {
  /** A valid hostname: letters, digits, '-' and '.', at most 64 characters. */
  readonly name: string
  readonly class: Exclude<MachineClass, 'host'>
  /** The machine's main process; the calling process when left out. */
  readonly leader?: number
  /** 128-bit id as 32 hex digits (dashes allowed) or 16 bytes. */
  readonly id?: string | Uint8Array
  /** Who registers it, e.g. "my-manager". */
  readonly service?: string
  /** The machine's root directory on the host, if it has one. */
  readonly rootDirectory?: string
  /** Host-side network interface indices (veth, tap, …). */
  readonly networkInterfaces?: readonly number[]
  /**
   * Have machined make a scope for the leader (CreateMachine) instead of
   * adopting the unit it already lives in (RegisterMachine). Default false,
   * as for Varlink Register.
   */
  readonly allocateUnit?: boolean
  /**
   * Settings for the scope machined makes when allocateUnit is set
   * (CreateMachine's a(sv): KillSignal, KillMode, DevicePolicy,
   * DeviceAllow, …), as systemd-nspawn passes them. D-Bus only: Varlink
   * Register has no such field, and the Varlink client refuses them.
   */
  readonly scopeProperties?: readonly ScopeProperty[]
  readonly vsockCid?: number
  readonly sshAddress?: string
  readonly sshPrivateKeyPath?: string
  /**
   * The pool image the machine runs from (machined-ts's ImageName and
   * ImagePath, docs/images.md). D-Bus only, through CreateMachineEx or
   * RegisterMachineEx; a machined that does not know them (systemd's)
   * registers the machine without them.
   */
  readonly image?: { readonly name: string; readonly path: string }
}

/** One unit property for CreateMachine, e.g. { name: 'KillSignal', signature: 'i', value: 37 }. */
export interface ScopeProperty {
  readonly name: string
  /** Its D-Bus signature, as systemd's transient-unit parser expects it. */
  readonly signature: string
  readonly value: unknown
}

/** One row of ListMachines. */
export interface MachineSummary {
  readonly name: string
  /** '' when the daemon does not know it. */
  readonly class: MachineClass | ''
  readonly service: string
}

/** A row of VarlinkMachinedClient.listWithMetadata(). */
export interface MachineListEntry extends MachineSummary {
  /** The machine's os-release fields; undefined when they could not be read. */
  readonly osRelease: Readonly<Record<string, string>> | undefined
  /** undefined when they could not be read (no private network, not a container). */
  readonly addresses: readonly MachineAddress[] | undefined
}

export interface MachineDetails extends MachineSummary {
  /** 32 lower-case hex digits, '' for none. */
  readonly id: string
  readonly unit: string
  readonly leader: number
  readonly rootDirectory: string
  /** µs since the epoch / since boot, when the machine was registered. */
  readonly timestamp: { readonly realtime: bigint; readonly monotonic: bigint }
  readonly networkInterfaces: readonly number[]
  /** undefined over Varlink, which does not report it. */
  readonly state: MachineState | undefined
}

export interface MachineAddress {
  readonly family: 2 | 10
  /** e.g. "192.0.2.7" or "fe80::1". */
  readonly address: string
}

/** A D-Bus property as the daemon sent it (DbusMachinedClient.propertyList()). */
export interface BusProperty {
  readonly name: string
  /** Its D-Bus signature: 's', 't', 'ay', 'ai', … */
  readonly signature: string
  readonly value: unknown
}

export interface KillOptions {
  /** Default "all". */
  readonly whom?: KillWhom
  /** Default SIGTERM (15). */
  readonly signal?: number
}

export interface CopyOptions {
  /** Where the copy goes on the other side; the same path as the source when left out. */
  readonly destination?: string
  /** Replace files that are in the way (machinectl --force); directories are always merged. */
  readonly replace?: boolean
}

export interface BindOptions {
  /** Where the mount goes inside; the same path as the source when left out. */
  readonly destination?: string
  readonly readOnly?: boolean
  /** Create the destination (and its parents) when missing. */
  readonly mkdir?: boolean
}

/** A terminal in a machine (openPty/openLogin/openShell): the pty's master, now the caller's to read, write and close. */
export interface MachinePty {
  readonly fd: number
  /** The peer as the machine sees it, e.g. /dev/pts/3. */
  readonly path: string
}

/** What openShell runs; each field as machinectl's OpenMachineShell call takes it. */
export interface ShellOptions {
  /** Default root. */
  readonly user?: string
  /** Absolute path of the program; default the user's login shell. */
  readonly path?: string
  /** argv, argv[0] first; default [path]. */
  readonly args?: readonly string[]
  /** KEY=VALUE assignments. */
  readonly environment?: readonly string[]
}

/** What machined-ts knows of a machine beyond systemd's fields (MachinedClient.describe()). */
export interface MachineDescription {
  /** The pool image it runs from, as its launcher registered it. */
  readonly imageName: string | undefined
  /** Where that image is (shown to root and the machine's owner only). */
  readonly imagePath: string | undefined
  /** Whether it is started with machined-ts (or the host). */
  readonly enabled: boolean
}

export interface MachineEvent {
  readonly type: 'new' | 'removed'
  readonly name: string
}

export interface MachinedClient {
  /** Which wire this client talks. */
  readonly transport: 'varlink' | 'dbus'
  /** The machine image pool (client/image-types.ts). */
  readonly images: ImageClient
  register(options: RegisterOptions): Promise<void>
  unregister(name: string): Promise<void>
  terminate(name: string): Promise<void>
  kill(name: string, options?: KillOptions): Promise<void>
  list(): Promise<MachineSummary[]>
  get(name: string): Promise<MachineDetails>
  osRelease(name: string): Promise<Record<string, string>>
  addresses(name: string): Promise<MachineAddress[]>
  uidShift(name: string): Promise<number>
  /** Copies a host file or tree (absolute path) into a container (CopyToMachine); owners are kept, or shifted to the container's root under a user namespace. */
  copyTo(name: string, source: string, options?: CopyOptions): Promise<void>
  /** Copies a file or tree out of a container (CopyFromMachine); `source` is resolved inside the guest. */
  copyFrom(name: string, source: string, options?: CopyOptions): Promise<void>
  /** Bind-mounts a host path into a container (BindMountMachine). */
  bind(name: string, source: string, options?: BindOptions): Promise<void>
  /**
   * An fd for the machine's root directory, as the guest sees it
   * (OpenMachineRootDirectory; what `journalctl -M` reads through). Always
   * over D-Bus, which can pass fds. The caller closes it.
   */
  openRootDirectory(name: string): Promise<number>
  /** OpenMachinePTY: a pty in the machine, nothing on it (root only). */
  openPty(name: string): Promise<MachinePty>
  /** OpenMachineLogin: a pty with the machine's login prompt on it. */
  openLogin(name: string): Promise<MachinePty>
  /** OpenMachineShell: a pty with a program (default the user's shell) running on it. */
  openShell(name: string, options?: ShellOptions): Promise<MachinePty>
  /**
   * machined-ts's machines from images, as services (io.machinedts.Machines,
   * over Varlink whatever the transport): start boots image NAME of the pool
   * and resolves once its machine is registered; enable/disable start it with
   * the daemon (or the host) or not. Root only.
   */
  start(name: string): Promise<void>
  enable(name: string): Promise<void>
  disable(name: string): Promise<void>
  /** The pool image a registered machine runs from (machined-ts only). */
  describe(name: string): Promise<MachineDescription>
  /** MachineNew/MachineRemoved as they happen (over the system bus, whichever transport registers). */
  watch(options?: { signal?: AbortSignal }): AsyncIterableIterator<MachineEvent>
  close(): void
}

export interface ConnectOptions {
  /** Default "auto": Varlink when its socket exists, else D-Bus. */
  readonly transport?: 'auto' | 'varlink' | 'dbus'
  /** Default /run/systemd/machine/io.systemd.Machine. */
  readonly varlinkSocket?: string
  /** Default $DBUS_SYSTEM_BUS_ADDRESS, else unix:path=/run/dbus/system_bus_socket. */
  readonly busAddress?: string
}
