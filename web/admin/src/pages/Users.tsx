import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api, call } from "../api/client";
import { EmptyState } from "../components/States";
import { describeError } from "../api/errors";
import { invalidate, queries } from "../api/queries";
import type { Role, Schemas } from "../api/types";
import { useUser } from "../auth/AuthContext";
import { DataTable, DialogButtons, Field, Modal, Options, Pill } from "../components/ui";
import { formatAgo, roleLabel } from "../lib/format";
import { FormError, formErrors, named, useIdentities, useOrgChoice, useTeams, OrgField, TeamOptions } from "./common";
import { FormModal, orgColumn, PageHead, PagedTable, RowActions, useConfirmedAction, useEditor, useFormModal, usePagedList } from "./crud";

type User = Schemas["UserView"];

/** The roles `me` may give, as the server's permission table allows. */
export function grantableRoles(me: Role): Role[] {
  switch (me) {
    case "SUPER_ADMIN":
      return ["SUPER_ADMIN", "ORG_ADMIN", "TEAM_LEAD", "USER"];
    case "ORG_ADMIN":
      return ["ORG_ADMIN", "TEAM_LEAD", "USER"];
    case "TEAM_LEAD":
      return ["USER"];
    default:
      return [];
  }
}

export function Users() {
  const me = useUser();
  const qc = useQueryClient();
  const { isSuper, orgs } = useOrgChoice();
  const teams = useTeams(me.role !== "TEAM_LEAD" && me.role !== "USER");
  const [resetting, setResetting] = useState<User | null>(null);
  const paged = usePagedList(queries.users.list);
  const editor = useEditor((u: User | null, close) => <UserForm user={u} onClose={close} />);
  const toggle = useMutation({
    mutationFn: (u: User) =>
      call(() => api.PATCH("/api/v1/users/{id}", { params: { path: { id: u.id } }, body: { is_active: !u.is_active } })),
    onSuccess: () => void invalidate(qc, "user"),
  });
  const remove = useConfirmedAction("user", (u: User) =>
    call(() => api.DELETE("/api/v1/users/{id}", { params: { path: { id: u.id } } })),
  );
  const teamName = (id: number | null | undefined) =>
    id == null ? "—" : (teams.data?.items.find((t) => t.id === id)?.name ?? `#${id}`);
  return (
    <div className="page">
      <PageHead
        title="Users"
        intro="People who log in to this panel, and what their role lets them see and change."
        action="New user"
        onAction={editor.create}
      />
      {toggle.isError && <FormError message={describeError(toggle.error)} />}
      <PagedTable {...paged} empty={<EmptyState title="No users" />}>
        {(items) => (
          <DataTable
            rows={items}
            columns={[
              {
                header: "User",
                cell: (u) => (
                  <>
                    <strong>{u.full_name || u.email}</strong>
                    {u.full_name && <div className="muted small">{u.email}</div>}
                  </>
                ),
              },
              { header: "Role", cell: (u) => roleLabel(u.role) },
              orgColumn(isSuper, orgs),
              { header: "Team", cell: (u) => teamName(u.team_id) },
              { header: "Status", cell: (u) => (u.is_active ? <Pill tone="ok">Active</Pill> : <Pill tone="muted">Disabled</Pill>) },
              { header: "Last login", cell: (u) => formatAgo(u.last_login_at) },
            ]}
            actions={(u) =>
              u.id === me.id ? (
                <span className="muted small">you</span>
              ) : (
                <>
                  <button type="button" className="btn btn-small" onClick={() => setResetting(u)}>
                    Reset password
                  </button>
                  <button type="button" className="btn btn-small" disabled={toggle.isPending} onClick={() => toggle.mutate(u)}>
                    {u.is_active ? "Disable" : "Enable"}
                  </button>
                  <RowActions onEdit={() => editor.edit(u)} onDelete={() => remove.ask(u)} />
                </>
              )
            }
          />
        )}
      </PagedTable>
      {editor.form}
      {resetting && <ResetPassword user={resetting} onClose={() => setResetting(null)} />}
      {remove.dialog("Delete user", "Delete user", (u) => (
        <>
          Delete <strong>{u.email}</strong>? They are logged out everywhere.
        </>
      ))}
    </div>
  );
}

