// mctl's JSON is systemd's json_variant_dump() byte for byte: compact
// without spaces, pretty with tabs and " : ", only `"`, `\` and control
// characters escaped, and the framing of the json-sse/json-seq modes.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { formatJson, formatJsonString } from '../../src/cli/output/json.ts'

const ROWS = [
  { machine: 'g1', class: 'container', service: 'svc', os: 'debian', version: '12', addresses: null },
  { machine: '.host', class: 'host', service: null, os: null, version: null, addresses: '192.0.2.2\nfd00::2' },
]

void describe('formatJson', () => {
  void test('compact: one line, no spaces', () => {
    assert.equal(formatJson(ROWS, 'json'),
      '[{"machine":"g1","class":"container","service":"svc","os":"debian","version":"12","addresses":null},'
      + '{"machine":".host","class":"host","service":null,"os":null,"version":null,"addresses":"192.0.2.2\\nfd00::2"}]\n')
  })

  void test('pretty: a tab per level and " : " between key and value', () => {
    assert.equal(formatJson([ROWS[0]!], 'json-pretty'),
      '[\n\t{\n\t\t"machine" : "g1",\n\t\t"class" : "container",\n\t\t"service" : "svc",\n'
      + '\t\t"os" : "debian",\n\t\t"version" : "12",\n\t\t"addresses" : null\n\t}\n]\n')
  })

  void test('empty containers stay on one line', () => {
    assert.equal(formatJson([], 'json'), '[]\n')
    assert.equal(formatJson([], 'json-pretty'), '[]\n')
    assert.equal(formatJson({ a: {}, b: [] }, 'json-pretty'), '{\n\t"a" : {},\n\t"b" : []\n}\n')
  })

  void test('json-sse and json-seq framing', () => {
    assert.equal(formatJson([1], 'json-sse'), 'data: [1]\n\n')
    assert.equal(formatJson([1], 'json-seq'), '\x1e[1]\n')
  })

  void test('numbers: integers as they are, reals as %.21e', () => {
    assert.equal(formatJson([1, -2, 18446744073709551615n, true, false], 'json'), '[1,-2,18446744073709551615,true,false]\n')
    assert.equal(formatJson([1.5], 'json'), '[1.500000000000000000000e+00]\n')
    assert.equal(formatJson([0.1], 'json'), '[1.000000000000000055511e-01]\n')
  })
})

void describe('formatJsonString', () => {
  void test('escapes quotes, backslashes and control characters only', () => {
    assert.equal(formatJsonString('a"b\\c'), '"a\\"b\\\\c"')
    assert.equal(formatJsonString('\b\f\n\r\t'), '"\\b\\f\\n\\r\\t"')
    assert.equal(formatJsonString('\x01\x1f'), '"\\u0001\\u001f"')
    assert.equal(formatJsonString('\x7f/é'), '"\x7f/é"')
  })
})
