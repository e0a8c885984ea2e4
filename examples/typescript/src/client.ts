/**
 * A small typed client for the Todo API.
 *
 * Every path, parameter, body and answer is typed from `src/schema.d.ts`, which
 * `npm run generate` writes from the service's own `docs/openapi.json` (openapi-typescript);
 * the calls are made with openapi-fetch. Nothing here is written by hand that the schema
 * already says, so a change to the API that breaks a caller fails `tsc`, not a user.
 *
 * In a Next.js app with Better Auth's `jwt()` plugin:
 *
 *     const api = createTodoClient({
 *       baseUrl: process.env.NEXT_PUBLIC_TODO_API!,
 *       getToken: async () => (await authClient.token()).data?.token,   // browser
 *       // server: async () => (await auth.api.getToken({ headers: await headers() })).token
 *     });
 *     const tasks = ok(await api.GET("/api/{user_id}/tasks", {
 *       params: { path: { user_id: session.user.id } },
 *     }));
 */
import createClient, { type Client, type Middleware } from "openapi-fetch";

import type { components, paths } from "./schema.js";

export type Task = components["schemas"]["TaskPublic"];
export type TaskCreate = components["schemas"]["TaskCreate"];
export type TaskUpdate = components["schemas"]["TaskUpdate"];
export type TaskPatch = components["schemas"]["TaskPatch"];
export type ErrorBody = components["schemas"]["ErrorBody"];
/** Every `error_code` the API documents (`PRECONDITION_FAILED`, `TASK_NOT_FOUND`, ...). */
export type ErrorCode = ErrorBody["error_code"];

export type TodoClient = Client<paths>;

/** A token, or nothing when the user is signed out (the API then answers 401). */
export type TokenSource = () => Promise<string | null | undefined> | string | null | undefined;

export interface TodoClientOptions {
  /** Where the API is, e.g. `http://127.0.0.1:8000` (no trailing `/api`). */
  baseUrl: string;
  /**
   * Called before every request. With Better Auth's `jwt()` plugin: `authClient.token()` in
   * the browser, `auth.api.getToken({ headers })` on the Next.js server. Its tokens live
   * 15 minutes: cache one, and fetch a new one before it expires or after a 401.
   */
  getToken: TokenSource;
  /** Another fetch (tests, instrumentation); defaults to the global one. */
  fetch?: (input: Request) => Promise<Response>;
}

/** Adds `Authorization: Bearer <token>` to every request, from `getToken()`. */
export function bearerAuth(getToken: TokenSource): Middleware {
  return {
    async onRequest({ request }) {
      const token = await getToken();
      if (token) {
        request.headers.set("Authorization", `Bearer ${token}`);
      }
      return request;
    },
  };
}

/** An openapi-fetch client over the generated `paths`, sending the Bearer token. */
export function createTodoClient(options: TodoClientOptions): TodoClient {
  const client = createClient<paths>({
    baseUrl: options.baseUrl,
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
  });
  client.use(bearerAuth(options.getToken));
  return client;
}

/**
 * A non-2xx answer, in the API's one error shape `{detail, error_code, field_errors?}`.
 * `errorCode` is null only when the answer was not in that shape (say, a proxy's 502 page).
 */
export class ApiError extends Error {
  override readonly name = "ApiError";
  readonly status: number;
  readonly errorCode: ErrorCode | null;
  readonly detail: string;
  /** On 422: messages by field name (`{"title": ["..."]}`); empty otherwise. */
  readonly fieldErrors: Readonly<Record<string, readonly string[]>>;
  /** The `X-Request-ID` to quote when reporting a 500 or 503. */
  readonly requestId: string | null;

  constructor(response: Response, body: unknown) {
    const shaped = isErrorBody(body) ? body : null;
    const detail = shaped?.detail ?? (response.statusText || "Unexpected answer");
    super(`${response.status} ${shaped?.error_code ?? "(no error_code)"}: ${detail}`);
    this.status = response.status;
    this.errorCode = shaped?.error_code ?? null;
    this.detail = detail;
    this.fieldErrors = shaped?.field_errors ?? {};
    this.requestId = response.headers.get("X-Request-ID");
  }
}

function isErrorBody(body: unknown): body is ErrorBody {
  if (typeof body !== "object" || body === null) {
    return false;
  }
  const candidate = body as Record<string, unknown>;
  return typeof candidate["detail"] === "string" && typeof candidate["error_code"] === "string";
}

/** True when `error` is an ApiError, with this `error_code` when one is given. */
export function isApiError(error: unknown, code?: ErrorCode): error is ApiError {
  return error instanceof ApiError && (code === undefined || error.errorCode === code);
}

/** What an openapi-fetch call resolves to: `data` on 2xx, `error` otherwise. */
type Answer<T> =
  | { data: T; error?: never; response: Response }
  | { data?: never; error: unknown; response: Response };

/** The answer's data when it is a 2xx; otherwise throws an ApiError. */
export function ok<T>(answer: Answer<T>): T {
  // openapi-fetch sets `error` (possibly to undefined: a body-less 4xx) exactly when it failed.
  if (!("error" in answer) && answer.response.ok) {
    return answer.data;
  }
  throw new ApiError(answer.response, answer.error);
}

/** The answer's `ETag` (a task's is its version, quoted: `"3"`); throws when there is none. */
export function etagOf(answer: { response: Response }): string {
  const etag = answer.response.headers.get("ETag");
  if (etag === null) {
    throw new Error(`no ETag on ${answer.response.status} ${answer.response.url}`);
  }
  return etag;
}

/** A 304: the `If-None-Match` ETag is still current, so there is no body to read. */
export function notModified(answer: { response: Response }): boolean {
  return answer.response.status === 304;
}

export interface PatchWithRetry {
  userId: string;
  taskId: number;
  /** The ETag the caller last saw; the first attempt is sent with it in `If-Match`. */
  etag: string;
  /** The merge patch to send, given the task as last read (null before any re-read). */
  change: (current: Task | null) => TaskPatch;
  /** Attempts in all, first included (default 3). */
  attempts?: number;
  /** Told of each 412, before the task is re-read. */
  onConflict?: (error: ApiError) => void;
}

/**
 * Optimistic concurrency: PATCH (a JSON Merge Patch) with `If-Match`; on 412
 * PRECONDITION_FAILED someone else changed the task first, so re-read it (its new ETag),
 * let `change` decide again from what is there now, and retry. Any other error is thrown.
 */
export async function patchWithRetry(
  client: TodoClient,
  options: PatchWithRetry,
): Promise<{ task: Task; etag: string }> {
  const path = { user_id: options.userId, task_id: options.taskId };
  let etag = options.etag;
  let current: Task | null = null;
  for (let attempt = 1; ; attempt++) {
    const answer = await client.PATCH("/api/{user_id}/tasks/{task_id}", {
      params: { path, header: { "If-Match": etag } },
      headers: { "Content-Type": "application/merge-patch+json" },
      body: options.change(current),
    });
    try {
      return { task: ok(answer), etag: etagOf(answer) };
    } catch (error) {
      if (!isApiError(error, "PRECONDITION_FAILED") || attempt >= (options.attempts ?? 3)) {
        throw error;
      }
      options.onConflict?.(error);
    }
    const reread = await client.GET("/api/{user_id}/tasks/{task_id}", { params: { path } });
    current = ok(reread);
    etag = etagOf(reread);
  }
}
