// mctl's tables: systemd 252's format-table.c as machinectl list uses it
// (header only with the legend, "-" for empty cells, last column never
// padded, multi-line cells cut to --max-addresses lines with "…", squeezed
// to a terminal's width by weight). The expected texts follow
// format-table.c; the e2e test compares whole outputs with real machinectl.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { distribute, extractLine, Table, truncateLines, type Cell } from '../../src/cli/output/table.ts'
import { consoleWidth, ellipsize, localeIsUtf8, resetLocaleCache } from '../../src/cli/output/text-width.ts'

const COLUMNS = ['machine', 'class', 'service', 'os', 'version', 'addresses']
const HOST_ADDRESSES = '192.0.2.2\nfd00::2\nfe80::fc:ff:fe00:1'

function machines(...rows: Cell[][]): Table {
  const t = new Table(COLUMNS)
  for (const r of rows) t.addRow(r)
  t.sortBy(0)
  return t
}

const G1: Cell[] = ['g1', 'container', 'svc', 'debian', '12', null]
const LONG: Cell[] = ['a-much-longer-machine-name', 'vm', 'qemu-runner', null, null, null]
const HOST: Cell[] = ['.host', 'host', null, 'debian', '12', HOST_ADDRESSES]
const pipe = { ersatz: '-', width: 'auto', terminalColumns: undefined } as const

void describe('Table.format', () => {
  // The ellipsis depends on the locale; these tests want UTF-8.
  let saved: string | undefined
  before(() => { saved = process.env.LC_ALL; process.env.LC_ALL = 'C.UTF-8'; resetLocaleCache() })
  after(() => { if (saved === undefined) delete process.env.LC_ALL; else process.env.LC_ALL = saved; resetLocaleCache() })

  void test('columns are as wide as their widest cell, header included; the last one is not padded', () => {
    assert.equal(machines(LONG, G1).format({ ...pipe, header: true, cellHeightMax: 1 }),
      'MACHINE                    CLASS     SERVICE     OS     VERSION ADDRESSES\n'
      + 'a-much-longer-machine-name vm        qemu-runner -      -       -\n'
      + 'g1                         container svc         debian 12      -\n')
  })

  void test('without the header its width does not count (--no-legend)', () => {
    assert.equal(machines(G1, LONG).format({ ...pipe, header: false, cellHeightMax: 1 }),
      'a-much-longer-machine-name vm        qemu-runner -      -  -\n'
      + 'g1                         container svc         debian 12 -\n')
  })

  void test('a cell cut to one line ends in "…" and its column makes room for it', () => {
    assert.equal(machines(G1, HOST).format({ ...pipe, header: true, cellHeightMax: 1 }),
      'MACHINE CLASS     SERVICE OS     VERSION ADDRESSES\n'
      + '.host   host      -       debian 12      192.0.2.2…\n'
      + 'g1      container svc     debian 12      -\n')
  })

  void test('without a height limit (--full) every line of a cell is shown, below each other', () => {
    assert.equal(machines(G1, HOST).format({ ...pipe, header: true, width: 'full' }),
      'MACHINE CLASS     SERVICE OS     VERSION ADDRESSES\n'
      + '.host   host      -       debian 12      192.0.2.2\n'
      + '                                         fd00::2\n'
      + '                                         fe80::fc:ff:fe00:1\n'
      + 'g1      container svc     debian 12      -\n')
  })

  void test('two lines of three: the second ends in "…"', () => {
    const t = new Table(['a', 'b'])
    t.addRow(['x', 'one\ntwo\nthree'])
    assert.equal(t.format({ ...pipe, header: false, cellHeightMax: 2 }), 'x one\n  two…\n')
  })

  void test('rows sort by strcmp() on the first column, ties keep their order', () => {
    const t = new Table(['name', 'n'])
    for (const r of [['b', '1'], ['B', '2'], ['a', '3'], ['b', '4'], ['é', '5'], ['z', '6']]) t.addRow(r)
    t.sortBy(0)
    assert.equal(t.format({ ...pipe, header: false }), 'B 2\na 3\nb 1\nb 4\nz 6\né 5\n')
  })

  void test('rows added in order, ties and empty cells among them, come out as added; one row out of order sorts them all', () => {
    const t = new Table(['name', 'n'])
    for (const r of [['a', '1'], ['a', '2'], [null, '3'], ['b', '4'], ['c', '5']]) t.addRow(r)
    t.sortBy(0, 1)
    assert.equal(t.format({ ...pipe, header: false }), 'a 1\na 2\n- 3\nb 4\nc 5\n')
    t.addRow(['b', '0'])
    assert.equal(t.format({ ...pipe, header: false }), 'a 1\na 2\n- 3\nb 0\nb 4\nc 5\n')
  })

  void test('an empty string is a value (not the ersatz) and still takes one column', () => {
    const t = new Table(['a', 'b', 'c'])
    t.addRow(['', null, 'x'])
    assert.equal(t.format({ ...pipe, header: false }), '  - x\n')
  })

  void test('trailing white space of a padded last cell goes, its own included (delete_trailing_chars())', () => {
    const t = new Table(['a', 'b'])
    t.addRow(['x', 'yyy'])
    t.addRow(['x', 'y '])
    t.addRow(['x', 'zz '])
    assert.equal(t.format({ ...pipe, header: false }), 'x yyy\nx y\nx zz \n')
  })

  void test('on a narrow terminal columns shrink and cells are ellipsized at the end', () => {
    const t = new Table(['name', 'class'])
    t.addRow(['a-much-longer-machine-name', 'container'])
    // 20 cells: CLASS gets all 9 it asks for, NAME the other 10.
    assert.equal(t.format({ ...pipe, header: true, terminalColumns: 20 }), 'NAME       CLASS\na-much-lo… container\n')
    assert.equal(t.format({ ...pipe, header: true, terminalColumns: 12 }), 'NAME  CLASS\na-mu… conta…\n') // 5 and 6: the rest goes to the last
  })

  void test('a table with no rows shows only its header', () => {
    assert.equal(new Table(['a', 'bb']).format({ ...pipe, header: true }), 'A BB\n')
  })
})

