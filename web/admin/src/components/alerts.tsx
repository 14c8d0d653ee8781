/** What the alert views share: the status pill, the severity badge, the class link, and the dashboard's list. */
import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router";
import { queries } from "../api/queries";
import { alertKindLabel, alertStatusLabel, DATABASE_TYPES, oneOf, SEVERITIES, type AlertStatus, type Schemas } from "../api/types";
import { formatAgo } from "../lib/format";
import { EmptyState, Loaded } from "./States";
import { Pill, SeverityBadge } from "./ui";

export type Alert = Schemas["AlertView"];

/** How many open alerts the dashboard lists. */
export const DASHBOARD_ALERTS = 5;

const STATUS_TONES: Record<AlertStatus, "bad" | "warn" | "muted"> = { open: "bad", acknowledged: "warn", resolved: "muted" };

export function AlertStatusPill({ status }: { status: AlertStatus }) {
  return <Pill tone={STATUS_TONES[status]}>{alertStatusLabel(status)}</Pill>;
}

/** The alert's severity (a string in the API) as the usual badge. */
export function AlertSeverity({ severity }: { severity: string }) {
  return <SeverityBadge severity={oneOf(severity, SEVERITIES)} />;
}

/** The queries of a class (query id, and engine when known: a MySQL and a PostgreSQL class may share an id). */
export function classHref(a: { query_id: string; database_type?: string }): string {
  const params = new URLSearchParams({ query_id: a.query_id });
  const engine = oneOf(a.database_type, DATABASE_TYPES);
  if (engine) params.set("database_type", engine);
  return `/queries?${params.toString()}`;
}

export function AlertClassLink({ alert }: { alert: { query_id: string; database_type: string; fingerprint: string } }) {
  return (
    <Link to={classHref(alert)} title={alert.fingerprint} className="mono small" onClick={(e) => e.stopPropagation()}>
      {alert.query_id}
    </Link>
  );
}

/** The newest open alerts; kept current by the live stream (`useLiveUpdates`). */
export function OpenAlerts() {
  const open = useQuery(queries.alerts.list({ status: "open", per_page: DASHBOARD_ALERTS }));
  return (
    <section className="panel" aria-labelledby="open-alerts-title">
      <div className="panel-head">
        <h2 id="open-alerts-title">Open alerts</h2>
        <Link to="/alerts?status=open">All alerts</Link>
      </div>
      <Loaded
        query={open}
        isEmpty={(d) => d.items.length === 0}
        empty={<EmptyState title="No open alerts">Regressions and new slow queries appear here as they are detected.</EmptyState>}
      >
        {(d) => (
          <ul className="alert-list">
            {d.items.map((a) => (
              <li key={a.id} data-testid="open-alert-row">
                <AlertSeverity severity={a.severity} />
                <span className="alert-kind">{alertKindLabel(a.kind)}</span>
                <Link className="alert-fp mono" to={`/alerts?selected=${a.id}`} title={a.fingerprint}>
                  {a.fingerprint}
                </Link>
                <span className="muted small nowrap">{formatAgo(a.opened_at)}</span>
              </li>
            ))}
          </ul>
        )}
      </Loaded>
    </section>
  );
}
