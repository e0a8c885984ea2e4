/**
 * A walk-through against a running Todo API, and a check that it behaves as documented:
 * every step asserts the statuses, fields and headers the README promises, prints one line,
 * and the first one that does not hold ends the run with exit code 1.
 *
 *     API_URL=http://127.0.0.1:8000 USER_ID=alice TOKEN=$(todo-api token alice) npm start
 *
 * It creates its own tasks and deletes them at the end; other tasks of the user are left alone.
 * The tags it uses carry a random suffix, so its filters see only its own tasks and its tag
 * rename and delete never touch the user's own tags.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";

import {
  type ApiError,
  type ErrorCode,
  type ListTasksQuery,
  type TagSummary,
  type Task,
  type TaskCreate,
  type TaskPage,
  createTodoClient,
  etagOf,
  isApiError,
  listAll,
  nextCursor,
  notModified,
  ok,
  pages,
  parseLinkHeader,
  patchWithRetry,
} from "./client.js";

function setting(name: string): string {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is not set: API_URL=http://127.0.0.1:8000 USER_ID=alice TOKEN=…`);
    process.exit(2);
  }
  return value;
}

const apiUrl = setting("API_URL");
const userId = setting("USER_ID");
const token = setting("TOKEN");

let steps = 0;
async function step(name: string, run: () => Promise<string>): Promise<void> {
  steps += 1;
  try {
    const said = await run();
    console.log(`ok   ${String(steps).padStart(2)} ${name}: ${said}`);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    console.log(`FAIL ${String(steps).padStart(2)} ${name}: ${message}`);
    console.error(error);
    process.exit(1);
  }
}

/** Runs `call`, which must fail with this status and error_code; returns the error. */
async function expectApiError(
  status: number,
  code: ErrorCode,
  call: () => Promise<unknown>,
): Promise<ApiError> {
  try {
    await call();
  } catch (error) {
    if (isApiError(error)) {
      assert.equal(error.status, status, `status of ${error.message}`);
      assert.equal(error.errorCode, code, `error_code of ${error.message}`);
      return error;
    }
    throw error;
  }
  throw new assert.AssertionError({ message: `expected ${status} ${code}, the call succeeded` });
}

function checkTask(task: Task, expected: Partial<Task>): void {
  assert.equal(task.user_id, userId, "user_id is the token's user");
  for (const [field, value] of Object.entries(expected)) {
    assert.deepEqual(task[field as keyof Task], value, `task.${field}`);
  }
}

const api = createTodoClient({ baseUrl: apiUrl, getToken: () => token });
const user = { user_id: userId };

let milk: Task | undefined;
let walk: Task | undefined;
let milkEtag = "";
let listEtag = "";

function created(task: Task | undefined): Task {
  assert.ok(task, "an earlier step created this task");
  return task;
}

await step("create a task", async () => {
  const answer = await api.POST("/api/{user_id}/tasks", {
    params: { path: user },
    body: { title: "Buy milk 🥛", description: "2 litres" },
  });
  milk = ok(answer);
  assert.equal(answer.response.status, 201);
  checkTask(milk, {
    title: "Buy milk 🥛",
    description: "2 litres",
    completed: false,
    completed_at: null,
    version: 1,
  });
  assert.equal(etagOf(answer), '"1"');
  return `201, task ${milk.id}, ETag ${etagOf(answer)}`;
});

await step("create another, with an Idempotency-Key, twice", async () => {
  const key = randomUUID();
  const create = () =>
    api.POST("/api/{user_id}/tasks", {
      params: { path: user, header: { "Idempotency-Key": key } },
      body: { title: "Walk the dog" },
    });
  const first = await create();
  walk = ok(first);
  checkTask(walk, { title: "Walk the dog", description: null, completed: false, version: 1 });
  assert.equal(first.response.headers.get("Idempotent-Replayed"), null);
  const again = await create();
  assert.equal(again.response.status, 201);
  assert.deepEqual(ok(again), walk, "the retry answers the first task, creates none");
  assert.equal(again.response.headers.get("Idempotent-Replayed"), "true");
  return `201, task ${walk.id}; the retry: 201, the same task, Idempotent-Replayed: true`;
});

await step("list", async () => {
  const answer = await api.GET("/api/{user_id}/tasks", { params: { path: user } });
  const tasks = ok(answer);
  const ids = tasks.map((task) => task.id);
  const mine = [created(milk).id, created(walk).id];
  assert.deepEqual(ids.filter((id) => mine.includes(id)), mine, "both tasks, in creation order");
  assert.deepEqual([...ids].sort((a, b) => a - b), ids, "ordered by id");
  for (const task of tasks) {
    assert.equal(task.user_id, userId);
  }
  listEtag = etagOf(answer);
  return `200, ${tasks.length} task(s), ETag ${listEtag}`;
});

