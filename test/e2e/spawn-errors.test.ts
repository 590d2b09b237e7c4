// Bad input to machined-spawn (issue 5, "Done when"): a missing directory,
// a tree with no init, a machine name already taken, an invalid name — each
// gives one line on stderr, exit 1, and leaves nothing behind: no process,
// cgroup, registration, mount or directory.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { trackingHierarchy } from '../../src/linux/cgroup-layout.ts'
import { Sandbox } from '../helpers/sandbox.ts'
import { debianTree, OverlayTree } from '../helpers/debian-tree.ts'
import { helperPids, machineLeader, SpawnRun } from '../helpers/spawn.ts'

void describe('machined-spawn refuses bad input', { timeout: 600_000 }, () => {
  let sb: Sandbox
  let tree: OverlayTree
  let empty: string
  let suffix: string
  const runs: SpawnRun[] = []

  before(async () => {
    const cached = await debianTree()
    sb = await Sandbox.start()
    tree = await OverlayTree.create(sb, cached)
    suffix = sb.name('x').slice(2) // this sandbox's suffix: our machines' scopes end in it
    empty = mkdtempSync('/var/tmp/machined-ts-noinit-')
    mkdirSync(join(empty, 'usr'))
    writeFileSync(join(empty, 'etc-os-release'), 'ID=none\n')
  })

  after(async () => {
    for (const r of runs) if (r.child.exitCode === null) { try { process.kill(r.managerPid(), 'SIGKILL') } catch { /* gone */ } }
    rmSync(empty, { recursive: true, force: true })
    tree?.remove()
    await sb?.stop()
  })

  function snapshot(): { mounts: string; machines: string; runtime: string; slice: string[]; helpers: string[] } {
    const slice = sb.hostPath(join(trackingHierarchy(sb.cgroupLayout)!, 'machine.slice'))
    const helpers = helperPids()
    return {
      mounts: sb.execSync(['cat', '/proc/self/mountinfo']).stdout.split('\n').map((l) => l.split(' ')[4]).sort().join('\n'),
      machines: sb.execSync(['ls', '-A', '/run/systemd/machines']).stdout,
      runtime: sb.execSync(['sh', '-c', 'ls -AR /run/machined-spawn /run/systemd/nspawn 2>/dev/null || true']).stdout,
      slice: existsSync(slice) ? readdirSync(slice).filter((d) => d.includes(suffix)) : [],
      helpers,
    }
  }

  async function refused(args: string[], message: RegExp): Promise<void> {
    const before = snapshot()
    const r = await SpawnRun.run(sb, args)
    assert.equal(r.code, 1, `exit code; stderr: ${r.stderr}`)
    const lines = r.stderr.split('\n').filter((l) => l !== '')
    assert.equal(lines.length, 1, `one line, got:\n${r.stderr}`)
    assert.match(lines[0]!, message)
    assert.equal(r.stdout, '')
    const after = snapshot()
    // Helper processes of another container (the "taken" one, still starting) may end meanwhile: none may be new.
    assert.deepEqual(after.helpers.filter((p) => !before.helpers.includes(p)), [], 'a helper process was left behind')
    assert.deepEqual({ ...after, helpers: [] }, { ...before, helpers: [] }, 'something was left behind')
  }

  it('a missing directory', async () => {
    await refused(['-D', '/var/tmp/no/such/tree', '-b'], /^machined-spawn: Failed to open directory \/var\/tmp\/no\/such\/tree: No such file or directory$/)
  })

  it('a tree with no init', async () => {
    await refused(['-D', empty, '-M', sb.name('noinit'), '-b'], /^machined-spawn: Directory .* has no init to boot \(looked for \/usr\/lib\/systemd\/systemd, \/lib\/systemd\/systemd, \/sbin\/init\)$/)
  })

  it('a command the tree does not have', async () => {
    await refused(['-D', tree.path, '-M', sb.name('nocmd'), '--', '/no/such/binary'], /^machined-spawn: Failed to execute \/no\/such\/binary: No such file or directory$/)
  })

  it('an invalid name', async () => {
    await refused(['-D', tree.path, '-M', 'not_valid', '-b'], /^machined-spawn: Invalid machine name: not_valid$/)
    await refused(['-D', tree.path, '-M', 'a'.repeat(65), '-b'], /^machined-spawn: Invalid machine name: a{65}$/)
  })

  it('a name that is taken', async () => {
    const name = sb.name('taken')
    const first = SpawnRun.start(sb, ['-D', tree.path, '-M', name, '-b', '-q'])
    runs.push(first)
    const leader = await machineLeader(sb, name)
    await refused(['-D', tree.path, '-M', name, '-b'], new RegExp(`^machined-spawn: Machine '${name}' already exists$`))
    // The first one is untouched.
    assert.equal((await sb.exec(['machinectl', 'show', name, '-p', 'Leader', '--value'])).stdout.trim(), String(leader))
    assert.equal((await sb.exec(['machinectl', 'poweroff', name])).code, 0)
    assert.deepEqual(await first.exited, { code: 0, signal: null })
  })

  it('machined not running (with --register=yes)', async () => {
    await sb.stopDaemon()
    try {
      // The bus knows how to activate systemd-machined, which cannot start here: that is the error.
      await refused(['-D', tree.path, '-M', sb.name('nomachined'), '-b'], /^machined-spawn: Failed to connect to machined: .* \(use --register=no to run without\)$/)
    } finally {
      await sb.startDaemon()
    }
  })
})
