// Introspection XML is compared byte for byte with what systemd-machined 252
// returned (fixtures/machined-252/introspect-raw-*.xml): busctl, gdbus and
// D-Bus bindings that generate proxies read it, so order, indentation and
// attribute order all matter. Our only addition is CreateMachineEx and
// RegisterMachineEx on the Manager.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { introspectXml } from '../../src/transports/dbus/introspect.ts'
import { IMAGE_INTERFACE, MACHINE_INTERFACE, MANAGER_INTERFACE } from '../../src/protocol/dbus/org.freedesktop.machine1.ts'

function golden(path: string): string {
  return readFileSync(new URL(`../fixtures/machined-252/introspect-raw-withgolden-${path}.xml`, import.meta.url), 'utf8')
}

const ADDED_METHODS = ['CreateMachineEx', 'RegisterMachineEx']

/** Removes one `<method name="…">…</method>` block; fails the test when it is not there exactly once. */
function withoutMethod(xml: string, name: string): string {
  const block = new RegExp(`  <method name="${name}">\\n(?:   <[^\\n]*\\n)*  </method>\\n`, 'g')
  const found = xml.match(block) ?? []
  assert.equal(found.length, 1, `exactly one <method name="${name}"> block`)
  return xml.replace(block, '')
}

void describe('introspectXml', () => {
  void test('a machine object equals systemd\'s byte for byte', () => {
    assert.equal(introspectXml([MACHINE_INTERFACE], []), golden('org_freedesktop_machine1_machine_golden'))
  })

  void test('an image object equals systemd\'s byte for byte: arguments without names', () => {
    const xml = readFileSync(new URL('../fixtures/machined-252-images/introspect-image.xml', import.meta.url), 'utf8')
    assert.equal(introspectXml([IMAGE_INTERFACE], []), xml)
  })

  void test('the manager equals systemd\'s once our two added methods are taken out', () => {
    const ours = introspectXml([MANAGER_INTERFACE], ['image', 'machine'])
    let stripped = ours
    for (const name of ADDED_METHODS) stripped = withoutMethod(stripped, name)
    assert.equal(stripped, golden('org_freedesktop_machine1'))
  })

  void test('the added methods sit right after RegisterMachineWithNetwork, privileged', () => {
    const ours = introspectXml([MANAGER_INTERFACE], [])
    const order = [...ours.matchAll(/<method name="([^"]+)"/g)].map((m) => m[1])
    const at = order.indexOf('RegisterMachineWithNetwork')
    assert.deepEqual(order.slice(at + 1, at + 3), ADDED_METHODS)
    assert.match(ours, /<method name="CreateMachineEx">\n {3}<arg type="s" name="name" direction="in"\/>\n {3}<arg type="a\(sv\)" name="properties" direction="in"\/>\n {3}<arg type="a\(sv\)" name="scope_properties" direction="in"\/>\n {3}<arg type="o" name="path" direction="out"\/>\n {3}<annotation name="org.freedesktop.systemd1.Privileged" value="true"\/>\n {2}<\/method>/)
  })

  void test('parent nodes list their children only', () => {
    assert.equal(introspectXml([], ['org']), golden('root'))
    assert.equal(introspectXml([], ['freedesktop']), golden('org'))
    assert.equal(introspectXml([], ['LogControl1', 'machine1']), golden('org_freedesktop'))
    // Children keep the order they are given in (systemd's is hashmap order).
    assert.equal(introspectXml([], ['golden', '_2ehost']), golden('org_freedesktop_machine1_machine'))
  })

  void test('every document ends in a newline and starts with the sd-bus header', () => {
    const xml = introspectXml([MACHINE_INTERFACE], ['x'])
    assert.ok(xml.startsWith('<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"\n"https://'))
    assert.ok(xml.endsWith(' <node name="x"/>\n</node>\n'))
  })
})
