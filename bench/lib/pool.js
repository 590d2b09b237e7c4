// The image pool of a bench run: a directory under /var/tmp bind-mounted over
// /var/lib/machines, in the run's private mount namespace only.
import { existsSync, mkdirSync } from 'node:fs'
import { run } from './common.js'

/** The pool over /var/lib/machines, in this (private) mount namespace only. */
export function mountPool(dir) {
  if (!existsSync('/var/lib/machines')) {
    mkdirSync('/run/bench-varlib/upper', { recursive: true })
    mkdirSync('/run/bench-varlib/work', { recursive: true })
    const o = run('mount', ['-t', 'overlay', 'overlay', '-o', 'lowerdir=/var/lib,upperdir=/run/bench-varlib/upper,workdir=/run/bench-varlib/work', '/var/lib'])
    if (o.status !== 0) throw new Error(`overlay on /var/lib failed: ${o.stderr}`)
    mkdirSync('/var/lib/machines')
  }
  const r = run('mount', ['--bind', dir, '/var/lib/machines'])
  if (r.status !== 0) throw new Error(`bind-mounting the pool failed: ${r.stderr}`)
}
