/**
 * A team's weekly report (docs/ALERTS.md): opted in on an e-mail channel, every Monday (UTC) the team's
 * last week goes out: its busiest classes, new and regressed ones, and the alerts resolved. Set, turned
 * off and previewed here, by an administrator or the team's own lead, who both pick the channel among
 * those the team may use (`queries.weeklyReports.channels`: its enabled e-mail channels, which a team
 * lead may read though it may not list the organization's channels).
 */
import { useMutation, useQuery, useQueryClient, type UseQueryResult } from "@tanstack/react-query";
import { useId, useState, type FormEvent } from "react";
import { Link } from "react-router";
import { api, call } from "../api/client";
import { describeError } from "../api/errors";
import { invalidate, queries } from "../api/queries";
import { alertKindLabel, type Schemas } from "../api/types";
import { can, useUser } from "../auth/AuthContext";
import { classHref } from "../components/alerts";
import { Loaded } from "../components/States";
import { DataTable, Field, Modal } from "../components/ui";
import { formatCount, formatDateTime, formatMs, formatRatio } from "../lib/format";
import { FormError } from "./common";

type Team = Schemas["TeamView"];
type ReportChannel = Schemas["ReportChannel"];
type Subscription = Schemas["WeeklyReportView"];
type Report = Schemas["WeeklyReport"];
type ReportClass = Schemas["ReportClass"];

/** A channel as the status line names it (an organization's channel or one a team may use). */
export type NamedChannel = Pick<ReportChannel, "id" | "name">;

export const CHANNELS_PAGE = "/settings/alert-channels";

/** "Off", or "On: <channel>, last sent week of <Monday>" (the channel's id when its name is not known). */
export function reportStatus(sub: Subscription | null, channels: readonly NamedChannel[] | undefined): string {
  if (!sub) return "Off";
  const name = channels?.find((c) => c.id === sub.channel_id)?.name ?? `channel #${sub.channel_id}`;
  return `On: ${name}, ${sub.last_week ? `last sent week of ${sub.last_week}` : "nothing sent yet"}`;
}

/**
 * A team's subscription as its row shows it. The channel is named from `known` (what the page already
 * has: the organization's channels, for an administrator) or from the team's channels if the dialog has
 * listed them; the row fetches no list of its own.
 */
export function WeeklyReportState({ team, known }: { team: Team; known?: readonly NamedChannel[] }) {
  const sub = useQuery(queries.weeklyReports.detail(team.id));
  // Read from the cache only: filled when the dialog lists the team's channels.
  const offered = useQuery({ ...queries.weeklyReports.channels(team.id), enabled: false });
  if (sub.isLoading) return <span className="muted">…</span>;
  if (sub.isError) return <span className="muted" title={describeError(sub.error)}>—</span>;
  const on = Boolean(sub.data);
  return (
    <span className={on ? undefined : "muted"} data-testid={`weekly-report-${team.id}`}>
      {reportStatus(sub.data ?? null, [...(offered.data ?? []), ...(known ?? [])])}
    </span>
  );
}

/**
 * The weekly report of one team: its state, the e-mail channel to send it to, turning it off, a preview.
 * `known` names a channel the team may no longer pick (a disabled one it is still subscribed to).
 */
export function WeeklyReportDialog({ team, known, onClose }: { team: Team; known?: readonly NamedChannel[]; onClose: () => void }) {
  const qc = useQueryClient();
  const sub = useQuery(queries.weeklyReports.detail(team.id));
  const offered = useQuery(queries.weeklyReports.channels(team.id));
  const [picked, setPicked] = useState("");
  const [previewing, setPreviewing] = useState(false);
  const preview = useQuery({ ...queries.weeklyReports.preview(team.id), enabled: previewing });
  const current = sub.data ?? null;
  // The current channel is preselected while it may still be picked.
  const currentOffered = current !== null && (offered.data ?? []).some((c) => c.id === current.channel_id);
  const channelId = picked || (current && currentOffered ? String(current.channel_id) : "");
  const save = useMutation({
    mutationFn: (id: number) =>
      call(() => api.PUT("/api/v1/teams/{id}/weekly-report", { params: { path: { id: team.id } }, body: { channel_id: id } })),
    onMutate: (): void => turnOff.reset(),
    onSuccess: (view) => {
      qc.setQueryData(queries.weeklyReports.detail(team.id).queryKey, view);
      setPicked("");
      void invalidate(qc, "weekly-report");
    },
  });
  const turnOff = useMutation({
    mutationFn: () => call(() => api.DELETE("/api/v1/teams/{id}/weekly-report", { params: { path: { id: team.id } } })),
    onMutate: (): void => save.reset(),
    onSuccess: () => {
      qc.setQueryData(queries.weeklyReports.detail(team.id).queryKey, null);
      setPicked("");
      void invalidate(qc, "weekly-report");
    },
  });
  const busy = save.isPending || turnOff.isPending;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const id = Number(channelId);
    if (Number.isInteger(id) && id > 0) save.mutate(id);
  };
  const error = save.isError ? describeError(save.error) : turnOff.isError ? describeError(turnOff.error) : null;

  return (
    <Modal
      title={`Weekly report: ${team.name}`}
      onClose={onClose}
      wide
      footer={
        <button type="button" className="btn" onClick={onClose}>
          Close
        </button>
      }
    >
      <p className="report-status" data-testid="weekly-report-status" role="status">
        {sub.isLoading
          ? "Loading…"
          : sub.isError
            ? describeError(sub.error)
            : reportStatus(current, [...(offered.data ?? []), ...(known ?? [])])}
      </p>
      <p className="muted small">
        Every Monday (UTC) the team&apos;s last week goes out by e-mail: the classes with the most time, new and regressed
        classes, and the alerts resolved. The first report, of the last whole week, goes out at the next evaluation.
      </p>
      <FormError message={error} />
      <form className="report-form" onSubmit={submit} noValidate aria-label="Weekly report channel">
        <ChannelPicker channels={offered} value={channelId} onChange={setPicked} />
        {(offered.data?.length ?? 0) > 0 && (
          <button type="submit" className="btn btn-primary" disabled={busy || !channelId}>
            {save.isPending ? "Saving…" : "Save"}
          </button>
        )}
        {current && (
          <button type="button" className="btn btn-danger-ghost" disabled={busy} onClick={() => turnOff.mutate()}>
            {turnOff.isPending ? "Turning off…" : "Turn off"}
          </button>
        )}
        <button type="button" className="btn" onClick={() => (previewing ? void preview.refetch() : setPreviewing(true))}>
          Preview
        </button>
      </form>
      {previewing && (
        <section className="report-preview" aria-label="Preview of the weekly report">
          <Loaded query={preview}>{(r) => <ReportPreview report={r} />}</Loaded>
        </section>
      )}
    </Modal>
  );
}

