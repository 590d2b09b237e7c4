/**
 * The subset of systemd's format-table.c that machinectl's tables use:
 * string cells, an upper-cased header row shown only with the legend, an
 * ersatz string for empty cells ("-"), sorting by columns, multi-line
 * cells with a height limit ending in "…", columns as wide as their widest
 * cell (or squeezed to the terminal's width, by weight), one space between
 * columns, and no padding after the last column. Also the JSON form of the
 * same table (table_to_json()). No colours, no URLs, no per-cell widths:
 * machinectl sets none.
 * @module
 */

import type { JsonValue } from './json.ts'
import { consoleWidth, ellipsize, ellipsisGlyph } from './text-width.ts'

/**
 * A typed cell (TABLE_BOOLEAN, TABLE_SIZE, TABLE_TIMESTAMP…): how it reads
 * in the table (null: the ersatz string) and what it is in JSON.
 */
export interface TypedCell {
  readonly text: string | null
  readonly json: JsonValue
}

/** A cell: text (possibly several lines), null for "no value" (TABLE_EMPTY), or a typed value. */
export type Cell = string | null | TypedCell

/** Every cell gets format-table's defaults: minimum width 1, weight 100, left-aligned, ellipsized at the end. */
const MINIMUM_WIDTH = 1
const WEIGHT = 100

export interface TableLayout {
  /** Whether the header row is printed (machinectl: the legend). */
  readonly header: boolean
  /** What an empty cell shows: TABLE_ERSATZ_DASH is "-". */
  readonly ersatz: string
  /**
   * 'auto': as wide as the cells want, squeezed to `terminalColumns` when
   * output goes to a terminal (SIZE_MAX in systemd); 'full': as wide as
   * the cells want (table_set_width(t, 0)); a number: exactly that wide.
   */
  readonly width: 'auto' | 'full' | number
  /** Set only when output goes to a terminal: its width (systemd's columns()). */
  readonly terminalColumns?: number | undefined
  /** Lines shown per cell at most, the last ending in "…"; undefined for no limit. */
  readonly cellHeightMax?: number | undefined
}

/** Below the surrogates, UTF-16 code units sort as UTF-8 bytes do. */
// eslint-disable-next-line no-control-regex -- a range from U+0000, not a stray control character
const BELOW_SURROGATES = /^[\u0000-\ud7ff]*$/

/**
 * What a TABLE_STRING cell sorts by, strcmp() on its UTF-8 bytes: the
 * string itself when its code units sort the same (the usual case: no
 * encoding, and the test made once per cell rather than per comparison).
 */
function sortKey(s: string): string | Buffer {
  return BELOW_SURROGATES.test(s) ? s : Buffer.from(s)
}

/** A row's sort keys, one per sort column (undefined: not text). */
type SortKeys = (string | Buffer | undefined)[]

function compareKeys(a: string | Buffer, b: string | Buffer): number {
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0
  return Buffer.compare(typeof a === 'string' ? Buffer.from(a) : a, typeof b === 'string' ? Buffer.from(b) : b)
}

/** string_truncate_lines(): the first `n` lines; whether anything other than newlines was cut. */
export function truncateLines(s: string, n: number): { text: string; truncated: boolean } {
  let p = 0
  let e = 0
  let count = 0
  for (;;) {
    const nl = s.indexOf('\n', p)
    if (nl < 0) {
      if (p < s.length && count < n) e = s.length
      break
    }
    if (count >= n) break
    if (nl > p) e = nl
    p = nl + 1
    count++
  }
  const rest = s.slice(e)
  if (rest === '') return { text: s, truncated: false }
  return { text: s.slice(0, e), truncated: !/^\n*$/.test(rest) }
}

/** string_extract_line(): line `i` and whether more follow it. */
export function extractLine(s: string, i: number): { line: string; more: boolean } {
  let p = 0
  for (let c = 0; ; c++) {
    const nl = s.indexOf('\n', p)
    if (c === i) {
      if (nl < 0) return { line: s.slice(p), more: false }
      return { line: s.slice(p, nl), more: nl + 1 < s.length }
    }
    if (nl < 0) return { line: '', more: false }
    p = nl + 1
  }
}

/** console_width_height(): the widest line and the number of lines (a trailing newline adds none). */
function widthHeight(s: string): { width: number; height: number } {
  let width = 0
  let height = 0
  let rest: string | undefined = s
  do {
    const nl: number = rest.indexOf('\n')
    const line: string = nl < 0 ? rest : rest.slice(0, nl)
    rest = nl < 0 ? undefined : rest.slice(nl + 1)
    width = Math.max(width, consoleWidth(line))
    height++
  } while (rest !== undefined && rest !== '')
  return { width, height }
}

