/**
 * machined-spawn's command line, parsed without touching the system. The
 * option names and their meaning follow systemd-nspawn(1); like nspawn,
 * option parsing stops at the first word that is not an option, so
 * `machined-spawn -D tree ls -l` runs `ls -l` in the container.
 * @module
 */

import { randomBytesFromKernel } from '../linux/random.ts'
import { hostnameIsValid, HOST_NAME_MAX } from '../protocol/hostname.ts'
import { parseId128 } from './machine-id.ts'

export const CONSOLE_MODES = ['interactive', 'read-only', 'passive', 'pipe'] as const
export type ConsoleMode = (typeof CONSOLE_MODES)[number]

export interface BindMount {
  /** Absolute host path. */
  readonly source: string
  /** Absolute path inside the container. */
  readonly destination: string
  readonly readOnly: boolean
  /** rbind (nspawn's default) or norbind. */
  readonly recursive: boolean
}

export interface SpawnOptions {
  /** -D: the container's root directory; undefined with -i, or with -M alone (the image is looked up in the pool). */
  readonly directory: string | undefined
  /** -i: a raw disk image (or block device) whose root file system is the container's root. */
  readonly image: string | undefined
  /** -M, else derived from -D or -i; with neither -D nor -i, the pool image of this name is the root. */
  readonly machine: string
  /** -x: run on a throw-away copy-on-write layer over the tree, gone when the container ends. */
  readonly ephemeral: boolean
  /** --read-only: the container's root file system is mounted read-only (images that are read-only run so too). */
  readonly readOnly: boolean
  /** --template=DIR: populate a missing -D directory from DIR first. */
  readonly template: string | undefined
  readonly boot: boolean
  /** The command to run, or with --boot the arguments for the tree's init. */
  readonly args: readonly string[]
  /** 32 lower-case hex digits, when --uuid was given. */
  readonly uuid: string | undefined
  readonly hostname: string | undefined
  readonly binds: readonly BindMount[]
  /** NAME=VALUE, in the order given. */
  readonly setenv: readonly string[]
  /** undefined: chosen from the terminal (see resolveConsoleMode). */
  readonly console: ConsoleMode | undefined
  readonly register: boolean
  readonly keepUnit: boolean
  readonly privateNetwork: boolean
  /** A veth pair: ve-NAME on the host, host0 inside (implies privateNetwork, as in nspawn). */
  readonly networkVeth: boolean
  readonly quiet: boolean
}

export type ParsedCommandLine =
  | { readonly kind: 'run'; readonly options: SpawnOptions }
  | { readonly kind: 'help' }
  | { readonly kind: 'version' }

