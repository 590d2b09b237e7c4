// The cgroups of a bench run: finding the hierarchies that track
// processes, and killing and removing everything a run made in them
// (machine.slice/bench-<tag>-* made by the run, machine-bench<tag>… made by
// machined-ts for the run's machines).
import { existsSync, readdirSync, rmdirSync } from 'node:fs'
import { join } from 'node:path'
import { readText, sleepSync } from './common.js'

/** Mount points of every cgroup hierarchy, and the two that track processes. */
export function cgroupMounts() {
  const all = []
  let unified
  let systemdV1
  for (const line of (readText('/proc/self/mountinfo') ?? '').split('\n')) {
    const sep = line.indexOf(' - ')
    if (sep < 0) continue
    const mountPoint = line.slice(0, sep).split(' ')[4]
    const [fsType, , superOpts = ''] = line.slice(sep + 3).split(' ')
    if (fsType !== 'cgroup' && fsType !== 'cgroup2') continue
    all.push(mountPoint)
    if (fsType === 'cgroup2') unified = mountPoint
    else if (superOpts.split(',').includes('name=systemd')) systemdV1 = mountPoint
  }
  return { all: [...new Set(all)], tracking: [unified, systemdV1].filter((m) => m !== undefined), unified, systemdV1 }
}

export function subdirs(dir) {
  try {
    return readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(dir, e.name))
  } catch {
    return []
  }
}

export function pidsIn(dir) {
  const out = (readText(join(dir, 'cgroup.procs')) ?? '').split('\n').filter((l) => l !== '').map(Number)
  for (const sub of subdirs(dir)) out.push(...pidsIn(sub))
  return out
}

export function removeDepthFirst(dir) {
  for (const sub of subdirs(dir)) removeDepthFirst(sub)
  rmdirSync(dir)
}

/**
 * SIGKILLs every process in a cgroup tree and removes it depth first,
 * retrying while exiting processes still hold it. Returns what it killed.
 */
export function killAndRemove(dir) {
  let killed = 0
  for (let attempt = 0; attempt < 250; attempt++) {
    for (const pid of pidsIn(dir)) {
      if (pid === process.pid || pid === process.ppid) continue
      try { process.kill(pid, 'SIGKILL'); killed++ } catch { /* gone */ }
    }
    try {
      removeDepthFirst(dir)
      return { killed, removed: true }
    } catch (err) {
      if (err.code === 'ENOENT') return { killed, removed: true }
      sleepSync(20)
    }
  }
  return { killed, removed: false }
}

/**
 * Our cgroups: machine.slice/bench-<tag>-* (made here) and machine-bench<tag><letter>….scope
 * (machined-ts made them for machines named bench<tag><letter>…; no '-' in
 * those names, which a scope name would escape as \x2d).
 */
export function ownCgroupRegex(tag) {
  return new RegExp(`^(bench-${tag}-|machine-bench${tag}[a-z])`)
}

export function cleanupCgroups(tag, sliceExisted) {
  const re = ownCgroupRegex(tag)
  const report = { cgroups: 0, killed: 0, failed: [] }
  for (const root of cgroupMounts().all) {
    const slice = join(root, 'machine.slice')
    for (const dir of subdirs(slice)) {
      if (!re.test(dir.slice(slice.length + 1))) continue
      const r = killAndRemove(dir)
      report.cgroups++
      report.killed += r.killed
      if (!r.removed) report.failed.push(dir)
    }
    if (sliceExisted[root] === false && existsSync(slice)) {
      try { rmdirSync(slice) } catch { /* someone else uses it now: leave it */ }
    }
  }
  return report
}

export function leftoverCgroups(tag) {
  const re = ownCgroupRegex(tag)
  const out = []
  for (const root of cgroupMounts().all) {
    const slice = join(root, 'machine.slice')
    for (const dir of subdirs(slice)) if (re.test(dir.slice(slice.length + 1))) out.push(dir)
  }
  return out
}
