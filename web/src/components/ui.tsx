/** Small building blocks every page uses: fields with their errors, states, badges, buttons. */
import { type ReactNode, useId, useState } from "react";
import { ApiError, errorMessage, stripLocation } from "../api/client";

type FieldProps = {
  label: string;
  /** Shown under the control; also its accessible description. */
  hint?: ReactNode;
  error?: string | undefined;
  children: (props: { id: string; "aria-describedby"?: string; "aria-invalid"?: boolean }) => ReactNode;
};

/** A label, a control, a hint and the error that names it (client-side or the server's). */
export function Field({ label, hint, error, children }: FieldProps) {
  const id = useId();
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const describedBy = [hint ? hintId : "", error ? errorId : ""].filter(Boolean).join(" ");
  return (
    <div className={`field${error ? " field-invalid" : ""}`}>
      <label htmlFor={id}>{label}</label>
      {children({
        id,
        ...(describedBy ? { "aria-describedby": describedBy } : {}),
        ...(error ? { "aria-invalid": true } : {}),
      })}
      {hint ? (
        <div className="hint" id={hintId}>
          {hint}
        </div>
      ) : null}
      {error ? (
        <div className="field-error" id={errorId}>
          <span aria-hidden="true">⚠ </span>
          {error}
        </div>
      ) : null}
    </div>
  );
}

/** The error of a whole form or action: the server's detail, and its field errors not shown elsewhere. */
export function FormError({ error, shownPaths = [] }: { error: unknown; shownPaths?: string[] }) {
  if (!error) return null;
  const rest =
    error instanceof ApiError
      ? error.fieldErrors.filter((e) => !shownPaths.some((p) => stripLocation(e.path).startsWith(p)))
      : [];
  return (
    <div className="alert alert-error" role="alert">
      <strong>{errorMessage(error)}</strong>
      {rest.length > 0 ? (
        <ul>
          {rest.map((e) => (
            <li key={e.path + e.message}>
              <code>{e.path}</code>: {e.message}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

export function Loading({ what = "Loading" }: { what?: string }) {
  return (
    <p className="state state-loading" role="status" aria-live="polite">
      {what}…
    </p>
  );
}

export function ErrorState({ error, retry }: { error: unknown; retry?: () => void }) {
  return (
    <div className="state state-error" role="alert">
      <p>
        <span aria-hidden="true">⚠ </span>
        {errorMessage(error)}
      </p>
      {retry ? (
        <button type="button" onClick={retry}>
          Try again
        </button>
      ) : null}
    </div>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <div className="state state-empty">{children}</div>;
}

/** The three states of a query in one place. */
export function QueryState<T>({
  query,
  what,
  children,
}: {
  query: {
    isPending: boolean;
    isError: boolean;
    error: unknown;
    data: T | undefined;
    refetch: () => unknown;
  };
  what?: string;
  children: (data: T) => ReactNode;
}) {
  if (query.isPending) return <Loading {...(what ? { what: `Loading ${what}` } : {})} />;
  if (query.isError || query.data === undefined)
    return <ErrorState error={query.error} retry={() => void query.refetch()} />;
  return <>{children(query.data)}</>;
}

const TONES: Record<string, string> = {
  published: "ok",
  active: "ok",
  approved: "ok",
  delivered: "ok",
  ok: "ok",
  scheduled: "info",
  publishing: "info",
  pending_approval: "warn",
  pending: "warn",
  expiring: "warn",
  partially_published: "warn",
  unconfirmed: "warn",
  degraded: "warn",
  open: "warn",
  draft: "muted",
  cancelled: "muted",
  disconnected: "muted",
  acknowledged: "muted",
  failed: "bad",
  rejected: "bad",
  needs_reconnection: "bad",
  down: "bad",
  error: "bad",
};

const SYMBOLS: Record<string, string> = { ok: "✓", info: "◷", warn: "!", bad: "✕", muted: "–" };

export function statusLabel(status: string): string {
  const text = status.replaceAll("_", " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** A status as a word and a symbol, with a colour: never the colour alone. */
export function StatusBadge({ status }: { status: string }) {
  const tone = TONES[status] ?? "muted";
  return (
    <span className={`badge badge-${tone}`}>
      <span aria-hidden="true">{SYMBOLS[tone]} </span>
      {statusLabel(status)}
    </span>
  );
}

/** A destructive action that asks once more, in place, before it happens. */
export function ConfirmButton({
  label,
  confirmLabel,
  question,
  onConfirm,
  busy,
}: {
  label: string;
  confirmLabel: string;
  question: string;
  onConfirm: () => void;
  busy?: boolean;
}) {
  const [asking, setAsking] = useState(false);
  if (!asking)
    return (
      <button type="button" className="danger" onClick={() => setAsking(true)} disabled={busy}>
        {label}
      </button>
    );
  return (
    <fieldset className="confirm">
      <legend className="visually-hidden">{question}</legend>
      <span aria-hidden="true">{question}</span>{" "}
      <button
        type="button"
        className="danger"
        onClick={() => {
          setAsking(false);
          onConfirm();
        }}
      >
        {confirmLabel}
      </button>{" "}
      <button type="button" onClick={() => setAsking(false)}>
        Keep it
      </button>
    </fieldset>
  );
}

export function PageHeader({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="page-header">
      <h1>{title}</h1>
      {children ? <div className="page-actions">{children}</div> : null}
    </div>
  );
}

/** A time in a given zone, with the zone written out (never implied). */
export function formatInZone(iso: string | null | undefined, timeZone: string): string {
  if (!iso) return "—";
  return new Intl.DateTimeFormat("en-GB", {
    timeZone,
    dateStyle: "medium",
    timeStyle: "short",
  }).format(new Date(iso));
}

export function formatLocal(iso: string | null | undefined): string {
  if (!iso) return "—";
  return new Intl.DateTimeFormat("en-GB", { dateStyle: "medium", timeStyle: "short" }).format(new Date(iso));
}