/** Bad input on the command line; the message is one line, as nspawn prints it. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

export const HELP = `machined-spawn [OPTIONS...] -D DIR [COMMAND [ARGS...]]
machined-spawn [OPTIONS...] -M NAME [-b] [ARGS...]
machined-spawn [OPTIONS...] -i IMAGE [-b] [ARGS...]

Run a command or boot an OS tree in a container, registered with machined.

  -h --help                 Show this help
     --version              Print the version
  -q --quiet                Do not print status messages
  -D --directory=PATH       Root directory of the container
  -i --image=PATH           Raw disk image (or block device) to mount as the root
  -M --machine=NAME         Machine name (default: the directory's or image's
                            name); without -D and -i, run the image NAME of the
                            machine pool (/var/lib/machines and the rest of
                            the search path), as systemd-nspawn does
  -x --ephemeral            Run on a throw-away copy-on-write layer over the
                            tree (an overlay on a tmpfs), gone when it ends
     --read-only            Mount the root file system read-only
     --template=PATH        Populate a missing -D directory from this tree
  -b --boot                 Boot the tree's init (systemd) as PID 1
     --uuid=UUID            Machine UUID, when the tree has no /etc/machine-id
     --hostname=NAME        Hostname inside (default: the machine name)
     --bind=SRC[:DST[:rbind|norbind]]
                            Bind-mount a host path into the container
     --bind-ro=SRC[:DST[:rbind|norbind]]
                            The same, read-only
     --setenv=NAME[=VALUE]  Set an environment variable for PID 1
     --console=MODE         interactive, read-only, passive or pipe
  -P --pipe                 Equivalent to --console=pipe
     --private-network      Only a loopback device in the container
  -n --network-veth         A virtual Ethernet link: ve-NAME on the host, host0
                            inside (implies --private-network)
     --register=BOOL        Register the container with machined (default yes)
     --keep-unit            Stay in the cgroup we were started in
`

type Flag = 'boot' | 'quiet' | 'keepUnit' | 'privateNetwork' | 'networkVeth' | 'help' | 'version' | 'pipe' | 'ephemeral' | 'readOnly'
type Valued = 'directory' | 'image' | 'machine' | 'uuid' | 'hostname' | 'bind' | 'bindRo' | 'setenv' | 'console' | 'register' | 'template'

const LONG_FLAGS: Readonly<Record<string, Flag>> = {
  boot: 'boot', quiet: 'quiet', 'keep-unit': 'keepUnit', 'private-network': 'privateNetwork', 'network-veth': 'networkVeth',
  help: 'help', version: 'version', pipe: 'pipe', ephemeral: 'ephemeral', 'read-only': 'readOnly',
}
const LONG_VALUED: Readonly<Record<string, Valued>> = {
  directory: 'directory', image: 'image', machine: 'machine', uuid: 'uuid', hostname: 'hostname', bind: 'bind', 'bind-ro': 'bindRo',
  setenv: 'setenv', console: 'console', register: 'register', template: 'template',
}
const SHORT_FLAGS: Readonly<Record<string, Flag>> = { b: 'boot', q: 'quiet', h: 'help', P: 'pipe', n: 'networkVeth', x: 'ephemeral' }
const SHORT_VALUED: Readonly<Record<string, Valued>> = { D: 'directory', M: 'machine', i: 'image' }

/** systemd's parse_boolean(). */
export function parseBoolean(s: string): boolean | undefined {
  if (['1', 'yes', 'y', 'true', 't', 'on'].includes(s.toLowerCase())) return true
  if (['0', 'no', 'n', 'false', 'f', 'off'].includes(s.toLowerCase())) return false
  return undefined
}

/** Splits the command line into options (in order) and the payload's words, stopping at the first non-option as nspawn does. */
function tokenize(argv: readonly string[]): { flags: Set<Flag>; values: [Valued, string][]; rest: string[] } {
  const flags = new Set<Flag>()
  const values: [Valued, string][] = []
  let i = 0
  const takeValue = (name: string, inline: string | undefined): string => {
    if (inline !== undefined) return inline
    if (i + 1 >= argv.length) throw new UsageError(`Option '${name}' needs an argument.`)
    return argv[++i]!
  }
  for (; i < argv.length; i++) {
    const a = argv[i]!
    if (a === '--') { i++; break }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=')
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq)
      const inline = eq < 0 ? undefined : a.slice(eq + 1)
      const flag = Object.hasOwn(LONG_FLAGS, name) ? LONG_FLAGS[name] : undefined
      const valued = Object.hasOwn(LONG_VALUED, name) ? LONG_VALUED[name] : undefined
      if (flag !== undefined) {
        if (inline !== undefined) throw new UsageError(`Option '--${name}' takes no argument.`)
        flags.add(flag)
      } else if (valued !== undefined) {
        values.push([valued, takeValue(`--${name}`, inline)])
      } else {
        throw new UsageError(`Unknown option '${a}'.`)
      }
      continue
    }
    if (a.startsWith('-') && a.length > 1) {
      // Clustered short options (-bq), a value either attached (-Dtree) or next.
      for (let j = 1; j < a.length; j++) {
        const c = a[j]!
        const flag = Object.hasOwn(SHORT_FLAGS, c) ? SHORT_FLAGS[c] : undefined
        const valued = Object.hasOwn(SHORT_VALUED, c) ? SHORT_VALUED[c] : undefined
        if (flag !== undefined) { flags.add(flag); continue }
        if (valued === undefined) throw new UsageError(`Unknown option '-${c}'.`)
        values.push([valued, takeValue(`-${c}`, j + 1 < a.length ? a.slice(j + 1) : undefined)])
        break
      }
      continue
    }
    break
  }
  return { flags, values, rest: argv.slice(i) }
}

