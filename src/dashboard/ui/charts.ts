// Charts are uPlot; the page's tests read what each drew from its data-* attributes.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { $view, h, round } from "./dom";

export interface Series {
  label: string;
  values: Array<number | null>;
  color: string;
  /** Points only (regression marks), no line. */
  pointsOnly?: boolean;
}

/** The server's baseline for a session: the values within it are "unchanged". */
export interface Band {
  lower: number;
  upper: number;
}

const BAND_COLOR = "#9ca3af";

/**
 * A uPlot line chart that fills its box's width; `data-points` says how many x values it
 * drew, `data-band` the baseline band (lower,upper) it shades, when it has one.
 */
export function lineChart(name: string, title: string, xs: number[], series: Series[], band?: Band) {
  const box = h(
    "figure",
    {
      class: "chart",
      "data-chart": name,
      "data-points": xs.length,
      "data-band": band ? `${round(band.lower)},${round(band.upper)}` : undefined,
    },
    h("figcaption", {}, title),
  );
  const width = () => Math.max(280, box.clientWidth || $view().clientWidth - 16);
  const all: Series[] = band
    ? [
        ...series,
        { label: "baseline upper", values: xs.map(() => band.upper), color: BAND_COLOR },
        { label: "baseline lower", values: xs.map(() => band.lower), color: BAND_COLOR },
      ]
    : series;
  const plot = new uPlot(
    {
      width: width(),
      height: 220,
      scales: { x: { time: true } },
      series: [
        {},
        ...all.map((s) =>
          s.pointsOnly
            ? {
                label: s.label,
                stroke: s.color,
                width: 0,
                points: { show: true, size: 10, stroke: s.color, fill: s.color },
                paths: () => null,
              }
            : s.color === BAND_COLOR
              ? { label: s.label, stroke: s.color, width: 1, dash: [4, 4], points: { show: false } }
              : { label: s.label, stroke: s.color, width: 2, spanGaps: true, points: { show: true, size: 5 } },
        ),
      ],
      // Shade between the band's two lines (series indexes count the x series as 0).
      bands: band ? [{ series: [series.length + 1, series.length + 2], fill: "rgba(156, 163, 175, 0.18)" }] : undefined,
      axes: [{}, { size: 60 }],
    },
    [xs, ...all.map((s) => s.values)] as uPlot.AlignedData,
    box,
  );
  new ResizeObserver(() => plot.setSize({ width: width(), height: 220 })).observe(box);
  return box;
}
