/**
 * The image scenario the golden captures come from: real `machinectl` and
 * `busctl` against a machined (systemd-machined 252 when capturing,
 * machined-ts in the test) in a Sandbox over the pool of image-pool.ts.
 * Each step records what a user sees (exit code, stdout, stderr; for
 * busctl the reply or the error's name and text), normalised where runs
 * must differ: absolute and relative times, and the order of hash tables.
 * The capture script (test/fixtures/machined-252-images/capture.ts) and
 * e2e/images-golden.test.ts run the same steps.
 */

import { join } from 'node:path'
import { lockImagePath } from '../../src/native/image-lock.ts'
import { busctl, DEST, MANAGER_IFACE, MANAGER_PATH } from './busctl.ts'
import type { Sandbox } from './sandbox.ts'

export interface Step {
  readonly name: string
  readonly output: string
}

/** Times differ between runs: "Mon 2026-12-07 00:26:05 UTC" keeps its width, "; 3min 2s ago" and µs counts become tokens. */
export function normalise(text: string): string {
  return sortRemoved(text)
    .replace(/\b[A-Z][a-z]{2} \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\b/g, 'Xxx 0000-00-00 00:00:00 UTC')
    .replace(/; [^;\n]*\bago$/gm, '; AGO')
    .replace(/"(created|modified|creationTimestamp|modificationTimestamp)"( ?): ?[1-9]\d*/g, (_m, key: string, space: string) => `"${key}"${space}:${space}T`)
    .replace(/"(Creation|Modification)Timestamp" t [1-9]\d*/g, '"$1Timestamp" t T')
}

/** machinectl clean reports removed images in the daemon's hash order: sorted here. */
function sortRemoved(text: string): string {
  const lines = text.split('\n')
  const removed = lines.filter((l) => l.startsWith('Removed image \'')).sort()
  let i = 0
  return lines.map((l) => (l.startsWith('Removed image \'') ? removed[i++]! : l)).join('\n')
}

/** busctl's JSON reply of ListImages (a(ssbttto)), rows sorted by name and times reduced to "set or not". */
function imageRows(json: string): string {
  const data = (JSON.parse(json) as { data: [string, string, boolean, number, number, number, string][][] }).data[0] ?? []
  return data.map(([name, type, ro, crtime, mtime, usage, path]) => `${name} ${type} ${ro} ${crtime === 0 ? 0 : 'T'} ${mtime === 0 ? 0 : 'T'} ${usage} ${path}`)
    .sort().join('\n')
}

export class Scenario {
  readonly steps: Step[] = []
  readonly #sb: Sandbox
  readonly #pool: string

  constructor(sb: Sandbox, pool: string) {
    this.#sb = sb
    this.#pool = pool
  }

  async machinectl(...args: string[]): Promise<void> {
    const r = await this.#sb.exec(['machinectl', ...args], { timeoutMs: 120_000 })
    this.steps.push({ name: `machinectl ${args.join(' ')}`, output: normalise(`exit ${r.code}\n${r.stdout}--- stderr\n${r.stderr}`) })
  }

  /** A Manager method through busctl: the reply, or the error's name and text. */
  async call(method: string, signature = '', ...args: string[]): Promise<void> {
    await this.busctl(`call ${method}`, ['call', DEST, MANAGER_PATH, MANAGER_IFACE, method, ...(signature === '' ? [] : [signature]), ...args])
  }

