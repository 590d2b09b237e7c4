// Loads a bin's bundle (dist/<front end>/<bin>.bundle.cjs, made from src/ by
// scripts/build-bins.js) with the V8 code cache the build made for it, so
// that the bundle's code is not parsed and compiled again on every start.
// A cache from another Node or V8 is rejected by V8 and the code compiled
// as usual. The bins are CommonJS: Node 20 starts a CommonJS file sooner
// than an ES module.
'use strict'
const { readFileSync } = require('node:fs')
const { dirname, join } = require('node:path')
const { Script } = require('node:vm')

// Module.wrap()'s text, written out: loading node:module costs a few ms.
// The bundle's require() is ours: it asks only for Node's built-ins and for
// packages of this package's node_modules, which resolve the same from bin/.
const HEAD = '(function (exports, require, module, __filename, __dirname) { '
const TAIL = '\n});'

/** The bundle's exports; `bundle` is its path from the package's root. */
function loadBundle(bundle) {
  const file = join(__dirname, '..', bundle)
  let cachedData
  try {
    cachedData = readFileSync(`${file}.cache`)
  } catch {
    cachedData = undefined // not built with a cache: compiled from the source
  }
  const script = new Script(HEAD + readFileSync(file, 'utf8') + TAIL, { filename: file, cachedData })
  const module = { exports: {}, filename: file, id: file, loaded: false }
  script.runInThisContext().call(module.exports, module.exports, require, module, file, dirname(file))
  module.loaded = true
  return { exports: module.exports, script }
}

module.exports = { loadBundle }
