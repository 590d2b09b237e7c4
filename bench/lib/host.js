// Facts about the machine a bench runs on, for the results.
import { readFileSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { REAL_MACHINED, REPO, readText, run } from './common.js'

export function memAvailableKiB() {
  const m = /^MemAvailable:\s+(\d+)/m.exec(readText('/proc/meminfo') ?? '')
  return m === null ? undefined : Number(m[1])
}

export function machineInfo() {
  const cpu = /^model name\s*:\s*(.*)$/m.exec(readText('/proc/cpuinfo') ?? '')?.[1]
  const version = (cmd, args) => {
    const r = run(cmd, args)
    return r.status === 0 ? r.stdout.split('\n')[0].trim() : undefined
  }
  const git = (args) => run('git', ['-C', REPO, ...args]).stdout?.trim()
  return {
    date: new Date().toISOString(),
    nproc: os.availableParallelism(),
    cpu,
    kernel: os.release(),
    memTotalGiB: Math.round(os.totalmem() / 2 ** 30 * 10) / 10,
    node: process.version,
    systemdMachined: version(REAL_MACHINED, ['--version']),
    dbusDaemon: version('dbus-daemon', ['--version']),
    pidMax: Number(readText('/proc/sys/kernel/pid_max')),
    machinedTs: `${JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).version} (git ${git(['rev-parse', '--short', 'HEAD'])}${git(['status', '--porcelain', 'src']) ? ', src modified' : ''})`,
  }
}