function UserForm({ user, onClose }: { user: User | null; onClose: () => void }) {
  const me = useUser();
  const { isSuper, orgs } = useOrgChoice();
  const pickTeams = me.role === "SUPER_ADMIN" || me.role === "ORG_ADMIN";
  const teams = useTeams(pickTeams);
  const identities = useIdentities(pickTeams);
  const roles = grantableRoles(me.role);
  const [email, setEmail] = useState(user?.email ?? "");
  const [fullName, setFullName] = useState(user?.full_name ?? "");
  const [password, setPassword] = useState("");
  const [role, setRole] = useState<Role>(user?.role ?? "USER");
  const [org, setOrg] = useState<string>(user?.organization_id ? String(user.organization_id) : "");
  const [team, setTeam] = useState<string>(user?.team_id ? String(user.team_id) : "");
  const [identity, setIdentity] = useState<string>(user?.identity_id ? String(user.identity_id) : "");
  const num = (v: string) => (v ? Number(v) : undefined);
  const { fieldError: err, modal } = useFormModal(
    () =>
      user
        ? call(() =>
            api.PATCH("/api/v1/users/{id}", {
              params: { path: { id: user.id } },
              body: { full_name: fullName || null, role, team_id: num(team) ?? null, identity_id: num(identity) ?? null },
            }),
          )
        : call(() =>
            api.POST("/api/v1/users", {
              body: {
                email,
                password,
                full_name: fullName || null,
                role,
                organization_id: isSuper ? num(org) : undefined,
                team_id: num(team),
                identity_id: num(identity),
              },
            }),
          ),
    "user",
    onClose,
  );
  const teamIdentities = identities.data?.items.filter((i) => !team || String(i.team_id) === team) ?? [];
  return (
    <FormModal
      {...modal}
      title={user ? `Edit ${user.email}` : "New user"}
      id="user-form"
      submitLabel={user ? "Save" : "Create user"}
      fields={["email", "password", "full_name", "role", "organization_id", "team_id", "identity_id"]}
      onClose={onClose}
    >
        {!user && (
          <>
            <Field label="Email" error={err("email")}>
              {(p) => <input {...p} type="email" autoComplete="off" value={email} onChange={(e) => setEmail(e.target.value)} />}
            </Field>
            <Field label="Initial password" error={err("password")} hint="At least 10 characters. Share it privately.">
              {(p) => (
                <input
                  {...p}
                  type="password"
                  autoComplete="new-password"
                  value={password}
                  onChange={(e) => setPassword(e.target.value)}
                />
              )}
            </Field>
          </>
        )}
        <Field label="Full name" error={err("full_name")} hint="Optional">
          {(p) => <input {...p} value={fullName} onChange={(e) => setFullName(e.target.value)} />}
        </Field>
        <Field label="Role" error={err("role")}>
          {(p) => (
            <select {...p} value={role} onChange={(e) => setRole(e.target.value as Role)}>
              {roles.map((r) => (
                <option key={r} value={r}>
                  {roleLabel(r)}
                </option>
              ))}
            </select>
          )}
        </Field>
        {isSuper && !user && role !== "SUPER_ADMIN" && (
          <OrgField orgs={orgs} value={org} onChange={setOrg} error={err("organization_id")} />
        )}
        {pickTeams && (role === "TEAM_LEAD" || role === "USER") && (
          <>
            <Field label="Team" error={err("team_id")} hint={role === "TEAM_LEAD" ? "Required for a team lead" : "Optional"}>
              {(p) => (
                <select
                  {...p}
                  value={team}
                  onChange={(e) => {
                    setTeam(e.target.value);
                    setIdentity("");
                  }}
                >
                  <option value="">None</option>
                  <TeamOptions teams={teams.data?.items} org={isSuper ? org : undefined} />
                </select>
              )}
            </Field>
            {role === "USER" && (
              <Field label="Identity" error={err("identity_id")} hint="A user sees the queries of this identity">
                {(p) => (
                  <select {...p} value={identity} onChange={(e) => setIdentity(e.target.value)}>
                    <option value="">None</option>
                    <Options choices={named(teamIdentities)} />
                  </select>
                )}
              </Field>
            )}
          </>
        )}
    </FormModal>
  );
}

function ResetPassword({ user, onClose }: { user: User; onClose: () => void }) {
  const qc = useQueryClient();
  const [password, setPassword] = useState("");
  const [done, setDone] = useState(false);
  const save = useMutation({
    mutationFn: () => call(() => api.PATCH("/api/v1/users/{id}", { params: { path: { id: user.id } }, body: { password } })),
    onSuccess: () => {
      void invalidate(qc, "user");
      setDone(true);
    },
  });
  const errs = formErrors(save.error);
  return (
    <Modal
      title={`Reset password for ${user.email}`}
      onClose={onClose}
      footer={
        done ? (
          <button type="button" className="btn btn-primary" onClick={onClose}>
            Done
          </button>
        ) : (
          <DialogButtons onCancel={onClose} label="Set password" busy={save.isPending} form="reset-form" />
        )
      }
    >
      {done ? (
        <p className="notice notice-ok" role="status">
          Password changed. Their existing sessions were ended.
        </p>
      ) : (
        <form
          id="reset-form"
          onSubmit={(e) => {
            e.preventDefault();
            save.mutate();
          }}
          noValidate
        >
          <FormError message={errs.form} />
          <Field label="New password" error={errs.fieldMessage} hint="At least 10 characters.">
            {(p) => (
              <input {...p} type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} />
            )}
          </Field>
        </form>
      )}
    </Modal>
  );
}
