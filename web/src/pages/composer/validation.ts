/**
 * Live validation: the draft is sent to POST /posts/validate once the person pauses typing, and
 * each target's problems and character counts come back. Counters also update on every keystroke
 * from the platform's published limit, so they never lag; the server's answer is the truth.
 */
import { useEffect, useRef, useState } from "react";
import { api, type Schemas, unwrap } from "../../api/client";

export type PostBody = Schemas["PostCreateInput"];
export type Validation = Schemas["PostValidation"];

export const VALIDATE_DELAY_MS = 400;

/** Characters as platforms count them: code points, not UTF-16 units. */
export const textLength = (text: string): number => [...text].length;

export function useLiveValidation(workspaceId: string, body: PostBody | undefined) {
  const [result, setResult] = useState<Validation>();
  const [checking, setChecking] = useState(false);
  const [failed, setFailed] = useState<string>();
  const serial = useRef(0);
  const key = body ? JSON.stringify(body) : "";

  useEffect(() => {
    if (!key) {
      setResult(undefined);
      return;
    }
    const mine = ++serial.current;
    setChecking(true);
    const timer = setTimeout(async () => {
      try {
        const answer = await unwrap(
          api.POST("/api/v1/workspaces/{workspaceId}/posts/validate", {
            params: { path: { workspaceId } },
            body: JSON.parse(key) as PostBody,
          }),
        );
        // An older answer arriving late must not overwrite a newer one.
        if (mine !== serial.current) return;
        setResult(answer);
        setFailed(undefined);
      } catch (error) {
        if (mine !== serial.current) return;
        setFailed(error instanceof Error ? error.message : "Validation is unavailable.");
      } finally {
        if (mine === serial.current) setChecking(false);
      }
    }, VALIDATE_DELAY_MS);
    return () => clearTimeout(timer);
  }, [key, workspaceId]);

  return { result, checking, failed };
}

/** Problems of target `index` (paths like `body.targets.2.overrides.text` or `targets.2.text`). */
export function targetErrors(validation: Validation | undefined, index: number) {
  const pattern = new RegExp(`(^|\\.)targets\\.${index}(\\.|$)`);
  return validation?.errors.filter((e) => pattern.test(e.path)) ?? [];
}

/** Problems not about one target (the text as a whole, the time). */
export function generalErrors(validation: Validation | undefined) {
  return validation?.errors.filter((e) => !/(^|\.)targets\.\d+/.test(e.path)) ?? [];
}
