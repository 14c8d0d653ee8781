import { useState } from "react";
import { api, call } from "../api/client";
import { CHANNEL_KINDS, type ChannelKind, type Schemas } from "../api/types";
import { ChoiceField, Field } from "../components/ui";
import { OrgField, TeamOptions, useOrgChoice, useTeams } from "./common";
import { FormModal, useFormModal } from "./crud";

type Channel = Schemas["ChannelView"];
type Created = Schemas["ChannelCreated"];
type Config = Schemas["ChannelConfigIn"];

/** What the form holds of a channel's settings. */
interface Settings {
  /** A webhook's or Slack's URL, or PagerDuty's optional Events API URL. */
  url: string;
  /** E-mail recipients, comma-separated. */
  to: string;
  routingKey: string;
}

export function recipients(to: string): string[] {
  return to
    .split(/[,;\s]+/)
    .map((a) => a.trim())
    .filter(Boolean);
}

/** The settings a new channel of `kind` is created with. */
export function configOf(kind: ChannelKind, s: Settings): Config {
  switch (kind) {
    case "webhook":
    case "slack":
      return { url: s.url.trim() || null };
    case "email":
      return { to: recipients(s.to) };
    case "pagerduty":
      return { routing_key: s.routingKey.trim() || null, url: s.url.trim() || null };
  }
}

/**
 * The settings an edit sends: only when they changed. A new config replaces the old one, and secrets
 * (Slack's URL, PagerDuty's routing key) are never shown, so leaving those empty keeps them.
 */
export function configChange(c: Channel, s: Settings): Config | undefined {
  switch (c.kind) {
    case "webhook":
      return s.url.trim() !== (c.url ?? "") ? configOf("webhook", s) : undefined;
    case "slack":
      return s.url.trim() ? configOf("slack", s) : undefined;
    case "email":
      return recipients(s.to).join(",") !== c.to.join(",") ? configOf("email", s) : undefined;
    case "pagerduty":
      return s.routingKey.trim() || s.url.trim() !== (c.url ?? "") ? configOf("pagerduty", s) : undefined;
  }
}

const FIELDS = ["name", "kind", "config", "config.url", "config.to", "config.routing_key", "team_id", "organization_id", "enabled"];

/** Create a channel (`onCreated` gets the answer, with a webhook's secret) or edit one. */
export function ChannelForm({
  channel,
  onClose,
  onCreated,
}: {
  channel: Channel | null;
  onClose: () => void;
  onCreated: (c: Created) => void;
}) {
  const { isSuper, orgs } = useOrgChoice();
  const teams = useTeams();
  const [name, setName] = useState(channel?.name ?? "");
  const [kind, setKind] = useState<ChannelKind>(channel?.kind ?? "webhook");
  const [settings, setSettings] = useState<Settings>({
    url: channel && channel.kind !== "slack" ? (channel.url ?? "") : "",
    to: channel?.to.join(", ") ?? "",
    routingKey: "",
  });
  const [team, setTeam] = useState("");
  const [org, setOrg] = useState("");
  const [enabled, setEnabled] = useState(channel?.enabled ?? true);
  const set = (k: keyof Settings) => (e: { target: { value: string } }) => setSettings((s) => ({ ...s, [k]: e.target.value }));

  const { fieldError, modal } = useFormModal<Created | Channel>(
    () =>
      channel
        ? call(() =>
            api.PATCH("/api/v1/alert-channels/{id}", {
              params: { path: { id: channel.id } },
              body: { name, enabled, config: configChange(channel, settings) },
            }),
          )
        : call(() =>
            api.POST("/api/v1/alert-channels", {
              body: {
                name,
                kind,
                enabled,
                config: configOf(kind, settings),
                team_id: team ? Number(team) : undefined,
                organization_id: isSuper && org ? Number(org) : undefined,
              },
            }),
          ),
    "channel",
    (r) => ("channel" in r ? onCreated(r) : onClose()),
  );
  const urlError = fieldError("config.url") ?? fieldError("config");
  const keep = channel ? "Leave empty to keep the current one." : undefined;

  return (
    <FormModal
      {...modal}
      title={channel ? `Edit ${channel.name}` : "New alert channel"}
      id="channel-form"
      submitLabel={channel ? "Save" : "Create channel"}
      busyLabel={channel ? "Saving…" : "Creating…"}
      fields={FIELDS}
      onClose={onClose}
    >
      {isSuper && !channel && <OrgField orgs={orgs} value={org} onChange={setOrg} error={fieldError("organization_id")} />}
      <Field label="Name" error={fieldError("name")} hint="e.g. On-call Slack">
        {(p) => <input {...p} value={name} onChange={(e) => setName(e.target.value)} />}
      </Field>
      {channel ? (
        <p className="muted small">Kind: {CHANNEL_KINDS.find((k) => k.value === channel.kind)?.label}</p>
      ) : (
        <ChoiceField
          label="Kind"
          error={fieldError("kind")}
          value={kind}
          choices={CHANNEL_KINDS}
          onChange={(k) => {
            setKind(k);
            setSettings({ url: "", to: "", routingKey: "" });
          }}
        />
      )}
      {kind === "webhook" && (
        <Field label="Webhook URL" error={urlError} hint="Receives a signed POST (Standard Webhooks) per alert, resolve and test.">
          {(p) => <input {...p} type="url" value={settings.url} onChange={set("url")} placeholder="https://hooks.example.com/dbpower" />}
        </Field>
      )}
      {kind === "slack" && (
        <Field label="Slack webhook URL" error={urlError} hint={keep ?? "An incoming-webhook URL; it is kept secret and never shown again."}>
          {(p) => <input {...p} type="url" value={settings.url} onChange={set("url")} placeholder="https://hooks.slack.com/services/…" />}
        </Field>
      )}
      {kind === "email" && (
        <Field label="Recipients" error={fieldError("config.to") ?? fieldError("config")} hint="1 to 20 addresses, comma-separated">
          {(p) => <input {...p} value={settings.to} onChange={set("to")} placeholder="oncall@example.com, dba@example.com" />}
        </Field>
      )}
      {kind === "pagerduty" && (
        <>
          <Field
            label="Routing key"
            error={fieldError("config.routing_key")}
            hint={channel ? "Leave empty to keep the current one (a new URL needs the key again)." : "The integration key of an Events API v2 service."}
          >
            {(p) => <input {...p} value={settings.routingKey} onChange={set("routingKey")} autoComplete="off" />}
          </Field>
          <Field label="Events API URL" error={urlError} hint="Optional: PagerDuty's own by default.">
            {(p) => <input {...p} type="url" value={settings.url} onChange={set("url")} placeholder="https://events.pagerduty.com/v2/enqueue" />}
          </Field>
        </>
      )}
      {!channel && (
        <Field label="Team" error={fieldError("team_id")} hint="Optional: only alerts raised by this team's executions reach the channel.">
          {(p) => (
            <select {...p} value={team} onChange={(e) => setTeam(e.target.value)}>
              <option value="">Every team</option>
              <TeamOptions teams={teams.data?.items} org={isSuper ? org : undefined} />
            </select>
          )}
        </Field>
      )}
      <label className="check">
        <input type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.target.checked)} /> Enabled
      </label>
    </FormModal>
  );
}
