import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState, type ReactNode } from "react";
import { api, call } from "../api/client";
import { describeError } from "../api/errors";
import { invalidate, queries } from "../api/queries";
import { alertKindLabel, type Schemas } from "../api/types";
import { can, useUser } from "../auth/AuthContext";
import { AlertClassLink, AlertSeverity, AlertStatusPill, type Alert } from "../components/alerts";
import { Loaded } from "../components/States";
import { formatDateTime } from "../lib/format";
import { HOUR_MS, instant, localInput } from "../lib/time";
import { AlertEvidence } from "./AlertEvidence";
import { FormError } from "./common";

/** One alert: what raised it, and (for team leads and administrators) acknowledge, resolve and mute. */
export function AlertDetail({ id, onClose }: { id: number; onClose: () => void }) {
  const detail = useQuery(queries.alerts.detail(id));
  const headingRef = useRef<HTMLHeadingElement>(null);
  useEffect(() => headingRef.current?.focus(), [id]);
  // Escape closes the panel (unless a dialog above it is open).
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape" && !document.querySelector("[aria-modal='true']")) onClose();
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [onClose]);

  return (
    <aside className="detail" aria-labelledby="alert-title">
      <header className="detail-head">
        <h2 id="alert-title" tabIndex={-1} ref={headingRef}>
          Alert #{id}
        </h2>
        <button type="button" className="modal-x" aria-label="Close details" onClick={onClose}>
          ×
        </button>
      </header>
      <Loaded query={detail}>
        {(a) => (
          <div className="detail-body">
            <p className="alert-summary">{a.evidence.summary}</p>
            <dl className="metrics">
              <Metric label="Kind">{alertKindLabel(a.kind)}</Metric>
              <Metric label="Severity">
                <AlertSeverity severity={a.severity} />
              </Metric>
              <Metric label="Status">
                <AlertStatusPill status={a.status} />
              </Metric>
              <Metric label="Query class">
                <AlertClassLink alert={a} />
              </Metric>
              <Metric label="Opened">{formatDateTime(a.opened_at)}</Metric>
              <Metric label="Condition last true">{formatDateTime(a.last_true_at)}</Metric>
              {a.resolved_at && <Metric label="Resolved">{formatDateTime(a.resolved_at)}</Metric>}
            </dl>
            <p className="mono small muted fingerprint">{a.fingerprint}</p>
            <AlertActions alert={a} />
            <AlertEvidence alert={a} />
          </div>
        )}
      </Loaded>
    </aside>
  );
}

function Metric({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="metric">
      <dt>{label}</dt>
      <dd>{children}</dd>
    </div>
  );
}

/** Mute for a day by default. */
const DEFAULT_MUTE_MS = 24 * HOUR_MS;

function AlertActions({ alert }: { alert: Alert }) {
  const user = useUser();
  const qc = useQueryClient();
  const [until, setUntil] = useState(() => localInput(Date.now() + DEFAULT_MUTE_MS));
  const [muted, setMuted] = useState<string | null>(null);
  const setStatus = useMutation({
    mutationFn: (to: "acknowledge" | "resolve") =>
      call(() =>
        to === "acknowledge"
          ? api.POST("/api/v1/alerts/{id}/acknowledge", { params: { path: { id: alert.id } } })
          : api.POST("/api/v1/alerts/{id}/resolve", { params: { path: { id: alert.id } } }),
      ),
    onSuccess: (a) => {
      qc.setQueryData(queries.alerts.detail(a.id).queryKey, a);
      void invalidate(qc, "alert");
    },
  });
  const mute = useMutation({
    mutationFn: () => {
      // A super admin names the alert's organization.
      const body: Schemas["MuteRequest"] = { until: instant(until) ?? until };
      if (user.role === "SUPER_ADMIN") body.organization_id = alert.organization_id;
      return call(() =>
        api.POST("/api/v1/query-classes/{query_id}/mute", { params: { path: { query_id: alert.query_id } }, body }),
      );
    },
    onMutate: () => setMuted(null),
    onSuccess: (m) => {
      setMuted(m.until);
      void invalidate(qc, "class-muted");
    },
  });

  if (!can(user, "handle_alerts")) {
    return <p className="muted small">Read-only: team leads and administrators acknowledge, resolve and mute alerts.</p>;
  }
  const busy = setStatus.isPending || mute.isPending;
  return (
    <section className="alert-actions" aria-label="Actions">
      <div className="form-actions">
        {alert.status === "open" && (
          <button type="button" className="btn btn-primary btn-small" disabled={busy} onClick={() => setStatus.mutate("acknowledge")}>
            Acknowledge
          </button>
        )}
        {alert.status !== "resolved" && (
          <button type="button" className="btn btn-small" disabled={busy} onClick={() => setStatus.mutate("resolve")}>
            Resolve
          </button>
        )}
      </div>
      <form
        className="mute-form"
        onSubmit={(e) => {
          e.preventDefault();
          mute.mutate();
        }}
      >
        <label className="inline-field">
          <span>Mute the class until</span>
          <input type="datetime-local" value={until} onChange={(e) => setUntil(e.target.value)} />
        </label>
        <button type="submit" className="btn btn-small" disabled={busy || !until}>
          Mute class
        </button>
      </form>
      {muted && (
        <p className="notice notice-ok" role="status">
          No new alert opens for this class until {formatDateTime(muted)}.
        </p>
      )}
      <FormError message={setStatus.isError ? describeError(setStatus.error) : null} />
      <FormError message={mute.isError ? describeError(mute.error) : null} />
    </section>
  );
}