await step("list again with If-None-Match", async () => {
  const answer = await api.GET("/api/{user_id}/tasks", {
    params: { path: user, header: { "If-None-Match": listEtag } },
  });
  assert.equal(answer.response.status, 304, "the list has not changed");
  return "304, nothing to download";
});

await step("get one and read its ETag", async () => {
  const answer = await api.GET("/api/{user_id}/tasks/{task_id}", {
    params: { path: { ...user, task_id: created(milk).id } },
  });
  const task = ok(answer);
  assert.deepEqual(task, milk);
  milkEtag = etagOf(answer);
  assert.equal(milkEtag, `"${task.version}"`, "a task's ETag is its version, quoted");
  return `200, ETag ${milkEtag}`;
});

let stale = ""; // the ETag from before the PATCH below: stale once it has succeeded

await step("PATCH with If-Match (a JSON Merge Patch)", async () => {
  stale = milkEtag;
  const answer = await api.PATCH("/api/{user_id}/tasks/{task_id}", {
    params: { path: { ...user, task_id: created(milk).id }, header: { "If-Match": milkEtag } },
    headers: { "Content-Type": "application/merge-patch+json" },
    body: { title: "Buy oat milk", description: null },
  });
  milk = ok(answer);
  checkTask(milk, { title: "Buy oat milk", description: null, completed: false, version: 2 });
  milkEtag = etagOf(answer);
  assert.equal(milkEtag, '"2"');
  return `200, version 2, ETag ${milkEtag}`;
});

await step("PATCH with the now-stale ETag", async () => {
  const error = await expectApiError(412, "PRECONDITION_FAILED", async () =>
    ok(
      await api.PATCH("/api/{user_id}/tasks/{task_id}", {
        params: { path: { ...user, task_id: created(milk).id }, header: { "If-Match": stale } },
        headers: { "Content-Type": "application/merge-patch+json" },
        body: { title: "Buy soy milk" },
      }),
    ),
  );
  const reread = ok(
    await api.GET("/api/{user_id}/tasks/{task_id}", {
      params: { path: { ...user, task_id: created(milk).id } },
    }),
  );
  assert.deepEqual(reread, milk, "a 412 changes nothing");
  return `412 ${error.errorCode}, the task unchanged`;
});

await step("handle the 412: re-read and retry", async () => {
  const conflicts: ApiError[] = [];
  const result = await patchWithRetry(api, {
    userId,
    taskId: created(milk).id,
    etag: stale,
    change: (current) => ({ description: `${current?.title ?? "?"}: 1 litre` }),
    onConflict: (error) => conflicts.push(error),
  });
  assert.deepEqual(
    conflicts.map((error) => [error.status, error.errorCode]),
    [[412, "PRECONDITION_FAILED"]],
    "one 412, then the retry with the re-read ETag",
  );
  checkTask(result.task, {
    title: "Buy oat milk",
    description: "Buy oat milk: 1 litre",
    version: 3,
  });
  assert.equal(result.etag, '"3"');
  milk = result.task;
  milkEtag = result.etag;
  return `412 PRECONDITION_FAILED, re-read (ETag "2"), retried: 200, ETag ${milkEtag}`;
});

await step("get with If-None-Match", async () => {
  const path = { ...user, task_id: created(milk).id };
  const same = await api.GET("/api/{user_id}/tasks/{task_id}", {
    params: { path, header: { "If-None-Match": milkEtag } },
  });
  assert.ok(notModified(same), `expected 304, got ${same.response.status}`);
  const older = await api.GET("/api/{user_id}/tasks/{task_id}", {
    params: { path, header: { "If-None-Match": stale } },
  });
  assert.deepEqual(ok(older), milk, "an older ETag gets the task");
  return `304 for ${milkEtag}, 200 for ${stale}`;
});

await step("toggle", async () => {
  const answer = await api.PATCH("/api/{user_id}/tasks/{task_id}/complete", {
    params: { path: { ...user, task_id: created(milk).id }, header: { "If-Match": milkEtag } },
  });
  milk = ok(answer);
  checkTask(milk, { completed: true, version: 4 });
  const completedAt = milk.completed_at;
  assert.ok(completedAt !== null && !Number.isNaN(Date.parse(completedAt)), "completed_at set");
  milkEtag = etagOf(answer);
  return `200, completed, completed_at ${milk.completed_at}, ETag ${milkEtag}`;
});

