import { useState } from "react";
import { api, call } from "../api/client";
import { EmptyState } from "../components/States";
import type { components } from "../api/schema";
import { Field } from "../components/ui";
import { formatDateTime } from "../lib/format";
import { orgName, useOrgChoice, OrgField } from "./common";
import { FormModal, PageHead, PagedTable, PER_PAGE, RowActions, useConfirmedAction, useFormModal, usePagedList } from "./crud";

type Team = components["schemas"]["TeamView"];

export function Teams() {
  const { isSuper, orgs } = useOrgChoice();
  const [editing, setEditing] = useState<Team | "new" | null>(null);
  const { page, setPage, list } = usePagedList("teams", (page) =>
    call(() => api.GET("/api/v1/teams", { params: { query: { page, per_page: PER_PAGE } } })),
  );
  const remove = useConfirmedAction("teams", (t: Team) =>
    call(() => api.DELETE("/api/v1/teams/{id}", { params: { path: { id: t.id } } })),
  );
  return (
    <div className="page">
      <PageHead
        title="Teams"
        intro="Teams own identities (the database users or services queries are attributed to)."
        action="New team"
        onAction={() => setEditing("new")}
      />
      <PagedTable list={list} page={page} setPage={setPage} empty={<EmptyState title="No teams yet">Create a team to group identities and team leads.</EmptyState>}>
        {(items) => (
          <table className="table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Description</th>
                {isSuper && <th>Organization</th>}
                <th>Created</th>
                <th>
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((t) => (
                <tr key={t.id}>
                  <td>
                    <strong>{t.name}</strong>
                  </td>
                  <td className="muted">{t.description ?? "—"}</td>
                  {isSuper && <td>{orgName(orgs, t.organization_id)}</td>}
                  <td>{formatDateTime(t.created_at)}</td>
                  <td className="actions">
                    <RowActions onEdit={() => setEditing(t)} onDelete={() => remove.ask(t)} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </PagedTable>
      {editing && <TeamForm team={editing === "new" ? null : editing} onClose={() => setEditing(null)} />}
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
  const { mutation, fieldError, errs } = useFormModal(
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
    "teams",
    onClose,
  );
  return (
    <FormModal
      title={team ? `Edit ${team.name}` : "New team"}
      id="team-form"
      submitLabel={team ? "Save" : "Create team"}
      busy={mutation.isPending}
      errs={errs}
      fields={["name", "description", "organization_id"]}
      onSubmit={() => mutation.mutate()}
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
