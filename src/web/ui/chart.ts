/**
 * Charts with uPlot: the rows' sparklines (the last 60 samples, no axes)
 * and the machine page's larger charts. A chart is made once and fed new
 * data (setData), so recycled rows do not rebuild their canvases.
 * @module
 */

import uPlot from 'uplot'

export interface ChartOptions {
  readonly width: number
  readonly height: number
  /** Shown to screen readers, e.g. "CPU of web, last 60 s". */
  readonly label: string
  readonly colour: string
  /** The y axis reaches at least this high (so an idle machine's flat line is not blown up). */
  readonly floor: number
  /** Axes and a legend, for the machine page. */
  readonly axes?: { readonly format: (v: number) => string }
}

export class Chart {
  readonly element: HTMLElement
  readonly #plot: uPlot

  constructor(o: ChartOptions) {
    this.element = document.createElement('div')
    this.element.className = o.axes === undefined ? 'spark' : 'chart'
    this.element.setAttribute('role', 'img')
    this.element.setAttribute('aria-label', o.label)
    const format = o.axes?.format
    const opts: uPlot.Options = {
      width: o.width,
      height: o.height,
      pxAlign: 0,
      cursor: { show: format !== undefined, drag: { x: false, y: false } },
      legend: { show: false },
      select: { show: false, left: 0, top: 0, width: 0, height: 0 },
      scales: { x: { time: format !== undefined }, y: { range: (_u, _min, max) => [0, Math.max(max ?? 0, o.floor) * 1.1] } },
      axes: format === undefined
        ? [{ show: false }, { show: false }]
        : [{ stroke: 'currentColor', grid: { show: false } }, { stroke: 'currentColor', values: (_u, vals) => vals.map(format), size: 60 }],
      series: [{}, { stroke: o.colour, width: 1.5, fill: `${o.colour}33`, points: { show: false }, spanGaps: false }],
    }
    this.#plot = new uPlot(opts, [[], []], this.element)
  }

  /** `t` in ms since the epoch, oldest first; null values are gaps. */
  setData(t: readonly number[], values: readonly (number | null)[]): void {
    this.#plot.setData([t.map((x) => x / 1000), [...values]])
  }

  setLabel(label: string): void {
    this.element.setAttribute('aria-label', label)
  }

  setWidth(width: number): void {
    this.#plot.setSize({ width, height: this.#plot.height })
  }

  destroy(): void {
    this.#plot.destroy()
  }
}
