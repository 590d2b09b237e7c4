/**
 * The world the transfer tests run in: a Sandbox over an empty pool of its
 * own (bind-mounted over /var/lib/machines), the files to transfer, and
 * the HTTP server pulls download from; stop() removes all of it.
 */

import { mkdtempSync } from 'node:fs'
import { busctl } from './busctl.ts'
import { removePool } from './image-pool.ts'
import { Sandbox, type SandboxOptions } from './sandbox.ts'
import { makeTransferFiles, startFileServer, type FileServer, type TransferFiles } from './transfer-files.ts'

export const IMPORT_DEST = 'org.freedesktop.import1'
export const IMPORT_PATH = '/org/freedesktop/import1'
export const IMPORT_IFACE = 'org.freedesktop.import1.Manager'

export interface TransferWorld {
  readonly sb: Sandbox
  /** The pool's directory, as this process sees it. */
  readonly pool: string
  readonly files: TransferFiles
  readonly server: FileServer
  stop(): Promise<void>
}

/** `options`: the Sandbox's (its images are this world's pool, with `writable` added). */
export async function transferWorld(options: Omit<SandboxOptions, 'images'> & { writable?: readonly string[] } = {}): Promise<TransferWorld> {
  const pool = mkdtempSync('/var/tmp/machined-ts-pool-')
  const files = makeTransferFiles()
  const server = await startFileServer()
  const { writable, ...rest } = options
  const sb = await Sandbox.start({ ...rest, images: { pool, ...(writable === undefined ? {} : { writable }) } })
  return {
    sb, pool, files, server,
    stop: async () => {
      await sb.stop()
      await server.close()
      files.dispose()
      removePool(pool)
    },
  }
}

/** ListTransfers's rows (id first) as busctl reads them; [] when the call fails. */
export async function transferRows(sb: Sandbox): Promise<[number, string, string, string, number, string][]> {
  const r = await busctl(sb, ['--json=short', 'call', IMPORT_DEST, IMPORT_PATH, IMPORT_IFACE, 'ListTransfers'])
  return r.ok ? (JSON.parse(r.reply) as { data: [[number, string, string, string, number, string][]] }).data[0] : []
}
