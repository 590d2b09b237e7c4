/**
 * The JSON the web console's API speaks, shared by the server (src/web)
 * and the page (src/web/ui): plain data, no Node or DOM types.
 *
 * Every string in here may come from a guest or a remote host (a machine's
 * service, its os-release, and on a fleet page even its name): the page
 * shows them as text, never as markup.
 * @module
 */

/** One machine as a row of the page's table and of GET /api/machines. */
export interface MachineRow {
  /** The host it runs on: '' for the host this console runs on (other hosts come with the fleet). */
  readonly host: string
  readonly name: string
  /** 'container', 'vm', or '' when unknown. */
  readonly class: string
  readonly service: string
  /** 32 hex digits, '' for none. */
  readonly id: string
  readonly unit: string
  /** 0 when unknown. */
  readonly leader: number
  /** os-release PRETTY_NAME, '' when unknown. */
  readonly os: string
  readonly addresses: readonly string[]
  /** When it was registered, in ms since the epoch; 0 when unknown. */
  readonly since: number
}

/** One resource sample: null where the host does not account for it. */
export interface Sample {
  /** Share of one CPU over the last interval, in percent. */
  readonly cpu: number | null
  readonly memory: number | null
  readonly tasks: number | null
}

/** The last samples of a machine, oldest first, at most HISTORY_LENGTH. */
export interface SampleHistory {
  /** ms since the epoch. */
  readonly t: readonly number[]
  readonly cpu: readonly (number | null)[]
  readonly memory: readonly (number | null)[]
  readonly tasks: readonly (number | null)[]
}

export const HISTORY_LENGTH = 60

/** The key of a machine across hosts (a machine name is unique on its host only). */
export function machineKey(host: string, name: string): string {
  return `${host}\u0000${name}`
}

/** What GET /api/events (server-sent events) sends; `event:` is the type. */
export interface EventPayloads {
  /** First, once: every machine and its history so far. */
  snapshot: { readonly machines: readonly MachineRow[]; readonly history: Readonly<Record<string, SampleHistory>> }
  new: MachineRow
  /** A machine's facts changed (OS or addresses became known, …). */
  changed: MachineRow
  removed: { readonly host: string; readonly name: string }
  /** One sample of every machine, keyed by machineKey(). */
  samples: { readonly t: number; readonly rows: Readonly<Record<string, Sample>> }
}

export type EventType = keyof EventPayloads

/** One process in the unit's cgroup tree. */
export interface TreeProcess {
  readonly pid: number
  /** Its command line, or "[comm]". */
  readonly command: string
}

/** A cgroup and what runs in it and below. */
export interface ProcessTreeNode {
  /** The path relative to the hierarchy root, e.g. /machine.slice/machine-x.scope/init.scope. */
  readonly cgroup: string
  readonly processes: readonly TreeProcess[]
  readonly children: readonly ProcessTreeNode[]
}

/** GET /api/machines/NAME: `mctl status`'s facts. */
export interface MachineStatus extends MachineRow {
  /** 'opening', 'running', 'closing', or '' when the transport does not say. */
  readonly state: string
  readonly rootDirectory: string
  /** Host network interfaces, by name where known. */
  readonly interfaces: readonly string[]
  readonly uidShift: number | null
  /** The leader's /proc/PID/comm. */
  readonly leaderCommand: string
  /** For a VM run by machined-vmspawn: whether the guest took the machine's ID. */
  readonly guestId: string
  readonly tree: ProcessTreeNode | null
  readonly sample: Sample | null
}

export const MACHINE_ACTIONS = ['poweroff', 'reboot', 'terminate', 'kill'] as const
export type MachineAction = (typeof MACHINE_ACTIONS)[number]

export const TERMINAL_MODES = ['shell', 'login'] as const
export type TerminalMode = (typeof TERMINAL_MODES)[number]

/** Text frames of the terminal WebSocket (bytes go in binary frames, both ways). */
export type TerminalControl =
  | { readonly type: 'resize'; readonly columns: number; readonly rows: number }

/** What the server says on the terminal WebSocket before closing it. */
export interface TerminalNotice {
  readonly type: 'error' | 'exit'
  readonly message: string
}

/** Every error body: the daemon's error name where the daemon refused. */
export interface ApiError {
  /** e.g. org.freedesktop.machine1.NoSuchMachine, or an HTTP-level name such as Unauthorized. */
  readonly error: string
  /** The stable code (docs/errors.md), e.g. NO_SUCH_MACHINE. */
  readonly code: string
  readonly message: string
}

/** One image of the pool (GET /api/images). Sizes in bytes, null where not known (or, for limits, none). */
export interface ImageRow {
  readonly name: string
  /** 'directory', 'subvolume', 'raw' or 'block'. */
  readonly type: string
  readonly path: string
  readonly readOnly: boolean
  readonly usage: number | null
  readonly usageExclusive: number | null
  readonly limit: number | null
  /** ms since the epoch; 0 when not known. */
  readonly created: number
  readonly modified: number
}

/** One transfer under way (import, export, pull). */
export interface TransferRow {
  readonly id: number
  /** importd's type: 'import-tar', 'pull-raw', … */
  readonly type: string
  readonly remote: string
  readonly local: string
  /** 0…1, or null while not known. */
  readonly progress: number | null
}

/** GET /api/images. */
export interface ImagesPayload {
  readonly images: readonly ImageRow[]
  /** The pool's usage and quota; null where the daemon does not say (Varlink has no such call). */
  readonly pool: { readonly path: string; readonly usage: number | null; readonly limit: number | null } | null
  /** Transfers under way; null where this console cannot list them. */
  readonly transfers: readonly TransferRow[] | null
}
