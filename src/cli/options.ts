/**
 * machinectl's command-line options (parse_argv() in machinectl.c), plus
 * our --transport. Options are taken in order, so `--help` or
 * `--signal=list` act as soon as they are reached, as in machinectl, and
 * the errors are machinectl's. Options mctl accepts but has no use for
 * (they belong to verbs it does not have, or to the journal and pager it
 * does not show) are checked the same way and then ignored.
 * @module
 */

import { getoptLong, UsageError, type OptionSpec } from './getopt.ts'
import { JSON_MODES, type JsonMode } from './output/json.ts'
import { parseCInt, signalFromString } from '../protocol/signals.ts'

/** output_mode_table[]: every journal output mode machinectl accepts; only the JSON ones change what mctl prints. */
export const OUTPUT_MODES = [
  'short', 'short-full', 'short-iso', 'short-iso-precise', 'short-precise', 'short-monotonic', 'short-delta', 'short-unix',
  'verbose', 'export', 'json', 'json-pretty', 'json-sse', 'json-seq', 'cat', 'with-unit',
] as const
export type OutputMode = (typeof OUTPUT_MODES)[number]

export const TRANSPORTS = ['auto', 'dbus', 'varlink'] as const
export type Transport = (typeof TRANSPORTS)[number]

export interface CliOptions {
  /** -p: the properties `show` prints (undefined: all). */
  readonly properties: readonly string[] | undefined
  /** -a: `list` includes machines whose name starts with "." (the host). */
  readonly all: boolean
  /** -a or -p: `show` prints empty values too. */
  readonly showEmpty: boolean
  readonly onlyValue: boolean
  readonly full: boolean
  readonly legend: boolean
  readonly killWhom: string | undefined
  readonly signal: number
  readonly quiet: boolean
  readonly output: OutputMode
  /** Addresses per machine in `list`: 0 hides the column, Infinity shows all. */
  readonly maxAddresses: number
  readonly transport: Transport
  /** --force: copies replace files in the way; imports and pulls replace an image of the same name. */
  readonly force: boolean
  /** --verify=: how pulls are checked (default signature). */
  readonly verify: 'no' | 'checksum' | 'signature'
  /** --format=: how exports are compressed (undefined: from the file name, as machinectl decides). */
  readonly format: string | undefined
  /** --read-only, --mkdir: for bind. */
  readonly readOnly: boolean
  readonly mkdir: boolean
  /** --uid: the user `shell` runs as when NAME has no user@. */
  readonly uid: string | undefined
  /** -E/--setenv: KEY=VALUE for `shell`, each name once, the last given winning. */
  readonly setenv: readonly string[]
  /**
   * --fleet=URL,…: `list` and `status` read every host's machines from etcd
   * (without it, $MACHINED_FLEET_ETCD does the same; '' turns both off).
   */
  readonly fleet: string | undefined
  /** --fleet-etcd-ca/-cert/-key/-user/-password-file (else $MACHINED_FLEET_ETCD_*). */
  readonly fleetEtcd: FleetEtcdFiles
  /** -H/--host: with the fleet, the one host to look at (hostname or machine ID). */
  readonly host: string | undefined
}

export interface FleetEtcdFiles {
  readonly ca?: string
  readonly cert?: string
  readonly key?: string
  readonly user?: string
  readonly passwordFile?: string
}

/** The fleet `list` and `status` read: --fleet, else $MACHINED_FLEET_ETCD; undefined for the local machined. */
export function fleetEndpoints(options: CliOptions, env: NodeJS.ProcessEnv): string | undefined {
  const endpoints = options.fleet ?? env.MACHINED_FLEET_ETCD
  return endpoints === undefined || endpoints === '' ? undefined : endpoints
}

export type ParseResult =
  | { readonly kind: 'run'; readonly options: CliOptions; readonly words: readonly string[] }
  /** Done already (help, version, a listing, an error): print this and exit. */
  | { readonly kind: 'exit'; readonly code: number; readonly stdout: string; readonly stderr: string }

export function isJsonMode(mode: OutputMode): mode is JsonMode {
  return (JSON_MODES as readonly string[]).includes(mode)
}

