// KEY=VALUE files as systemd reads them (parse_env_file, env-file.c) and the
// C escaping machine_save() writes (cescape, systemd-src §3.2). os-release
// answers (GetMachineOSRelease) and reloaded state files depend on both.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { cescape, cunescape, parseEnvFile } from '../../src/core/env-file.ts'

/** /etc/os-release of a Debian 12 host, verbatim. */
const DEBIAN_12_OS_RELEASE = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
`

void describe('parseEnvFile', () => {
  void test('reads a real os-release, in order', () => {
    assert.deepEqual([...parseEnvFile(DEBIAN_12_OS_RELEASE)], [
      ['PRETTY_NAME', 'Debian GNU/Linux 12 (bookworm)'],
      ['NAME', 'Debian GNU/Linux'],
      ['VERSION_ID', '12'],
      ['VERSION', '12 (bookworm)'],
      ['VERSION_CODENAME', 'bookworm'],
      ['ID', 'debian'],
      ['HOME_URL', 'https://www.debian.org/'],
      ['SUPPORT_URL', 'https://www.debian.org/support'],
      ['BUG_REPORT_URL', 'https://bugs.debian.org/'],
    ])
  })

  void test('a file without a final newline still yields its last value', () => {
    assert.equal(parseEnvFile('ID=debian\nVERSION_ID=12').get('VERSION_ID'), '12')
  })

  void test('comments (# and ;), blank lines and lines that are not assignments are skipped', () => {
    const env = parseEnvFile('# comment=1\n; also=2\n\n   \nnot an assignment\nA=1\n  # indented comment\nB=2\n')
    assert.deepEqual([...env], [['A', '1'], ['B', '2']])
  })

  void test('# inside a value is not a comment', () => {
    assert.equal(parseEnvFile('A=x # y\n').get('A'), 'x # y')
  })

  void test('whitespace around key and value is trimmed, inner whitespace kept', () => {
    const env = parseEnvFile('  KEY = spaced   value  \nT=\ttabbed\t\nCR=a\r\n')
    assert.equal(env.get('KEY'), 'spaced   value')
    assert.equal(env.get('T'), 'tabbed')
    assert.equal(env.get('CR'), 'a')
  })

  void test('an empty value is an empty string', () => {
    assert.equal(parseEnvFile('EMPTY=\n').get('EMPTY'), '')
  })

  void test('single quotes are literal', () => {
    assert.equal(parseEnvFile(`A='$HOME "q" \\n'\n`).get('A'), '$HOME "q" \\n')
  })

  void test('double quotes unescape only " \\ ` $ and keep other backslashes', () => {
    assert.equal(parseEnvFile('A="a\\"b\\\\c\\$d\\`e"\n').get('A'), 'a"b\\c$d`e')
    assert.equal(parseEnvFile('A="a\\nb"\n').get('A'), 'a\\nb')
  })

  void test('double-quoted values may span lines; an escaped newline is dropped', () => {
    assert.equal(parseEnvFile('A="multi\nline"\nB=2\n').get('A'), 'multi\nline')
    assert.equal(parseEnvFile('A="con\\\ntinued"\n').get('A'), 'continued')
  })

  void test('unquoted: a backslash keeps the next character; backslash-newline continues the line', () => {
    const env = parseEnvFile('A=a\\ b\\"c\nB=cont\\\nued\nS=machine-foo\\\\x2dbar.scope\n')
    assert.equal(env.get('A'), 'a b"c')
    assert.equal(env.get('B'), 'contued')
    assert.equal(env.get('S'), 'machine-foo\\x2dbar.scope')
  })

  void test('quoted sections join what surrounds them', () => {
    assert.equal(parseEnvFile(`A='a b'c\n`).get('A'), 'a bc')
    assert.equal(parseEnvFile('A="x"\'y\'\n').get('A'), 'xy')
  })

  void test('a later assignment wins', () => {
    assert.equal(parseEnvFile('A=1\nA=2\n').get('A'), '2')
  })

  void test('quotes inside an unquoted value are literal, whitespace after a quoted section is dropped', () => {
    assert.equal(parseEnvFile('A=foo"bar"\n').get('A'), 'foo"bar"')
    assert.equal(parseEnvFile('A=a "b"\n').get('A'), 'a "b"')
    assert.equal(parseEnvFile('A="x" y\n').get('A'), 'xy')
    assert.equal(parseEnvFile('A="x" "y"\n').get('A'), 'xy')
  })
})

void describe('cescape', () => {
  void test('examples from machine_save()', () => {
    assert.equal(cescape('machine-foo\\x2dbar.scope'), 'machine-foo\\\\x2dbar.scope')
    assert.equal(cescape('\u00fc'), '\\303\\274')
    assert.equal(cescape('my "svc" \\ x\ny \u00fc'), 'my \\"svc\\" \\\\ x\\ny \\303\\274')
  })

  void test('named escapes', () => {
    assert.equal(cescape('\x07\b\f\n\r\t\v\\"\''), '\\a\\b\\f\\n\\r\\t\\v\\\\\\"\\\'')
  })

  void test('other control bytes and DEL are three-digit octal', () => {
    assert.equal(cescape('\x00\x01\x1f\x7f'), '\\000\\001\\037\\177')
  })

  void test('printable ASCII, including space, is kept', () => {
    const printable = ' !#$%&()*+,-./0123456789:;<=>?@ABCXYZ[]^_`abcxyz{|}~'
    assert.equal(cescape(printable), printable)
    assert.equal(cescape('/srv/with space'), '/srv/with space')
  })
})

void describe('cunescape', () => {
  void test('inverts cescape', () => {
    for (const s of ['plain', 'machine-foo\\x2dbar.scope', 'my "svc" \\ x\ny \u00fc', '\x00\x07\x7f\t', '\u65e5\u{1f600}', "it's"]) {
      assert.equal(cunescape(cescape(s)), s)
    }
  })

  void test('reads octal, \\x and named escapes', () => {
    assert.equal(cunescape('\\303\\274'), '\u00fc')
    assert.equal(cunescape('a\\x41\\n'), 'aA\n')
    assert.equal(cunescape('\\t\\\\'), '\t\\')
  })
})
