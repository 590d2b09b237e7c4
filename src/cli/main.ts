/**
 * mctl: machinectl's machine verbs for machined-ts (or systemd-machined),
 * also where systemd is not PID 1. As in machinectl.c: parse the options,
 * find the verb in the table (argument counts include the verb itself),
 * connect, dispatch, turn the result into the exit code. Each verb's module
 * is loaded only when it runs, to keep start-up short.
 * @module
 */

import { basename } from 'node:path'
import type { MachinedClient } from '../client/types.ts'
import { CliError } from './errors.ts'
import { helpText } from './help.ts'
import { versionText } from './version.ts'
import { processIo, type Io } from './io.ts'
import { parseArguments } from './options.ts'
import { Table } from './output/table.ts'
import { signalList, signalNames } from '../protocol/signals.ts'
import type { VerbContext, VerbHandler } from './verb.ts'

/** VERB_ANY: no upper bound on the words a verb takes. */
const ANY = Infinity

interface Verb {
  readonly name: string
  /** Words at least and at most, the verb included (machinectl's min_args/max_args; 0 for VERB_ANY). */
  readonly min: number
  readonly max: number
  readonly isDefault?: boolean
  /**
   * With --transport=auto, io.systemd.Machine first when its socket is
   * there: the verb gets all it needs in one Varlink call, where D-Bus
   * takes the bus handshake and calls per machine.
   */
  readonly varlinkFirst?: boolean
  readonly load: () => Promise<VerbHandler>
}

const show = async (): Promise<VerbHandler> => (await import('./verbs/show.ts')).showMachine
const kill = (): Promise<typeof import('./verbs/kill.ts')> => import('./verbs/kill.ts')
const files = (): Promise<typeof import('./verbs/files.ts')> => import('./verbs/files.ts')
const images = (): Promise<typeof import('./verbs/images.ts')> => import('./verbs/images.ts')
const showImage = async (): Promise<VerbHandler> => (await import('./verbs/image-status.ts')).showImage
const transfers = (): Promise<typeof import('./verbs/transfers.ts')> => import('./verbs/transfers.ts')

/** machinectl's verb table, for the verbs mctl has. */
const VERBS: readonly Verb[] = [
  { name: 'help', min: 0, max: ANY, load: async () => async (ctx) => { ctx.io.out(helpText(program)); return 0 } },
  { name: 'list', min: 0, max: 1, isDefault: true, varlinkFirst: true, load: async () => (await import('./verbs/list.ts')).listMachines },
  { name: 'status', min: 2, max: ANY, load: show },
  { name: 'show', min: 0, max: ANY, load: show },
  { name: 'start', min: 2, max: ANY, load: async () => (await import('./verbs/services.ts')).startMachines },
  { name: 'enable', min: 2, max: ANY, load: async () => (await import('./verbs/services.ts')).enableMachines },
  { name: 'disable', min: 2, max: ANY, load: async () => (await import('./verbs/services.ts')).enableMachines },
  { name: 'terminate', min: 2, max: ANY, load: async () => (await kill()).terminateMachine },
  { name: 'reboot', min: 2, max: ANY, load: async () => (await kill()).rebootMachine },
  { name: 'poweroff', min: 2, max: ANY, load: async () => (await kill()).poweroffMachine },
  { name: 'stop', min: 2, max: ANY, load: async () => (await kill()).poweroffMachine }, // machinectl's alias
  { name: 'kill', min: 2, max: ANY, load: async () => (await kill()).killMachine },
  { name: 'login', min: 0, max: 2, load: async () => (await import('./verbs/shell.ts')).loginMachine },
  { name: 'shell', min: 0, max: ANY, load: async () => (await import('./verbs/shell.ts')).shellMachine },
  { name: 'bind', min: 3, max: 4, load: async () => (await files()).bindMount },
  { name: 'copy-to', min: 3, max: 4, load: async () => (await files()).copyFiles },
  { name: 'copy-from', min: 3, max: 4, load: async () => (await files()).copyFiles },
  { name: 'list-images', min: 0, max: 1, load: async () => (await images()).listImages },
  { name: 'image-status', min: 0, max: ANY, load: showImage },
  { name: 'show-image', min: 0, max: ANY, load: showImage },
  { name: 'remove', min: 2, max: ANY, load: async () => (await images()).removeImages },
  { name: 'rename', min: 3, max: 3, load: async () => (await images()).renameImage },
  { name: 'clone', min: 3, max: 3, load: async () => (await images()).cloneImage },
  { name: 'read-only', min: 2, max: 3, load: async () => (await images()).markReadOnly },
  { name: 'set-limit', min: 2, max: 3, load: async () => (await images()).setLimit },
  { name: 'clean', min: 0, max: 1, load: async () => (await images()).cleanImages },
  { name: 'import-tar', min: 2, max: 3, load: async () => (await transfers()).importFile },
  { name: 'import-raw', min: 2, max: 3, load: async () => (await transfers()).importFile },
  { name: 'import-fs', min: 2, max: 3, load: async () => (await transfers()).importDirectory },
  { name: 'export-tar', min: 2, max: 3, load: async () => (await transfers()).exportImage },
  { name: 'export-raw', min: 2, max: 3, load: async () => (await transfers()).exportImage },
  { name: 'pull-tar', min: 2, max: 3, load: async () => (await transfers()).pullImage },
  { name: 'pull-raw', min: 2, max: 3, load: async () => (await transfers()).pullImage },
  { name: 'list-transfers', min: 0, max: 1, load: async () => (await transfers()).listTransfers },
  { name: 'cancel-transfer', min: 2, max: ANY, load: async () => (await transfers()).cancelTransfers },
]