const o = (key: string, long: string | undefined, short: string | undefined, hasArg: boolean): OptionSpec =>
  ({ key, hasArg, ...(long === undefined ? {} : { long }), ...(short === undefined ? {} : { short }) })

/** In machinectl's order, which decides which name an ambiguous prefix lists first. */
const SPECS: readonly OptionSpec[] = [
  o('help', 'help', 'h', false), o('version', 'version', undefined, false), o('property', 'property', 'p', true),
  o('all', 'all', 'a', false), o('value', 'value', undefined, false), o('full', 'full', 'l', false),
  o('no-pager', 'no-pager', undefined, false), o('no-legend', 'no-legend', undefined, false),
  o('kill-whom', 'kill-whom', undefined, true), o('signal', 'signal', 's', true), o('host', 'host', 'H', true),
  o('machine', 'machine', 'M', true), o('read-only', 'read-only', undefined, false), o('mkdir', 'mkdir', undefined, false),
  o('quiet', 'quiet', 'q', false), o('lines', 'lines', 'n', true), o('output', 'output', 'o', true),
  o('no-ask-password', 'no-ask-password', undefined, false), o('verify', 'verify', undefined, true),
  o('force', 'force', undefined, false), o('format', 'format', undefined, true), o('uid', 'uid', undefined, true),
  o('setenv', 'setenv', 'E', true), o('max-addresses', 'max-addresses', undefined, true),
  o('transport', 'transport', undefined, true),
  o('fleet', 'fleet', undefined, true), o('fleet-etcd-ca', 'fleet-etcd-ca', undefined, true),
  o('fleet-etcd-cert', 'fleet-etcd-cert', undefined, true), o('fleet-etcd-key', 'fleet-etcd-key', undefined, true),
  o('fleet-etcd-user', 'fleet-etcd-user', undefined, true), o('fleet-etcd-password-file', 'fleet-etcd-password-file', undefined, true),
]

/** safe_atou(): like safe_atoi() (so "0x10" is 16), but never negative. */
function parseUnsigned(s: string): number | undefined {
  if (/^[ \t\n\r]*-/.test(s)) return undefined
  return parseCInt(s)
}

export interface Actions {
  help(): string
  version(): string
  /** The `--signal=list` table. */
  signalTable(): string
  signalNames(): string
}

/** env_name_is_valid() */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

/**
 * strv_env_replace_strdup_passthrough(): VAR=VALUE replaces an earlier
 * VAR; a bare VAR takes its value from our environment (empty if unset).
 * undefined for a bad name.
 */
function setenvWith(list: readonly string[], arg: string, env: NodeJS.ProcessEnv): string[] | undefined {
  const eq = arg.indexOf('=')
  const name = eq < 0 ? arg : arg.slice(0, eq)
  if (!ENV_NAME.test(name)) return undefined
  const assignment = eq < 0 ? `${name}=${env[name] ?? ''}` : arg
  return [...list.filter((e) => !e.startsWith(`${name}=`)), assignment]
}

/**
 * machinectl's getopt quirk: after the verb `shell` and the machine name,
 * the rest is the command line to run, options included.
 */
const shellCommandFollows = (words: readonly string[]): boolean => words[0] === 'shell' && words.length >= 2

