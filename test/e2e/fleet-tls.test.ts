// The fleet over TLS with client certificates: etcd (Debian's etcd-server)
// demands a certificate of the CA this test makes with openssl; machined
// publishes with --fleet-etcd-ca/-cert/-key and mctl reads with the same
// options (or $MACHINED_FLEET_ETCD_*), and without a client certificate
// reading fails in one line. Bad fleet settings stop machined at start,
// in one line.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { registerMachine } from '../helpers/busctl.ts'
import { EtcdServer } from '../helpers/etcd.ts'
import { eventually, REPO, Sandbox, type ExecResult } from '../helpers/sandbox.ts'

const MCTL = [process.execPath, join(REPO, 'bin/mctl.js')]

describe('the fleet on etcd with TLS client certificates', () => {
  let etcd: EtcdServer
  let sb: Sandbox
  const hostname = `tls-${process.pid.toString(36)}`
  const machineId = randomBytes(16).toString('hex')
  const mctl = (...args: string[]): Promise<ExecResult> => sb.exec([...MCTL, ...args])

  before(async () => {
    etcd = await EtcdServer.start({ tls: true })
    const t = etcd.tls!
    sb = await Sandbox.start({
      host: { hostname, machineId },
      daemonArgs: [`--fleet-etcd=${etcd.url}`, `--fleet-etcd-ca=${t.ca}`, `--fleet-etcd-cert=${t.cert}`, `--fleet-etcd-key=${t.key}`],
    })
  })
  after(async () => {
    await sb?.stop()
    await etcd?.stop()
  })

  it('machined publishes and mctl reads over TLS with a client certificate', async () => {
    const t = etcd.tls!
    const name = sb.name('secure')
    const leader = await sb.spawnLeader()
    assert.equal((await registerMachine(sb, { name, leader: leader.pid! })).ok, true)
    const tlsArgs = [`--fleet-etcd-ca=${t.ca}`, `--fleet-etcd-cert=${t.cert}`, `--fleet-etcd-key=${t.key}`]
    const listed = await eventually(async () => {
      const r = await mctl('list', `--fleet=${etcd.url}`, ...tlsArgs, '--no-legend')
      return r.stdout.includes(`${hostname} ${name} `) ? r : undefined
    }, 5000, 'the machine in the fleet')
    assert.equal(listed.code, 0)
    assert.equal(listed.stderr, '')
    // The environment says the same.
    const env = await sb.exec(['env', `MACHINED_FLEET_ETCD=${etcd.url}`, `MACHINED_FLEET_ETCD_CA=${t.ca}`, `MACHINED_FLEET_ETCD_CERT=${t.cert}`,
      `MACHINED_FLEET_ETCD_KEY=${t.key}`, ...MCTL, 'list', '--no-legend'])
    assert.equal(env.stdout, listed.stdout)
  })

  it('without a client certificate etcd refuses, in one line', async () => {
    const r = await mctl('list', `--fleet=${etcd.url}`, `--fleet-etcd-ca=${etcd.tls!.ca}`)
    assert.equal(r.code, 1)
    assert.match(r.stderr, new RegExp(`^Could not read the fleet from etcd \\(${etcd.url}\\): .+\\n$`))
    // A certificate that is none: refused before connecting.
    const bad = await mctl('list', `--fleet=${etcd.url}`, `--fleet-etcd-ca=${etcd.tls!.key}`)
    assert.equal(bad.stderr, `--fleet-etcd-ca=${etcd.tls!.key} holds no valid PEM certificate\n`)
    assert.equal(bad.code, 1)
  })

  it('a malformed URL, an unreadable certificate or a missing key stops machined at start, in one line', () => {
    const t = etcd.tls!
    for (const [args, line] of [
      [['--fleet-etcd=ftp://127.0.0.1:1'], "machined: Invalid --fleet-etcd URL 'ftp://127.0.0.1:1': the scheme must be http or https"],
      [['--fleet-etcd=http://'], "machined: Invalid --fleet-etcd URL 'http://': expected http://HOST:PORT or https://HOST:PORT"],
      [[`--fleet-etcd=${etcd.url}`, '--fleet-etcd-ca=/nonexistent/ca.pem'], 'machined: Cannot read --fleet-etcd-ca=/nonexistent/ca.pem: ENOENT'],
      [[`--fleet-etcd=${etcd.url}`, `--fleet-etcd-cert=${t.cert}`], 'machined: --fleet-etcd-cert and --fleet-etcd-key go together'],
      [[`--fleet-etcd=${etcd.url}`, '--fleet-ttl=1'], 'machined: Invalid --fleet-ttl=1 (2…86400 seconds)'],
      [['--fleet-ttl=5'], 'machined: --fleet-ttl needs --fleet-etcd'],
    ] as const) {
      const r = spawnSync(process.execPath, [join(REPO, 'bin/machined.js'), ...args], { encoding: 'utf8', timeout: 10_000 })
      assert.equal(r.stderr, `${line}\n`, args.join(' '))
      assert.equal(r.status, 2)
    }
  })
})
