import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router";
import { api, call } from "../api/client";
import { describeError } from "../api/errors";
import { invalidate, queries, type PageParams } from "../api/queries";
import { channelKindLabel, type Schemas } from "../api/types";
import { EmptyState } from "../components/States";
import { CopyButton, DataTable, Modal, Pill } from "../components/ui";
import { formatAgo } from "../lib/format";
import { ChannelForm } from "./AlertChannelForm";
import { FormError, useOrgChoice, useTeams } from "./common";
import { nameColumn, orgColumn, PageHead, PagedTable, RowActions, useConfirmedAction, useEditor, usePagedList } from "./crud";

type Channel = Schemas["ChannelView"];
type Created = Schemas["ChannelCreated"];

/** While a delivery is on its way the list is re-read this often, so its outcome shows. */
const DELIVERY_POLL_MS = 2_000;
const inFlight = (c: Channel) => c.last_delivery_status === "pending" || c.last_delivery_status === "sending";

/** Where alerts go: webhooks, Slack, e-mail and PagerDuty, with each channel's newest delivery. */
export function AlertChannels() {
  const { isSuper, orgs } = useOrgChoice();
  const teams = useTeams();
  const qc = useQueryClient();
  const [created, setCreated] = useState<Created | null>(null);
  const [tested, setTested] = useState<string | null>(null);
  const paged = usePagedList((p: PageParams) => ({
    ...queries.channels.list(p),
    refetchInterval: (q: { state: { data?: { items: Channel[] } } }) =>
      q.state.data?.items.some(inFlight) ? DELIVERY_POLL_MS : false,
  }));
  const editor = useEditor((c: Channel | null, close) => (
    <ChannelForm
      channel={c}
      onClose={close}
      onCreated={(r) => {
        close();
        if (r.secret) setCreated(r);
      }}
    />
  ));
  const remove = useConfirmedAction("channel-deleted", (c: Channel) =>
    call(() => api.DELETE("/api/v1/alert-channels/{id}", { params: { path: { id: c.id } } })),
  );
  const test = useMutation({
    mutationFn: (c: Channel) => call(() => api.POST("/api/v1/alert-channels/{id}/test", { params: { path: { id: c.id } } })),
    onMutate: () => setTested(null),
    onSuccess: (_r, c) => {
      setTested(c.name);
      void invalidate(qc, "channel-tested");
    },
  });
  const teamName = (id: number | null | undefined) => (id ? (teams.data?.items.find((t) => t.id === id)?.name ?? `#${id}`) : "Every team");

  return (
    <div className="page">
      <PageHead
        title="Alert channels"
        intro={
          <>
            Where alerts go. Rules notify every channel unless they name some (<Link to="/settings/alert-rules">Alert rules</Link>).
          </>
        }
        action="New channel"
        onAction={editor.create}
      />
      {tested && (
        <p className="notice notice-ok" role="status">
          Test message queued for {tested}; its delivery shows below.
        </p>
      )}
      <FormError message={test.isError ? describeError(test.error) : null} />
      <PagedTable {...paged} empty={<EmptyState title="No channels yet">Add a webhook, Slack, e-mail or PagerDuty channel.</EmptyState>}>
        {(items) => (
          <DataTable
            rows={items}
            columns={[
              nameColumn,
              { header: "Kind", cell: (c) => channelKindLabel(c.kind) },
              { header: "Target", className: "ellipsis-cell", cell: (c) => <Target c={c} /> },
              { header: "Team", cell: (c) => teamName(c.team_id) },
              orgColumn(isSuper, orgs),
              { header: "Status", cell: (c) => (c.enabled ? <Pill tone="ok">Enabled</Pill> : <Pill tone="muted">Disabled</Pill>) },
              { header: "Last delivery", cell: (c) => <LastDelivery c={c} /> },
            ]}
            actions={(c) => (
              <>
                <button
                  type="button"
                  className="btn btn-small"
                  disabled={test.isPending && test.variables?.id === c.id}
                  onClick={() => test.mutate(c)}
                >
                  Send test
                </button>
                <RowActions onEdit={() => editor.edit(c)} onDelete={() => remove.ask(c)} />
              </>
            )}
          />
        )}
      </PagedTable>
      {editor.form}
      {created && <SecretOnce created={created} onClose={() => setCreated(null)} />}
      {remove.dialog("Delete channel", "Delete channel", (c) => (
        <>
          Delete <strong>{c.name}</strong>? Rules that name it stop notifying it; its pending deliveries are dropped.
        </>
      ))}
    </div>
  );
}

function Target({ c }: { c: Channel }) {
  switch (c.kind) {
    case "webhook":
      return <span className="mono small">{c.url}</span>;
    case "email":
      return <span>{c.to.join(", ")}</span>;
    case "slack":
      return <span className="muted">Incoming webhook (kept secret)</span>;
    case "pagerduty":
      return (
        <span className="muted">
          Routing key (kept secret){c.url && <span className="mono small"> · {c.url}</span>}
        </span>
      );
  }
}

const DELIVERY_TONES: Record<string, "ok" | "warn" | "bad"> = { sent: "ok", pending: "warn", sending: "warn", failed: "bad" };

function LastDelivery({ c }: { c: Channel }) {
  if (!c.last_delivery_status) return <span className="muted">Never</span>;
  return (
    <div>
      <Pill tone={DELIVERY_TONES[c.last_delivery_status] ?? "warn"}>{c.last_delivery_status}</Pill>{" "}
      <span className="muted small">{formatAgo(c.last_delivery_at)}</span>
      {c.last_error && <div className="small text-bad">{c.last_error}</div>}
    </div>
  );
}

/** A webhook's signing secret, shown this once (as an API key's secret is). */
function SecretOnce({ created, onClose }: { created: Created; onClose: () => void }) {
  return (
    <Modal
      title={`Channel created: ${created.channel.name}`}
      onClose={onClose}
      wide
      footer={
        <button type="button" className="btn btn-primary" onClick={onClose}>
          I have saved the secret
        </button>
      }
    >
      <p className="notice notice-warn" role="status">
        Copy the signing secret now. It is shown once and never again; without it, delete the channel and create another.
      </p>
      <div className="field">
        <span className="label">Signing secret</span>
        <div className="secret-row">
          <code data-testid="new-channel-secret">{created.secret}</code>
          <CopyButton text={created.secret ?? ""} label="Copy secret" />
        </div>
        <span className="field-hint">
          Every delivery carries <code>webhook-id</code>, <code>webhook-timestamp</code> and <code>webhook-signature</code>{" "}
          (Standard Webhooks: an HMAC-SHA256 of <code>id.timestamp.body</code> under this secret).
        </span>
      </div>
    </Modal>
  );
}
