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
 *     for await (const page of pages(api, session.user.id, { status: "pending", limit: 50 })) {
 *       show(page.tasks);                  // page by page, following `Link: <…>; rel="next"`
 *     }
 */
import createClient, { type Client, type Middleware } from "openapi-fetch";

import type { components, operations, paths } from "./schema.js";

export type Task = components["schemas"]["TaskPublic"];
export type TaskCreate = components["schemas"]["TaskCreate"];
export type TaskUpdate = components["schemas"]["TaskUpdate"];
export type TaskPatch = components["schemas"]["TaskPatch"];
export type Priority = components["schemas"]["Priority"];
export type TagSummary = components["schemas"]["TagSummary"];
/**
 * The list's query parameters, as the schema has them: `status`, `priority`, `tag` (an array:
 * repeated in the URL), `q`, `due_after`, `due_before`, `has_due`, `sort`, `limit`, `cursor`.
 */
export type ListTasksQuery = NonNullable<operations["listTasks"]["parameters"]["query"]>;
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

/** One link of a `Link` header (RFC 8288): its target, as written, and its parameters. */
export interface LinkValue {
  /** The URI reference between `<` and `>`; this API's are relative (`/api/alice/tasks?…`). */
  target: string;
  /** The relation types of `rel`, lower-cased: `rel="next last"` is `["next", "last"]`. */
  rel: readonly string[];
  /** Every parameter by lower-cased name, unquoted; the first of a name given twice counts. */
  params: Readonly<Record<string, string>>;
}

const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

/**
 * Parses a `Link` header (RFC 8288): `<uri>; rel="next"; title="a, b", <uri2>; rel=prev`.
 * Commas and semicolons inside `<…>` and quoted strings do not split it. Throws a SyntaxError
 * on a header that is not in that shape.
 */
export function parseLinkHeader(header: string): LinkValue[] {
  const links: LinkValue[] = [];
  let at = 0;
  const malformed = (expected: string): SyntaxError =>
    new SyntaxError(`Link header: expected ${expected} at ${at} in ${JSON.stringify(header)}`);
  const skipSpace = (): void => {
    while (header[at] === " " || header[at] === "\t") {
      at++;
    }
  };
  const token = (): string => {
    const start = at;
    while (at < header.length && TOKEN_CHAR.test(header[at] ?? "")) {
      at++;
    }
    if (at === start) {
      throw malformed("a token");
    }
    return header.slice(start, at);
  };
  const quoted = (): string => {
    let value = "";
    for (at++; at < header.length; at++) {
      const char = header[at];
      if (char === '"') {
        at++;
        return value;
      }
      if (char === "\\") {
        at++; // a quoted-pair: the next character stands for itself
      }
      value += header[at] ?? "";
    }
    throw malformed('a closing "');
  };

  for (;;) {
    skipSpace();
    while (header[at] === ",") {
      at++; // empty list elements are allowed (RFC 9110, 5.6.1)
      skipSpace();
    }
    if (at >= header.length) {
      return links;
    }
    if (header[at] !== "<") {
      throw malformed('"<"');
    }
    const end = header.indexOf(">", at);
    if (end < 0) {
      throw malformed('">"');
    }
    const target = header.slice(at + 1, end);
    at = end + 1;
    const params = new Map<string, string>();
    for (skipSpace(); header[at] === ";"; skipSpace()) {
      at++;
      skipSpace();
      if (header[at] === ";" || header[at] === "," || at >= header.length) {
        continue; // an empty parameter: `<…>;; rel=next`
      }
      const name = token().toLowerCase();
      skipSpace();
      let value = "";
      if (header[at] === "=") {
        at++;
        skipSpace();
        value = header[at] === '"' ? quoted() : token();
      }
      if (!params.has(name)) {
        params.set(name, value);
      }
    }
    if (at < header.length && header[at] !== ",") {
      throw malformed('";" or ","');
    }
    const rel = (params.get("rel") ?? "").toLowerCase().split(/[ \t]+/).filter(Boolean);
    links.push({ target, rel, params: Object.fromEntries(params) });
  }
}

/**
 * The next page's `cursor`: read from the answer's `Link: <…&cursor=…>; rel="next"` (a URL
 * relative to the request's), or null when there is no next page.
 */
export function nextCursor(response: Response): string | null {
  const header = response.headers.get("Link");
  if (header === null) {
    return null;
  }
  const next = parseLinkHeader(header).find((link) => link.rel.includes("next"));
  if (next === undefined) {
    return null;
  }
  // Relative to the request's URL; the base only matters for an absolute-path reference, and
  // only the query is read, so a placeholder serves when fetch gave no URL (a test's Response).
  const url = new URL(next.target, response.url || "http://todo-api.invalid/");
  const cursor = url.searchParams.get("cursor");
  if (!cursor) {
    throw new Error(`Link rel="next" without a cursor: ${header}`);
  }
  return cursor;
}

/** One page of the task list. */
export interface TaskPage {
  /** 1, 2, ... */
  number: number;
  tasks: Task[];
  /** The cursor this page was asked for with; null for the first page. */
  cursor: string | null;
  /** The next page's cursor (from `Link`); null on the last page. */
  next: string | null;
  response: Response;
}

/**
 * Pages through the task list: `GET /api/{user_id}/tasks` with `query` (typed from the
 * schema), then, while the answer has a `Link` with `rel="next"`, again with the same `query`
 * and the cursor from that link (the API refuses a cursor with other filters or another sort:
 * 422 INVALID_CURSOR). Yields each page as it arrives; stop iterating to stop fetching.
 * Without `limit` the API answers everything at once: one page. A `query.cursor` resumes
 * where an earlier walk stopped (its `page.next`).
 *
 *     for await (const page of pages(api, userId, { status: "pending", limit: 50 })) {
 *       render(page.tasks);
 *     }
 */
export async function* pages(
  client: TodoClient,
  userId: string,
  query: ListTasksQuery = {},
): AsyncGenerator<TaskPage, void, undefined> {
  let cursor = query.cursor ?? null;
  const followed = new Set<string>();
  for (let number = 1; ; number++) {
    const answer = await client.GET("/api/{user_id}/tasks", {
      params: { path: { user_id: userId }, query: cursor === null ? query : { ...query, cursor } },
    });
    const tasks = ok(answer);
    const next = nextCursor(answer.response);
    yield { number, tasks, cursor, next, response: answer.response };
    if (next === null) {
      return;
    }
    if (followed.has(next)) {
      throw new Error(`the API sent the cursor ${next} twice: stopping rather than looping`);
    }
    followed.add(next);
    cursor = next;
  }
}

/** Every task `query` selects, across all its pages (see `pages()`). */
export async function listAll(
  client: TodoClient,
  userId: string,
  query: ListTasksQuery = {},
): Promise<Task[]> {
  const tasks: Task[] = [];
  for await (const page of pages(client, userId, query)) {
    tasks.push(...page.tasks);
  }
  return tasks;
}
