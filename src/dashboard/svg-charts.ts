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

/** What the bar and the line chart draw alike around their marks. */
interface ChartFrame<S extends { name: string }> {
  spec: {
    id: string;
    title: string;
    xLabel: string;
    yLabel: string;
    categories: readonly string[];
    series: readonly S[];
  };
  /** The SVG's height (a line chart's legend may take more rows). */
  height: number;
  /** Where a value stands on the plot. */
  y: (value: number) => number;
  max: number;
  format: (value: number) => string;
  /** Where a category's label stands. */
  labelX: (index: number) => number;
  /** The bars or the lines, drawn between the axes and the category labels. */
  marks: readonly Html[];
  legend: readonly Html[];
  /** A series' value for a category, as the data table shows it. */
  cell: (series: S, index: number) => string;
}

/**
 * The figure of a chart: the SVG with its title, value ticks, axes, the marks, category and
 * axis labels and legend, then the numbers behind it in a table for assistive technology.
 */
const chartFigure = <S extends { name: string }>(f: ChartFrame<S>): Html => {
  const { spec, height, y } = f;
  const plotW = WIDTH - LEFT - RIGHT;
  const plotH = HEIGHT - TOP - BOTTOM;
  const ticks = [0, f.max / 2, f.max].map(
    (v) =>
      markup`<text x="${LEFT - 6}" y="${round(y(v) + 4)}" text-anchor="end" font-size="11">${f.format(v)}</text><line x1="${LEFT}" x2="${WIDTH - RIGHT}" y1="${round(y(v))}" y2="${round(y(v))}" stroke="#ddd"/>`,
  );
  const labels = spec.categories.map(
    (c, i) =>
      markup`<text x="${round(f.labelX(i))}" y="${TOP + plotH + 14}" text-anchor="middle" font-size="10">${c}</text>`,
  );
  const rows = spec.categories.map(
    (c, i) =>
      markup`<tr><th scope="row">${c}</th>${spec.series.map((s) => markup`<td>${f.cell(s, i)}</td>`)}</tr>`,
  );
  return markup`<figure class="chart" id="${spec.id}">
<svg role="img" aria-labelledby="${spec.id}-title" viewBox="0 0 ${WIDTH} ${height}" width="${WIDTH}" height="${height}" xmlns="http://www.w3.org/2000/svg">
<title id="${spec.id}-title">${spec.title}</title>
${ticks}
<line x1="${LEFT}" x2="${LEFT}" y1="${TOP}" y2="${TOP + plotH}" stroke="#333"/>
<line x1="${LEFT}" x2="${WIDTH - RIGHT}" y1="${TOP + plotH}" y2="${TOP + plotH}" stroke="#333"/>
${f.marks}
${labels}
<text class="x-label" x="${LEFT + plotW / 2}" y="${TOP + plotH + 32}" text-anchor="middle" font-size="12">${spec.xLabel}</text>
<text class="y-label" x="${-(TOP + plotH / 2)}" y="14" transform="rotate(-90)" text-anchor="middle" font-size="12">${spec.yLabel}</text>
${f.legend}
</svg>
<table class="chart-data"><caption>${spec.title}</caption>
<thead><tr><th scope="col">${spec.xLabel}</th>${spec.series.map((s) => markup`<th scope="col">${s.name}</th>`)}</tr></thead>
<tbody>${rows}</tbody>
</table>
</figure>`;
};

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
  const labelX = (i: number) => LEFT + (i + 0.5) * band;
  const legend = series.map(
    (s, k) =>
      markup`<rect x="${LEFT + k * 140}" y="${HEIGHT - 16}" width="10" height="10" fill="${s.color}"/><text x="${LEFT + k * 140 + 14}" y="${HEIGHT - 7}" font-size="11">${s.name}</text>`,
  );
  return chartFigure({
    spec,
    height: HEIGHT,
    y,
    max,
    format,
    labelX,
    marks: bars,
    legend,
    cell: (s, i) => format(s.values[i] ?? 0),
  });
};

