// The layer table: which folder may import which, as an allow-list. Every
// folder of src/ is a layer and must have a row here; an import of ours
// that its row does not list fails lint (rule `machined/layers`, switched on
// in eslint.config.js), as do Node built-ins and npm packages in the two
// layers that must stay free of the runtime. A layer always imports its own
// files and subfolders. README.md ("Layout") draws this table, and
// test/unit/layering.test.ts checks the drawing and probes every row.
// In the spirit of VS Code's code-layering and code-import-patterns rules.
import { isBuiltin } from 'node:module'
import { dirname, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')

/**
 * The layers of src/, each with the layers it may import. `runtime: false`:
 * no Node built-ins and no npm packages either (protocol/ and core/ reach
 * the runtime only through ports; tsconfig.layers.json also keeps Node's
 * types out of them).
 * @type {Record<string, { readonly may: readonly string[], readonly runtime?: false }>}
 */
export const LAYERS = {
  protocol: { may: [], runtime: false },
  core: { may: ['protocol'], runtime: false },
  native: { may: [] },
  linux: { may: ['native', 'protocol'] },
  wire: { may: ['native'] },
  backends: { may: ['core', 'protocol', 'linux', 'native', 'wire'] },
  transports: { may: ['core', 'protocol', 'wire'] },
  daemon: { may: ['core', 'protocol', 'backends', 'transports', 'fleet', 'wire', 'linux', 'native'] },
  client: { may: ['protocol', 'wire', 'native'] },
  fleet: { may: ['protocol', 'client'] },
  cli: { may: ['client', 'protocol', 'fleet', 'linux', 'native'] },
  spawn: { may: ['client', 'protocol', 'linux', 'native'] },
  vmspawn: { may: ['client', 'protocol', 'linux', 'native'] },
  web: { may: ['client', 'protocol', 'fleet', 'wire', 'linux', 'native'] },
}

/**
 * Folders outside src/, named with a trailing slash. `'*'`: anything.
 * bin/ starts the built program; scripts/ and examples/ stand alone (an
 * example imports the package by its name, as a user does).
 * @type {Record<string, { readonly may: readonly string[] | '*' }>}
 */
export const OUTSIDE_SRC = {
  'bin/': { may: ['dist/'] },
  'scripts/': { may: [] },
  'examples/': { may: [] },
  'bench/': { may: '*' },
  'test/': { may: '*' },
  './': { may: ['scripts/'] },
}

/** The layer (`core`) or folder (`bin/`, `./` for the top level) a path is in; undefined outside the repository. */
export function areaOf(path) {
  const parts = relative(ROOT, path).split(sep)
  if (parts[0] === '..' || parts[0] === '') return undefined
  if (parts.length === 1) return './'
  if (parts[0] === 'src') return parts.length === 2 ? 'src/' : parts[1]
  return `${parts[0]}/`
}

function describeArea(area) {
  return area.endsWith('/') ? area : `src/${area}/`
}

function allowedText(may) {
  return may.length === 0 ? 'nothing of ours' : may.map(describeArea).join(', ')
}

/** @type {import('eslint').Rule.RuleModule} */
const layersRule = {
  meta: {
    type: 'problem',
    docs: { description: 'Each layer imports only what the layer table (scripts/eslint-layers.js) lists for it.' },
    schema: [],
  },
  create(context) {
    const from = areaOf(context.filename)
    if (from === undefined) return {}
    const layer = LAYERS[from]
    const outside = OUTSIDE_SRC[from]
    if (layer === undefined && outside === undefined) {
      // Other top-level folders (completion/, data/) hold no code that imports.
      if (from.endsWith('/') && from !== 'src/') return {}
      const message = from === 'src/'
        ? 'A file directly in src/ is in no layer: put it in the folder of its layer.'
        : `src/${from}/ is not in the layer table (scripts/eslint-layers.js): give it a row.`
      return { Program(node) { context.report({ node, message }) } }
    }
    const may = layer?.may ?? outside.may

    function check(node, specifier) {
      if (typeof specifier !== 'string') return
      if (specifier.startsWith('.') || specifier.startsWith('/')) {
        const to = areaOf(resolve(dirname(context.filename), specifier))
        if (to === from || may === '*' || (to !== undefined && may.includes(to))) return
        context.report({ node, message: `${describeArea(from)} imports only ${allowedText(may)}: '${specifier}' is in ${to === undefined ? 'no layer' : describeArea(to)}.` })
      } else if (layer?.runtime === false) {
        const what = specifier.startsWith('node:') || isBuiltin(specifier) ? 'Node built-ins' : 'npm packages'
        context.report({ node, message: `${describeArea(from)} imports no ${what} ('${specifier}'): it reaches the runtime only through ports.` })
      }
    }
    const fromSource = (node) => { if (node.source) check(node, node.source.value) }
    return {
      ImportDeclaration: fromSource,
      ExportAllDeclaration: fromSource,
      ExportNamedDeclaration: fromSource,
      ImportExpression(node) { if (node.source.type === 'Literal') check(node, node.source.value) },
      // `typeof import('…')` in a type.
      TSImportType(node) { if (node.argument.type === 'TSLiteralType') check(node, node.argument.literal.value) },
      CallExpression(node) {
        const [arg] = node.arguments
        if (node.callee.type === 'Identifier' && node.callee.name === 'require' && arg?.type === 'Literal') check(node, arg.value)
      },
    }
  },
}

/**
 * The flat-config block that switches the rule on for every source file.
 * @type {import('eslint').Linter.Config}
 */
export const layersConfig = {
  files: ['**/*.ts', '**/*.js', '**/*.mjs'],
  plugins: { machined: { rules: { layers: layersRule } } },
  rules: { 'machined/layers': 'error' },
}
