/**
 * D-Bus server addresses ("Server Addresses" in the specification):
 * `transport:key=value,...` entries separated by `;`, values
 * percent-escaped. We connect to unix sockets only, by path or in the
 * abstract namespace.
 * @module
 */

export interface UnixAddress {
  /** A filesystem path, or a NUL byte followed by an abstract socket name. */
  readonly socketPath: string
  /** The address entry as written, for messages. */
  readonly text: string
}

function unescapeValue(v: string): string {
  return decodeURIComponent(v)
}

/** The unix-socket entries of an address, in order; throws on a malformed address. */
export function parseAddress(address: string): UnixAddress[] {
  const out: UnixAddress[] = []
  const unsupported: string[] = []
  for (const entry of address.split(';')) {
    if (entry === '') continue
    const colon = entry.indexOf(':')
    if (colon <= 0) throw new Error(`Invalid D-Bus address '${entry}': no transport`)
    const transport = entry.slice(0, colon)
    const params = new Map<string, string>()
    for (const pair of entry.slice(colon + 1).split(',')) {
      if (pair === '') continue
      const eq = pair.indexOf('=')
      if (eq <= 0) throw new Error(`Invalid D-Bus address '${entry}': '${pair}' is not key=value`)
      let value: string
      try {
        value = unescapeValue(pair.slice(eq + 1))
      } catch {
        throw new Error(`Invalid D-Bus address '${entry}': bad escape in '${pair}'`)
      }
      params.set(pair.slice(0, eq), value)
    }
    if (transport !== 'unix') { unsupported.push(transport); continue }
    const path = params.get('path')
    const abstract = params.get('abstract')
    if (path !== undefined) out.push({ socketPath: path, text: entry })
    else if (abstract !== undefined) out.push({ socketPath: `\0${abstract}`, text: entry })
    else unsupported.push(`${transport} without path= or abstract=`)
  }
  if (out.length === 0) {
    throw new Error(`No usable D-Bus address in '${address}'${unsupported.length > 0 ? ` (unsupported: ${unsupported.join(', ')})` : ''}`)
  }
  return out
}