/** How we were called, for glibc-style messages ("mctl: invalid option -- 'x'"), as program_invocation_short_name. */
let program = 'mctl'

/** `--signal=list`: parse_signal_argument()'s table of numbers and names. */
function signalTable(): string {
  const table = new Table(['signal', 'name'])
  for (const row of signalList()) table.addRow(row)
  return table.format({ header: true, ersatz: '', width: 'auto', terminalColumns: undefined })
}

/** dispatch_verb(): the verb's handler, or the usage error machinectl prints. */
function findVerb(words: readonly string[]): { verb: Verb; args: readonly string[] } {
  const name = words[0]
  const verb = name === undefined ? VERBS.find((v) => v.isDefault === true) : VERBS.find((v) => v.name === name)
  if (verb === undefined) {
    throw new CliError(name === undefined ? 'Command verb required.' : `Unknown command verb ${name}.`)
  }
  const left = name === undefined ? 1 : words.length
  if (left < verb.min) throw new CliError('Too few arguments.')
  if (left > verb.max) throw new CliError('Too many arguments.')
  return { verb, args: name === undefined ? [verb.name] : words }
}

/** mctl as a process (bin/mctl.js): main() on the process's stdio, then wait until all it wrote is written. */
export async function runMctl(argv: readonly string[]): Promise<number> {
  const io = processIo()
  const code = await main(argv, io)
  await io.drained()
  return code
}

export async function main(argv: readonly string[], io: Io = processIo(), argv0 = process.argv[1]): Promise<number> {
  if (argv0 !== undefined) program = basename(argv0).replace(/\.js$/, '')
  const parsed = parseArguments(argv, program, {
    help: () => helpText(program),
    version: () => versionText(program),
    signalTable,
    signalNames,
  }, io.env)
  if (parsed.kind === 'exit') {
    io.out(parsed.stdout)
    io.err(parsed.stderr)
    return parsed.code
  }
  let client: Promise<MachinedClient> | undefined
  let dbusClient: Promise<MachinedClient> | undefined
  try {
    const { verb, args } = findVerb(parsed.words)
    // $MACHINED_FLEET_ETCD changes list and status only; --fleet= asks for the fleet explicitly.
    if (parsed.options.fleet !== undefined && parsed.options.fleet !== '' && verb.name !== 'list' && verb.name !== 'status') {
      throw new CliError(`--fleet= works with list and status only.`)
    }
    const handler = await verb.load()
    const ctx: VerbContext = {
      args, options: parsed.options, io,
      connect: async (over) => {
        const { endpointsFrom, openClient } = await import('./connection.ts')
        if (over === 'dbus') {
          dbusClient ??= openClient('dbus', endpointsFrom(io.env))
          return dbusClient
        }
        client ??= openClient(parsed.options.transport, endpointsFrom(io.env), { varlinkFirst: verb.varlinkFirst === true })
        return client
      },
    }
    return await handler(ctx)
  } catch (err) {
    if (err instanceof CliError) {
      io.err(`${err.message}\n`)
      return err.exitCode
    }
    io.err(`${program}: ${err instanceof Error ? err.message : String(err)}\n`)
    return 1
  } finally {
    for (const opened of [client, dbusClient]) if (opened !== undefined) (await opened.catch(() => undefined))?.close()
  }
}
