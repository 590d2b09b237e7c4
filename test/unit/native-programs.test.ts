// The helper programs run directly, as their callers run them, on what
// their split left to one place each: machined-spawn-helper's step table
// and executor (native/spawn_helper: fields counted before a step runs,
// unknown steps, optional steps, the helper's own steps and their bound,
// go and abort), and machined-enter's arguments (native/enter: the usage,
// and nothing on stdout for copy and bind). What the steps do inside a
// real container is test/e2e/spawn-*.test.ts's; sessions, copies and bind
// mounts are test/e2e/helpers-hostile.test.ts's and copy-bind.test.ts's.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ENTER_PROGRAM, SPAWN_HELPER_PROGRAM } from '../../src/native/addon.ts'

const dir = mkdtempSync(join(tmpdir(), 'native-programs-'))
after(() => rmSync(dir, { recursive: true, force: true }))

/** Runs machined-spawn-helper with a plan (and commands right behind it); every line it prints, up to its exit. */
function runHelper(plan: string[], commands: string[] = []): Promise<{ lines: string[]; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(SPAWN_HELPER_PROGRAM, [], { stdio: ['pipe', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { out += chunk })
    child.on('error', reject)
    child.on('close', (code) => resolve({ lines: out.split('\n').filter((l) => l !== ''), code }))
    // stdin stays open: the helper kills the container when it closes.
    child.stdin.write([...plan, '.', ...commands].map((l) => `${l}\n`).join(''))
    child.on('exit', () => child.stdin.end())
  })
}

/** The lines without the container's PID. */
function withoutPid(lines: string[]): string[] {
  assert.match(lines[0] ?? '', /^pid \d+$/)
  return lines.slice(1)
}

void describe('machined-spawn-helper', () => {
  it('runs the container\'s steps in order and execs the payload', async () => {
    const file = join(dir, 'written')
    const r = await runHelper(['clone -', `write ${file} 640 hello%20there`, 'env A=1', 'exec /bin/true'])
    assert.deepEqual(withoutPid(r.lines), ['running', 'exit code 0'])
    assert.equal(r.code, 0)
    assert.equal(readFileSync(file, 'utf8'), 'hello there')
    assert.equal(statSync(file).mode & 0o777, 0o640)
  })

  it('a step with too few fields fails with EINVAL, before it runs', async () => {
    const r = await runHelper(['clone -', `mkdir ${join(dir, 'never')}`, 'exec /bin/true'])
    assert.deepEqual(withoutPid(r.lines), [`error mkdir ${join(dir, 'never')}: Invalid argument`, 'exit code 1'])
    assert.equal(existsSync(join(dir, 'never')), false)
  })

  it('an unknown step fails with ENOSYS when its turn comes; the steps before it ran', async () => {
    const made = join(dir, 'before-unknown')
    const r = await runHelper(['clone -', `mkdir ${made} 755`, 'frobnicate a b', 'exec /bin/true'])
    assert.deepEqual(withoutPid(r.lines), ['error frobnicate a b: Function not implemented', 'exit code 1'])
    assert.equal(statSync(made).isDirectory(), true)
  })

  it('an optional step (?op) may miss its path; a missing payload is a failure to execute', async () => {
    const ok = await runHelper(['clone -', `?unlink ${join(dir, 'not-there')}`, 'exec /bin/true'])
    assert.deepEqual(withoutPid(ok.lines), ['running', 'exit code 0'])
    const missing = await runHelper(['clone -', `unlink ${join(dir, 'not-there')}`, 'exec /bin/true'])
    assert.deepEqual(withoutPid(missing.lines), [`error unlink ${join(dir, 'not-there')}: No such file or directory`, 'exit code 1'])
    const noPayload = await runHelper(['clone -', 'exec /nonexistent/payload'])
    assert.deepEqual(withoutPid(noPayload.lines), ['error Failed to execute /nonexistent/payload: No such file or directory', 'exit code 1'])
  })

  it('wait-go says the container waits, holds it until "go", and "abort" kills it', async () => {
    const go = await runHelper(['clone -', 'wait-go', 'exec /bin/true'], ['go'])
    // "go" came with the plan here, so "waiting" and "running" may be told in either order.
    assert.deepEqual(withoutPid(go.lines).sort(), ['exit code 0', 'running', 'waiting'])
    const abort = await runHelper(['clone -', 'wait-go', 'exec /bin/true'], ['abort'])
    // (Its error pipe closes without a word, as after an exec: the helper may say "running" first.)
    assert.equal(withoutPid(abort.lines).at(-1), 'exit signal 9')
  })

  it('the helper\'s own steps run as the plan is read: host directories, at most 16, undone on failure and at the end', async () => {
    const dirs = Array.from({ length: 17 }, (_, i) => join(dir, `host-${i}`))
    const tooMany = await runHelper([...dirs.map((d) => `host-dir ${d}`), 'clone -', 'exec /bin/true'])
    assert.deepEqual(tooMany.lines, [`error Failed to prepare ${dirs[16]}: Too many open files`])
    assert.equal(tooMany.code, 1)
    assert.deepEqual(dirs.filter((d) => existsSync(d)), [])
    const fine = await runHelper([`host-dir ${dirs[0]}`, 'clone -', 'exec /bin/true'])
    assert.deepEqual(withoutPid(fine.lines), ['running', 'exit code 0'])
    assert.equal(existsSync(dirs[0]!), false)
  })

  it('a malformed plan line, or no plan at all, is said so', async () => {
    assert.deepEqual((await runHelper(['-'])).lines, ['error plan line 1 is malformed'])
    const none = spawnSync(SPAWN_HELPER_PROGRAM, [], { input: '', encoding: 'utf8' })
    assert.deepEqual([none.stdout, none.status], ['error no plan\n', 1])
  })
})

void describe('machined-enter', () => {
  it('bad arguments: the usage on stderr, exit 1, nothing on stdout (copy and bind report there)', () => {
    for (const args of [[], ['frobnicate'], ['copy', '1', 'sideways', '/a', '/b', '0', '0'], ['bind', 'x'], ['exec', '--pid', 'x'], ['openpt', '--bogus']]) {
      const r = spawnSync(ENTER_PROGRAM, args, { encoding: 'utf8' })
      assert.equal(r.status, 1, args.join(' '))
      assert.equal(r.stdout, '', args.join(' '))
      assert.match(r.stderr, args[1] === '--bogus' ? /unknown argument '--bogus'/ : /^usage: machined-enter/, args.join(' '))
    }
  })
})
