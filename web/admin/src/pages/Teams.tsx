import { useState } from "react";
import { api, call } from "../api/client";
import { queries } from "../api/queries";
import type { Schemas } from "../api/types";
import { EmptyState } from "../components/States";
import { DataTable, Field } from "../components/ui";
import { useOrgChoice, OrgField } from "./common";
import { createdColumn, FormModal, nameColumn, orgColumn, PageHead, PagedTable, RowActions, useConfirmedAction, useEditor, useFormModal, usePagedList } from "./crud";

type Team = Schemas["TeamView"];

export function Teams() {
  const { isSuper, orgs } = useOrgChoice();
  const paged = usePagedList(queries.teams.list);
  const editor = useEditor((t: Team | null, close) => <TeamForm team={t} onClose={close} />);
  const remove = useConfirmedAction("team-deleted", (t: Team) =>
    call(() => api.DELETE("/api/v1/teams/{id}", { params: { path: { id: t.id } } })),
  );
  return (
    <div className="page">
      <PageHead
        title="Teams"
        intro="Teams own identities (the database users or services queries are attributed to)."
        action="New team"
        onAction={editor.create}
      />
      <PagedTable {...paged} empty={<EmptyState title="No teams yet">Create a team to group identities and team leads.</EmptyState>}>
        {(items) => (
          <DataTable
            rows={items}
            columns={[
              nameColumn,
              { header: "Description", className: "muted", cell: (t) => t.description ?? "—" },
              orgColumn(isSuper, orgs),
              createdColumn,
            ]}
            actions={(t) => <RowActions onEdit={() => editor.edit(t)} onDelete={() => remove.ask(t)} />}
          />
        )}
      </PagedTable>
      {editor.form}
      {remove.dialog("Delete team", "Delete team", (t) => (
        <>
          Delete <strong>{t.name}</strong>? Its identities and the team assignment of its users go with it.
        </>
      ))}
    </div>
  );
}

function TeamForm({ team, onClose }: { team: Team | null; onClose: () => void }) {
  const { isSuper, orgs } = useOrgChoice();
  const [name, setName] = useState(team?.name ?? "");
  const [description, setDescription] = useState(team?.description ?? "");
  const [org, setOrg] = useState("");
  const { fieldError, modal } = useFormModal(
    () =>
      team
        ? call(() =>
            api.PATCH("/api/v1/teams/{id}", { params: { path: { id: team.id } }, body: { name, description: description || null } }),
          )
        : call(() =>
            api.POST("/api/v1/teams", {
              body: { name, description: description || null, organization_id: isSuper && org ? Number(org) : undefined },
            }),
          ),
    "team",
    onClose,
  );
  return (
    <FormModal
      {...modal}
      title={team ? `Edit ${team.name}` : "New team"}
      id="team-form"
      submitLabel={team ? "Save" : "Create team"}
      fields={["name", "description", "organization_id"]}
      onClose={onClose}
    >
      {isSuper && !team && (
        <OrgField orgs={orgs} value={org} onChange={setOrg} error={fieldError("organization_id")} />
      )}
      <Field label="Name" error={fieldError("name")}>
        {(p) => <input {...p} value={name} onChange={(e) => setName(e.target.value)} />}
      </Field>
      <Field label="Description" error={fieldError("description")} hint="Optional">
        {(p) => <input {...p} value={description} onChange={(e) => setDescription(e.target.value)} />}
      </Field>
    </FormModal>
  );
}
