import { markup, type Html } from './html.js';

/** One series of a bar chart: a value per category. */
export interface ChartSeries {
  name: string;
  values: readonly number[];
  /** A fill colour (an SVG attribute, which the content security policy allows). */
  color: string;
}

export interface BarChartSpec {
  /** The figure's id; the SVG's title is `${id}-title`. */
  id: string;
  title: string;
  xLabel: string;
  yLabel: string;
  categories: readonly string[];
  series: readonly ChartSeries[];
  /** Stack the series in one bar per category, or set them side by side. */
  stacked: boolean;
  /** How a value reads in the labels and the table. */
  format?: (value: number) => string;
}

const WIDTH = 640;
const HEIGHT = 260;
const LEFT = 56;
const RIGHT = 12;
const TOP = 16;
const BOTTOM = 64;

const round = (n: number) => Math.round(n * 10) / 10;

/**
 * A bar chart drawn on the server as SVG (no script in the browser), with what assistive
 * technology needs: a title, axis labels, and the numbers behind it in a table.
 */
export const barChart = (spec: BarChartSpec): Html => {
  const format = spec.format ?? ((v: number) => String(round(v)));
  const { categories, series } = spec;
  const totals = categories.map((_, i) =>
    spec.stacked
      ? series.reduce((sum, s) => sum + (s.values[i] ?? 0), 0)
      : Math.max(0, ...series.map((s) => s.values[i] ?? 0)),
  );
  const max = Math.max(0, ...totals) || 1;
  const plotW = WIDTH - LEFT - RIGHT;
  const plotH = HEIGHT - TOP - BOTTOM;
  const band = plotW / Math.max(1, categories.length);
  const y = (v: number) => TOP + plotH - (v / max) * plotH;
  const bars = categories.flatMap((category, i) => {
    let base = 0;
    return series.map((s, k) => {
      const value = s.values[i] ?? 0;
      const width = spec.stacked ? band * 0.7 : (band * 0.8) / series.length;
      const x = LEFT + i * band + (spec.stacked ? band * 0.15 : band * 0.1 + k * width);
      const top = spec.stacked ? y(base + value) : y(value);
      const bottom = spec.stacked ? y(base) : y(0);
      if (spec.stacked) base += value;
      return markup`<rect x="${round(x)}" y="${round(top)}" width="${round(width)}" height="${round(bottom - top)}" fill="${s.color}"><title>${category}, ${s.name}: ${format(value)}</title></rect>`;
    });
  });
  const ticks = [0, max / 2, max].map(
    (v) =>
      markup`<text x="${LEFT - 6}" y="${round(y(v) + 4)}" text-anchor="end" font-size="11">${format(v)}</text><line x1="${LEFT}" x2="${WIDTH - RIGHT}" y1="${round(y(v))}" y2="${round(y(v))}" stroke="#ddd"/>`,
  );
  const labels = categories.map(
    (c, i) =>
      markup`<text x="${round(LEFT + (i + 0.5) * band)}" y="${TOP + plotH + 14}" text-anchor="middle" font-size="10">${c}</text>`,
  );
  const legend = series.map(
    (s, k) =>
      markup`<rect x="${LEFT + k * 140}" y="${HEIGHT - 16}" width="10" height="10" fill="${s.color}"/><text x="${LEFT + k * 140 + 14}" y="${HEIGHT - 7}" font-size="11">${s.name}</text>`,
  );
  const rows = categories.map(
    (c, i) =>
      markup`<tr><th scope="row">${c}</th>${series.map((s) => markup`<td>${format(s.values[i] ?? 0)}</td>`)}</tr>`,
  );
  return markup`<figure class="chart" id="${spec.id}">
<svg role="img" aria-labelledby="${spec.id}-title" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}" xmlns="http://www.w3.org/2000/svg">
<title id="${spec.id}-title">${spec.title}</title>
${ticks}
<line x1="${LEFT}" x2="${LEFT}" y1="${TOP}" y2="${TOP + plotH}" stroke="#333"/>
<line x1="${LEFT}" x2="${WIDTH - RIGHT}" y1="${TOP + plotH}" y2="${TOP + plotH}" stroke="#333"/>
${bars}
${labels}
<text class="x-label" x="${LEFT + plotW / 2}" y="${TOP + plotH + 32}" text-anchor="middle" font-size="12">${spec.xLabel}</text>
<text class="y-label" x="${-(TOP + plotH / 2)}" y="14" transform="rotate(-90)" text-anchor="middle" font-size="12">${spec.yLabel}</text>
${legend}
</svg>
<table class="chart-data"><caption>${spec.title}</caption>
<thead><tr><th scope="col">${spec.xLabel}</th>${series.map((s) => markup`<th scope="col">${s.name}</th>`)}</tr></thead>
<tbody>${rows}</tbody>
</table>
</figure>`;
};
