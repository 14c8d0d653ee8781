import { useState } from "react";
import { api, call } from "../api/client";
import { queries } from "../api/queries";
import type { Schemas } from "../api/types";
import { EmptyState } from "../components/States";
import { DataTable, Field } from "../components/ui";
import { TeamOptions, useTeams } from "./common";
import { createdColumn, FormModal, nameColumn, PageHead, PagedTable, RowActions, useConfirmedAction, useEditor, useFormModal, usePagedList } from "./crud";

type Identity = Schemas["IdentityView"];

export function Identities() {
  const teams = useTeams();
  const paged = usePagedList(queries.identities.list);
  const editor = useEditor((i: Identity | null, close) => <IdentityForm identity={i} onClose={close} />);
  const remove = useConfirmedAction("identity-deleted", (i: Identity) =>
    call(() => api.DELETE("/api/v1/identities/{id}", { params: { path: { id: i.id } } })),
  );
  const teamName = (id: number) => teams.data?.items.find((t) => t.id === id)?.name ?? `#${id}`;
  return (
    <div className="page">
      <PageHead
        title="Identities"
        intro="The applications and database users queries are attributed to, each owned by a team."
        action="New identity"
        onAction={editor.create}
      />
      <PagedTable {...paged} empty={<EmptyState title="No identities yet">Create a team first, then the identities it owns.</EmptyState>}>
        {(items) => (
          <DataTable
            rows={items}
            columns={[nameColumn, { header: "Team", cell: (i) => teamName(i.team_id) }, createdColumn]}
            actions={(i) => <RowActions onEdit={() => editor.edit(i)} onDelete={() => remove.ask(i)} />}
          />
        )}
      </PagedTable>
      {editor.form}
      {remove.dialog("Delete identity", "Delete identity", (i) => (
        <>
          Delete <strong>{i.name}</strong>?
        </>
      ))}
    </div>
  );
}

function IdentityForm({ identity, onClose }: { identity: Identity | null; onClose: () => void }) {
  const teams = useTeams();
  const [name, setName] = useState(identity?.name ?? "");
  const [team, setTeam] = useState(identity ? String(identity.team_id) : "");
  const { fieldError, modal } = useFormModal(
    () =>
      identity
        ? call(() => api.PATCH("/api/v1/identities/{id}", { params: { path: { id: identity.id } }, body: { name } }))
        : call(() => api.POST("/api/v1/identities", { body: { name, team_id: Number(team) } })),
    "identity",
    onClose,
  );
  return (
    <FormModal
      {...modal}
      title={identity ? `Edit ${identity.name}` : "New identity"}
      id="identity-form"
      submitLabel={identity ? "Save" : "Create identity"}
      fields={["name", "team_id"]}
      onClose={onClose}
    >
      {!identity && (
        <Field label="Team" error={fieldError("team_id")}>
          {(p) => (
            <select {...p} value={team} onChange={(e) => setTeam(e.target.value)}>
              <option value="">Choose…</option>
              <TeamOptions teams={teams.data?.items} />
            </select>
          )}
        </Field>
      )}
      <Field label="Name" error={fieldError("name")} hint="e.g. checkout-service">
        {(p) => <input {...p} value={name} onChange={(e) => setName(e.target.value)} />}
      </Field>
    </FormModal>
  );
}