await step("delete both", async () => {
  const first = await api.DELETE("/api/{user_id}/tasks/{task_id}", {
    params: { path: { ...user, task_id: created(milk).id }, header: { "If-Match": milkEtag } },
  });
  ok(first);
  assert.equal(first.response.status, 204);
  const second = await api.DELETE("/api/{user_id}/tasks/{task_id}", {
    params: { path: { ...user, task_id: created(walk).id } },
  });
  ok(second);
  assert.equal(second.response.status, 204);
  return "204, 204";
});

await step("deleted is gone", async () => {
  const error = await expectApiError(404, "TASK_NOT_FOUND", async () =>
    ok(
      await api.GET("/api/{user_id}/tasks/{task_id}", {
        params: { path: { ...user, task_id: created(milk).id } },
      }),
    ),
  );
  const listed = ok(await api.GET("/api/{user_id}/tasks", { params: { path: user } }));
  const ids = listed.map((task) => task.id);
  assert.ok(!ids.includes(created(milk).id) && !ids.includes(created(walk).id), "not listed");
  return `404 ${error.errorCode}, not listed`;
});

// Filters, pages and tags, on five tasks of this run's own: every list below filters on `run`,
// a tag only they carry, so the user's other tasks never show up in what is checked.
const suffix = randomUUID().slice(0, 8);
const run = `ts-${suffix}`;
const admin = `Admin-${suffix}`;
const paperwork = `Paperwork-${suffix}`;
const health = `health-${suffix}`;

const plans = {
  dentist: {
    title: "Dentist",
    priority: "high",
    tags: [run, health],
    due_date: "2026-07-01",
    due_time: "09:00",
    timezone: "Europe/Berlin",
  },
  taxes: {
    title: "File the taxes",
    priority: "medium",
    tags: [run, admin],
    due_date: "2026-06-15",
  },
  present: {
    title: "Buy a birthday present",
    priority: "low",
    tags: [run],
    due_date: "2026-06-20",
    due_time: "18:30",
    timezone: "America/New_York",
  },
  passport: {
    title: "Renew the passport",
    description: "Photos first",
    priority: "high",
    tags: [run, admin],
  },
  book: { title: "Read a book", tags: [run] },
} satisfies Record<string, TaskCreate>;
type Name = keyof typeof plans;
const names = Object.keys(plans) as Name[];

const mine = new Map<Name, Task>();
const firstEtags = new Map<Name, string>();

function task(name: Name): Task {
  const found = mine.get(name);
  assert.ok(found, `an earlier step created ${name}`);
  return found;
}

/** The names of these tasks (`#id` for one that is not this run's), for readable diffs. */
function named(tasks: readonly Task[]): string[] {
  return tasks.map((each) => names.find((name) => mine.get(name)?.id === each.id) ?? `#${each.id}`);
}

/** One unpaged list: the names in the order answered, and the query string sent. */
async function listed(query: ListTasksQuery): Promise<{ names: string[]; sent: string }> {
  const answer = await api.GET("/api/{user_id}/tasks", { params: { path: user, query } });
  const tasks = ok(answer);
  assert.equal(answer.response.headers.get("Link"), null, "no Link without limit");
  return { names: named(tasks), sent: decodeURIComponent(new URL(answer.response.url).search) };
}

async function expectListed(query: ListTasksQuery, expected: Name[]): Promise<string> {
  const { names: got, sent } = await listed(query);
  assert.deepEqual(got, expected, `GET …/tasks${sent}`);
  return `${sent.replaceAll(suffix, "…")}: ${got.length}`;
}

/** `due_at` is the documented UTC instant (microseconds, `+00:00`). */
function checkDueAt(name: Name, expected: string | null): void {
  assert.equal(task(name).due_at, expected, `${name}.due_at`);
}

await step("create tasks with priority, tags and due dates", async () => {
  for (const name of names) {
    const answer = await api.POST("/api/{user_id}/tasks", {
      params: { path: user },
      body: plans[name],
    });
    const made = ok(answer);
    assert.equal(answer.response.status, 201);
    const plan: TaskCreate = plans[name];
    checkTask(made, {
      title: plan.title,
      description: plan.description ?? null,
      priority: plan.priority ?? "none",
      tags: plan.tags ?? [],
      due_date: plan.due_date ?? null,
      due_time: plan.due_time ?? null,
      timezone: plan.timezone ?? null,
      version: 1,
    });
    mine.set(name, made);
    firstEtags.set(name, etagOf(answer));
  }
  // 09:00 in Berlin in July is CEST (UTC+2); 18:30 in New York in June is EDT (UTC-4); a due
  // date without a time (and without a zone: UTC) falls due at the start of the next day.
  checkDueAt("dentist", "2026-07-01T07:00:00.000000+00:00");
  checkDueAt("present", "2026-06-20T22:30:00.000000+00:00");
  checkDueAt("taxes", "2026-06-16T00:00:00.000000+00:00");
  checkDueAt("passport", null);
  checkDueAt("book", null);
  const dentist = task("dentist");
  return `201 ×${names.length}; Dentist 2026-07-01 09:00 Europe/Berlin: due_at ${dentist.due_at}`;
});

