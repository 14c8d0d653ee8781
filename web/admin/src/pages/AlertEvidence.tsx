import { Bar, BarChart, CartesianGrid, Cell, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { changeKindLabel, type Schemas } from "../api/types";
import type { Alert } from "../components/alerts";
import { Pill } from "../components/ui";
import { formatCount, formatDateTime, formatMs, formatRatio } from "../lib/format";

type Side = Schemas["SideNumbers"];

const BASELINE_COLOR = "#94a3b8";
const WINDOW_COLOR = "#2563eb";

/** The numbers that raised an alert: both sides, the statistics, and the nearest change before it. */
export function AlertEvidence({ alert }: { alert: Alert }) {
  const e = alert.evidence;
  const marker = e.change_marker ?? null;
  return (
    <>
      <section aria-labelledby="evidence-title">
        <h3 id="evidence-title">Baseline vs window</h3>
        <table className="table evidence-table">
          <thead>
            <tr>
              <th />
              <th className="num">
                Baseline
                <div className="muted small">{span(e.baseline)}</div>
              </th>
              <th className="num">
                Window
                <div className="muted small">{span(e.window)}</div>
              </th>
            </tr>
          </thead>
          <tbody>
            <Row label="Calls" baseline={formatCount(e.baseline.calls)} window={formatCount(e.window.calls)} />
            <Row label="Mean" baseline={formatMs(e.baseline.mean_ms)} window={formatMs(e.window.mean_ms)} />
            <Row label="p95" baseline={formatMs(e.baseline.p95_ms)} window={formatMs(e.window.p95_ms)} />
            <Row label="Calls per hour" baseline={formatRatio(e.baseline.calls_per_hour)} window={formatRatio(e.window.calls_per_hour)} />
            <Row
              label="Busiest hour"
              baseline={formatCount(e.baseline.busiest_hour_calls)}
              window={formatCount(e.window.busiest_hour_calls)}
            />
            <Row label="Total time" baseline={formatMs(e.baseline.total_time_ms)} window={formatMs(e.window.total_time_ms)} />
          </tbody>
        </table>
        <EvidenceChart baseline={e.baseline} window={e.window} />
      </section>
      <section aria-labelledby="statistics-title">
        <h3 id="statistics-title">Statistics</h3>
        <dl className="metrics">
          <Stat label="Mean ratio" value={ratio(e.mean_ratio)} />
          <Stat label="p95 ratio" value={ratio(e.p95_ratio)} />
          <Stat label="Mann-Whitney z" value={e.z === null || e.z === undefined ? "—" : e.z.toFixed(1)} />
          <Stat label="Share of the time" value={e.share === null || e.share === undefined ? "—" : `${(e.share * 100).toFixed(1)}%`} />
          <Stat label="Analysis severity" value={e.severity ?? "—"} />
        </dl>
      </section>
      <section aria-labelledby="marker-title">
        <h3 id="marker-title">Change before it</h3>
        {marker ? (
          <div className="marker">
            <Pill tone="warn">{changeKindLabel(marker.kind)}</Pill> <strong>{marker.title}</strong>{" "}
            <span className="muted small">{formatDateTime(marker.at)}</span>
            {Object.keys(marker.labels).length > 0 && (
              <div className="labels">
                {Object.entries(marker.labels).map(([k, v]) => (
                  <code key={k}>
                    {k}={v}
                  </code>
                ))}
              </div>
            )}
          </div>
        ) : (
          <p className="muted small">No change marker (deploy, schema or configuration change) was recorded before it.</p>
        )}
      </section>
    </>
  );
}

function span(s: Side): string {
  return `${formatDateTime(s.from)} – ${formatDateTime(s.to)}`;
}

function ratio(r: number | null | undefined): string {
  return r === null || r === undefined ? "—" : `${formatRatio(r)}×`;
}

function Row({ label, baseline, window }: { label: string; baseline: string; window: string }) {
  return (
    <tr>
      <th scope="row">{label}</th>
      <td className="num">{baseline}</td>
      <td className="num">{window}</td>
    </tr>
  );
}

function Stat({ label, value }: { label: string; value: string }) {
  return (
    <div className="metric">
      <dt>{label}</dt>
      <dd>{value}</dd>
    </div>
  );
}

/**
 * One small bar chart per measure (each on its own scale): mean, p95 and calls per hour. Total calls are
 * left out of the chart: the baseline spans days and the window hours, so only the hourly rate compares.
 */
function EvidenceChart({ baseline, window }: { baseline: Side; window: Side }) {
  const measures: { title: string; b: number | null | undefined; w: number | null | undefined; ms: boolean }[] = [
    { title: "Mean", b: baseline.mean_ms, w: window.mean_ms, ms: true },
    { title: "p95", b: baseline.p95_ms, w: window.p95_ms, ms: true },
    { title: "Calls per hour", b: baseline.calls_per_hour, w: window.calls_per_hour, ms: false },
  ];
  return (
    <div className="mini-charts" role="img" aria-label="Bar charts of the baseline and the window: mean, p95 and calls per hour">
      {measures.map((m) => (
        <figure key={m.title} className="mini-chart">
          <ResponsiveContainer width="100%" height={130}>
            <BarChart
              data={[
                { side: "Baseline", value: m.b ?? 0 },
                { side: "Window", value: m.w ?? 0 },
              ]}
              margin={{ top: 6, right: 4, bottom: 0, left: 0 }}
            >
              <CartesianGrid strokeDasharray="3 3" vertical={false} stroke="#e5e7eb" />
              <XAxis dataKey="side" fontSize={11} tickLine={false} />
              <YAxis fontSize={10} tickLine={false} axisLine={false} width={36} />
              <Tooltip formatter={(v) => (m.ms ? formatMs(Number(v)) : formatRatio(Number(v)))} />
              <Bar dataKey="value" name={m.title} maxBarSize={36} radius={[3, 3, 0, 0]} isAnimationActive={false}>
                <Cell fill={BASELINE_COLOR} />
                <Cell fill={WINDOW_COLOR} />
              </Bar>
            </BarChart>
          </ResponsiveContainer>
          <figcaption className="muted small">{m.title}</figcaption>
        </figure>
      ))}
    </div>
  );
}
