// Every resource a caller can make the daemon hold has a limit, set on the
// command line, with the default --help and the README name.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { HELP, parseDaemonArgs, type DaemonOptions } from '../../src/daemon/main.ts'

function options(...argv: string[]): DaemonOptions {
  const r = parseDaemonArgs(argv)
  assert.ok('options' in r)
  return r.options
}

const LIMITS = [
  ['max-machines', 'maxMachines', 65536],
  ['max-machines-per-uid', 'maxMachinesPerUid', 1024],
  ['max-calls-per-sender', 'maxCallsPerSender', 128],
  ['max-operations', 'maxOperations', 64],
  ['max-varlink-connections', 'maxVarlinkConnections', 4096],
  ['max-varlink-connections-per-uid', 'maxVarlinkConnectionsPerUid', 1024],
  ['max-transfers', 'maxTransfers', 64],
] as const

describe('daemon limits', () => {
  test('defaults are the documented ones, and --help says them', () => {
    const o = options()
    for (const [option, key, fallback] of LIMITS) {
      assert.equal(o[key], fallback, option)
      // The option, then its description up to the default, perhaps over several lines.
      assert.match(HELP, new RegExp(`--${option}=N\\s(?:(?!\\s--).)*?\\(default ${fallback}\\)`, 's'), option)
    }
  })

  test('each limit is taken from its option', () => {
    for (const [option, key] of LIMITS) assert.equal(options(`--${option}=7`)[key], 7, option)
  })

  test('a limit must be a positive integer', () => {
    for (const [option] of LIMITS) {
      for (const bad of ['0', '-1', 'abc', '1.5', '', '99999999999999999999']) {
        assert.throws(() => parseDaemonArgs([`--${option}=${bad}`]), new RegExp(`^Error: Invalid --${option}=`), `${option}=${bad}`)
      }
    }
  })
})

describe('image usage measurement', () => {
  test('on by default, off with --measure-image-usage=no, nothing else accepted', () => {
    assert.equal(options().measureImageUsage, true)
    assert.equal(options('--measure-image-usage=yes').measureImageUsage, true)
    assert.equal(options('--measure-image-usage=no').measureImageUsage, false)
    assert.throws(() => parseDaemonArgs(['--measure-image-usage=maybe']), /^Error: Invalid --measure-image-usage=maybe/)
    assert.match(HELP, /--measure-image-usage=yes\|no/)
  })
})
