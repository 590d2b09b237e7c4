/**
 * What every verb gets: its words (the verb itself first, as machinectl's
 * verbs get argv), the options, where to write, and a connection to
 * machined made on first use.
 * @module
 */

import type { MachinedClient } from '../client/types.ts'
import type { Io } from './io.ts'
import type { CliOptions } from './options.ts'

export interface VerbContext {
  /** The verb as typed, then its arguments. */
  readonly args: readonly string[]
  readonly options: CliOptions
  readonly io: Io
  /** The connection for --transport; with 'dbus', one over D-Bus whatever --transport said (a fallback). */
  connect(over?: 'dbus'): Promise<MachinedClient>
}

/** Resolves to the exit code; throws CliError for a one-line failure. */
export type VerbHandler = (ctx: VerbContext) => Promise<number>
