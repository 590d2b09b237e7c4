// Walking, killing and removing a cgroup tree (src/linux/cgroup-tree.ts):
// first on a directory tree shaped like cgroupfs (no root needed), then on
// the host's real hierarchies with shells that keep forking while they are
// killed. machined-spawn once had a second kill without the retry: a child
// forked between reading cgroup.procs and the signal survived it (in about
// half the runs of the test below on a v1 hierarchy, nearly all on cgroup2).
import { after, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { detectCgroupLayout, trackingHierarchies } from '../../src/linux/cgroup-layout.ts'
import { cgroupChildren, cgroupPids, cgroupPopulated, cgroupTree, killCgroupTree, removeCgroupTree } from '../../src/linux/cgroup-tree.ts'
import { needsRoot } from '../helpers/privilege.ts'

const SIGKILL = 9
const SIGTERM = 15
const FORKERS = 8

const scratch = mkdtempSync(join(tmpdir(), 'linux-cgroup-tree-'))
after(() => rmSync(scratch, { recursive: true, force: true }))

/** A cgroup-shaped directory: cgroup.procs with these PIDs, and cgroup.events unless v1. */
function fakeCgroup(dir: string, pids: number[], events?: 'populated 0' | 'populated 1'): string {
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'cgroup.procs'), pids.map((p) => `${p}\n`).join(''))
  if (events !== undefined) writeFileSync(join(dir, 'cgroup.events'), `${events}\nfrozen 0\n`)
  return dir
}

void describe('a cgroup-shaped tree', () => {
  void test('processes, children, and the walk (each cgroup before its children)', () => {
    const top = fakeCgroup(join(scratch, 'walk'), [10, 11])
    fakeCgroup(join(top, 'a'), [12])
    fakeCgroup(join(top, 'a', 'deep'), [])
    fakeCgroup(join(top, 'b'), [13])
    writeFileSync(join(top, 'b', 'cgroup.procs'), '13\n\ngarbage\n0\n')
    assert.deepEqual(cgroupPids(top), [10, 11])
    assert.deepEqual(cgroupPids(join(top, 'b')), [13], 'only PIDs')
    assert.deepEqual(cgroupPids(join(top, 'gone')), [])
    assert.deepEqual(cgroupChildren(top).sort(), [join(top, 'a'), join(top, 'b')])
    const order = [...cgroupTree(top)]
    assert.equal(order.length, 4)
    assert.equal(order[0], top)
    assert.ok(order.indexOf(join(top, 'a')) < order.indexOf(join(top, 'a', 'deep')))
  })

  void test('populated: cgroup.events where there is one (cgroup2), else any process anywhere below (v1)', () => {
    assert.equal(cgroupPopulated(fakeCgroup(join(scratch, 'v2-empty'), [99], 'populated 0')), false, 'cgroup.events wins')
    assert.equal(cgroupPopulated(fakeCgroup(join(scratch, 'v2-full'), [], 'populated 1')), true)
    const v1 = fakeCgroup(join(scratch, 'v1'), [])
    fakeCgroup(join(v1, 'child'), [])
    assert.equal(cgroupPopulated(v1), false)
    fakeCgroup(join(v1, 'child', 'grandchild'), [42])
    assert.equal(cgroupPopulated(v1), true)
    assert.equal(cgroupPopulated(join(scratch, 'never-made')), false)
  })

  void test('a process that forks while being killed: the walk repeats until no new PID shows up', () => {
    const top = fakeCgroup(join(scratch, 'race'), [100])
    const child = fakeCgroup(join(top, 'payload'), [200])
    const signalled: number[] = []
    // Each process "forks" once as it is signalled: its child appears in the tree after the walk read past it.
    const forks = new Map<number, [string, number]>([[100, [join(child, 'cgroup.procs'), 101]], [200, [join(top, 'cgroup.procs'), 201]], [201, [join(child, 'cgroup.procs'), 202]]])
    killCgroupTree(top, SIGTERM, {
      send: (pid, signal) => {
        assert.equal(signal, SIGTERM)
        signalled.push(pid)
        const fork = forks.get(pid)
        if (fork !== undefined) appendFileSync(fork[0], `${fork[1]}\n`)
      },
    })
    assert.deepEqual(signalled.sort(), [100, 101, 200, 201, 202], 'every process once, the late children too')
  })

  void test('removal goes depth first; with recurse: false, a cgroup with children stays', () => {
    const top = join(scratch, 'remove')
    mkdirSync(join(top, 'a', 'b', 'c'), { recursive: true })
    mkdirSync(join(top, 'd'))
    removeCgroupTree(top, { recurse: false })
    assert.ok(existsSync(top), 'rmdir refused it (ENOTEMPTY), quietly')
    removeCgroupTree(top)
    assert.equal(existsSync(top), false)
    removeCgroupTree(top) // gone already: nothing to do
  })
})

void describe('the host\'s hierarchies that track processes (root)', needsRoot, () => {
  const layout = detectCgroupLayout()
  assert.ok(layout !== undefined, 'no cgroup hierarchy tracks processes here')

  // cgroup2 kills through cgroup.kill; a v1 name=systemd hierarchy (hybrid hosts) has none, and the walk repeats.
  for (const mount of trackingHierarchies(layout)) {
    void test(`shells that keep forking are killed with all their children, and the tree removed (${mount})`, async () => {
      const top = join(mount, `linux-cgroup-tree-${process.pid}`)
      const sub = join(top, 'payload')
      mkdirSync(sub, { recursive: true })
      // Each shell moves itself into the sub-cgroup before it starts forking, so every child is born there.
      // Several of them, so that some fork while the kill is under way (one alone is killed too soon).
      // Each keeps at most 64 children (a batch of short sleeps, then a wait): an unbounded loop makes
      // tens of thousands of processes within seconds and stalls the whole machine, this test included.
      const forkers = Array.from({ length: FORKERS }, () =>
        spawn('sh', ['-c', `echo $$ > ${join(sub, 'cgroup.procs')} && while :; do i=0; while [ $i -lt 64 ]; do sleep 0.1 & i=$((i+1)); done; wait; done`], { stdio: 'ignore' }))
      const inside = (): boolean => forkers.every((f) => cgroupPids(sub).includes(f.pid!)) && cgroupPids(sub).length >= 200
      try {
        // The count rises and falls as batches end: take the moment it was seen, not a second look.
        let forking = false
        for (let i = 0; i < 500 && !(forking = inside()); i++) await sleep(10)
        assert.ok(forking, 'the shells did not fork')
        killCgroupTree(top, SIGKILL)
        for (let i = 0; i < 500 && cgroupPopulated(top); i++) await sleep(10)
        assert.deepEqual(cgroupPids(sub), [], 'a child forked during the kill survived it')
        assert.equal(cgroupPopulated(top), false)
        removeCgroupTree(top)
        assert.equal(existsSync(top), false, 'removed, the sub-cgroup first')
      } finally {
        for (const f of forkers) f.kill('SIGKILL')
        for (let i = 0; i < 100 && existsSync(top); i++) {
          killCgroupTree(top, SIGKILL)
          removeCgroupTree(top)
          if (existsSync(top)) await sleep(10)
        }
      }
    })
  }
})
