// The REST API client: the token lives in sessionStorage and goes in a header, never a URL.
const KEY = "segfn-token";

export class ApiError extends Error {
  constructor(public status: number, public type: string, message: string) { super(message); }
}

export const token = {
  get: (): string | null => sessionStorage.getItem(KEY),
  set: (value: string) => sessionStorage.setItem(KEY, value),
  clear: () => sessionStorage.removeItem(KEY),
};

// deno-lint-ignore no-explicit-any
export type Json = any;

export async function api(method: string, path: string, body?: unknown): Promise<Json> {
  const headers: Record<string, string> = { Authorization: `Bearer ${token.get() ?? ""}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const answer = await fetch(`/api/v1${path}`, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (answer.status === 204) return null;
  const document = await answer.json();
  if (!answer.ok) {
    const error = document?.error ?? {};
    throw new ApiError(answer.status, error.type ?? "Error", error.message ?? answer.statusText);
  }
  return document;
}

export const path = (...parts: string[]): string =>
  parts.map((p) => "/" + encodeURIComponent(p)).join("");
