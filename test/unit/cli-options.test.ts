// mctl reads its command line as machinectl does (GNU getopt_long():
// options anywhere, abbreviations, clusters; glibc's error texts) and
// parses signals as systemd's signal_from_string() does.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { parseArguments, type ParseResult } from '../../src/cli/options.ts'
import { parseCInt, signalFromString, signalNames, signalToString } from '../../src/protocol/signals.ts'

const actions = { help: () => 'HELP\n', version: () => 'VERSION\n', signalTable: () => 'TABLE\n', signalNames: () => 'NAMES\n' }
const parse = (...argv: string[]): ParseResult => parseArguments(argv, 'mctl', actions)
const run = (...argv: string[]): Extract<ParseResult, { kind: 'run' }> => {
  const r = parse(...argv)
  assert.equal(r.kind, 'run', JSON.stringify(r))
  return r
}
const failure = (...argv: string[]): string => {
  const r = parse(...argv)
  assert.equal(r.kind, 'exit')
  assert.equal((r as { code: number }).code, 1)
  return (r as { stderr: string }).stderr
}

void describe('parseArguments', () => {
  void test('options may come after the verb and its names; words stay in order', () => {
    const r = run('show', 'a', '--all', 'b', '-p', 'Name', '--value')
    assert.deepEqual(r.words, ['show', 'a', 'b'])
    assert.deepEqual(r.options.properties, ['Name'])
    assert.equal(r.options.all, true)
    assert.equal(r.options.onlyValue, true)
  })

  void test('-p is repeatable and takes comma-separated lists; it implies showing empty values', () => {
    const r = run('-pName', '--property=Id,Leader', '-p', 'State')
    assert.deepEqual(r.options.properties, ['Name', 'Id', 'Leader', 'State'])
    assert.equal(r.options.showEmpty, true)
    assert.equal(r.options.all, false)
  })

  void test('short options cluster and long ones abbreviate', () => {
    const r = run('-al', '--no-leg', '--max-a=3', '-s9', '--kill-w', 'leader')
    assert.equal(r.options.full, true)
    assert.equal(r.options.legend, false)
    assert.equal(r.options.maxAddresses, 3)
    assert.equal(r.options.signal, 9)
    assert.equal(r.options.killWhom, 'leader')
  })

  void test('defaults', () => {
    const o = run().options
    assert.deepEqual([o.signal, o.maxAddresses, o.output, o.legend, o.transport, o.properties], [15, 1, 'short', true, 'auto', undefined])
  })

  void test('a JSON output turns the legend off; --max-addresses=all is no limit', () => {
    const o = run('-o', 'json-pretty', '--max-addresses=all').options
    assert.equal(o.legend, false)
    assert.equal(o.maxAddresses, Infinity)
  })

  void test('glibc\'s wording for bad options, with our name', () => {
    assert.equal(failure('--foo=bar'), "mctl: unrecognized option '--foo=bar'\n")
    assert.equal(failure('--no'), "mctl: option '--no' is ambiguous; possibilities: '--no-pager' '--no-legend' '--no-ask-password'\n")
    assert.equal(failure('-x'), "mctl: invalid option -- 'x'\n")
    assert.equal(failure('-s'), "mctl: option requires an argument -- 's'\n")
    assert.equal(failure('--sig'), "mctl: option '--signal' requires an argument\n")
    assert.equal(failure('--al=1'), "mctl: option '--all' doesn't allow an argument\n")
  })

  void test('machinectl\'s wording for bad values', () => {
    assert.equal(failure('--signal=bogus'), 'Failed to parse signal string "bogus".\n')
    assert.equal(failure('--output=foo'), "Unknown output 'foo'.\n")
    assert.equal(failure('--max-addresses=-1'), 'Invalid number of addresses: -1\n')
    assert.equal(failure('-n', 'x'), "Failed to parse lines 'x'\n")
    assert.equal(failure('-M', 'box'), '--machine= is not supported by mctl: it talks to the local machined only.\n')
    assert.equal(failure('-H', 'host'), '--host= is for the fleet (--fleet=): mctl talks to the local machined only otherwise.\n')
  })

  void test('--help and listings act when reached, before later errors', () => {
    assert.deepEqual(parse('-h', '--foo'), { kind: 'exit', code: 0, stdout: 'HELP\n', stderr: '' })
    assert.equal(failure('--foo', '-h'), "mctl: unrecognized option '--foo'\n")
    assert.deepEqual(parse('--signal=list'), { kind: 'exit', code: 0, stdout: 'TABLE\n', stderr: '' })
    assert.equal((parse('-o', 'help') as { stdout: string }).stdout.split('\n')[0], 'short')
  })

  void test('after -- everything is a word', () => {
    assert.deepEqual(run('show', '--', '-a').words, ['show', '-a'])
  })
})

void describe('signals', () => {
  void test('names, numbers and real-time offsets', () => {
    const cases: [string, number | undefined][] = [
      ['TERM', 15], ['SIGKILL', 9], ['18', 18], [' 9', 9], ['0x9', 9], ['010', 8], ['SIGRTMIN+4', 38], ['RTMIN', 34],
      ['RTMAX', 64], ['SIGRTMAX-2', 62], ['RTMIN+30', 64], ['RTMIN+31', undefined], ['0', undefined], ['65', undefined],
      ['bogus', undefined], ['rtmin', undefined], ['9 ', undefined], ['RTMIN4', undefined],
    ]
    for (const [s, n] of cases) assert.equal(signalFromString(s), n, s)
  })
  void test('signal_to_string and the help listing', () => {
    assert.equal(signalToString(38), 'RTMIN+4')
    assert.equal(signalToString(32), '32')
    const names = signalNames().split('\n')
    assert.deepEqual([names[0], names[1], names[34], names[64]], ['0', 'HUP', 'RTMIN+0', 'RTMIN+30'])
  })
  void test('parseCInt is strtol() with base 0 and systemd\'s 0b/0o', () => {
    assert.equal(parseCInt('0b101'), 5)
    assert.equal(parseCInt('0o17'), 15)
    assert.equal(parseCInt('-0x10'), -16)
    assert.equal(parseCInt('08'), undefined)
    assert.equal(parseCInt('4294967296'), undefined)
  })
})
