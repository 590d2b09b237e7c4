/**
 * machined-vmspawn's command line: parsing and validation, no I/O. Option
 * names, defaults and checks follow systemd-vmspawn's parse_argv() and
 * verify_arguments() where they overlap (`-M`, `--uuid`, `--initrd` only
 * with a kernel, `--cpus` 1, `--ram` 2G, `--register`, `--vsock`, `--vsock-cid`);
 * `--kernel` is our name for vmspawn's `--linux` (both are accepted).
 * @module
 */

import { parseArgs } from 'node:util'
import { basename } from 'node:path'
import { hostnameIsValid } from '../protocol/hostname.ts'
import { parseVmUuid } from '../protocol/machine-id.ts'

export const ACCEL_MODES = ['auto', 'kvm', 'tcg'] as const
export type AccelMode = (typeof ACCEL_MODES)[number]

export const CONSOLE_MODES = ['interactive', 'read-only', 'pipe'] as const
export type ConsoleMode = (typeof CONSOLE_MODES)[number]

/** --vsock=: vmspawn's tristate; auto uses vsock when the host has it. */
export type VsockMode = 'auto' | 'yes' | 'no'

export interface VmspawnOptions {
  readonly machine: string
  /** Canonical lower-case UUID; undefined: pick a random one at start. */
  readonly uuid: string | undefined
  readonly kernel: string | undefined
  readonly initrd: string | undefined
  /** Extra kernel command line (console=ttyS0 is put in front of it). */
  readonly append: string | undefined
  readonly image: string | undefined
  readonly cpus: number
  readonly ramMiB: number
  readonly accel: AccelMode
  /** undefined: interactive when stdin and stdout are terminals, else read-only (as vmspawn). */
  readonly console: ConsoleMode | undefined
  readonly register: boolean
  readonly vsock: VsockMode
  readonly vsockCid: number | undefined
  /** How long SIGTERM waits for the guest to power off before qemu is killed. */
  readonly shutdownTimeoutMs: number
  readonly quiet: boolean
}

export type ParsedCommandLine =
  | { readonly kind: 'help' }
  | { readonly kind: 'version' }
  | { readonly kind: 'run'; readonly options: VmspawnOptions }

/** A bad command line: the message is the whole one-line error. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

export const DEFAULT_RAM_MIB = 2048
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 30_000

export const HELP = `machined-vmspawn [OPTIONS...]

Run a virtual machine in qemu and register it with machined as class vm.
Its SMBIOS product UUID (--uuid) becomes a systemd guest's machine ID, and
the machine's Id, so host and guest agree on who the machine is.

  -h --help                 Show this help
     --version              Print the version
  -q --quiet                Do not print status messages

Image:
     --kernel=PATH          Linux kernel for direct boot (also: --linux=)
     --initrd=PATH          Initrd for direct boot (needs --kernel)
     --append=CMDLINE       Extra kernel command line (console=ttyS0 comes first)
     --image=FILE           Disk image (raw or qcow2) on virtio-blk; booted
                            by the firmware when no --kernel is given

Host configuration:
     --cpus=N               Virtual CPUs (default 1)
     --ram=BYTES            Guest RAM, K/M/G suffixes (default 2G)
     --accel=auto|kvm|tcg   auto: KVM only when a probe boot shows a KVM guest
                            makes progress, else TCG (default auto)
     --vsock=BOOL           A vhost-vsock device and the guest's notify channel
                            (READY=1 from systemd >= 254); default: when the
                            host has /dev/vhost-vsock
     --vsock-cid=CID        The guest's vsock CID (default: derived from the
                            machine name)

System identity:
  -M --machine=NAME         Machine name (default: the image's file name)
     --uuid=UUID            SMBIOS product UUID and machine Id (default: random)

Properties:
     --register=BOOL        Register the VM with machined (default yes)
     --shutdown-timeout=SEC How long SIGTERM waits for the guest to power off
                            before qemu is killed (default 30)

Input/output:
     --console=MODE         interactive, read-only or pipe, over the serial
                            console (default: interactive on a terminal,
                            else read-only). Interactive: press Ctrl-] three
                            times within 1s to kill the VM.

Signals: SIGRTMIN+4 (machinectl poweroff) and SIGTERM power the guest off
through ACPI (SIGTERM kills qemu after --shutdown-timeout, or at once when
sent twice); SIGINT (machinectl reboot) resets it. The exit status is
qemu's: 0 when the guest powered off, 128+N when qemu died of signal N or
quit on it.
`

/** systemd's parse_boolean(). */
function parseBoolean(option: string, value: string): boolean {
  if (['1', 'yes', 'y', 'true', 't', 'on'].includes(value)) return true
  if (['0', 'no', 'n', 'false', 'f', 'off'].includes(value)) return false
  throw new UsageError(`Failed to parse --${option}=${value}: not a boolean`)
}

/** systemd's parse_size() with base 1024, as vmspawn parses --ram: → MiB, rounded up. */
export function parseRamMiB(value: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$/i.exec(value)
  if (m === null) throw new UsageError(`Failed to parse --ram=${value}: not a size`)
  const factor = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 }[m[2]!.toUpperCase() as '' | 'K' | 'M' | 'G' | 'T']
  const mib = Math.ceil((Number(m[1]) * factor) / 2 ** 20)
  if (mib < 16) throw new UsageError(`--ram=${value} is too small (at least 16M)`)
  return mib
}