void describe('Table.toJson', () => {
  void test('rows as objects keyed by column name, sorted, empty cells null', () => {
    assert.deepEqual(machines(G1, LONG).toJson(), [
      { machine: 'a-much-longer-machine-name', class: 'vm', service: 'qemu-runner', os: null, version: null, addresses: null },
      { machine: 'g1', class: 'container', service: 'svc', os: 'debian', version: '12', addresses: null },
    ])
  })
})

void describe('width distribution (table_print)', () => {
  void test('enough room: every column gets what it asked for', () => {
    assert.deepEqual(distribute([3, 5], 9), [3, 5])
  })
  void test('too little room: equal shares of what is left over the minimum', () => {
    assert.deepEqual(distribute([10, 10], 11), [5, 5])
  })
  void test('a column that wants less than its share is settled first and the rest goes to the others', () => {
    assert.deepEqual(distribute([3, 20], 15), [3, 11])
  })
  void test('the widths always add up to the table width', () => {
    for (const total of [5, 12, 30, 47]) {
      const w = distribute([26, 9, 11, 6, 7, 9], total)
      assert.equal(w.reduce((a, b) => a + b, 0) + w.length - 1, total)
    }
  })
})

void describe('line helpers (string-util.c)', () => {
  void test('truncateLines keeps n lines and says whether more than newlines went', () => {
    assert.deepEqual(truncateLines('a\nb\nc', 1), { text: 'a', truncated: true })
    assert.deepEqual(truncateLines('a\nb', 2), { text: 'a\nb', truncated: false })
    assert.deepEqual(truncateLines('a\n', 1), { text: 'a', truncated: false })
    assert.deepEqual(truncateLines('a\n\n\n', 1), { text: 'a', truncated: false })
  })
  void test('extractLine returns line i and whether more follow', () => {
    assert.deepEqual(extractLine('a\nb', 0), { line: 'a', more: true })
    assert.deepEqual(extractLine('a\nb', 1), { line: 'b', more: false })
    assert.deepEqual(extractLine('a\n', 0), { line: 'a', more: false })
    assert.deepEqual(extractLine('a', 3), { line: '', more: false })
  })
})

void describe('text width and ellipsis', () => {
  void test('wide characters take two cells', () => {
    assert.equal(consoleWidth('abc'), 3)
    assert.equal(consoleWidth('日本'), 4)
  })
  void test('ellipsize at the end, keeping the width', () => {
    process.env.LC_ALL = 'C.UTF-8'
    resetLocaleCache()
    assert.equal(ellipsize('abcdefgh', 5, 100), 'abcd…')
    assert.equal(ellipsize('abcdefgh', 5, 50), 'ab…gh')
    assert.equal(ellipsize('abc', 5, 100), 'abc')
    assert.equal(ellipsize('日本語テキスト', 6, 100), '日本…')
    process.env.LC_ALL = 'C'
    resetLocaleCache()
    assert.equal(ellipsize('abcdefgh', 6, 100), 'abc...')
    delete process.env.LC_ALL
    resetLocaleCache()
  })
  void test('the locale is UTF-8 unless it names another character set or C', () => {
    assert.equal(localeIsUtf8({}), true)
    assert.equal(localeIsUtf8({ LANG: 'en_US.UTF-8' }), true)
    assert.equal(localeIsUtf8({ LC_ALL: 'C.utf8' }), true)
    assert.equal(localeIsUtf8({ LC_ALL: 'C' }), false)
    assert.equal(localeIsUtf8({ LC_ALL: 'POSIX', LANG: 'en_US.UTF-8' }), false)
    assert.equal(localeIsUtf8({ LANG: 'de_DE.ISO-8859-1' }), false)
    assert.equal(localeIsUtf8({ LC_ALL: '', LC_CTYPE: 'C.UTF-8', LANG: 'C' }), true)
  })
})
