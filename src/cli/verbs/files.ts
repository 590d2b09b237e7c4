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
import { startProgressBar } from '../progress.ts'
import type { VerbContext } from '../verb.ts'

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
 * The bar of a copy; sizes are looked at from outside
 * (../host/tree-size.ts). The leader is asked for before the copy starts:
 * a Varlink connection answers one call at a time.
 */
async function startProgress(ctx: VerbContext, client: MachinedClient, sides: Sides): Promise<() => void> {
  if (ctx.io.errTerminalColumns === undefined || ctx.options.quiet) return () => undefined
  const leader = await client.get(sides.name).then((m) => m.leader, () => undefined)
  let guest: Promise<string | undefined> | undefined
  const guestSide = (): Promise<string | undefined> => (guest ??= leader === undefined ? Promise.resolve(undefined) : guestPath(leader, sides.containerPath))
  return startProgressBar(ctx, 'Copying', {
    total: async () => {
      const source = sides.copyFrom ? await guestSide() : sides.hostPath
      return source === undefined ? undefined : treeSize(source)
    },
    done: async () => {
      const destination = sides.copyFrom ? sides.hostPath : await guestSide()
      return destination === undefined ? 0 : (await treeSize(destination)) ?? 0
    },
  })
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
