import { totalsByKey } from '../../../core/budgets/totals.ts';
import * as z from '../../../core/definitions/zod.ts';
import type { RollupDimension, RollupRow, RunStore } from '../../../core/ports/run-store.ts';
import { parseQuery } from '../router.ts';
import type { HttpRequest, HttpResponse } from '../types.ts';
import { html, raw, type Html } from '../../../core/format/html.ts';
import { formatUsd } from '../../../core/format/usd.ts';
import { count, htmlPage } from './html.ts';

/**
 * Spend over time per agent, team and model, from the daily rollups the steps keep (the
 * numbers of `looprail costs`): one stacked bar chart per dimension as inline SVG, with
 * a table of the same numbers beside it (what a screen reader reads).
 */

export const CostsFilter = z.strictObject({
  days: z.pipe(
    z.transform((value) => (value === '' ? undefined : value)),
    z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(366)), 30),
  ),
});

const DIMENSIONS: RollupDimension[] = ['agent', 'team', 'model'];
/** The largest keys get their own colour; the rest are one "other" band. */
const MAX_SERIES = 7;
const COLORS = ['#2f5bd3', '#2e9e6a', '#d08a1a', '#9a55c8', '#c23b5a', '#1f8fa8', '#7a7f2a'];
const OTHER_COLOR = '#8a93a6';

export async function costsPage(
  deps: { store: RunStore; now: () => Date },
  request: HttpRequest,
): Promise<HttpResponse> {
  const { days } = parseQuery(request, CostsFilter);
  const now = deps.now();
  const dates = Array.from({ length: days }, (_, i) =>
    new Date(now.getTime() - (days - 1 - i) * 86_400_000).toISOString().slice(0, 10),
  );
  const from = dates[0]!;
  const to = dates.at(-1)!;
  const sections = await Promise.all(
    DIMENSIONS.map(async (dimension) => section(dimension, dates, await deps.store.listRollups(dimension, from, to))),
  );
  const body = html`<h1>Costs</h1>
<form class="filters" method="get" action="/console/costs" aria-label="period"><label>Days<input type="number" name="days" min="1" max="366" value="${days}"></label><button type="submit">Show</button></form>
<p class="muted">${from} to ${to} (UTC days), checker runs included.</p>
${sections}`;
  return htmlPage(200, 'Costs', '/console/costs', body);
}

function section(dimension: RollupDimension, dates: string[], rows: RollupRow[]): Html {
  const totals = totalsByKey(rows);
  const title = `Spend per ${dimension}`;
  if (totals.length === 0) return html`<h2>${title}</h2><p class="muted">No spend recorded in this period.</p>`;
  const named = totals.slice(0, MAX_SERIES).map((line) => line.key);
  const seriesOf = (key: string) => (named.includes(key) ? key : 'other');
  const series = [...named, ...(totals.length > MAX_SERIES ? ['other'] : [])];
  const colorOf = (key: string) => (key === 'other' ? OTHER_COLOR : COLORS[named.indexOf(key) % COLORS.length]!);
  const byDay = new Map<string, Map<string, number>>();
  for (const row of rows) {
    const day = byDay.get(row.date) ?? new Map<string, number>();
    day.set(seriesOf(row.key), (day.get(seriesOf(row.key)) ?? 0) + row.costMicros);
    byDay.set(row.date, day);
  }
  return html`<h2 id="costs-${dimension}">${title}</h2>
${chart(title, dates, series, byDay, colorOf)}
<p class="legend">${series.map((key) => html`<span class="tag"><svg width="10" height="10" aria-hidden="true"><rect width="10" height="10" fill="${colorOf(key)}"/></svg> ${key}</span>`)}</p>
<table><thead><tr><th>${dimension}</th><th class="num">Cost</th><th class="num">of which checker</th><th class="num">Model calls</th><th class="num">Tokens in</th><th class="num">Tokens out</th></tr></thead><tbody>
${totals.map((line) => html`<tr><td>${line.key}</td><td class="num">${formatUsd(line.costMicros)}</td><td class="num">${formatUsd(line.checkerCostMicros)}</td><td class="num">${count(line.calls)}</td><td class="num">${count(line.inputTokens)}</td><td class="num">${count(line.outputTokens)}</td></tr>`)}
</tbody></table>`;
}

const WIDTH = 900;
const HEIGHT = 220;
const PAD = { left: 70, right: 10, top: 10, bottom: 40 };

function chart(
  title: string,
  dates: string[],
  series: string[],
  byDay: Map<string, Map<string, number>>,
  colorOf: (key: string) => string,
): Html {
  const dayTotals = dates.map((date) => [...(byDay.get(date)?.values() ?? [])].reduce((sum, value) => sum + value, 0));
  const max = Math.max(...dayTotals, 1);
  const plotWidth = WIDTH - PAD.left - PAD.right;
  const plotHeight = HEIGHT - PAD.top - PAD.bottom;
  const slot = plotWidth / dates.length;
  const barWidth = Math.max(1, slot * 0.75);
  const y = (micros: number) => (micros / max) * plotHeight;
  const bars: Html[] = [];
  dates.forEach((date, index) => {
    let base = PAD.top + plotHeight;
    for (const key of series) {
      const value = byDay.get(date)?.get(key) ?? 0;
      if (value <= 0) continue;
      const height = Math.max(y(value), 0.5);
      base -= height;
      bars.push(
        html`<rect x="${(PAD.left + index * slot + (slot - barWidth) / 2).toFixed(1)}" y="${base.toFixed(1)}" width="${barWidth.toFixed(1)}" height="${height.toFixed(1)}" fill="${colorOf(key)}"><title>${date} · ${key}: ${formatUsd(value)}</title></rect>`,
      );
    }
  });
  const every = Math.max(1, Math.ceil(dates.length / 10));
  const labels = dates.map((date, index) =>
    index % every === 0
      ? html`<text x="${(PAD.left + index * slot + slot / 2).toFixed(1)}" y="${HEIGHT - PAD.bottom + 16}" text-anchor="middle">${date.slice(5)}</text>`
      : '',
  );
  const axis = raw(
    `<line x1="${PAD.left}" y1="${PAD.top + plotHeight}" x2="${WIDTH - PAD.right}" y2="${PAD.top + plotHeight}" stroke="currentColor" stroke-opacity=".4"/><line x1="${PAD.left}" y1="${PAD.top}" x2="${PAD.left}" y2="${PAD.top + plotHeight}" stroke="currentColor" stroke-opacity=".4"/>`,
  );
  return html`<svg class="chart" role="img" aria-label="${title}, stacked by day" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="100%" preserveAspectRatio="xMinYMin meet"><title>${title}</title>${axis}<text x="${PAD.left - 6}" y="${PAD.top + 10}" text-anchor="end">${formatUsd(max)}</text><text x="${PAD.left - 6}" y="${PAD.top + plotHeight}" text-anchor="end">${formatUsd(0)}</text>${bars}${labels}</svg>`;
}
