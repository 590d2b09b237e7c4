/**
 * Machine names follow systemd's hostname_is_valid() (hostname-util.c):
 * letters, digits, '-' and '.', labels neither starting nor ending in '-'
 * or '.', no empty labels, no trailing dot, at most HOST_NAME_MAX (64)
 * characters. Underscores are refused (systemd#27481). ".host" is the
 * name systemd reserves for the host itself.
 * @module
 */

export const HOST_NAME_MAX = 64

function isLdhChar(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)
}

export function hostnameIsValid(s: string, options: { allowDotHost?: boolean } = {}): boolean {
  if (s.length === 0) return false
  if (s === '.host') return options.allowDotHost === true
  if (s.length > HOST_NAME_MAX) return false
  let dot = true
  let hyphen = true
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c === 0x2e /* . */) {
      if (dot || hyphen) return false
      dot = true
      hyphen = false
    } else if (c === 0x2d /* - */) {
      if (dot) return false
      dot = false
      hyphen = true
    } else {
      if (!isLdhChar(c)) return false
      dot = false
      hyphen = false
    }
  }
  return !dot && !hyphen
}

/** machine_name_is_valid(): the rule for names clients may register. */
export function machineNameIsValid(name: string): boolean {
  return hostnameIsValid(name)
}
