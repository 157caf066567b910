/** Creating and switching workspaces. */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { useNavigate } from "react-router";
import { type ApiError, api, unwrap } from "../api/client";
import { Field, FormError, PageHeader, statusLabel } from "../components/ui";
import { useWorkspaces } from "../session";

export function NewWorkspacePage({ first = false }: { first?: boolean }) {
  const [name, setName] = useState("");
  const [checked, setChecked] = useState(false);
  const queryClient = useQueryClient();
  const { select } = useWorkspaces();
  const navigate = useNavigate();
  const create = useMutation<{ id: string }, ApiError>({
    mutationFn: () => unwrap(api.POST("/api/v1/workspaces", { body: { name: name.trim() } })),
    onSuccess: async (workspace) => {
      await queryClient.invalidateQueries({ queryKey: ["me"] });
      select(workspace.id);
      navigate("/");
    },
  });
  const error = name.trim().length === 0 ? "Give the workspace a name." : create.error?.forField("name");
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setChecked(true);
    if (name.trim().length > 0) create.mutate();
  };
  return (
    <>
      <PageHeader title={first ? "Create your first workspace" : "New workspace"} />
      {first ? (
        <p>A workspace holds your team, your clients and their social accounts. You can make more later.</p>
      ) : null}
      <form onSubmit={submit} noValidate className="card narrow">
        <Field
          label="Workspace name"
          hint="Your agency or company, e.g. Northwind Agency."
          error={checked ? error : undefined}
        >
          {(props) => <input {...props} value={name} onChange={(e) => setName(e.target.value)} />}
        </Field>
        <FormError error={create.error} shownPaths={["name"]} />
        <button type="submit" className="primary" disabled={create.isPending}>
          {create.isPending ? "Creating…" : "Create workspace"}
        </button>
      </form>
    </>
  );
}

export function WorkspacesPage() {
  const { workspaces, workspace, select } = useWorkspaces();
  const navigate = useNavigate();
  return (
    <>
      <PageHeader title="Workspaces">
        <button type="button" onClick={() => navigate("/workspaces/new")}>
          New workspace
        </button>
      </PageHeader>
      <ul className="list card">
        {workspaces.map((w) => (
          <li key={w.id}>
            <strong>{w.name}</strong> <span className="muted">{statusLabel(w.role ?? "")}</span>{" "}
            {w.id === workspace?.id ? (
              <span className="badge badge-info">Current</span>
            ) : (
              <button type="button" onClick={() => select(w.id)}>
                Switch to {w.name}
              </button>
            )}
          </li>
        ))}
      </ul>
    </>
  );
}
