// Small SVG charts for the console pages, drawn with DOM calls (the pages'
// CSP allows no inline markup or styles). Each chart is a <figure> whose
// caption names it, an SVG with a text alternative, and the numbers in a
// table below it: the chart is for looking, the table for reading, and
// colours (classes in steward.css) are never the only way to tell series apart.

import { el } from "./dom";

const SVG = "http://www.w3.org/2000/svg";

/** One bar group: a label on the x axis and one value per series. */
export interface Column {
  label: string;
  values: number[];
}

function svgElement(tag: string, attributes: Record<string, string | number>): SVGElement {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  return node;
}

/** An empty chart figure `id` with its caption (`{id}-caption`, which labels the plot). */
function captionedFigure(id: string, caption: string): HTMLElement {
  const figure = document.createElement("figure");
  figure.id = id;
  figure.className = "chart";
  const captionElement = el("figcaption", caption);
  captionElement.id = `${id}-caption`;
  figure.append(captionElement);
  return figure;
}

/** A round number at or above `max` for the y axis (1, 2 or 5 times a power of ten). */
export function niceCeiling(max: number): number {
  if (max <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 5, 10]) {
    if (step * power >= max) return step * power;
  }
  return 10 * power;
}

/**
 * A bar chart: one stacked bar per column, one segment per series (in
 * `series` order, bottom up). `id` names the figure for tests and links.
 */
