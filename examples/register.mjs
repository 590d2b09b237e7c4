#!/usr/bin/env node
// Registers this process as a machine, shows what machined knows about it,
// and unregisters it. Run as root while machined runs:
//   node examples/register.mjs [NAME]
import { connect, MachineExistsError } from 'machined-ts'

const name = process.argv[2] ?? 'example'
const machined = await connect() // Varlink if its socket is there, else D-Bus
try {
  await machined.register({ name, class: 'container', service: 'example' }) // leader: this process
  const m = await machined.get(name)
  console.log(`${m.name}: leader ${m.leader}, unit ${m.unit}, over ${machined.transport}`)
  await machined.unregister(name)
} catch (err) {
  if (err instanceof MachineExistsError) console.error(`A machine called ${name} is already registered.`)
  else throw err
} finally {
  machined.close()
}
