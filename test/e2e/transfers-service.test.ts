// Transfers as a service of the daemon: the limit on how many run at once
// (--max-transfers; E2BIG past it, as importd's TRANSFERS_MAX), only root
// starting or cancelling them (anyone may list them), the daemon's loop
// answering while transfers run, io.systemd.Import over Varlink, the bus
// policy installed where systemd-container's is missing, and a daemon
// stopped mid-transfer leaving nothing running and, once restarted,
// nothing in the pool.
import assert from 'node:assert/strict'
import { mkdirSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { asUser, busctl } from '../helpers/busctl.ts'
import { eventually, type ExecResult, type Sandbox } from '../helpers/sandbox.ts'
import type { FileServer, TransferFiles } from '../helpers/transfer-files.ts'
import { IMPORT_DEST, IMPORT_IFACE, IMPORT_PATH, transferRows, transferWorld, type TransferWorld } from '../helpers/transfer-world.ts'
import { RawClient, type Frame } from '../helpers/varlink-raw.ts'

void describe('transfers: the service', () => {
  let sb: Sandbox
  let pool: string
  let files: TransferFiles
  let server: FileServer
  const machinectl = (...args: string[]): Promise<ExecResult> => sb.exec(['machinectl', ...args], { timeoutMs: 120_000 })
  const count = async (): Promise<number> => (await transferRows(sb)).length
  /** A transfer that waits for input forever: an import from a FIFO the import itself holds open for writing. */
  const hold = (name: string): Promise<ExecResult> => {
    sb.execSync(['mkfifo', `/run/${name}`])
    return sb.exec(['sh', '-c', `exec machinectl import-tar - ${name} 0<>/run/${name}`], { timeoutMs: 120_000 })
  }

  let world: TransferWorld

  before(async () => {
    world = await transferWorld({ hidePolicies: true, daemonArgs: ['--max-transfers=2'] })
    ;({ sb, pool, files, server } = world)
  })

  after(async () => { await world.stop() })

  test('without systemd-container\'s bus policy, the daemon installs its own, and owns org.freedesktop.import1 on a connection of its own', async () => {
    assert.match(sb.daemonLog, /msg="Installed the D-Bus policy for org\.freedesktop\.import1" path=\/etc\/dbus-1\/system\.d\/org\.freedesktop\.import1\.conf/)
    const pidOf = async (name: string): Promise<string> => {
      const r = await busctl(sb, ['call', 'org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'GetConnectionUnixProcessID', 's', name])
      assert.ok(r.ok, r.stderr)
      return r.reply
    }
    const owner = async (name: string): Promise<string> => (await busctl(sb, ['call', 'org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'GetNameOwner', 's', name])).reply
    // One process, a connection per name: each name's bus policy then applies to its own calls only.
    assert.equal(await pidOf(IMPORT_DEST), await pidOf('org.freedesktop.machine1'))
    assert.notEqual(await owner(IMPORT_DEST), await owner('org.freedesktop.machine1'))
  })

  test('at most --max-transfers at once: the next is E2BIG; anyone lists, only root starts or cancels; the loop keeps answering', async () => {
    const held = [hold('held1'), hold('held2')]
    await eventually(async () => (await count()) === 2, 20_000, 'two transfers')
    const third = await machinectl('pull-tar', '--verify=no', `${server.url}/x.tar`, 'third')
    assert.equal(third.code, 1)
    assert.equal(third.stderr, 'Failed to transfer image: Argument list too long\n')
    const e2big = await busctl(sb, ['call', IMPORT_DEST, IMPORT_PATH, IMPORT_IFACE, 'PullTar', 'sssb', `${server.url}/x.tar`, 'third', 'no', 'false'])
    assert.equal(e2big.errorName, 'System.Error.E2BIG')
    // The machine registry answers while transfers run.
    assert.ok((await busctl(sb, ['call', 'org.freedesktop.machine1', '/org/freedesktop/machine1', 'org.freedesktop.machine1.Manager', 'ListMachines'])).ok)

    const nobody = asUser()
    const listed = await sb.exec([...nobody, 'machinectl', 'list-transfers', '--no-legend'])
    assert.equal(listed.code, 0, listed.stderr)
    assert.equal(listed.stdout.trim().split('\n').length, 2)
    for (const args of [['PullTar', 'sssb', `${server.url}/x.tar`, 'x', 'no', 'false'], ['CancelTransfer', 'u', '1']]) {
      const r = await busctl(sb, ['call', IMPORT_DEST, IMPORT_PATH, IMPORT_IFACE, ...args], nobody)
      assert.equal(r.errorName, 'org.freedesktop.DBus.Error.AccessDenied', args[0])
    }
    const cancel = await busctl(sb, ['call', IMPORT_DEST, `${IMPORT_PATH}/transfer/_1`, 'org.freedesktop.import1.Transfer', 'Cancel'], nobody)
    assert.equal(cancel.errorName, 'org.freedesktop.DBus.Error.AccessDenied')

    assert.equal((await machinectl('cancel-transfer', '1', '2')).code, 0)
    for (const r of await Promise.all(held)) assert.equal(r.code, 1)
    await eventually(async () => (await count()) === 0, 20_000, 'no transfers')
  })

  test('io.systemd.Import: ListTransfers and Pull as newest systemd declares them', async () => {
    const client = await RawClient.connect(sb.hostPath('/run/systemd/io.systemd.Import'))
    try {
      const call = async (method: string, parameters: Frame, more = false): Promise<Frame[]> => {
        client.send({ method: `io.systemd.Import.${method}`, parameters, ...(more ? { more: true } : {}) })
        const replies: Frame[] = []
        for (;;) {
          const f = await client.next(20_000)
          assert.ok(f !== undefined)
          replies.push(f)
          if (f.continues !== true) return replies
        }
      }
      assert.deepEqual(await call('ListTransfers', {}, true), [{ error: 'io.systemd.Import.NoTransfers', parameters: {} }])
      assert.deepEqual(await call('ListTransfers', {}), [{ error: 'org.varlink.service.ExpectedMore', parameters: {} }])
      assert.deepEqual(await call('Pull', { remote: 'ftp://x/y', type: 'tar', class: 'machine' }), [{ error: 'org.varlink.service.InvalidParameter', parameters: { parameter: 'remote' } }])
      server.serve('/v/t.tar', files.read('t.tar'))
      const replies = await call('Pull', { remote: `${server.url}/v/t.tar`, local: 'viavarlink', type: 'tar', class: 'machine', verify: 'no' }, true)
      assert.ok(typeof replies[0]?.parameters === 'object' && typeof (replies[0].parameters as Frame).id === 'number', JSON.stringify(replies[0]))
      const logs = replies.flatMap((r) => ((r.parameters as Frame | undefined)?.log as { message: string } | undefined)?.message ?? [])
      assert.ok(logs.includes('Created new local image \'viavarlink\'.'), logs.join('\n'))
      assert.deepEqual(replies.at(-1), { parameters: {} })
      const failed = await call('Pull', { remote: `${server.url}/v/nothere.tar`, local: 'viavarlink2', type: 'tar', class: 'machine', verify: 'no' }, true)
      assert.deepEqual(failed.at(-1), { error: 'io.systemd.Import.TransferFailed', parameters: {} })
    } finally {
      client.socket.destroy()
    }
    assert.ok(readdirSync(pool).includes('viavarlink'))
  })

  test('a daemon stopped mid-transfer leaves no tool running, and nothing in the pool once it is back', async () => {
    const held = hold('held3')
    await eventually(async () => (await count()) === 1, 20_000, 'the transfer')
    const fifo = sb.hostPath('/run/held3')
    const { openSync, writeSync, closeSync } = await import('node:fs')
    const fd = openSync(fifo, 'w')
    writeSync(fd, files.read('big.tar').subarray(0, 60_000))
    closeSync(fd)
    await eventually(() => readdirSync(pool).some((n) => n.startsWith('.#held3')), 20_000, 'the temporary tree')
    const daemon = sb.daemonPid
    await sb.stopDaemon('SIGTERM')
    // The tar the transfer ran went with the daemon.
    const tars = sb.execSync(['sh', '-c', `pgrep -a tar | grep -F '.#held3' || true`]).stdout
    assert.equal(tars, '', `still running: ${tars} (daemon was ${daemon})`)
    const r = await held
    assert.equal(r.code, 1)
    // What a daemon killed outright (no time to clean up) would leave: a temporary tree of a transfer.
    mkdirSync(join(pool, '.#killed0123456789abcdef/usr'), { recursive: true })
    await sb.startDaemon()
    await eventually(() => !readdirSync(pool).some((n) => n.startsWith('.#')), 20_000, 'the pool swept')
    assert.match(sb.daemonLog, /msg="Removed what interrupted transfers left in the pool" names="[^"]*\.#killed0123456789abcdef/)
  })
})
