import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router";
import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { useIngestion } from "../api/live";
import { queries } from "../api/queries";
import { can, useUser } from "../auth/AuthContext";
import { EmptyState, Loaded } from "../components/States";
import { ClassLink, DataTable, severityColumn } from "../components/ui";
import { OpenAlerts } from "../components/alerts";
import { markerLines, useChangeMarkers, utcDay } from "../components/markers";
import { PageHead } from "./crud";
import { formatAgo, formatCount, formatMs, shortDay } from "../lib/format";

/** Dashboard data refreshes every 30 s; the previous numbers stay on screen meanwhile (no flicker). */
export const REFRESH_MS = 30_000;

export function Dashboard() {
  const admin = can(useUser(), "api_keys");
  const dash = useQuery({ ...queries.dashboard(), refetchInterval: REFRESH_MS });
  const top = useQuery({ ...queries.classes.list({ sort: "total_time", per_page: 5 }), refetchInterval: REFRESH_MS });
  const agents = useQuery(queries.agents());
  // The change markers of the chart's week (its first day from midnight UTC).
  const days = dash.data?.chart_data.map((d) => d.date) ?? [];
  const markers = useChangeMarkers(days[0] ? `${days[0]}T00:00:00Z` : undefined);
  const dayOf = (at: number) => {
    const day = utcDay(at);
    return days.includes(day) ? shortDay(day) : undefined;
  };

  return (
    <div className="page">
      <PageHead
        title="Dashboard"
        intro={
          <>
            The last 7 days
            {dash.dataUpdatedAt > 0 && <> · updated {new Date(dash.dataUpdatedAt).toLocaleTimeString("en-GB")}</>}
            {dash.isFetching && !dash.isLoading && <span className="refreshing"> · refreshing</span>}
          </>
        }
      />
      <LiveIngestion />
      <Loaded query={dash}>
        {(d) => (
          <>
            <section className="cards" aria-label="Summary">
              <StatCard label="Total queries" value={formatCount(d.total_queries)} testId="stat-total-queries" />
              <StatCard
                label="Total issues"
                hint="query classes with findings"
                value={formatCount(d.total_issues)}
                testId="stat-total-issues"
              />
              <StatCard
                label="Critical issues"
                hint="query classes rated critical"
                value={formatCount(d.critical_issues)}
                tone={d.critical_issues > 0 ? "bad" : undefined}
                testId="stat-critical-issues"
              />
              <StatCard
                label="Average time"
                value={d.total_queries > 0 ? formatMs(d.avg_time_ms) : "—"}
                testId="stat-avg-time"
              />
            </section>
            <OpenAlerts />
            <div className="grid-2">
              <section className="panel" aria-labelledby="chart-title">
                <h2 id="chart-title">Slow queries per day</h2>
                {d.chart_data.every((d) => d.queries === 0) ? (
                  <EmptyState title="No slow queries in the last 7 days">
                    {admin
                      ? "Connect an agent (API keys → New key) and slow queries appear here."
                      : "Slow queries attributed to your team or identity appear here once an agent reports them."}
                  </EmptyState>
                ) : (
                  <div className="chart" role="img" aria-label="Bar chart of slow queries per day over the last 7 days">
                    <ResponsiveContainer width="100%" height={260}>
                      <BarChart data={d.chart_data.map((d) => ({ ...d, day: shortDay(d.date) }))}>
                        <CartesianGrid strokeDasharray="3 3" vertical={false} stroke="#e5e7eb" />
                        <XAxis dataKey="day" tickLine={false} axisLine={false} fontSize={12} />
                        <YAxis allowDecimals={false} tickLine={false} axisLine={false} fontSize={12} width={40} />
                        <Tooltip />
                        <Legend />
                        <Bar dataKey="queries" name="Slow queries" fill="#2563eb" radius={[4, 4, 0, 0]} isAnimationActive={false} />
                        <Bar dataKey="critical" name="In critical classes" fill="#dc2626" radius={[4, 4, 0, 0]} isAnimationActive={false} />
                        {markerLines(markers, dayOf)}
                      </BarChart>
                    </ResponsiveContainer>
                  </div>
                )}
              </section>
              <section className="panel" aria-labelledby="agents-title">
                <h2 id="agents-title">Agents</h2>
                <Loaded
                  query={agents}
                  isEmpty={(list) => list.items.length === 0}
                  empty={
                    <EmptyState title="No agents yet">
                      {admin ? (
                        <>
                          Create an API key and start <code>dbpower agent</code> with it; it reports here every minute.
                        </>
                      ) : (
                        "An administrator of your organization connects agents."
                      )}
                    </EmptyState>
                  }
                >
                  {({ items, total }) => (
                    <>
                      <p className="agents-summary">
                        <span className="dot dot-ok" aria-hidden="true" />
                        <strong data-testid="agents-online">{items.filter((a) => a.online).length}</strong> online
                        <span className="dot dot-bad" aria-hidden="true" />
                        <strong data-testid="agents-offline">{items.filter((a) => !a.online).length}</strong> offline
                        {total > items.length && (
                          <span className="muted small"> (the first {formatCount(items.length)} of {formatCount(total)})</span>
                        )}
                      </p>
                      <ul className="agent-list">
                        {items.slice(0, 6).map((a) => (
                          <li key={a.api_key_id}>
                            <span className={`dot ${a.online ? "dot-ok" : "dot-bad"}`} aria-hidden="true" />
                            <span className="agent-name">{a.name}</span>
                            <span className="muted small">{a.online ? "online" : `offline · ${formatAgo(a.last_seen)}`}</span>
                          </li>
                        ))}
                      </ul>
                      <Link to="/agents">All agents</Link>
                    </>
                  )}
                </Loaded>
              </section>
            </div>
            <section className="panel" aria-labelledby="top-title">
              <div className="panel-head">
                <h2 id="top-title">Top query classes by total time</h2>
                <Link to="/classes">All classes</Link>
              </div>
              <Loaded
                query={top}
                isEmpty={(classes) => classes.items.length === 0}
                empty={
                  <EmptyState title="No query classes yet" />
                }
              >
                {(classes) => (
                  <DataTable
                    rows={classes.items}
                    rowKey={(c) => `${c.database_type}-${c.query_id}`}
                    columns={[
                      { header: "Statement", className: "sql-cell", cell: (c) => <ClassLink c={c} /> },
                      { header: "Count", numeric: true, cell: (c) => formatCount(c.count) },
                      { header: "Total", numeric: true, cell: (c) => formatMs(c.total_time_ms) },
                      { header: "Avg", numeric: true, cell: (c) => formatMs(c.avg_time_ms) },
                      severityColumn,
                    ]}
                  />
                )}
              </Loaded>
            </section>
          </>
        )}
      </Loaded>
    </div>
  );
}

