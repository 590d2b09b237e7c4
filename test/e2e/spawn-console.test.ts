// The console modes (--console=, nspawn's): on a terminal it is
// interactive — the guest's getty answers what we type, and Ctrl-] three
// times within a second kills the container — and passive mode shows
// nothing while the guest still boots normally.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { eventually, REPO, Sandbox, sleep } from '../helpers/sandbox.ts'
import { debianTree, OverlayTree } from '../helpers/debian-tree.ts'
import { machineLeader, SpawnRun, waitBooted } from '../helpers/spawn.ts'

void describe('machined-spawn console modes', { timeout: 600_000 }, () => {
  let sb: Sandbox
  let tree: OverlayTree

  before(async () => {
    const cached = await debianTree()
    sb = await Sandbox.start()
    tree = await OverlayTree.create(sb, cached)
  })

  after(async () => {
    tree?.remove()
    await sb?.stop()
  })

  it('interactive on a terminal: typing reaches the guest\'s getty; Ctrl-] x3 kills the container', async () => {
    const name = sb.name('tty')
    // script(1) gives machined-spawn a terminal for stdin and stdout.
    const [nsenter, mountNs] = sb.nsenter
    const command = `npx --no-install machined-spawn -D ${tree.path} -M ${name} -b`
    const child = spawn(nsenter!, [mountNs!, `--wd=${REPO}`, '--', 'script', '-qfec', command, '/dev/null'], { env: sb.env, stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (c: Buffer) => { out += c.toString() })
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
    try {
      const leader = await machineLeader(sb, name)
      assert.equal(await waitBooted(sb, leader), 'running')
      await eventually(() => /login: *$/m.test(out), 10_000, 'the console getty\'s login prompt')
      assert.match(out, /Press Ctrl-\] three times within 1s to kill container\./)
      child.stdin.write('machined')
      await eventually(() => out.includes('login: machined'), 5000, 'the getty to echo what we typed')
      child.stdin.write('\x1d')
      await sleep(50)
      child.stdin.write('\x1d\x1d')
      const code = await Promise.race([exited, sleep(10_000).then(() => 'timeout' as const)])
      assert.equal(code, 1, out.slice(-500))
      assert.match(out, new RegExp(`Container ${name} terminated by signal SIGKILL\\.`))
      await eventually(() => sb.execSync(['test', '-e', `/run/systemd/machines/${name}`]).code === 1, 5000, 'the machine to go')
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL')
    }
  })

  it('passive: the console is read and dropped, the guest boots all the same', async () => {
    const name = sb.name('passive')
    const run = SpawnRun.start(sb, ['-D', tree.path, '-M', name, '-b', '--console=passive'])
    const leader = await machineLeader(sb, name)
    assert.equal(await waitBooted(sb, leader), 'running')
    assert.equal((await sb.exec(['machinectl', 'poweroff', name])).code, 0)
    assert.deepEqual(await run.exited, { code: 0, signal: null })
    assert.equal(run.stdout, '')
  })
})
