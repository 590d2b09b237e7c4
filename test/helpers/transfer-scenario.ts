/**
 * The transfer scenario the golden captures come from: real `machinectl`
 * and `busctl` against an import1 service (systemd-importd 252 when
 * capturing, machined-ts in the test) in a Sandbox over an empty pool.
 * Each step records what a user sees, normalised where two runs must
 * differ: progress lines (their number depends on timing; importd 252
 * never fills Progress in), the HTTP server's port, pipe inode numbers,
 * the order of hash tables. Pulls differ by design (importd 252 keeps a
 * hidden copy of every download; machined-ts does not, docs/compat.md):
 * only their outcome and the lines that say what happened are compared.
 */

import { busctl } from './busctl.ts'
import { openSync, writeFileSync } from 'node:fs'
import { BusConnection, DBusError } from '../../src/wire/dbus/bus.ts'
import { eventually, type ExecResult, type Sandbox } from './sandbox.ts'
import { makeSigningKey, sha256, type FileServer, type TransferFiles } from './transfer-files.ts'
import { IMPORT_DEST, IMPORT_IFACE, IMPORT_PATH, transferRows } from './transfer-world.ts'

export { IMPORT_DEST, IMPORT_IFACE, IMPORT_PATH }

/** Where fdCall() puts the fd in a call's arguments. */
export const FD = Symbol('fd')

export interface Step {
  readonly name: string
  readonly output: string
}

/** Lines whose number and values depend on timing. */
const PROGRESS = /^(Imported \d+%\.|Exported \d+%\.|Got \d+% of .*)$/

export function normaliseTransfer(text: string, port: string): string {
  return text.split('\n').filter((l) => !PROGRESS.test(l)).join('\n')
    .replaceAll(`127.0.0.1:${port}`, '127.0.0.1:PORT')
    .replace(/pipe:\[\d+\]/g, 'pipe:[N]')
}

