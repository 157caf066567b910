/** Sign-in and sign-up: the only pages in the initial bundle. */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { Link, Navigate, useNavigate, useSearchParams } from "react-router";
import { type ApiError, api, unwrap } from "../api/client";
import { Field, FormError } from "../components/ui";
import { useMe } from "../session";

const MIN_PASSWORD = 12;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** Only paths inside the app: `next` comes from the address bar. */
function safeNext(next: string | null): string {
  return next?.startsWith("/") && !next.startsWith("//") ? next : "/";
}

function useAfterSignIn() {
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  return async () => {
    // Not invalidate: no page here watches "me", and the shell would first see the cached "signed out".
    queryClient.removeQueries({ queryKey: ["me"] });
    navigate(safeNext(params.get("next")), { replace: true });
  };
}

/** Someone already signed in who opens sign-in (a bookmark, the back button) goes on to the app. */
function useSignedIn(): string | undefined {
  const me = useMe();
  const [params] = useSearchParams();
  return me.data?.user ? safeNext(params.get("next")) : undefined;
}

export function SignInPage() {
  const signedIn = useSignedIn();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [checked, setChecked] = useState(false);
  const [params] = useSearchParams();
  const done = useAfterSignIn();
  const signIn = useMutation<unknown, ApiError>({
    mutationFn: () => unwrap(api.POST("/api/v1/auth/sign-in", { body: { email, password } })),
    onSuccess: done,
  });
  const errors = {
    email: !EMAIL.test(email) ? "Enter your email address." : signIn.error?.forField("email"),
    password: password.length === 0 ? "Enter your password." : signIn.error?.forField("password"),
  };
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setChecked(true);
    if (errors.email || errors.password) return;
    signIn.mutate();
  };
  if (signedIn && !signIn.isPending) return <Navigate to={signedIn} replace />;
  return (
    <main className="auth">
      <h1>
        <span className="logo" aria-hidden="true">
          ✦
        </span>{" "}
        Sign in to Herald
      </h1>
      {params.get("next") ? (
        <p className="hint">Your session ended. Sign in to continue where you were.</p>
      ) : null}
      <form onSubmit={submit} noValidate>
        <Field label="Email" error={checked ? errors.email : undefined}>
          {(props) => (
            <input
              {...props}
              type="email"
              autoComplete="email"
              value={email}
              onChange={(e) => setEmail(e.target.value)}
            />
          )}
        </Field>
        <Field label="Password" error={checked ? errors.password : undefined}>
          {(props) => (
            <input
              {...props}
              type="password"
              autoComplete="current-password"
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
          )}
        </Field>
        <FormError error={signIn.error} shownPaths={["email", "password"]} />
        <button type="submit" className="primary" disabled={signIn.isPending}>
          {signIn.isPending ? "Signing in…" : "Sign in"}
        </button>
      </form>
      <p>
        New to Herald? <Link to={`/sign-up${window.location.search}`}>Create an account</Link>
      </p>
    </main>
  );
}

export function SignUpPage() {
  const [name, setName] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [checked, setChecked] = useState(false);
  const done = useAfterSignIn();
  const signUp = useMutation<unknown, ApiError>({
    mutationFn: () => unwrap(api.POST("/api/v1/auth/sign-up", { body: { name, email, password } })),
    onSuccess: done,
  });
  const errors = {
    name: name.trim().length === 0 ? "Enter your name." : signUp.error?.forField("name"),
    email: !EMAIL.test(email) ? "Enter a valid email address." : signUp.error?.forField("email"),
    password:
      password.length < MIN_PASSWORD
        ? `Use at least ${MIN_PASSWORD} characters.`
        : signUp.error?.forField("password"),
  };
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setChecked(true);
    if (errors.name || errors.email || errors.password) return;
    signUp.mutate();
  };
  return (
    <main className="auth">
      <h1>
        <span className="logo" aria-hidden="true">
          ✦
        </span>{" "}
        Create your Herald account
      </h1>
      <form onSubmit={submit} noValidate>
        <Field label="Name" error={checked ? errors.name : undefined}>
          {(props) => (
            <input {...props} autoComplete="name" value={name} onChange={(e) => setName(e.target.value)} />
          )}
        </Field>
        <Field label="Email" error={checked ? errors.email : undefined}>
          {(props) => (
            <input
              {...props}
              type="email"
              autoComplete="email"
              value={email}
              onChange={(e) => setEmail(e.target.value)}
            />
          )}
        </Field>
        <Field
          label="Password"
          hint={`At least ${MIN_PASSWORD} characters. A few unrelated words work well.`}
          error={checked ? errors.password : undefined}
        >
          {(props) => (
            <input
              {...props}
              type="password"
              autoComplete="new-password"
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
          )}
        </Field>
        <FormError error={signUp.error} shownPaths={["name", "email", "password"]} />
        <button type="submit" className="primary" disabled={signUp.isPending}>
          {signUp.isPending ? "Creating your account…" : "Create account"}
        </button>
      </form>
      <p>
        Already have an account? <Link to={`/sign-in${window.location.search}`}>Sign in</Link>
      </p>
    </main>
  );
}