await step("complete one, with If-Match", async () => {
  const answer = await api.PATCH("/api/{user_id}/tasks/{task_id}/complete", {
    params: {
      path: { ...user, task_id: task("passport").id },
      header: { "If-Match": firstEtags.get("passport") ?? "" },
    },
  });
  const done = ok(answer);
  checkTask(done, { completed: true, version: 2 });
  mine.set("passport", done);
  return `200, "${done.title}" completed, ETag ${etagOf(answer)}`;
});

await step("filter and sort", async () => {
  const pending = await expectListed({ tag: [run], status: "pending", sort: "due_at" }, [
    "taxes", // due_at 2026-06-16T00:00Z
    "present", // 2026-06-20T22:30Z
    "dentist", // 2026-07-01T07:00Z
    "book", // no due date: last (passport is completed)
  ]);
  const urgent = await expectListed(
    { tag: [run], priority: "high,medium", sort: "-priority,due_at" },
    ["dentist", "passport", "taxes"], // high before medium; among the highs, no due date last
  );
  return `${pending}; ${urgent}`;
});

await step("filter by tags, text and due instants", async () => {
  const nineInBerlin = "2026-07-01T09:00:00+02:00";
  const said = [
    // Tags compare case-insensitively; several tags: tasks that carry every one.
    await expectListed({ tag: [run, admin.toLowerCase()] }, ["taxes", "passport"]),
    // The title or the description, in any case.
    await expectListed({ tag: [run], q: "PHOTOS" }, ["passport"]),
    // Instants with their offset: 09:00+02:00 is the dentist's due_at; due_before is exclusive.
    await expectListed({ tag: [run], due_before: nineInBerlin }, ["taxes", "present"]),
    await expectListed({ tag: [run], due_after: nineInBerlin }, ["dentist"]),
    await expectListed({ tag: [run], has_due: false }, ["passport", "book"]),
  ];
  return said.join("; ");
});

let firstPage: TaskPage | undefined;

await step("page through with limit=2, following Link", async () => {
  const query: ListTasksQuery = { tag: [run], sort: "due_at", limit: 2 };
  const expected: Name[] = ["taxes", "present", "dentist", "passport", "book"];
  const { names: unpaged } = await listed({ tag: [run], sort: "due_at" });
  assert.deepEqual(unpaged, expected, "the unpaged list");

  const seen: string[] = [];
  const sizes: number[] = [];
  for await (const page of pages(api, userId, query)) {
    firstPage ??= page;
    sizes.push(page.tasks.length);
    seen.push(...named(page.tasks));
    const link = page.response.headers.get("Link");
    if (page.next === null) {
      assert.equal(link, null, "the last page has no Link");
    } else {
      const [next] = parseLinkHeader(link ?? "");
      assert.ok(next !== undefined && next.rel.includes("next"), `rel="next": ${link}`);
      const relative = `/api/${encodeURIComponent(userId)}/tasks?`;
      assert.ok(next.target.startsWith(relative), `a relative URL: ${link}`);
      const params = new URLSearchParams(next.target.split("?")[1]);
      assert.deepEqual(params.getAll("tag"), [run], "the Link keeps the filters");
      assert.equal(params.get("sort"), "due_at");
      assert.equal(params.get("limit"), "2");
    }
  }
  assert.deepEqual(sizes, [2, 2, 1], "pages of at most 2, the last one partial");
  assert.deepEqual(seen, expected, "every task once, in the unpaged order");
  assert.equal(new Set(seen).size, seen.length, "no task twice");
  assert.deepEqual(named(await listAll(api, userId, query)), expected, "listAll() agrees");
  return `${sizes.length} pages (${sizes.join(" + ")}), ${seen.join(", ")}; the last without Link`;
});

await step("a cursor with another sort", async () => {
  assert.ok(firstPage, "an earlier step paged");
  const cursor = nextCursor(firstPage.response);
  assert.ok(cursor !== null, "the first page had a next one");
  const error = await expectApiError(422, "INVALID_CURSOR", async () =>
    ok(
      await api.GET("/api/{user_id}/tasks", {
        params: { path: user, query: { tag: [run], sort: "title", limit: 2, cursor } },
      }),
    ),
  );
  return `422 ${error.errorCode}: ${error.detail}`;
});