/** What a pull says that both services say alike: its outcome and these lines, sorted. */
const PULL_LINES = /^(Enqueued transfer job|Pulling '|Transfer aborted\.|SHA256 checksum of|DOWNLOAD INVALID|Signature verification succeeded|Created new local image|Operation completed successfully|Exiting\.|Failed to retrieve (image file|SHA256 checksum)|Image '.*' already exists)/

export class TransferScenario {
  readonly steps: Step[] = []
  readonly #sb: Sandbox
  readonly #files: TransferFiles
  readonly #server: FileServer
  readonly #port: string

  constructor(sb: Sandbox, files: TransferFiles, server: FileServer) {
    this.#sb = sb
    this.#files = files
    this.#server = server
    this.#port = new URL(server.url).port
  }

  #normalise(text: string): string {
    return normaliseTransfer(text, this.#port).replaceAll(this.#files.dir, 'FILES')
  }

  #record(name: string, r: ExecResult): void {
    this.steps.push({ name: this.#normalise(name), output: this.#normalise(`exit ${r.code}\n${r.stdout}--- stderr\n${r.stderr}`) })
  }

  async machinectl(...args: string[]): Promise<void> {
    this.#record(`machinectl ${args.join(' ')}`, await this.#sb.exec(['machinectl', ...args], { timeoutMs: 120_000 }))
  }

  /** A pull, compared by outcome and the lines both services say. */
  async pull(...args: string[]): Promise<void> {
    this.recordPull(`machinectl ${args.join(' ')}`, await this.#sb.exec(['machinectl', ...args], { timeoutMs: 120_000 }))
  }

  recordPull(name: string, r: ExecResult): void {
    const lines = r.stderr.split('\n').filter((l) => PULL_LINES.test(l)).sort()
    this.steps.push({ name: this.#normalise(name), output: this.#normalise(`exit ${r.code}\n${r.stdout}--- stderr\n${lines.join('\n')}`) })
  }

  /** busctl call on import1 (the Manager unless told): the reply, or the error's name and text. */
  async call(method: string, signature: string, args: readonly string[], options: { path?: string; iface?: string } = {}): Promise<void> {
    const r = await busctl(this.#sb, ['call', IMPORT_DEST, options.path ?? IMPORT_PATH, options.iface ?? IMPORT_IFACE, method, ...(signature === '' ? [] : [signature]), ...args])
    const output = r.ok ? `ok ${r.reply}` : `error ${r.errorName ?? '?'}: ${r.errorMessage ?? r.stderr.trim().split('\n').at(-1)}`
    this.steps.push({ name: this.#normalise(`busctl ${method} ${args.join(' ')}`), output: this.#normalise(output) })
  }

  /**
   * A Manager call passing `path` opened as an fd where `args` says FD
   * (busctl 252 cannot pass fds: this is our own D-Bus client, the same
   * against either service).
   */
  async fdCall(method: string, signature: string, args: readonly unknown[], path: string, write = false): Promise<void> {
    const fd = openSync(path, write ? 'w' : 'r')
    const bus = await BusConnection.connect(`unix:path=${this.#sb.hostPath('/run/dbus/system_bus_socket')}`, { watchNameOwners: false, unixFd: true })
    let output: string
    try {
      const reply = await bus.call(IMPORT_DEST, IMPORT_PATH, IMPORT_IFACE, method, signature, args.map((a) => (a === FD ? fd : a)))
      output = `ok ${JSON.stringify(reply)}`
    } catch (err) {
      if (!(err instanceof DBusError)) throw err
      output = `error ${err.type}: ${err.message}`
    } finally {
      // The fd went with the call: the connection closed it once sent.
      bus.close()
    }
    this.steps.push({ name: this.#normalise(`${method} ${args.map((a) => (a === FD ? `fd(${path})` : String(a))).join(' ')}`), output: this.#normalise(output) })
  }

  /** ListTransfers's rows, sorted (importd answers in hash order). */
  async transferRows(): Promise<void> {
    const rows = await transferRows(this.#sb)
    this.steps.push({ name: 'busctl ListTransfers rows', output: this.#normalise(rows.map((row) => row.join(' ')).sort().join('\n')) })
  }

  /** Introspect on `path`, child nodes sorted. */
  async introspect(path: string): Promise<string> {
    const r = await busctl(this.#sb, ['--json=short', 'call', IMPORT_DEST, path, 'org.freedesktop.DBus.Introspectable', 'Introspect'])
    if (!r.ok) throw new Error(`Introspect ${path} failed: ${r.stderr}`)
    const lines = (JSON.parse(r.reply) as { data: [string] }).data[0].split('\n')
    const nodes = lines.filter((l) => l.startsWith(' <node ')).sort()
    return [...lines.filter((l) => !l.startsWith(' <node ') && l !== '</node>' && l !== ''), ...nodes, '</node>', ''].join('\n')
  }

  async recordIntrospection(path: string): Promise<void> {
    this.steps.push({ name: `Introspect ${path}`, output: await this.introspect(path) })
  }

  /** What the pool holds that is not hidden: names, types, modes, and the immutable flag. */
  async pool(): Promise<void> {
    const r = await this.#sb.exec(['sh', '-c', 'cd /var/lib/machines && for f in [!.]*; do [ -e "$f" ] || continue; printf "%s %s %s\\n" "$f" "$(stat -c %F:%a "$f")" "$(lsattr -d "$f" 2>/dev/null | cut -c5)"; done'])
    this.steps.push({ name: 'pool', output: r.stdout })
  }

  /** Runs `args` (machinectl in the background) until it exits; resolves when ListTransfers shows `count` transfers. */
  background(args: readonly string[]): Promise<ExecResult> {
    return this.#sb.exec(['sh', '-c', args.join(' ')], { timeoutMs: 120_000 })
  }

  async waitForTransfers(count: number): Promise<void> {
    await eventually(async () => (await transferRows(this.#sb)).length === count, 20_000, `${count} transfers`)
  }

  record(name: string, r: ExecResult): void {
    this.#record(name, r)
  }

  get files(): TransferFiles {
    return this.#files
  }

  get server(): FileServer {
    return this.#server
  }
}

/** Every step, in order. */
export async function runTransferScenario(s: TransferScenario, sb: Sandbox): Promise<void> {
  const f = s.files
  const url = s.server.url
  await s.recordIntrospection(IMPORT_PATH)
  await s.recordIntrospection(`${IMPORT_PATH}/transfer`)
  await s.machinectl('list-transfers')
  await s.machinectl('list-transfers', '--no-legend')

  // Bad input, each answered before any transfer starts.
  await s.fdCall('ImportTar', 'hsbb', [FD, 'bad name', false, false], f.file('t.tar'))
  await s.fdCall('ImportTar', 'hsbb', [FD, '', false, false], f.file('t.tar'))
  await s.fdCall('ImportTar', 'hsbb', [FD, 'good', false, false], f.tree)
  await s.fdCall('ImportRaw', 'hsbb', [FD, 'good', false, false], '/dev/null')
  await s.fdCall('ImportRaw', 'hsbb', [FD, '.host', false, false], f.file('t.tar'))
  await s.fdCall('ImportFileSystem', 'hsbb', [FD, 'good', false, false], f.file('t.tar'))
  await s.fdCall('ImportFileSystem', 'hsbb', [FD, 'bad/name', false, false], f.tree)
  await s.fdCall('ExportTar', 'shs', ['bad name', FD, ''], f.file('out-none.tar'), true)
  await s.fdCall('ExportTar', 'shs', ['good', FD, ''], f.tree)
  await s.fdCall('ExportRaw', 'shs', ['good', FD, 'xz'], '/dev/null', true)
  await s.call('PullTar', 'sssb', ['ftp://example.com/x.tar', 'x', 'no', 'false'])
  await s.call('PullTar', 'sssb', [`${url}/x.tar`, 'bad name', 'no', 'false'])
  await s.call('PullRaw', 'sssb', [`${url}/x.raw`, 'x', 'maybe', 'false'])
  await s.call('CancelTransfer', 'u', ['0'])
  await s.call('CancelTransfer', 'u', ['77'])
  await s.call('GetAll', 's', [''], { path: `${IMPORT_PATH}/transfer/_9`, iface: 'org.freedesktop.DBus.Properties' })

  // Transfers that wait for input (a FIFO held open for writing too), and a download that stalls.
  sb.execSync(['mkfifo', '/run/fifo1', '/run/fifo2'])
  s.server.serve('/stall/t.tar', 'stall')
  const held1 = s.background(['exec', 'machinectl', 'import-tar', '-', 'held-one', '0<>/run/fifo1'])
  await s.waitForTransfers(1)
  const held2 = s.background(['exec', 'machinectl', 'import-raw', '-', 'h2', '0<>/run/fifo2'])
  await s.waitForTransfers(2)
  const stalled = s.background(['exec', 'machinectl', 'pull-tar', '--verify=no', `${url}/stall/t.tar`, 'stalled'])
  await s.waitForTransfers(3)
  await s.machinectl('list-transfers')
  await s.machinectl('list-transfers', '--no-legend')
  await s.transferRows()
  await s.recordIntrospection(`${IMPORT_PATH}/transfer`)
  await s.recordIntrospection(`${IMPORT_PATH}/transfer/_1`)
  await s.call('GetAll', 's', [''], { path: `${IMPORT_PATH}/transfer/_1`, iface: 'org.freedesktop.DBus.Properties' })
  await s.call('GetAll', 's', ['org.freedesktop.import1.Transfer'], { path: `${IMPORT_PATH}/transfer/_3`, iface: 'org.freedesktop.DBus.Properties' })
  await s.call('Set', 'ssv', ['org.freedesktop.import1.Transfer', 'Progress', 'd', '1'], { path: `${IMPORT_PATH}/transfer/_1`, iface: 'org.freedesktop.DBus.Properties' })
  await s.call('PullTar', 'sssb', [`${url}/stall/t.tar`, 'other', 'no', 'false'])
  await s.machinectl('cancel-transfer', '1')
  await s.call('Cancel', '', [], { path: `${IMPORT_PATH}/transfer/_2`, iface: 'org.freedesktop.import1.Transfer' })
  await s.machinectl('cancel-transfer', '3')
  s.record('held import-tar', await held1)
  s.record('held import-raw', await held2)
  s.recordPull('stalled pull-tar', await stalled)
  await s.waitForTransfers(0)
  await s.machinectl('list-transfers')

  // Imports and exports, and what they leave in the pool.
  for (const args of [
    ['import-tar', f.file('t.tar.gz'), 'a1'], ['import-tar', f.file('t.tar'), 'a1'], ['import-tar', '--force', '--read-only', f.file('t.tar'), 'a1'],
    ['import-tar', f.file('t.tar.xz'), 'a2'], ['import-tar', f.file('t.tar.bz2'), 'a3'], ['import-tar', f.file('t.tar')],
    ['import-raw', f.file('disk.raw.xz'), 'r1'], ['import-raw', f.file('disk.qcow2'), 'r2'], ['import-raw', '--read-only', f.file('disk.raw'), 'r3'],
    ['import-fs', f.tree, 'f1'], ['import-fs', f.tree, 'f1'],
    ['export-tar', 'a1', f.file('out.tar.gz')], ['export-tar', 'a2', f.file('out.tar')], ['export-raw', 'r1', f.file('out.raw.xz')],
    ['export-tar', 'nope', f.file('out2.tar')], ['export-tar', 'r1', f.file('out3.tar')], ['export-raw', 'a1', f.file('out4.raw')],
  ]) await s.machinectl(...args)
  await s.pool()
  for (const [name, list] of [['out.tar.gz', ['tar', '-tzf']], ['out.tar', ['tar', '-tf']]] as const) {
    s.record(`contents of ${name}`, await sb.exec(['sh', '-c', `${list.join(' ')} '${f.file(name)}' | sort`]))
  }
  s.record('out.raw.xz is r1', await sb.exec(['sh', '-c', `xz -dc '${f.file('out.raw.xz')}' | cmp - '${f.file('disk.raw')}' && echo same`]))

  // Pulls from the test's HTTP server: each from a URL of its own (importd 252 caches by URL).
  const tarGz = f.read('t.tar.gz')
  const tar = f.read('t.tar')
  const key = makeSigningKey()
  try {
    // The keyring systemd-pull (and machined-ts) verifies with: the sandbox's /etc is an overlay of its own.
    sb.execSync(['mkdir', '-p', '/etc/systemd'])
    writeFileSync(sb.hostPath('/etc/systemd/import-pubring.gpg'), key.publicKeyring)
    s.server.serve('/a/t.tar.gz', tarGz)
    const sums = Buffer.from(`${sha256(tarGz)} *t.tar.gz\n`)
    for (const dir of ['b', 'd']) {
      s.server.serve(`/${dir}/t.tar.gz`, tarGz)
      s.server.serve(`/${dir}/SHA256SUMS`, sums)
    }
    s.server.serve('/d/SHA256SUMS.gpg', key.sign(sums))
    s.server.serve('/c/t.tar', tar)
    s.server.serve('/c/t.tar.sha256', Buffer.from(`${sha256(tar)}  t.tar\n`))
    s.server.serve('/e/t.tar.gz', tarGz)
    s.server.serve('/e/SHA256SUMS', Buffer.from(`${sha256(tar)} *t.tar.gz\n`))
    s.server.serve('/f/disk.raw.xz', f.read('disk.raw.xz'))
    s.server.serve('/g/disk.qcow2', f.read('disk.qcow2'))
  } finally {
    key.dispose()
  }
  await s.pull('pull-tar', '--verify=no', `${url}/a/t.tar.gz`, 'p1')
  await s.pull('pull-tar', '--verify=checksum', `${url}/b/t.tar.gz`, 'p2')
  await s.pull('pull-tar', '--verify=checksum', `${url}/c/t.tar`, 'p3')
  await s.pull('pull-tar', `${url}/d/t.tar.gz`, 'p4')
  await s.pull('pull-tar', '--verify=checksum', `${url}/e/t.tar.gz`, 'p5')
  await s.pull('pull-tar', '--verify=no', `${url}/nope/t.tar`, 'p6')
  await s.pull('pull-tar', '--verify=no', `${url}/a/t.tar.gz`, 'p1')
  await s.pull('pull-raw', '--verify=no', `${url}/f/disk.raw.xz`, 'p7')
  await s.pull('pull-raw', '--verify=no', `${url}/g/disk.qcow2`)
  await s.pool()
}
