// The terminal plumbing mctl, machined-spawn and machined-vmspawn share
// (src/linux/pty.ts), on real ptys: the escape (once copied into spawn/
// and vmspawn/), raw mode while attached, the window size passed on, and
// writes that arrive complete and in order through a full pty buffer.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { EventEmitter } from 'node:events'
import { closeSync, writeSync } from 'node:fs'
import { PassThrough } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { ReadStream } from 'node:tty'
import { attachInput, EscapeDetector, forwardWindowSize, ptyOpen, PtyWriter, type Pty } from '../../src/linux/pty.ts'

const ESC = Uint8Array.of(0x1d)

function stty(pty: Pty, ...args: string[]): string {
  return execFileSync('stty', ['-F', pty.path, ...args], { encoding: 'utf8' }).trim()
}

async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !done(); i++) await sleep(10)
}

void describe('Ctrl-] three times within a second', () => {
  void test('fires on the third press in time, also all in one read', () => {
    const d = new EscapeDetector()
    assert.equal(d.feed(ESC, 0), false)
    assert.equal(d.feed(ESC, 400), false)
    assert.equal(d.feed(ESC, 900), true)
    assert.equal(d.feed(Uint8Array.of(0x1d, 0x1d, 0x1d), 5000), true)
  })

  void test('not when too slow, or when another key comes between', () => {
    const d = new EscapeDetector()
    assert.equal(d.feed(ESC, 0), false)
    assert.equal(d.feed(ESC, 100), false)
    assert.equal(d.feed(ESC, 1500), false, 'the first was too long ago')
    assert.equal(d.feed(ESC, 1600), false)
    assert.equal(d.feed(ESC, 1700), true)
    assert.equal(d.feed(Uint8Array.of(0x1d, 0x61, 0x1d, 0x1d), 5000), false, 'another key in between starts over')
  })
})

void describe('attachInput', () => {
  void test('passes chunks on, swallows the one that completes the escape, and stops when detached', () => {
    const input = new PassThrough() as unknown as NodeJS.ReadStream
    const got: string[] = []
    let escapes = 0
    const detach = attachInput(input, { raw: true, escape: true, onData: (c) => got.push(c.toString()), onEscape: () => { escapes++ } })
    input.emit('data', Buffer.from('ab'))
    input.emit('data', Buffer.from('\x1d\x1d'))
    input.emit('data', Buffer.from('\x1d'))
    detach()
    input.emit('data', Buffer.from('late'))
    assert.deepEqual(got, ['ab', '\x1d\x1d'])
    assert.equal(escapes, 1)
  })

  void test('without the escape (vmspawn\'s pipe mode) every byte goes through', () => {
    const input = new PassThrough() as unknown as NodeJS.ReadStream
    const got: string[] = []
    const detach = attachInput(input, { raw: false, escape: false, onData: (c) => got.push(c.toString()), onEscape: () => assert.fail('no escape') })
    input.emit('data', Buffer.from('\x1d\x1d\x1d'))
    detach()
    assert.deepEqual(got, ['\x1d\x1d\x1d'])
  })

  void test('a terminal is raw while attached and restored after', async () => {
    const pty = ptyOpen()
    const input = new ReadStream(pty.slave)
    try {
      assert.match(stty(pty, '-a'), /(^|\s)icanon(\s|$)/)
      let escaped = false
      const detach = attachInput(input, { raw: true, escape: true, onData: () => undefined, onEscape: () => { escaped = true } })
      assert.match(stty(pty, '-a'), /(^|\s)-icanon(\s|$)/)
      writeSync(pty.master, Buffer.from('\x1d\x1d\x1d'))
      await until(() => escaped)
      assert.equal(escaped, true, 'the escape typed on the terminal')
      detach()
      assert.match(stty(pty, '-a'), /(^|\s)icanon(\s|$)/)
    } finally {
      input.destroy()
      closeSync(pty.master)
    }
  })
})

void describe('forwardWindowSize', () => {
  void test('the pty gets our size now and after each resize, until stopped', () => {
    const pty = ptyOpen()
    try {
      const output = Object.assign(new EventEmitter(), { isTTY: true, columns: 100, rows: 30 }) as unknown as NodeJS.WriteStream
      const stop = forwardWindowSize(output, pty.master)
      assert.equal(stty(pty, 'size'), '30 100')
      Object.assign(output, { columns: 132, rows: 43 })
      output.emit('resize')
      assert.equal(stty(pty, 'size'), '43 132')
      stop()
      Object.assign(output, { columns: 80, rows: 24 })
      output.emit('resize')
      assert.equal(stty(pty, 'size'), '43 132')
      const notATerminal = Object.assign(new EventEmitter(), { isTTY: false, columns: 1, rows: 1 }) as unknown as NodeJS.WriteStream
      forwardWindowSize(notATerminal, pty.master)()
      assert.equal(stty(pty, 'size'), '43 132')
    } finally {
      closeSync(pty.slave)
      closeSync(pty.master)
    }
  })
})

void describe('PtyWriter', () => {
  void test('a megabyte through a non-blocking master arrives complete and in order', async () => {
    const pty = ptyOpen()
    // A tty stream on the master makes the fd non-blocking, as machined-spawn's console reader does: a full buffer answers EAGAIN.
    const masterStream = new ReadStream(pty.master)
    const slave = new ReadStream(pty.slave)
    const received: Buffer[] = []
    let size = 0
    const detach = attachInput(slave, { raw: true, escape: false, onData: (c) => { received.push(c); size += c.length }, onEscape: () => undefined })
    try {
      const chunks = Array.from({ length: 256 }, (_, i) => Buffer.alloc(4096, 0x41 + (i % 26)))
      const writer = new PtyWriter(pty.master)
      for (const c of chunks) writer.write(c)
      const total = chunks.length * 4096
      await until(() => size >= total)
      assert.equal(size, total)
      assert.ok(Buffer.concat(received).equals(Buffer.concat(chunks)), 'in order')
      writer.close()
      writer.write(Buffer.from('after close'))
      await sleep(50)
      assert.equal(size, total, 'nothing after close()')
    } finally {
      detach()
      slave.destroy()
      masterStream.destroy()
    }
  })
})