export function stackedBars(
  id: string,
  caption: string,
  series: string[],
  columns: Column[],
  format: (value: number) => string = formatCount,
): HTMLElement {
  const figure = captionedFigure(id, caption);
  const totals = columns.map((c) => c.values.reduce((a, b) => a + b, 0));
  if (totals.every((t) => t === 0)) {
    figure.append(el("p", "Nothing to show yet.", "muted"));
    return figure;
  }

  const top = niceCeiling(Math.max(...totals));
  const width = 640;
  const height = 220;
  const left = 48;
  const bottom = 40;
  const plotHeight = height - bottom - 10;
  const slot = (width - left - 10) / columns.length;
  const barWidth = Math.max(4, Math.min(48, slot * 0.7));

  const svg = svgElement("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "chart-plot" });
  svg.setAttribute("aria-labelledby", `${id}-caption`);
  const y = (value: number) => 10 + plotHeight - (value / top) * plotHeight;
  // Counts are whole: a middle line only where it falls on a whole number.
  const ticks = Number.isInteger(top / 2) ? [0, top / 2, top] : [0, top];
  for (const tick of ticks) {
    svg.append(svgElement("line", { x1: left, x2: width - 10, y1: y(tick), y2: y(tick), class: "chart-grid" }));
    const label = svgElement("text", { x: left - 6, y: y(tick) + 4, "text-anchor": "end", class: "chart-text" });
    label.textContent = format(tick);
    svg.append(label);
  }
  columns.forEach((column, i) => {
    const x = left + i * slot + (slot - barWidth) / 2;
    let base = 0;
    column.values.forEach((value, s) => {
      if (value <= 0) return;
      const rect = svgElement("rect", {
        x,
        y: y(base + value),
        width: barWidth,
        height: y(base) - y(base + value),
        class: `chart-series-${s % 6}`,
      });
      const tip = svgElement("title", {});
      tip.textContent = `${column.label}, ${series[s]}: ${format(value)}`;
      rect.append(tip);
      svg.append(rect);
      base += value;
    });
    // Label every column while they fit; otherwise about eight of them.
    const every = Math.ceil(columns.length / 8);
    if (i % every === 0) {
      const label = svgElement("text", {
        x: x + barWidth / 2,
        y: height - bottom + 16,
        "text-anchor": "middle",
        class: "chart-text",
      });
      label.textContent = column.label;
      svg.append(label);
    }
  });
  figure.append(svg);

  if (series.length > 1) figure.append(legend(series));

  const details = document.createElement("details");
  details.append(el("summary", "The numbers"));
  const table = document.createElement("table");
  const head = document.createElement("tr");
  head.append(el("th", ""));
  for (const name of series) head.append(el("th", name));
  if (series.length > 1) head.append(el("th", "total"));
  table.append(head);
  columns.forEach((column, i) => {
    const row = document.createElement("tr");
    row.append(el("th", column.label));
    for (const value of column.values) row.append(el("td", format(value), "number"));
    if (series.length > 1) row.append(el("td", format(totals[i]), "number"));
    table.append(row);
  });
  details.append(table);
  figure.append(details);
  return figure;
}

/**
 * Bars side by side: one group per column, one bar per series, drawn from a
 * zero line so negative values go down.
 */
export function groupedBars(id: string, caption: string, series: string[], columns: Column[]): HTMLElement {
  const figure = captionedFigure(id, caption);
  const values = columns.flatMap((c) => c.values);
  const high = niceCeiling(Math.max(0, ...values));
  const low = -niceCeiling(Math.max(0, ...values.map((v) => -v)));
  const bottom = values.some((v) => v < 0) ? low : 0;
  const width = 640;
  const height = 220;
  const left = 56;
  const plotHeight = height - 40;
  const y = (value: number) => 10 + ((high - value) / (high - bottom)) * plotHeight;
  const slot = (width - left - 10) / Math.max(1, columns.length);
  const barWidth = Math.max(3, Math.min(32, (slot * 0.8) / Math.max(1, series.length)));

  const svg = svgElement("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "chart-plot" });
  svg.setAttribute("aria-labelledby", `${id}-caption`);
  let labelled = Infinity;
  for (const tick of bottom < 0 ? [bottom, 0, high] : [0, high]) {
    svg.append(svgElement("line", { x1: left, x2: width - 10, y1: y(tick), y2: y(tick), class: "chart-grid" }));
    // A label only where it does not overlap the one below it.
    if (labelled - y(tick) < 14) continue;
    labelled = y(tick);
    const label = svgElement("text", { x: left - 6, y: y(tick) + 4, "text-anchor": "end", class: "chart-text" });
    label.textContent = tick < 0 ? `−${formatCount(-tick)}` : formatCount(tick);
    svg.append(label);
  }
  columns.forEach((column, i) => {
    const start = left + i * slot + (slot - barWidth * series.length) / 2;
    column.values.forEach((value, s) => {
      const top = y(Math.max(value, 0));
      const rect = svgElement("rect", {
        x: start + s * barWidth,
        y: top,
        width: barWidth - 1,
        height: Math.max(1, Math.abs(y(value) - y(0))),
        class: `chart-series-${s % 6}`,
      });
      const tip = svgElement("title", {});
      tip.textContent = `${column.label}, ${series[s]}: ${value}`;
      rect.append(tip);
      svg.append(rect);
    });
    const label = svgElement("text", { x: left + i * slot + slot / 2, y: height - 12, "text-anchor": "middle", class: "chart-text" });
    label.textContent = column.label;
    svg.append(label);
  });
  figure.append(svg);
  if (series.length > 1) figure.append(legend(series));
  return figure;
}

function legend(series: string[]): HTMLElement {
  const list = el("ul", "", "chart-legend");
  series.forEach((name, s) => {
    const item = el("li", "");
    item.append(el("span", "", `chart-swatch chart-series-${s % 6}`), document.createTextNode(name));
    list.append(item);
  });
  return list;
}

/** A simple bar chart: one bar per column, one series. */
export function bars(
  id: string,
  caption: string,
  unit: string,
  columns: { label: string; value: number }[],
  format: (value: number) => string = formatCount,
): HTMLElement {
  return stackedBars(
    id,
    caption,
    [unit],
    columns.map((c) => ({ label: c.label, values: [c.value] })),
    format,
  );
}

/** Counts as people read them: 1,234 or 1.2M. */
export function formatCount(value: number): string {
  if (value >= 1e6) return `${(value / 1e6).toFixed(value >= 1e7 ? 0 : 1)}M`;
  return Math.round(value).toLocaleString("en");
}