/** One line of a line chart: a value per category, or none (a gap in the line). */
export interface LineSeries {
  name: string;
  values: readonly (number | undefined)[];
  color: string;
  /** Drawn dashed: a second measure of the same thing (p95 beside p50). */
  dashed?: boolean;
}

export interface LineChartSpec {
  /** The figure's id; the SVG's title is `${id}-title`. */
  id: string;
  title: string;
  xLabel: string;
  yLabel: string;
  categories: readonly string[];
  series: readonly LineSeries[];
  /** How a value reads in the labels and the table. */
  format?: (value: number) => string;
}

const LEGEND_ITEM = 190;
const LEGEND_ROW = 16;

/**
 * A line chart drawn on the server as SVG, a point per category with a value (a category
 * without one breaks the line rather than reading as zero), with its title, axis labels and
 * the numbers behind it in a table ('–' where there is no value).
 */
export const lineChart = (spec: LineChartSpec): Html => {
  const format = spec.format ?? ((v: number) => String(round(v)));
  const { categories, series } = spec;
  const perRow = Math.max(1, Math.floor((WIDTH - LEFT - RIGHT) / LEGEND_ITEM));
  const legendRows = Math.ceil(series.length / perRow);
  const height = HEIGHT + Math.max(0, legendRows - 1) * LEGEND_ROW;
  const max = Math.max(0, ...series.flatMap((s) => s.values.filter((v) => v !== undefined))) || 1;
  const plotW = WIDTH - LEFT - RIGHT;
  const plotH = HEIGHT - TOP - BOTTOM;
  const band = plotW / Math.max(1, categories.length);
  const x = (i: number) => LEFT + (i + 0.5) * band;
  const y = (v: number) => TOP + plotH - (v / max) * plotH;
  const lines = series.flatMap((s) => {
    // Runs of consecutive categories with a value: one polyline each.
    const runs: { i: number; v: number }[][] = [];
    let run: { i: number; v: number }[] = [];
    categories.forEach((_, i) => {
      const v = s.values[i];
      if (v === undefined) {
        if (run.length > 0) runs.push(run);
        run = [];
      } else run.push({ i, v });
    });
    if (run.length > 0) runs.push(run);
    const dash = s.dashed ? markup` stroke-dasharray="5 3"` : '';
    return [
      ...runs
        .filter((r) => r.length > 1)
        .map(
          (r) =>
            markup`<polyline points="${r.map((p) => `${round(x(p.i))},${round(y(p.v))}`).join(' ')}" fill="none" stroke="${s.color}" stroke-width="2"${dash}/>`,
        ),
      ...runs
        .flat()
        .map(
          (p) =>
            markup`<circle cx="${round(x(p.i))}" cy="${round(y(p.v))}" r="3" fill="${s.dashed ? '#fff' : s.color}" stroke="${s.color}"><title>${categories[p.i] ?? ''}, ${s.name}: ${format(p.v)}</title></circle>`,
        ),
    ];
  });
  const legend = series.map((s, k) => {
    const lx = LEFT + (k % perRow) * LEGEND_ITEM;
    const ly = HEIGHT - 16 + Math.floor(k / perRow) * LEGEND_ROW;
    const dash = s.dashed ? markup` stroke-dasharray="5 3"` : '';
    return markup`<line x1="${lx}" x2="${lx + 16}" y1="${ly + 5}" y2="${ly + 5}" stroke="${s.color}" stroke-width="2"${dash}/><text x="${lx + 20}" y="${ly + 9}" font-size="11">${s.name}</text>`;
  });
  return chartFigure({
    spec,
    height,
    y,
    max,
    format,
    labelX: x,
    marks: lines,
    legend,
    cell: (s, i) => {
      const v = s.values[i];
      return v === undefined ? '–' : format(v);
    },
  });
};