function parseIntegerIn(option: string, value: string, min: number, max: number): number {
  const n = /^\d+$/.test(value) ? Number(value) : NaN
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`Failed to parse --${option}=${value}: expected an integer from ${min} to ${max}`)
  return n
}

function oneOf<const T extends readonly string[]>(option: string, value: string, allowed: T): T[number] {
  if ((allowed as readonly string[]).includes(value)) return value
  throw new UsageError(`Invalid --${option}=${value}: expected ${allowed.join(', ')}`)
}

/** The machine name vmspawn derives from an image path: its file name without a disk suffix. */
function nameFromImage(image: string): string {
  return basename(image).replace(/\.(raw|qcow2|img)$/, '')
}

const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  machine: { type: 'string', short: 'M' },
  uuid: { type: 'string' },
  kernel: { type: 'string' },
  linux: { type: 'string' },
  initrd: { type: 'string' },
  append: { type: 'string' },
  image: { type: 'string', short: 'i' },
  cpus: { type: 'string' },
  ram: { type: 'string' },
  accel: { type: 'string' },
  console: { type: 'string' },
  register: { type: 'string' },
  vsock: { type: 'string' },
  'vsock-cid': { type: 'string' },
  'shutdown-timeout': { type: 'string' },
} as const

function parseWords(argv: readonly string[]): ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true; strict: true; args: string[] }>> {
  try {
    return parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true })
  } catch (err) {
    // Node's messages run on with advice about positionals; keep the first sentence.
    const message = (err as Error).message.split('. ')[0] ?? String(err)
    throw new UsageError(message.replace(/\.$/, ''))
  }
}

export function parseCommandLine(argv: readonly string[]): ParsedCommandLine {
  const { values: v, positionals } = parseWords(argv)
  if (v.help === true) return { kind: 'help' }
  if (v.version === true) return { kind: 'version' }
  if (positionals.length > 0) throw new UsageError(`Unexpected argument '${positionals[0]!}' (the kernel command line goes in --append=)`)

  if (v.kernel !== undefined && v.linux !== undefined && v.kernel !== v.linux) throw new UsageError('--kernel= and --linux= name different kernels')
  const kernel = v.kernel ?? v.linux
  const image = v.image
  if (kernel === '' || image === '' || v.initrd === '') throw new UsageError('Empty path given')
  if (kernel === undefined && image === undefined) throw new UsageError('Nothing to boot: give --kernel= (direct boot) or --image=')
  if (v.initrd !== undefined && kernel === undefined) throw new UsageError('Option --initrd= cannot be used without --kernel=')
  if (v.append !== undefined && kernel === undefined) throw new UsageError('Option --append= cannot be used without --kernel=')

  const machine = v.machine ?? (image !== undefined ? nameFromImage(image) : undefined)
  if (machine === undefined) throw new UsageError('No machine name: give -M NAME')
  if (!hostnameIsValid(machine)) {
    throw new UsageError(v.machine !== undefined ? `Invalid machine name: ${machine}` : 'Failed to determine machine name automatically, please use -M')
  }

  let uuid: string | undefined
  if (v.uuid !== undefined) {
    uuid = parseVmUuid(v.uuid)
    if (uuid === undefined) throw new UsageError(`Invalid UUID: ${v.uuid} (expected 8-4-4-4-12 or 32 hex digits, not all zeros or all ones)`)
  }

  const vsock: VsockMode = v.vsock === undefined ? 'auto' : parseBoolean('vsock', v.vsock) ? 'yes' : 'no'
  if (vsock === 'no' && v['vsock-cid'] !== undefined) throw new UsageError('Option --vsock-cid= cannot be used with --vsock=no')

  const timeoutS = v['shutdown-timeout'] === undefined ? undefined : Number(v['shutdown-timeout'])
  if (timeoutS !== undefined && !(Number.isFinite(timeoutS) && timeoutS > 0 && timeoutS <= 3600)) {
    throw new UsageError(`Failed to parse --shutdown-timeout=${v['shutdown-timeout']!}: expected seconds from 0 to 3600`)
  }

  return {
    kind: 'run',
    options: {
      machine,
      uuid,
      kernel,
      initrd: v.initrd,
      append: v.append,
      image,
      cpus: v.cpus === undefined ? 1 : parseIntegerIn('cpus', v.cpus, 1, 255),
      ramMiB: v.ram === undefined ? DEFAULT_RAM_MIB : parseRamMiB(v.ram),
      accel: v.accel === undefined ? 'auto' : oneOf('accel', v.accel, ACCEL_MODES),
      console: v.console === undefined ? undefined : oneOf('console', v.console, CONSOLE_MODES),
      register: v.register === undefined ? true : parseBoolean('register', v.register),
      vsock,
      // VMADDR_CID_HOST is 2 and U32_MAX is "any": regular guest CIDs are 3…2³²−2 (vmspawn's VSOCK_CID_IS_REGULAR).
      vsockCid: v['vsock-cid'] === undefined ? undefined : parseIntegerIn('vsock-cid', v['vsock-cid'], 3, 0xfffffffe),
      shutdownTimeoutMs: timeoutS === undefined ? DEFAULT_SHUTDOWN_TIMEOUT_MS : Math.round(timeoutS * 1000),
      quiet: v.quiet === true,
    },
  }
}