function isAbsolutePath(p: string): boolean {
  return p.startsWith('/') && !p.includes('\0')
}

/** nspawn's bind_mount_parse(): SRC[:DST[:OPTIONS]], DST defaulting to SRC. */
export function parseBind(spec: string, readOnly: boolean): BindMount {
  const [source = '', destination = source, options = '', ...extra] = spec.split(':')
  const what = readOnly ? '--bind-ro=' : '--bind='
  if (extra.length > 0 || !isAbsolutePath(source) || !isAbsolutePath(destination)) {
    throw new UsageError(`Invalid ${what}${spec}: expected absolute SRC[:DST[:rbind|norbind]].`)
  }
  let recursive = true
  for (const word of options.split(',').filter((w) => w !== '')) {
    if (word === 'rbind') recursive = true
    else if (word === 'norbind') recursive = false
    else throw new UsageError(`Invalid bind mount option '${word}' in ${what}${spec}.`)
  }
  return { source, destination, readOnly, recursive }
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

/** --setenv=NAME=VALUE, or NAME alone to pass our own value on (nspawn does the same). */
export function parseSetenv(spec: string, env: Readonly<Record<string, string | undefined>>): string | undefined {
  const eq = spec.indexOf('=')
  const name = eq < 0 ? spec : spec.slice(0, eq)
  if (!ENV_NAME.test(name)) throw new UsageError(`Invalid environment variable assignment: ${spec}`)
  if (eq >= 0) return spec
  const value = env[name]
  return value === undefined ? undefined : `${name}=${value}`
}

/**
 * systemd's hostname_cleanup(): what is left of a directory name once
 * everything a hostname may not hold is dropped, so that `-D /var/lib/machines/my_box`
 * gives "mybox" as nspawn does.
 */
export function cleanupHostname(s: string): string {
  let out = ''
  let dot = true
  let hyphen = true
  for (const c of s) {
    if (c === '.') {
      if (dot || hyphen) continue
      out += c
      dot = true
      hyphen = false
    } else if (c === '-') {
      if (dot) continue
      out += c
      dot = false
      hyphen = true
    } else if (/^[A-Za-z0-9]$/.test(c)) {
      out += c
      dot = false
      hyphen = false
    }
  }
  out = out.slice(0, HOST_NAME_MAX)
  while (out.endsWith('.') || out.endsWith('-')) out = out.slice(0, -1)
  return out
}

function basenameOf(path: string): string {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.')
  return parts[parts.length - 1] ?? ''
}

/** An absolute-or-relative path option: not empty, no NUL. */
function pathValue(option: string, value: string): string {
  if (value === '' || value.includes('\0')) throw new UsageError(`Invalid --${option}=: empty path.`)
  return value
}

/** Room left in a hostname for nspawn's ephemeral suffix ("-" and 16 hex digits). */
const EPHEMERAL_SUFFIX_LENGTH = 17

/**
 * nspawn's determine_names() for the parts that need no file system: the
 * machine name from -M, else from the directory or the image file (".raw"
 * dropped), cleaned up as a hostname; an ephemeral machine named that way
 * gets a random suffix, so that many can run from one tree at once.
 */
function machineName(given: string | undefined, directory: string | undefined, image: string | undefined, ephemeral: boolean, random: () => string): string {
  if (given !== undefined) return given
  const base = directory !== undefined ? basenameOf(directory) : basenameOf(image ?? '').replace(/\.raw$/, '')
  let name = cleanupHostname(base)
  if (!hostnameIsValid(name)) throw new UsageError('Failed to determine machine name automatically, please use -M.')
  if (ephemeral) name = `${name.slice(0, HOST_NAME_MAX - EPHEMERAL_SUFFIX_LENGTH).replace(/[.-]+$/, '')}-${random()}`
  return name
}

/** nspawn's parse_argv()/verify_arguments() checks on how -D, -i, -M, -x and --template go together. */
function checkRootOptions(directory: string | undefined, image: string | undefined, machine: string | undefined, ephemeral: boolean, template: string | undefined): void {
  if (directory !== undefined && image !== undefined) throw new UsageError('--directory= and --image= may not be combined.')
  if (template !== undefined && image !== undefined) throw new UsageError('--template= and --image= may not be combined.')
  if (template !== undefined && directory === undefined && machine === undefined) throw new UsageError('--template= needs --directory= or --machine=.')
  if (ephemeral && template !== undefined) throw new UsageError('--ephemeral and --template= may not be combined.')
  if (directory === undefined && image === undefined && machine === undefined) {
    throw new UsageError('No container given: use -D/--directory=PATH, -i/--image=PATH, or -M/--machine=NAME for an image of the pool.')
  }
}

/**
 * Parses machined-spawn's arguments. Throws UsageError on anything nspawn
 * would refuse before touching the system. `random` makes an ephemeral
 * machine's name suffix (16 hex digits).
 */
export function parseCommandLine(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}, random: () => string = randomSuffix): ParsedCommandLine {
  const { flags, values, rest } = tokenize(argv)
  if (flags.has('help')) return { kind: 'help' }
  if (flags.has('version')) return { kind: 'version' }

  let directory: string | undefined
  let image: string | undefined
  let template: string | undefined
  let machine: string | undefined
  let uuid: string | undefined
  let hostname: string | undefined
  let console: ConsoleMode | undefined = flags.has('pipe') ? 'pipe' : undefined
  let register = true
  const binds: BindMount[] = []
  const setenv: string[] = []
  for (const [key, value] of values) {
    switch (key) {
      case 'directory':
        directory = pathValue('directory', value)
        break
      case 'image':
        image = pathValue('image', value)
        break
      case 'template':
        template = pathValue('template', value)
        break
      case 'machine':
        if (!hostnameIsValid(value)) throw new UsageError(`Invalid machine name: ${value}`)
        machine = value
        break
      case 'uuid': {
        const id = parseId128(value)
        if (id === undefined) throw new UsageError(`Invalid UUID: ${value}`)
        uuid = id
        break
      }
      case 'hostname':
        if (!hostnameIsValid(value)) throw new UsageError(`Invalid hostname: ${value}`)
        hostname = value
        break
      case 'bind':
      case 'bindRo':
        binds.push(parseBind(value, key === 'bindRo'))
        break
      case 'setenv': {
        const assignment = parseSetenv(value, env)
        if (assignment !== undefined) setenv.push(assignment)
        break
      }
      case 'console':
        if (!(CONSOLE_MODES as readonly string[]).includes(value)) {
          throw new UsageError(`Unknown console mode: ${value} (expected ${CONSOLE_MODES.join(', ')})`)
        }
        console = value as ConsoleMode
        break
      case 'register': {
        const b = parseBoolean(value)
        if (b === undefined) throw new UsageError(`Failed to parse --register= argument: ${value}`)
        register = b
        break
      }
    }
  }
  const ephemeral = flags.has('ephemeral')
  checkRootOptions(directory, image, machine, ephemeral, template)
  // With --template= and -M alone, nspawn makes the machine in the pool rather than looking for an image.
  if (template !== undefined && directory === undefined && machine !== undefined) directory = `/var/lib/machines/${machine}`
  return {
    kind: 'run',
    options: {
      directory, image, template, uuid, hostname, binds, setenv, console, register, ephemeral,
      machine: machineName(machine, directory, image, ephemeral, random),
      readOnly: flags.has('readOnly'),
      boot: flags.has('boot'),
      args: rest,
      keepUnit: flags.has('keepUnit'),
      privateNetwork: flags.has('privateNetwork') || flags.has('networkVeth'),
      networkVeth: flags.has('networkVeth'),
      quiet: flags.has('quiet'),
    },
  }
}

function randomSuffix(): string {
  return randomBytesFromKernel(8).toString('hex')
}

/**
 * The console mode when none was asked for. nspawn picks interactive on a
 * terminal and read-only otherwise; we pick pipe off a terminal as the
 * issue asks, except when booting: pipe mode gives the payload no
 * /dev/console, and an init needs one (nspawn's man page says the same),
 * so a boot off a terminal forwards the console read-only.
 */
export function resolveConsoleMode(requested: ConsoleMode | undefined, boot: boolean, stdinIsTty: boolean): ConsoleMode {
  if (requested !== undefined) return requested
  if (stdinIsTty) return 'interactive'
  return boot ? 'read-only' : 'pipe'
}
