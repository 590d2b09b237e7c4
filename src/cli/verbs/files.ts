/**
 * `copy-to`, `copy-from` and `bind` (copy_files() and bind_mount() of
 * machinectl.c): relative host paths are made absolute against the working
 * directory, a missing destination is the source's path, and failures are
 * machinectl's lines ("Failed to copy: …", "Failed to bind mount: …").
 * A copy that takes longer than a moment shows a progress bar on stderr
 * when stderr is a terminal.
 * @module
 */

import type { MachinedClient } from '../../client/types.ts'
import { CliError, describeError } from '../errors.ts'
import { guestPath, treeSize } from '../host/tree-size.ts'
import { formatProgress } from '../progress.ts'
import type { VerbContext } from '../verb.ts'

/** Copies shorter than this print no bar at all. */
const PROGRESS_DELAY_MS = 500
const PROGRESS_TICK_MS = 250

/**
 * The error's text; Varlink names a bad path parameter only, so it is
 * worded as the D-Bus reply words it (`suffix`: "" for copies, " and
 * normalized" for bind).
 */
function describe(err: unknown, suffix: string): string {
  const bad = err as { code?: unknown; parameter?: unknown }
  if (bad.code === 'INVALID_ARGS' && (bad.parameter === 'source' || bad.parameter === 'destination')) {
    return `${bad.parameter === 'source' ? 'Source' : 'Destination'} path must be absolute${suffix}.`
  }
  return describeError(err)
}

/** path_make_absolute_cwd(): joined, not normalised. */
function absolute(path: string): string {
  if (path.startsWith('/')) return path
  const cwd = process.cwd()
  return `${cwd === '/' ? '' : cwd}/${path}`
}

interface Sides {
  readonly name: string
  readonly copyFrom: boolean
  readonly hostPath: string
  readonly containerPath: string
}

/**
 * Draws the bar until stopped; sizes are looked at from outside
 * (../host/tree-size.ts). The leader is asked for before the copy starts:
 * a Varlink connection answers one call at a time.
 */
async function startProgress(ctx: VerbContext, client: MachinedClient, sides: Sides): Promise<() => void> {
  const columns = ctx.io.errTerminalColumns
  if (columns === undefined || ctx.options.quiet) return () => undefined
  const leader = await client.get(sides.name).then((m) => m.leader, () => undefined)
  const started = Date.now()
  let drawn = false
  let stopped = false
  let timer: NodeJS.Timeout | undefined
  const tick = async (total: number | undefined, guest: string | undefined): Promise<void> => {
    const destination = sides.copyFrom ? sides.hostPath : guest
    const done = destination === undefined ? 0 : (await treeSize(destination)) ?? 0
    if (stopped) return
    ctx.io.err(`\r${formatProgress('Copying', done, total, Date.now() - started, columns - 1)}\x1b[K`)
    drawn = true
    timer = setTimeout(() => { void tick(total, guest) }, PROGRESS_TICK_MS)
  }
  timer = setTimeout(() => {
    void (async () => {
      const guest = leader === undefined ? undefined : await guestPath(leader, sides.containerPath)
      const source = sides.copyFrom ? guest : sides.hostPath
      const total = source === undefined ? undefined : await treeSize(source)
      if (!stopped) await tick(total, guest)
    })()
  }, PROGRESS_DELAY_MS)
  return () => {
    stopped = true
    clearTimeout(timer)
    if (drawn) ctx.io.err('\r\x1b[K')
  }
}

export async function copyFiles(ctx: VerbContext): Promise<number> {
  const [verb, name, source, dest] = ctx.args as [string, string, string, string | undefined]
  const copyFrom = verb === 'copy-from'
  const destination = dest ?? source
  const hostPath = absolute(copyFrom ? destination : source)
  const containerPath = copyFrom ? source : destination
  const client = await ctx.connect()
  const stop = await startProgress(ctx, client, { name, copyFrom, hostPath, containerPath })
  try {
    const options = { destination: copyFrom ? hostPath : containerPath, replace: ctx.options.force }
    if (copyFrom) await client.copyFrom(name, containerPath, options)
    else await client.copyTo(name, hostPath, options)
  } catch (err) {
    throw new CliError(`Failed to copy: ${describe(err, '')}`)
  } finally {
    stop()
  }
  return 0
}

export async function bindMount(ctx: VerbContext): Promise<number> {
  const [, name, source, destination] = ctx.args as [string, string, string, string | undefined]
  const client = await ctx.connect()
  try {
    await client.bind(name, source, { destination: destination ?? '', readOnly: ctx.options.readOnly, mkdir: ctx.options.mkdir })
  } catch (err) {
    throw new CliError(`Failed to bind mount: ${describe(err, ' and normalized')}`)
  }
  return 0
}
