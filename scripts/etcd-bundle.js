// An esbuild plugin that lets the etcd3 client library be bundled: etcd3
// loads etcd's .proto files from its own folder with @grpc/proto-loader
// when it is first required, which parses the .proto text with protobufjs
// and builds descriptor objects nobody here reads: about 50 ms of every
// `mctl list --fleet` (bench/README.md, "The fleet"). In a bundle,
// @grpc/proto-loader is replaced by a small module holding the same
// .proto files already parsed (protobufjs's JSON form, made here at build
// time with the options etcd3 passes) and building only what grpc-js's
// loadPackageDefinition() uses of each method: its path, whether it
// streams, and its (de)serializers, which decode as proto-loader's do
// (toObject() with etcd3's options). Everything else of etcd3, grpc-js and
// protobufjs is the packages' own code.
import { createRequire } from 'node:module'
import { basename, dirname, join } from 'node:path'

const require = createRequire(import.meta.url)
// etcd3's own @grpc/proto-loader, and that one's protobufjs: the versions the bundle gets.
const fromEtcd3 = createRequire(require.resolve('etcd3'))
const protoLoaderDir = dirname(fromEtcd3.resolve('@grpc/proto-loader'))
const fromProtoLoader = createRequire(join(protoLoaderDir, 'index.js'))

/** proto-loader options that change the parsed form (protobufjs's parse options). */
const PARSE_OPTIONS = { keepCase: true }

/** Every object under `ns.nested`, depth first (children before their parent), with its full name. */
function* nestedOf(ns, prefix = '') {
  for (const [name, child] of Object.entries(ns.nested ?? {})) {
    yield* nestedOf(child, `${prefix}.${name}`)
    yield { name, child, parent: ns, fullName: `${prefix}.${name}` }
  }
}

/**
 * The parsed form of each .proto file etcd3 loads, by file name, cut down
 * to what the bundle's user calls and reads:
 * - `calls` ({ 'pkg.Service': [method, …] }): only these services and
 *   methods are kept (a call to another fails as a call to an unknown
 *   method would), and only the messages and enums they reach;
 * - `only` ({ 'pkg.Message': [field, …] }): only these fields of a message
 *   are kept; the others are skipped when decoding, as protobuf skips any
 *   field it does not know.
 */
function descriptors({ calls, only = {} }) {
  const etcd3 = dirname(require.resolve('etcd3/package.json'))
  const { Root } = fromProtoLoader('protobufjs')
  const file = join(etcd3, 'proto', 'rpc.proto')
  const parsed = new Root().loadSync(file, PARSE_OPTIONS).toJSON()
  const lookup = (name) => name.split('.').reduce((ns, part) => ns?.nested?.[part], parsed)
  for (const [name, keep] of Object.entries(only)) {
    const message = lookup(name)
    if (message?.fields === undefined) throw new Error(`${file} has no message ${name}`)
    for (const field of keep) if (message.fields[field] === undefined) throw new Error(`${name} has no field ${field}`)
    message.fields = Object.fromEntries(Object.entries(message.fields).filter(([field]) => keep.includes(field)))
  }
  if (calls !== undefined) {
    for (const [name, methods] of Object.entries(calls)) {
      const service = lookup(name)
      if (service?.methods === undefined) throw new Error(`${file} has no service ${name}`)
      for (const m of methods) if (service.methods[m] === undefined) throw new Error(`${name} has no method ${m}`)
      service.methods = Object.fromEntries(Object.entries(service.methods).filter(([m]) => methods.includes(m)))
    }
    for (const { name, child, parent, fullName } of [...nestedOf(parsed)]) {
      if (child.methods !== undefined && calls[fullName.slice(1)] === undefined) delete parent.nested[name]
    }
    // What the methods kept reach, through fields, found by protobufjs's own name resolution.
    const root = Root.fromJSON(parsed)
    root.resolveAll()
    const reached = new Set()
    const reach = (type) => {
      if (reached.has(type.fullName)) return
      reached.add(type.fullName)
      for (const field of type.fieldsArray ?? []) if (field.resolvedType !== null) reach(field.resolvedType)
    }
    for (const { fullName } of nestedOf(parsed)) {
      const service = root.lookup(fullName)
      if (service?.methodsArray === undefined) continue
      for (const m of service.methodsArray) { reach(m.resolvedRequestType); reach(m.resolvedResponseType) }
    }
    for (const { name, child, parent, fullName } of [...nestedOf(parsed)]) {
      const kept = child.methods !== undefined || reached.has(fullName) || Object.keys(child.nested ?? {}).length > 0
      if (!kept) delete parent.nested[name]
      else if (child.nested !== undefined && Object.keys(child.nested).length === 0) delete child.nested
    }
  }
  return { [basename(file)]: parsed }
}

// Runs in the bundle, in place of @grpc/proto-loader: only loadSync(), which is all etcd3 calls.
const RUNTIME = `
const { Root } = require('protobufjs/light')
const PARSED = __PARSED__
const PARSE_OPTIONS = __PARSE_OPTIONS__

function services(ns, prefix, out) {
  for (const child of ns.nestedArray) {
    const name = prefix + child.name
    if (child.methodsArray !== undefined) out.push([name, child])
    else if (child.nestedArray !== undefined) services(child, name + '.', out)
  }
  return out
}

exports.loadSync = function loadSync(filename, options = {}) {
  const parsed = PARSED[filename.slice(filename.lastIndexOf('/') + 1)]
  if (parsed === undefined) throw new Error(filename + ' is not among the .proto files built into this bundle (scripts/etcd-bundle.js)')
  for (const [k, v] of Object.entries(PARSE_OPTIONS)) if (options[k] !== v) throw new Error('this bundle parsed ' + filename + ' with ' + k + ' = ' + v)
  const root = Root.fromJSON(parsed)
  root.resolveAll()
  const definition = {}
  for (const [name, service] of services(root, '', [])) {
    const methods = {}
    for (const m of service.methodsArray) {
      const req = m.resolvedRequestType
      const res = m.resolvedResponseType
      methods[m.name] = {
        path: '/' + name + '/' + m.name,
        requestStream: !!m.requestStream,
        responseStream: !!m.responseStream,
        requestSerialize: (arg) => req.encode(req.fromObject(arg)).finish(),
        requestDeserialize: (buf) => req.toObject(req.decode(buf), options),
        responseSerialize: (arg) => res.encode(res.fromObject(arg)).finish(),
        responseDeserialize: (buf) => res.toObject(res.decode(buf), options),
        originalName: m.name.charAt(0).toLowerCase() + m.name.slice(1),
      }
    }
    definition[name] = methods
  }
  return definition
}
`

/** The plugin: `@grpc/proto-loader`, wherever imported, becomes RUNTIME with the parsed files in it (`options`: see descriptors()). */
export function etcdProtoPlugin(options = {}) {
  return {
    name: 'etcd-proto',
    setup(build) {
      build.onResolve({ filter: /^@grpc\/proto-loader$/ }, () => ({ path: 'proto-loader', namespace: 'etcd-proto' }))
      build.onLoad({ filter: /.*/, namespace: 'etcd-proto' }, () => ({
        contents: RUNTIME.replace('__PARSED__', JSON.stringify(descriptors(options))).replace('__PARSE_OPTIONS__', JSON.stringify(PARSE_OPTIONS)),
        resolveDir: protoLoaderDir,
        loader: 'js',
      }))
    },
  }
}