  async busctl(name: string, args: string[]): Promise<void> {
    const r = await busctl(this.#sb, args)
    const output = r.ok ? `ok ${r.reply}` : `error ${r.errorName ?? '?'}: ${r.errorMessage ?? r.stderr.trim().split('\n').at(-1)}`
    this.steps.push({ name: `busctl ${name}`, output: normalise(output) })
  }

  async listImagesRows(): Promise<void> {
    const r = await busctl(this.#sb, ['--json=short', 'call', DEST, MANAGER_PATH, MANAGER_IFACE, 'ListImages'])
    this.steps.push({ name: 'busctl ListImages rows', output: r.ok ? imageRows(r.reply) : `error ${r.errorName ?? '?'}` })
  }

  /** What Introspect answers on `path`, child nodes sorted (sd-bus lists them in hash order). */
  async introspect(path: string): Promise<string> {
    const r = await busctl(this.#sb, ['--json=short', 'call', DEST, path, 'org.freedesktop.DBus.Introspectable', 'Introspect'])
    if (!r.ok) throw new Error(`Introspect ${path} failed: ${r.stderr}`)
    const xml = (JSON.parse(r.reply) as { data: [string] }).data[0]
    const lines = xml.split('\n')
    const nodes = lines.filter((l) => l.startsWith(' <node ')).sort()
    return [...lines.filter((l) => !l.startsWith(' <node ') && l !== '</node>' && l !== ''), ...nodes, '</node>', ''].join('\n')
  }

  /** Runs `work` while image `name` of the pool is locked as a running container locks it (nspawn's scheme). */
  async whileLocked(name: string, mode: 'shared' | 'exclusive', work: () => Promise<void>): Promise<void> {
    const lock = await lockImagePath(join(this.#pool, name), mode, { lockDir: this.#sb.hostPath('/run/systemd/nspawn/locks') })
    try {
      await work()
    } finally {
      await lock.release()
    }
  }
}

/** machinectl with each of these argument lists, in turn. */
async function each(s: Scenario, list: readonly (readonly string[])[]): Promise<void> {
  for (const args of list) await s.machinectl(...args)
}

/** Every step, in order. The pool is changed as it goes (clones, renames, removals, the clean at the end). */
export async function runImageScenario(s: Scenario): Promise<void> {
  await each(s, [['list-images'], ['list-images', '--all'], ['list-images', '--no-legend'], ['list-images', '--output=json'], ['list-images', '--all', '--output=json-pretty']])
  await s.listImagesRows()
  await each(s, [
    ['image-status', 'alpha', 'os'], ['image-status', 'beta', 'frozen', 'rodisk', 'vendor1', 'etcimg', '.hidden'], ['image-status'], ['image-status', 'nope'],
    ['show-image', 'alpha'], ['show-image', 'os', 'rodisk'], ['show-image', 'alpha', '-p', 'Type', '--value'], ['show-image'], ['show-image', 'nope'],
  ])
  for (const name of ['alpha', 'os', 'nope', 'a/b', '', '.#partial', 'notes']) await s.call('GetImage', 's', name)
  for (const method of ['GetImageHostname', 'GetImageMachineID', 'GetImageMachineInfo', 'GetImageOSRelease']) {
    for (const name of ['alpha', 'beta', 'os', 'rodisk', 'a/b', 'nope']) await s.call(method, 's', name)
  }
  await s.busctl('GetAll alpha', ['call', DEST, '/org/freedesktop/machine1/image/alpha', 'org.freedesktop.DBus.Properties', 'GetAll', 's', ''])
  await s.busctl('GetAll os', ['call', DEST, '/org/freedesktop/machine1/image/os', 'org.freedesktop.DBus.Properties', 'GetAll', 's', 'org.freedesktop.machine1.Image'])
  await s.busctl('Image.GetOSRelease os', ['call', DEST, '/org/freedesktop/machine1/image/os', 'org.freedesktop.machine1.Image', 'GetOSRelease'])
  await s.busctl('Image object of nope', ['call', DEST, '/org/freedesktop/machine1/image/nope', 'org.freedesktop.machine1.Image', 'GetHostname'])
  for (const [method, signature, ...args] of [
    ['RemoveImage', 's', 'a/b'], ['RemoveImage', 's', 'nope'], ['RemoveImage', 's', ''], ['RenameImage', 'ss', 'alpha', 'x/y'], ['RenameImage', 'ss', 'alpha', ''],
    ['CloneImage', 'ssb', 'alpha', '.#tmp', 'false'], ['SetImageLimit', 'st', 'alpha', '18446744073709551614'], ['SetImageLimit', 'st', 'os', '1000000'],
    ['SetPoolLimit', 't', '18446744073709551614'], ['CleanPool', 's', 'some'],
  ] as const) await s.call(method, signature, ...args)
  // Changes, each followed by what the pool looks like.
  await each(s, [
    ['clone', 'alpha', 'alpha2'], ['clone', '--read-only', 'os', 'os2'], ['clone', 'alpha', 'beta'], ['clone', 'alpha', '.host'], ['clone', 'nope', 'x'],
    ['clone', 'alpha', 'bad/name'], ['list-images', '--all'], ['image-status', 'alpha2', 'os2'],
    ['rename', 'alpha2', 'alpha4'], ['rename', 'alpha4', 'beta'], ['rename', 'alpha4', 'alpha4'], ['rename', '.host', 'x'], ['rename', 'alpha4', '.host'],
    ['rename', 'vendor1', 'vendor2'], ['rename', 'frozen', 'frozen2'],
    ['read-only', 'alpha4'], ['read-only', 'os2', 'false'], ['read-only', 'alpha4', 'maybe'], ['read-only', 'vendor1'], ['read-only', '.host', 'no'],
    ['list-images', '--all'], ['set-limit', '1G'], ['set-limit', 'alpha4', '1G'], ['set-limit', 'alpha4', 'lots'],
    ['remove', 'vendor1'], ['remove', '.host'], ['remove', 'nope'],
  ])
  await s.whileLocked('beta', 'shared', () => each(s, [['remove', 'beta'], ['rename', 'beta', 'beta2'], ['read-only', 'beta'], ['image-status', 'beta'], ['clone', 'beta', 'beta3']]))
  await s.whileLocked('alpha', 'exclusive', () => s.call('GetImageOSRelease', 's', 'alpha'))
  await each(s, [['remove', 'alpha4', 'os2', 'frozen2'], ['list-images', '--all'], ['clean'], ['list-images', '--all'], ['clean', '--all'], ['list-images', '--all']])
}
