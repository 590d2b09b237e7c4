/**
 * JSON exactly as systemd's json_variant_dump() writes it (json.c,
 * json_format()): compact `{"a":1}`, or pretty with one tab per level and
 * `"key" : value`; strings escape only `"`, `\`, and control characters;
 * every mode ends in a newline (SSE: "data: " and a blank line, SEQ: a
 * leading record separator). Colours are never used.
 * @module
 */

export type JsonValue = null | boolean | number | bigint | string | readonly JsonValue[] | { readonly [key: string]: JsonValue }

export const JSON_MODES = ['json', 'json-pretty', 'json-sse', 'json-seq'] as const
export type JsonMode = (typeof JSON_MODES)[number]

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = { '"': '\\"', '\\': '\\\\', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t' }

/** json_format_string(): bytes ≥ 0x20 (and all non-ASCII) go out as they are. */
export function formatJsonString(s: string): string {
  // eslint-disable-next-line no-control-regex -- JSON escapes exactly the control characters
  return `"${s.replace(/["\\\x00-\x1f]/g, (c) => SIMPLE_ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}"`
}

/** printf("%.*e", DECIMAL_DIG, d): 21 digits after the point, exponent of at least two digits. */
function formatReal(d: number): string {
  if (!Number.isFinite(d)) return d > 0 ? 'inf' : d < 0 ? '-inf' : 'nan'
  return d.toExponential(21).replace(/e([+-])(\d)$/, 'e$10$2')
}

function format(v: JsonValue, pretty: boolean, prefix: string): string {
  if (v === null) return 'null'
  switch (typeof v) {
    case 'boolean': return v ? 'true' : 'false'
    case 'bigint': return v.toString()
    case 'number': return Number.isInteger(v) ? v.toString() : formatReal(v)
    case 'string': return formatJsonString(v)
    default: break
  }
  const inner = pretty ? `${prefix}\t` : prefix
  if (Array.isArray(v)) {
    const items = v as readonly JsonValue[]
    if (items.length === 0) return '[]'
    const parts = items.map((e) => (pretty ? inner : '') + format(e, pretty, inner))
    return pretty ? `[\n${parts.join(',\n')}\n${prefix}]` : `[${parts.join(',')}]`
  }
  const entries = Object.entries(v as { readonly [key: string]: JsonValue })
  if (entries.length === 0) return '{}'
  const parts = entries.map(([k, e]) => `${pretty ? inner : ''}${formatJsonString(k)}${pretty ? ' : ' : ':'}${format(e, pretty, inner)}`)
  return pretty ? `{\n${parts.join(',\n')}\n${prefix}}` : `{${parts.join(',')}}`
}

/** The text json_variant_dump() writes for machinectl's output_mode_to_json_format_flags(mode). */
export function formatJson(v: JsonValue, mode: JsonMode): string {
  const body = format(v, mode === 'json-pretty', '')
  switch (mode) {
    case 'json-sse': return `data: ${body}\n\n`
    case 'json-seq': return `\x1e${body}\n`
    default: return `${body}\n`
  }
}