/** What a cell reads as; undefined for none (the ersatz string then). */
function cellText(cell: Cell): string | undefined {
  if (cell === null) return undefined
  if (typeof cell === 'string') return cell
  return cell.text ?? undefined
}

export class Table {
  readonly #columns: readonly string[]
  readonly #rows: Cell[][] = []
  /** Columns padded on the left (table_set_align_percent(…, 100) on the header, which every cell below inherits). */
  readonly #right: ReadonlySet<number>
  #sortBy: readonly number[] = []

  /** `columns` are the header cells as JSON field names; the header row shows them upper-cased. */
  constructor(columns: readonly string[], options: { rightAligned?: readonly number[] } = {}) {
    this.#columns = columns
    this.#right = new Set(options.rightAligned ?? [])
  }

  addRow(cells: readonly Cell[]): void {
    if (cells.length !== this.#columns.length) throw new RangeError(`a row needs ${this.#columns.length} cells, got ${cells.length}`)
    this.#rows.push(cells.slice())
  }

  /** Rows without the header. */
  get rowCount(): number {
    return this.#rows.length
  }

  sortBy(...columns: number[]): void {
    this.#sortBy = columns
  }

  /** Body rows in display order: by the sort columns, ties in the order they were added. */
  #sorted(): Cell[][] {
    if (this.#sortBy.length === 0) return this.#rows
    const columns = this.#sortBy
    const keysOf = (row: Cell[], into: SortKeys): SortKeys => {
      for (let k = 0; k < columns.length; k++) { const x = row[columns[k]!]; into[k] = typeof x === 'string' ? sortKey(x) : undefined }
      return into
    }
    /** Cells of different kinds (text against empty) keep the order they were added in. */
    const compare = (a: SortKeys, ai: number, b: SortKeys, bi: number): number => {
      for (let k = 0; k < columns.length; k++) {
        const x = a[k]
        const y = b[k]
        const r = x !== undefined && y !== undefined ? compareKeys(x, y) : ai - bi
        if (r !== 0) return r
      }
      return ai - bi
    }
    // Rows often come in order already (the fleet's do): then there is nothing to move.
    const rows = this.#rows
    let previous = keysOf(rows[0] ?? [], new Array<string | Buffer | undefined>(columns.length))
    let current = new Array<string | Buffer | undefined>(columns.length)
    let inOrder = true
    for (let i = 1; i < rows.length && inOrder; i++) {
      current = keysOf(rows[i]!, current)
      inOrder = compare(previous, i - 1, current, i) < 0
      ;[previous, current] = [current, previous]
    }
    if (inOrder) return rows
    const indexed = rows.map((row, index) => ({ row, index, keys: keysOf(row, new Array<string | Buffer | undefined>(columns.length)) }))
    indexed.sort((a, b) => compare(a.keys, a.index, b.keys, b.index))
    return indexed.map((e) => e.row)
  }

  /** table_print(). */
  format(layout: TableLayout): string {
    const ersatz = layout.ersatz
    const header = this.#columns.map((c) => c.toUpperCase())
    const body = this.#sorted()
    const shown = layout.header ? [header, ...body] : body
    const text = (cell: Cell): string => cellText(cell) ?? ersatz
    const n = this.#columns.length
    const heightMax = layout.cellHeightMax

    // Pass 1: how wide each column wants to be. Each cell's text, and the
    // width of a one-line cell (the usual kind), are kept for pass 2.
    const texts: string[][] = []
    const singleWidths: number[][] = []
    const requested = new Array<number>(n).fill(0)
    let any = false
    for (const row of shown) {
      any = true
      const rowTexts = new Array<string>(n)
      const rowWidths = new Array<number>(n)
      for (let j = 0; j < n; j++) {
        const field = text(row[j]!)
        rowTexts[j] = field
        let w: number
        if (!field.includes('\n') && (heightMax === undefined || heightMax >= 1)) {
          // One line: nothing to truncate, and its width is the cell's.
          rowWidths[j] = consoleWidth(field)
          w = Math.max(rowWidths[j]!, MINIMUM_WIDTH)
        } else {
          rowWidths[j] = -1
          let t = field
          let truncated = false
          if (heightMax !== undefined) ({ text: t, truncated } = truncateLines(field, heightMax))
          w = Math.max(widthHeight(t).width, MINIMUM_WIDTH)
          // Room for the "…" that marks cut lines, after the last line shown.
          if (truncated) w = Math.max(w, consoleWidth(extractLine(field, heightMax! - 1).line) + consoleWidth(ellipsisGlyph()))
        }
        requested[j] = Math.max(requested[j]!, w)
      }
      texts.push(rowTexts)
      singleWidths.push(rowWidths)
    }
    if (!any) requested.fill(MINIMUM_WIDTH)
    const widths = distribute(requested, effectiveWidth(requested, layout))

    // Pass 2: the lines, as pieces joined once at the end.
    const right = Array.from({ length: n }, (_, j) => this.#right.has(j))
    const padding: string[] = []
    const blanks = (k: number): string => (padding[k] ??= ' '.repeat(k))
    const out: string[] = []
    for (let r = 0; r < texts.length; r++) {
      const rowTexts = texts[r]!
      const rowWidths = singleWidths[r]!
      for (let sub = 0, more = true; more; sub++) {
        more = false
        for (let j = 0; j < n; j++) {
          const width = widths[j]!
          const single = rowWidths[j]!
          let field: string
          let l: number
          let cut = false
          if (single >= 0) {
            // A one-line cell: its text on the first line, nothing below.
            field = sub === 0 ? rowTexts[j]! : ''
            l = sub === 0 ? single : 0
          } else {
            const extracted = extractLine(rowTexts[j]!, sub)
            field = extracted.line
            if (extracted.more) {
              if (heightMax === undefined || sub + 1 < heightMax) more = true
              else cut = true
            }
            l = consoleWidth(field)
          }
          if (j > 0) out.push(' ')
          if (l > width) {
            field = ellipsize(field, width, 100)
          } else {
            if (cut) {
              field = ellipsize(field + ellipsisGlyph(), width, 100)
              l = consoleWidth(field)
            }
            if (l < width) {
              // The last column is never padded (no colours, so nothing to keep): its trailing blanks go.
              if (j === n - 1) field = trimEnd(right[j]! ? blanks(width - l) + field : field)
              else if (right[j]!) out.push(blanks(width - l))
              else { out.push(field); field = blanks(width - l) }
            }
          }
          out.push(field)
        }
        out.push('\n')
      }
    }
    return out.join('')
  }

  /** table_to_json(): an array of objects keyed by the (lower-case) column names; empty cells are null. */
  toJson(): JsonValue {
    const json = (cell: Cell | undefined): JsonValue => (cell === undefined || cell === null || typeof cell === 'string' ? cell ?? null : cell.json)
    return this.#sorted().map((row) => Object.fromEntries(this.#columns.map((c, j) => [c.replace(/\s/g, '_'), json(row[j])])))
  }
}

/** strstrip()'s end: blanks and newlines at the end go (a cell rarely ends in one: no regex then). */
function trimEnd(s: string): string {
  const last = s.charCodeAt(s.length - 1)
  return last === 0x20 || last === 0x09 || last === 0x0a || last === 0x0d ? s.replace(/[ \t\n\r]+$/, '') : s
}

function effectiveWidth(requested: readonly number[], layout: TableLayout): number {
  const wanted = requested.length - 1 + requested.reduce((a, b) => a + b, 0)
  const minimum = requested.length - 1 + requested.length * MINIMUM_WIDTH
  let effective: number
  if (typeof layout.width === 'number' && layout.width !== 0) effective = layout.width
  else if (layout.width === 'full' || layout.width === 0 || layout.terminalColumns === undefined) effective = wanted
  else effective = Math.min(wanted, layout.terminalColumns)
  return Math.max(effective, minimum)
}

/**
 * Column widths for a table `total` cells wide: table_print()'s
 * distribution by weight (every column weighs the same here). With room to
 * spare every column gets what it asked for plus a share; without, every
 * column first gets its minimum, columns that would get at least what they
 * asked for are settled first, and the rest share what is left.
 */
export function distribute(requested: readonly number[], total: number): number[] {
  const n = requested.length
  const wanted = n - 1 + requested.reduce((a, b) => a + b, 0)
  const width = new Array<number>(n)
  let weightSum = n * WEIGHT
  if (total >= wanted) {
    let extra = total - wanted
    for (let j = 0; j < n; j++) {
      width[j] = Math.max(requested[j]! + Math.floor((extra * WEIGHT) / weightSum), MINIMUM_WIDTH)
      extra = Math.max(0, extra - Math.max(0, width[j]! - requested[j]!))
      weightSum -= WEIGHT
    }
    return width
  }
  let extra = total - (n - 1 + n * MINIMUM_WIDTH)
  const unset = -1
  width.fill(unset)
  for (let finalize = false; ;) {
    let restart = false
    for (let j = 0; j < n; j++) {
      if (width[j] !== unset) continue
      let w = weightSum === 0 ? MINIMUM_WIDTH + Math.floor(extra / (n - j)) : MINIMUM_WIDTH + Math.floor((extra * WEIGHT) / weightSum)
      if (w >= requested[j]!) {
        // Never more than asked for; what is saved goes to the others, so start over.
        w = requested[j]!
        restart = true
      } else if (!finalize) continue
      width[j] = w
      extra -= w - MINIMUM_WIDTH
      weightSum -= WEIGHT
      if (restart && !finalize) break
    }
    if (finalize) break
    if (!restart) finalize = true
  }
  return width
}