/**
 * The e-mail channel, among those the team may use (the server lists only enabled e-mail channels,
 * organization-wide or the team's own). Without any, an administrator is sent to add one; a team lead,
 * who may not, to ask an administrator.
 */
function ChannelPicker({
  channels,
  value,
  onChange,
}: {
  channels: UseQueryResult<ReportChannel[]>;
  value: string;
  onChange: (v: string) => void;
}) {
  const mayAddChannels = can(useUser(), "settings");
  if (channels.isLoading) return <p className="muted small">Loading the channels…</p>;
  if (channels.isError) return <FormError message={describeError(channels.error)} />;
  const list = channels.data ?? [];
  if (list.length === 0) {
    return (
      <p className="notice notice-warn" data-testid="no-email-channels">
        There is no e-mail channel yet: the report goes to one.{" "}
        {mayAddChannels ? (
          <>
            <Link to={CHANNELS_PAGE}>Add one in Alert channels</Link>.
          </>
        ) : (
          "Ask an administrator to add one."
        )}
      </p>
    );
  }
  return (
    <Field label="E-mail channel">
      {(p) => (
        <select {...p} value={value} onChange={(e) => onChange(e.target.value)}>
          <option value="">Choose…</option>
          {list.map((c) => (
            <option key={c.id} value={c.id}>
              {c.name}
            </option>
          ))}
        </select>
      )}
    </Field>
  );
}

/** `YYYY-MM-DD` of an instant, in UTC (the report's weeks are UTC weeks). */
function utcDate(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toISOString().slice(0, 10);
}

/** The report as it would be sent. */
export function ReportPreview({ report: r }: { report: Report }) {
  return (
    <div data-testid="weekly-report-preview">
      <p>
        <strong>{r.team_name}</strong>, week of {utcDate(r.from)} to {utcDate(r.to)} (UTC): {formatCount(r.calls)} calls,{" "}
        {formatMs(r.total_time_ms)} in all.
      </p>
      <ClassSection title="Most time" classes={r.top} />
      <ClassSection title="New classes" classes={r.new} count={r.new_count} />
      <ClassSection title="Regressed classes" classes={r.regressed} count={r.regressed_count} />
      <ResolvedAlerts alerts={r.resolved} count={r.resolved_count} />
    </div>
  );
}

function countNote(shown: number, count: number | undefined): string {
  if (count === undefined) return "";
  return shown < count ? ` (the first ${formatCount(shown)} of ${formatCount(count)})` : ` (${formatCount(count)})`;
}

function ClassSection({ title, classes, count }: { title: string; classes: ReportClass[]; count?: number }) {
  const id = useId();
  return (
    <section aria-labelledby={id}>
      <h3 id={id}>
        {title}
        {countNote(classes.length, count)}
      </h3>
      {classes.length === 0 ? (
        <p className="muted small">None.</p>
      ) : (
        <DataTable
          className="table report-table"
          rows={classes}
          rowKey={(c) => `${c.database_type}-${c.query_id}`}
          columns={[
            {
              header: "Query id",
              cell: (c) => (
                <Link to={classHref(c)} className="mono small" title={c.fingerprint}>
                  {c.query_id}
                </Link>
              ),
            },
            { header: "Fingerprint", className: "fp muted", cell: (c) => c.fingerprint },
            { header: "Calls", numeric: true, cell: (c) => formatCount(c.calls) },
            { header: "Total", numeric: true, cell: (c) => formatMs(c.total_time_ms) },
            { header: "Mean", numeric: true, cell: (c) => formatMs(c.mean_ms) },
            { header: "p95", numeric: true, cell: (c) => formatMs(c.p95_ms) },
            { header: "Ratio", numeric: true, cell: (c) => (c.mean_ratio == null ? "—" : `${formatRatio(c.mean_ratio)}×`) },
          ]}
        />
      )}
    </section>
  );
}

function ResolvedAlerts({ alerts, count }: { alerts: Schemas["ReportAlert"][]; count: number }) {
  const id = useId();
  return (
    <section aria-labelledby={id}>
      <h3 id={id}>
        Resolved alerts{countNote(alerts.length, count)}
      </h3>
      {alerts.length === 0 ? (
        <p className="muted small">None.</p>
      ) : (
        <ul className="report-alerts">
          {alerts.map((a) => (
            <li key={a.id}>
              #{a.id} {alertKindLabel(a.kind)} ·{" "}
              <Link to={classHref(a)} className="mono small">
                {a.query_id}
              </Link>
              {a.resolved_at && <span className="muted small"> · resolved {formatDateTime(a.resolved_at)}</span>}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
