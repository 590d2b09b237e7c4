/**
 * `mctl list` (or a bare `mctl`) without options, answered from a small
 * bundle of its own (dist/cli/mctl-list.bundle.cjs) when io.systemd.Machine
 * answers it: the commonest call, and the one issue 16 times against
 * `node -e 0`. It is the list verb's own code (the same option parsing,
 * List call, rows and table), without the other verbs, the D-Bus client
 * and their share of mctl's code cache, which took about 3 ms of each
 * start to read and deserialise. Where it cannot answer (no Varlink
 * socket, a machined that cannot list over Varlink, any error, a fleet to
 * list), it returns undefined having printed nothing, and bin/mctl.js runs
 * all of mctl, which answers, or says why not, as always.
 * @module
 */

import { existsSync } from 'node:fs'
import { VarlinkConnection } from '../client/varlink-connection.ts'
import { listEntryOf, listRecords } from '../client/varlink-list.ts'
import { endpointsFrom } from './endpoints.ts'
import type { Io } from './io.ts'
import { fleetEndpoints, parseArguments } from './options.ts'
import { rowsOf, showMachines } from './verbs/list.ts'

const unused = (): string => ''

/** The exit code, once the list is printed; undefined when all of mctl must run instead. */
export async function quickList(argv: readonly string[], io: Io): Promise<number | undefined> {
  const parsed = parseArguments(argv, 'mctl', { help: unused, version: unused, signalTable: unused, signalNames: unused }, io.env)
  if (parsed.kind !== 'run' || parsed.words.length > 1 || (parsed.words[0] ?? 'list') !== 'list') return undefined
  const { options } = parsed
  if (options.transport === 'dbus' || fleetEndpoints(options, io.env) !== undefined) return undefined
  const { varlinkSocket } = endpointsFrom(io.env)
  if (!existsSync(varlinkSocket)) return undefined
  let conn: VarlinkConnection | undefined
  try {
    // The client's own connection and List, without the rest of the client (VarlinkMachinedClient.listWithMetadata()).
    conn = await VarlinkConnection.connect(varlinkSocket)
    const entries = (await listRecords(conn, {}, true)).map(listEntryOf)
    showMachines(rowsOf(entries, options), options, io)
    return 0
  } catch {
    return undefined
  } finally {
    conn?.close()
  }
}