async function tagsNamed(): Promise<Map<string, TagSummary>> {
  const tags = ok(await api.GET("/api/{user_id}/tags", { params: { path: user } }));
  return new Map(tags.map((tag) => [tag.name, tag]));
}

await step("list tags with their counts", async () => {
  const tags = await tagsNamed();
  assert.deepEqual(tags.get(run), { name: run, tasks: 5, pending: 4 });
  assert.deepEqual(tags.get(admin), { name: admin, tasks: 2, pending: 1 }, "passport is done");
  assert.deepEqual(tags.get(health), { name: health, tasks: 1, pending: 1 });
  const order = [...tags.keys()];
  assert.ok(
    order.indexOf(admin) < order.indexOf(health) && order.indexOf(health) < order.indexOf(run),
    "ordered case-insensitively by name",
  );
  return `200, ${tags.size} tag(s); ${admin}: 2 tasks, 1 pending`.replaceAll(suffix, "…");
});

await step("rename a tag", async () => {
  // `{name}` matches in any case; the answer is the tag under its new name, with its counts.
  const renamed = ok(
    await api.PATCH("/api/{user_id}/tags/{name}", {
      params: { path: { ...user, name: admin.toLowerCase() } },
      body: { name: paperwork },
    }),
  );
  assert.deepEqual(renamed, { name: paperwork, tasks: 2, pending: 1 });
  for (const [name, version] of [["taxes", 2], ["passport", 3]] as const) {
    const reread = ok(
      await api.GET("/api/{user_id}/tasks/{task_id}", {
        params: { path: { ...user, task_id: task(name).id } },
      }),
    );
    // The new name in the old one's place; a rename changes each task: its version moves.
    checkTask(reread, { tags: [run, paperwork], version });
    mine.set(name, reread);
  }
  await expectListed({ tag: [paperwork] }, ["taxes", "passport"]);
  await expectListed({ tag: [admin] }, []);
  const tags = await tagsNamed();
  assert.ok(!tags.has(admin), `${admin} is gone from the tags`);
  return `200, ${admin} → ${paperwork} on 2 tasks, their versions moved`.replaceAll(suffix, "…");
});

await step("PATCH with the ETag from before the rename: 412, re-read, retry", async () => {
  const conflicts: ApiError[] = [];
  const held = firstEtags.get("taxes") ?? "";
  const result = await patchWithRetry(api, {
    userId,
    taskId: task("taxes").id,
    etag: held, // "1": the rename made it version 2
    change: () => ({ due_time: "17:00", timezone: "Europe/Berlin" }),
    onConflict: (error) => conflicts.push(error),
  });
  assert.deepEqual(
    conflicts.map((error) => [error.status, error.errorCode]),
    [[412, "PRECONDITION_FAILED"]],
  );
  checkTask(result.task, { tags: [run, paperwork], version: 3 });
  mine.set("taxes", result.task);
  checkDueAt("taxes", "2026-06-15T15:00:00.000000+00:00"); // 17:00 CEST
  const dueAt = result.task.due_at;
  return `412 for ${held}, re-read, retried: 200, ETag ${result.etag}, due_at ${dueAt}`;
});

await step("delete a tag", async () => {
  const answer = await api.DELETE("/api/{user_id}/tags/{name}", {
    params: { path: { ...user, name: health } },
  });
  ok(answer);
  assert.equal(answer.response.status, 204);
  const dentist = ok(
    await api.GET("/api/{user_id}/tasks/{task_id}", {
      params: { path: { ...user, task_id: task("dentist").id } },
    }),
  );
  checkTask(dentist, { tags: [run], version: 2 });
  const again = await expectApiError(404, "TAG_NOT_FOUND", async () =>
    ok(
      await api.DELETE("/api/{user_id}/tags/{name}", {
        params: { path: { ...user, name: health } },
      }),
    ),
  );
  return `204, off the Dentist; again: 404 ${again.errorCode}`;
});

await step("delete this run's tasks", async () => {
  for (const name of names) {
    const answer = await api.DELETE("/api/{user_id}/tasks/{task_id}", {
      params: { path: { ...user, task_id: task(name).id } },
    });
    ok(answer);
    assert.equal(answer.response.status, 204);
  }
  await expectListed({ tag: [run] }, []);
  const tags = await tagsNamed();
  for (const name of [run, paperwork]) {
    assert.ok(!tags.has(name), `${name} is gone with its tasks`);
  }
  return `204 ×${names.length}; none left, nor their tags`;
});

console.log(`all ${steps} steps behaved as documented`);
