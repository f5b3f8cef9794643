/**
 * Charts drawn by the server and the load tool (the meeting timeline, the bench report): Vega-Lite specs
 * compiled with `vega-lite` and rendered to SVG strings by `vega` in Node (renderer 'none': no DOM, no canvas;
 * text widths are estimated). One place, so both look alike.
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/** Settings shared by every chart: font, no border around the plot, axis and legend text sizes. */
export const CHART_CONFIG = {
  font: 'system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif',
  view: { stroke: null },
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal', gridColor: '#e6e6e6' },
  legend: { labelFontSize: 11, titleFontSize: 11, orient: 'bottom', direction: 'horizontal' },
} as const;

/**
 * A Vega-Lite spec as a standalone SVG document string.
 * @throws the compile or render error of vega-lite / vega (a bad spec).
 */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