export function parseArguments(argv: readonly string[], program: string, actions: Actions, env: NodeJS.ProcessEnv = process.env): ParseResult {
  let properties: string[] | undefined
  let all = false
  let showEmpty = false
  let onlyValue = false
  let full = false
  let legend = true
  let killWhom: string | undefined
  let signal = 15
  let quiet = false
  let output: OutputMode = 'short'
  let maxAddresses = 1
  let transport: Transport = 'auto'
  let remote: string | undefined
  let force = false
  let verify: CliOptions['verify'] = 'signature'
  let format: string | undefined
  let readOnly = false
  let mkdir = false
  let uid: string | undefined
  let setenv: string[] = []
  let fleet: string | undefined
  let host: string | undefined
  const fleetEtcd: { -readonly [K in keyof FleetEtcdFiles]: string } = {}
  const words: string[] = []
  const done = (stdout: string): ParseResult => ({ kind: 'exit', code: 0, stdout, stderr: '' })
  const fail = (message: string): ParseResult => ({ kind: 'exit', code: 1, stdout: '', stderr: `${message}\n` })

  try {
    for (const { key, value } of getoptLong(argv, SPECS, program, shellCommandFollows)) {
      const v = value ?? ''
      switch (key) {
        case undefined: words.push(v); break
        case 'help': return done(actions.help())
        case 'version': return done(actions.version())
        case 'property':
          // Unlike machinectl 252 (which takes "-p A,B" as one odd name), a list is split, as systemctl does.
          properties = [...(properties ?? []), ...v.split(',').filter((p) => p !== '')]
          showEmpty = true // a property asked for by name is shown even when empty
          break
        case 'all': showEmpty = true; all = true; break
        case 'value': onlyValue = true; break
        case 'full': full = true; break
        case 'no-pager': break // mctl never pages
        case 'no-legend': legend = false; break
        case 'kill-whom': killWhom = v; break
        case 'signal': {
          if (v === 'help') return done(actions.signalNames())
          if (v === 'list') return done(actions.signalTable())
          const n = signalFromString(v)
          if (n === undefined) return fail(`Failed to parse signal string "${v}".`)
          signal = n
          break
        }
        case 'host': host = v; break
        case 'machine': remote = key; break
        case 'read-only': readOnly = true; break
        case 'mkdir': mkdir = true; break
        case 'force': force = true; break
        case 'no-ask-password': break
        case 'uid': uid = v; break
        case 'setenv': {
          const next = setenvWith(setenv, v, env)
          if (next === undefined) return fail(`Cannot assign environment variable ${v}: Invalid argument`)
          setenv = next
          break
        }
        case 'quiet': quiet = true; break
        case 'lines':
          if (parseUnsigned(v) === undefined) return fail(`Failed to parse lines '${v}'`)
          break
        case 'output':
          if (v === 'help') return done(`${OUTPUT_MODES.join('\n')}\n`)
          if (!(OUTPUT_MODES as readonly string[]).includes(v)) return fail(`Unknown output '${v}'.`)
          output = v as OutputMode
          if (isJsonMode(output)) legend = false
          break
        case 'verify':
          if (v === 'help') return done('no\nchecksum\nsignature\n')
          if (v !== 'no' && v !== 'checksum' && v !== 'signature') return fail(`Failed to parse --verify= setting: ${v}`)
          verify = v
          break
        case 'format':
          // zstd is ours: machinectl 252 knows the other four.
          if (!['uncompressed', 'xz', 'gzip', 'bzip2', 'zstd'].includes(v)) return fail(`Unknown format: ${v}`)
          format = v
          break
        case 'max-addresses': {
          const n = v === 'all' ? Infinity : parseUnsigned(v)
          if (n === undefined) return fail(`Invalid number of addresses: ${v}`)
          maxAddresses = n
          break
        }
        case 'transport':
          if (!(TRANSPORTS as readonly string[]).includes(v)) return fail(`Unknown transport '${v}' (auto, dbus or varlink).`)
          transport = v as Transport
          break
        case 'fleet': fleet = v; break
        case 'fleet-etcd-ca': fleetEtcd.ca = v; break
        case 'fleet-etcd-cert': fleetEtcd.cert = v; break
        case 'fleet-etcd-key': fleetEtcd.key = v; break
        case 'fleet-etcd-user': fleetEtcd.user = v; break
        case 'fleet-etcd-password-file': fleetEtcd.passwordFile = v; break
        default: throw new Error(`option table and switch disagree on ${key}`)
      }
    }
  } catch (err) {
    if (err instanceof UsageError) return fail(err.message)
    throw err
  }
  // machinectl reaches other hosts and containers over its bus transports; mctl talks to the local machined,
  // or reads the fleet, where --host picks a host.
  const options: CliOptions = {
    properties, all, showEmpty, onlyValue, full, legend, killWhom, signal, quiet, output, maxAddresses, transport, force, verify, format, readOnly, mkdir, uid, setenv,
    fleet, fleetEtcd, host,
  }
  if (remote !== undefined) return fail(`--${remote}= is not supported by ${program}: it talks to the local machined only.`)
  if (host !== undefined && fleetEndpoints(options, env) === undefined) return fail(`--host= is for the fleet (--fleet=): ${program} talks to the local machined only otherwise.`)
  return { kind: 'run', words, options }
}
