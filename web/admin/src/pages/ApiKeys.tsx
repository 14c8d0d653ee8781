import { useState } from "react";
import { api, call } from "../api/client";
import { queries } from "../api/queries";
import type { Schemas } from "../api/types";
import { EmptyState } from "../components/States";
import { CopyButton, DataTable, Field, Modal, Pill } from "../components/ui";
import { formatAgo } from "../lib/format";
import { useOrgChoice, useTeams, OrgField, TeamOptions } from "./common";
import { createdColumn, FormModal, nameColumn, orgColumn, PageHead, PagedTable, RowActions, useConfirmedAction, useFormModal, usePagedList } from "./crud";

type Key = Schemas["ApiKeyView"];
type Created = Schemas["ApiKeyCreated"];

/** The agent configuration for a new key: the secret goes in a file of its own, never in the TOML. */
export function agentSnippet(origin: string, keyId: string): string {
  return `[platform]
url = "${origin}"
key_id = "${keyId}"
secret_file = "/etc/dbpower/agent.secret"

[agent]
name = "db-host-1"

[spool]
dir = "/var/lib/dbpower-agent"

[[source]]
name = "primary"
kind = "mysql"                       # or "postgresql"
url = "mysql://dbpower:PASSWORD@127.0.0.1:3306/"
methods = ["slow_log_file"]          # postgresql: ["pg_stat_statements"]
`;
}

export function ApiKeys() {
  const { isSuper, orgs } = useOrgChoice();
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<Created | null>(null);
  const paged = usePagedList(queries.apiKeys.list);
  const revoke = useConfirmedAction("api-key", (k: Key) =>
    call(() => api.DELETE("/api/v1/api-keys/{id}", { params: { path: { id: k.id } } })),
  );
  return (
    <div className="page">
      <PageHead
        title="API keys"
        intro="Agents sign every request with a key's secret. The secret is shown once, when the key is created."
        action="New key"
        onAction={() => setCreating(true)}
      />
      <PagedTable {...paged} empty={<EmptyState title="No API keys yet">Create one for each agent you run.</EmptyState>}>
        {(items) => (
          <DataTable
            rows={items}
            columns={[
              nameColumn,
              { header: "Key id", className: "mono small", cell: (k) => k.key_id },
              orgColumn(isSuper, orgs),
              createdColumn,
              { header: "Last used", cell: (k) => formatAgo(k.last_used_at) },
              { header: "Status", cell: (k) => (k.revoked_at ? <Pill tone="muted">Revoked</Pill> : <Pill tone="ok">Active</Pill>) },
            ]}
            actions={(k) => !k.revoked_at && <RowActions onDelete={() => revoke.ask(k)} deleteLabel="Revoke" />}
          />
        )}
      </PagedTable>
      {creating && (
        <KeyForm
          onClose={() => setCreating(false)}
          onCreated={(c) => {
            setCreating(false);
            setCreated(c);
          }}
        />
      )}
      {created && <SecretOnce created={created} onClose={() => setCreated(null)} />}
      {revoke.dialog("Revoke API key", "Revoke key", (k) => (
        <>
          Revoke <strong>{k.name}</strong> ({k.key_id})? Agents using it are refused from now on.
        </>
      ))}
    </div>
  );
}

function KeyForm({ onClose, onCreated }: { onClose: () => void; onCreated: (c: Created) => void }) {
  const { isSuper, orgs } = useOrgChoice();
  const teams = useTeams();
  const [name, setName] = useState("");
  const [org, setOrg] = useState("");
  const [team, setTeam] = useState("");
  const { fieldError, modal } = useFormModal(
    () =>
      call(() =>
        api.POST("/api/v1/api-keys", {
          body: { name, organization_id: isSuper && org ? Number(org) : undefined, team_id: team ? Number(team) : undefined },
        }),
      ),
    "api-key",
    onCreated,
  );
  return (
    <FormModal
      {...modal}
      title="New API key"
      id="key-form"
      submitLabel="Create key"
      busyLabel="Creating…"
      fields={["name", "team_id", "organization_id"]}
      onClose={onClose}
    >
      {isSuper && (
        <OrgField orgs={orgs} value={org} onChange={setOrg} error={fieldError("organization_id")} />
      )}
      <Field label="Name" error={fieldError("name")} hint="e.g. the database host it runs on">
        {(p) => <input {...p} value={name} onChange={(e) => setName(e.target.value)} />}
      </Field>
      <Field label="Team" error={fieldError("team_id")} hint="Optional: queries sent with this key belong to this team">
        {(p) => (
          <select {...p} value={team} onChange={(e) => setTeam(e.target.value)}>
            <option value="">None (whole organization)</option>
            <TeamOptions teams={teams.data?.items} org={isSuper ? org : undefined} />
          </select>
        )}
      </Field>
    </FormModal>
  );
}

function SecretOnce({ created, onClose }: { created: Created; onClose: () => void }) {
  const snippet = agentSnippet(window.location.origin, created.key_id);
  return (
    <Modal
      title={`Key created: ${created.name}`}
      onClose={onClose}
      wide
      footer={
        <button type="button" className="btn btn-primary" onClick={onClose}>
          I have saved the secret
        </button>
      }
    >
      <p className="notice notice-warn" role="status">
        Copy the secret now. It is not shown again; if it is lost, revoke the key and create another.
      </p>
      <div className="field">
        <span className="label">Key id</span>
        <div className="secret-row">
          <code data-testid="new-key-id">{created.key_id}</code>
          <CopyButton text={created.key_id} label="Copy key id" />
        </div>
      </div>
      <div className="field">
        <span className="label">Secret</span>
        <div className="secret-row">
          <code data-testid="new-key-secret">{created.secret}</code>
          <CopyButton text={created.secret} label="Copy secret" />
        </div>
        <span className="field-hint">
          Save it on the database host as <code>/etc/dbpower/agent.secret</code> (mode 600).
        </span>
      </div>
      <div className="field">
        <span className="label">Agent configuration (agent.toml)</span>
        <div className="ddl">
          <pre>
            <code data-testid="agent-snippet">{snippet}</code>
          </pre>
          <CopyButton text={snippet} label="Copy agent configuration" />
        </div>
        <span className="field-hint">
          Then run <code>dbpower agent --config agent.toml --check</code>, and without <code>--check</code> to start.
        </span>
      </div>
    </Modal>
  );
}