/** What the live stream last said of ingestion: the current hour's rows and the current minute's. */
function LiveIngestion() {
  const tick = useIngestion();
  if (!tick) return null;
  const minute = tick.minute ? new Date(tick.minute) : null;
  const minuteTitle =
    minute && !Number.isNaN(minute.getTime())
      ? `The minute from ${minute.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" })}`
      : undefined;
  return (
    <p className="live-ingestion" data-testid="live-ingestion" aria-live="polite">
      <span className="dot dot-ok" aria-hidden="true" />
      Live ingestion: {formatCount(tick.rows)} rows this hour
      {typeof tick.minute_rows === "number" && (
        <>
          {" · "}
          <span data-testid="live-ingestion-minute" title={minuteTitle}>
            rows this minute: {formatCount(tick.minute_rows)}
          </span>
        </>
      )}
    </p>
  );
}

function StatCard({
  label,
  value,
  tone,
  testId,
  hint,
}: {
  label: string;
  value: string;
  tone?: "bad";
  testId: string;
  hint?: string;
}) {
  return (
    <div className={`card${tone ? ` card-${tone}` : ""}`}>
      <div className="card-label">{label}</div>
      <div className="card-value" data-testid={testId}>
        {value}
      </div>
      {hint && <div className="card-hint">{hint}</div>}
    </div>
  );
}
