/**
 * The page's entry point: the list at /, a machine at /machines/NAME, both
 * fed by one event stream, and the images at /images. Links between them
 * are ordinary links.
 * @module
 */

import { ImagesView } from './images-view.ts'
import { ListView } from './list-view.ts'
import { MachineView } from './machine-view.ts'
import { MachineStore } from './store.ts'

function start(): void {
  const root = document.getElementById('app')
  if (root === null) return
  if (location.pathname === '/images') {
    document.title = 'Images · machined-web'
    root.replaceChildren(new ImagesView().element)
    return
  }
  const store = new MachineStore()
  const match = /^\/machines\/([^/]+)$/.exec(location.pathname)
  if (match === null) {
    document.title = 'Machines · machined-web'
    root.replaceChildren(new ListView(store).element)
  } else {
    const name = decodeURIComponent(match[1]!)
    const host = new URLSearchParams(location.search).get('host') ?? ''
    document.title = `${name} · machined-web`
    root.replaceChildren(new MachineView(store, name, host).element)
  }
  store.connect()
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start)
else start()
