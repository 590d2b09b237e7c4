/**
 * GNU getopt_long() as machinectl uses it: options anywhere on the command
 * line (the rest are collected in order), `--` ends options, long options
 * may be abbreviated to any unambiguous prefix, short options cluster
 * (`-al`, `-pName`), and an option's argument may be the next word. Errors
 * are worded as glibc words them, with our program name.
 * @module
 */

export interface OptionSpec {
  readonly long?: string
  readonly short?: string
  readonly hasArg: boolean
  /** What the parser reports for this option; the long name if not given. */
  readonly key: string
}

/** One option, in command-line order, or one non-option word (`key` undefined). */
export interface ParsedWord {
  readonly key: string | undefined
  readonly value: string | undefined
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

/** Matches `--name` exactly, or by a prefix only one option (or several identical ones) has. */
function findLong(specs: readonly OptionSpec[], name: string, program: string, shown: string): OptionSpec {
  const exact = specs.find((s) => s.long === name)
  if (exact !== undefined) return exact
  const candidates = specs.filter((s) => s.long?.startsWith(name))
  if (candidates.length === 0) throw new UsageError(`${program}: unrecognized option '${shown}'`)
  const first = candidates[0]!
  if (candidates.every((c) => c.key === first.key && c.hasArg === first.hasArg)) return first
  throw new UsageError(`${program}: option '${shown}' is ambiguous; possibilities:${candidates.map((c) => ` '--${c.long}'`).join('')}`)
}

/**
 * The options and words of `argv` one by one, as getopt_long() hands them
 * over: an error surfaces only when the parser reaches it, so an option
 * before it (`--help`) still takes effect first. Once `stopAfter` says so
 * of the words seen so far, everything left is a word, options or not
 * (machinectl's rule for `shell NAME CMD…`, whose options are CMD's).
 */
export function* getoptLong(
  argv: readonly string[], specs: readonly OptionSpec[], program: string, stopAfter?: (words: readonly string[]) => boolean,
): Generator<ParsedWord> {
  const words: string[] = []
  const operand = (value: string): ParsedWord => { words.push(value); return { key: undefined, value } }
  for (let i = 0; i < argv.length; i++) {
    if (stopAfter?.(words) === true) {
      for (const rest of argv.slice(i)) yield operand(rest)
      return
    }
    const arg = argv[i]!
    if (arg === '--') {
      for (const rest of argv.slice(i + 1)) yield operand(rest)
      return
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=')
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq)
      const spec = findLong(specs, name, program, arg)
      if (!spec.hasArg) {
        if (eq >= 0) throw new UsageError(`${program}: option '--${spec.long}' doesn't allow an argument`)
        yield { key: spec.key, value: undefined }
      } else if (eq >= 0) {
        yield { key: spec.key, value: arg.slice(eq + 1) }
      } else {
        if (i + 1 >= argv.length) throw new UsageError(`${program}: option '--${spec.long}' requires an argument`)
        yield { key: spec.key, value: argv[++i]! }
      }
      continue
    }
    if (arg.startsWith('-') && arg !== '-') {
      for (let k = 1; k < arg.length; k++) {
        const ch = arg[k]!
        const spec = specs.find((s) => s.short === ch)
        if (spec === undefined) throw new UsageError(`${program}: invalid option -- '${ch}'`)
        if (!spec.hasArg) {
          yield { key: spec.key, value: undefined }
          continue
        }
        if (k + 1 < arg.length) yield { key: spec.key, value: arg.slice(k + 1) }
        else if (i + 1 < argv.length) yield { key: spec.key, value: argv[++i]! }
        else throw new UsageError(`${program}: option requires an argument -- '${ch}'`)
        break
      }
      continue
    }
    yield operand(arg)
  }
}
