// Draws the charts of a stack report or comparison page with Chart.js (inlined before this script).
//
// The page holds its data in <script type="application/json" id="report-data">: {"charts": {id: spec}}
// and a <canvas data-chart="id"> per chart. Two kinds of spec: "xy" (lines over a linear, log or
// percentile x axis, optional right axis, shaded bands and marker lines) and "bar" (horizontal bars).
// Each canvas gets data-drawn="true" once Chart.js has rendered it, and the body data-charts="done"
// when every chart was tried: the browser test reads both.
(function () {
  'use strict';
  const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b',
    '#e377c2', '#7f7f7f', '#bcbd22', '#17becf', '#393b79', '#637939'];
  const color = (i) => PALETTE[((i % PALETTE.length) + PALETTE.length) % PALETTE.length];

  // x = 1/(1-p): p0 at 1, p50 at 2, p90 at 10, p99 at 100, ... (HdrHistogram's percentile plot).
  const percentileToX = (p) => 1 / (1 - p / 100);
  const xToPercentile = (x) => 100 * (1 - 1 / x);
  const PERCENTILE_TICKS = [1, 2, 10, 100, 1000, 10000];
  const percentileLabel = (p) => 'p' + Number(p.toFixed(3)).toString();
  const number = (v) => {
    if (v === null || v === undefined || !isFinite(v)) return '';
    const abs = Math.abs(v);
    const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
    return v.toLocaleString('en-US', { maximumFractionDigits: digits });
  };

  Chart.defaults.animation = false;
  Chart.defaults.responsive = true;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.font.size = 11;
  Chart.defaults.plugins.legend.labels.boxWidth = 24;

  Chart.register({
    id: 'drawnMark',
    afterRender(chart) { chart.canvas.dataset.drawn = 'true'; },
  });

  // Shaded x ranges (a scenario's measured window) and marker lines (the sustained rate, an SLO).
  Chart.register({
    id: 'bandsAndMarks',
    beforeDatasetsDraw(chart, _args, options) {
      const { ctx, chartArea, scales } = chart;
      ctx.save();
      ctx.font = '10px sans-serif';
      for (const band of options.bands || []) {
        const from = Math.max(scales.x.getPixelForValue(band.from), chartArea.left);
        const to = Math.min(scales.x.getPixelForValue(band.to), chartArea.right);
        if (to <= from) continue;
        ctx.fillStyle = 'rgba(120, 120, 160, 0.10)';
        ctx.fillRect(from, chartArea.top, to - from, chartArea.bottom - chartArea.top);
        ctx.fillStyle = '#555';
        ctx.fillText(band.label, from + 2, chartArea.top + 10);
      }
      for (const mark of options.marks || []) {
        ctx.strokeStyle = mark.color || '#000';
        ctx.fillStyle = mark.color || '#000';
        ctx.setLineDash([5, 3]);
        ctx.beginPath();
        if (mark.x !== null && mark.x !== undefined) {
          const x = scales.x.getPixelForValue(mark.x);
          ctx.moveTo(x, chartArea.top);
          ctx.lineTo(x, chartArea.bottom);
          ctx.stroke();
          ctx.fillText(mark.label, x + 3, chartArea.top + 22);
        } else if (mark.y !== null && mark.y !== undefined) {
          const scale = scales[mark.axis || 'y'];
          const y = scale.getPixelForValue(mark.y);
          ctx.moveTo(chartArea.left, y);
          ctx.lineTo(chartArea.right, y);
          ctx.stroke();
          ctx.fillText(mark.label, chartArea.left + 3, y - 3);
        }
      }
      ctx.restore();
    },
  });

  function axisOptions(axis, position) {
    const options = {
      position,
      title: { display: Boolean(axis.title), text: axis.title },
      grid: { drawOnChartArea: position !== 'right' },
    };
    if (axis.scale === 'log' || axis.scale === 'percentile') {
      options.type = 'logarithmic';
    } else {
      options.type = 'linear';
      options.beginAtZero = axis.zero !== false;
    }
    if (axis.scale === 'percentile') {
      options.min = 1;
      options.afterBuildTicks = (scale) => {
        scale.ticks = PERCENTILE_TICKS.filter((v) => v >= scale.min && v <= scale.max * 1.0001)
          .map((value) => ({ value }));
      };
      options.ticks = { callback: (value) => percentileLabel(xToPercentile(value)) };
    } else if (axis.scale === 'log') {
      options.ticks = { callback: (value) => {
        const exponent = Math.log10(value);
        return Math.abs(exponent - Math.round(exponent)) < 1e-9 ? number(value) : '';
      } };
    } else {
      options.ticks = { callback: (value) => number(value) };
    }
    return options;
  }

  function drawXy(canvas, spec) {
    const percentile = spec.x.scale === 'percentile';
    const datasets = spec.series.map((series) => ({
      label: series.label,
      yAxisID: series.axis === 'y2' ? 'y2' : 'y',
      borderColor: color(series.color),
      backgroundColor: color(series.color),
      borderDash: series.dashed ? [6, 3] : [],
      borderWidth: 1.5,
      // A short run has a handful of points: dots keep a single one visible.
      pointRadius: series.dots || series.points.length <= 12 ? 2.5 : 0,
      pointStyle: 'circle',
      showLine: true,
      data: series.points
        .filter(([x]) => !percentile || x < 100)
        .map(([x, y]) => ({ x: percentile ? percentileToX(x) : x, y, raw_x: x })),
    }));
    const scales = { x: axisOptions(spec.x, 'bottom'), y: axisOptions(spec.y, 'left') };
    if (spec.y2) scales.y2 = axisOptions(spec.y2, 'right');
    return new Chart(canvas, {
      type: 'scatter',
      data: { datasets },
      options: {
        parsing: false,
        scales,
        interaction: { mode: 'nearest', intersect: false },
        plugins: {
          title: { display: Boolean(spec.title), text: spec.title },
          // Lines in the legend, so a dashed series looks dashed there too.
          legend: {
            display: spec.legend && spec.series.length > 1,
            labels: { usePointStyle: true, pointStyle: 'line' },
          },
          tooltip: { callbacks: { label: (item) => {
            const x = percentile ? percentileLabel(item.raw.raw_x) : number(item.raw.x);
            return `${item.dataset.label}: ${x} → ${number(item.raw.y)}`;
          } } },
          bandsAndMarks: { bands: spec.bands || [], marks: spec.marks || [] },
        },
      },
    });
  }

  function drawBar(canvas, spec) {
    return new Chart(canvas, {
      type: 'bar',
      data: {
        labels: spec.labels,
        datasets: spec.series.map((series) => ({
          label: series.label,
          data: series.values,
          backgroundColor: color(series.color),
        })),
      },
      options: {
        indexAxis: 'y',
        scales: {
          x: { beginAtZero: true, title: { display: true, text: spec.value_title } },
          y: { ticks: { autoSkip: false } },
        },
        plugins: {
          title: { display: Boolean(spec.title), text: spec.title },
          legend: { display: spec.series.length > 1 },
        },
      },
    });
  }

  const data = JSON.parse(document.getElementById('report-data').textContent);
  for (const canvas of document.querySelectorAll('canvas[data-chart]')) {
    const spec = data.charts[canvas.dataset.chart];
    try {
      if (!spec) throw new Error('no data for this chart');
      if (spec.kind === 'xy') drawXy(canvas, spec);
      else if (spec.kind === 'bar') drawBar(canvas, spec);
      else throw new Error(`unknown chart kind ${spec.kind}`);
    } catch (error) {
      const note = document.createElement('p');
      note.className = 'chart-error';
      note.textContent = `chart ${canvas.dataset.chart} could not be drawn: ${error.message}`;
      canvas.replaceWith(note);
      console.error(note.textContent);
    }
  }
  document.body.dataset.charts = 'done';
}());
