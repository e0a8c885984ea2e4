/**
 * A walk-through against a running Todo API, and a check that it behaves as documented:
 * every step asserts the statuses, fields and headers the README promises, prints one line,
 * and the first one that does not hold ends the run with exit code 1.
 *
 *     API_URL=http://127.0.0.1:8000 USER_ID=alice TOKEN=$(todo-api token alice) npm start
 *
 * It creates its own tasks and deletes them at the end; other tasks of the user are left alone.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";

import {
  type ApiError,
  type ErrorCode,
  type Task,
  createTodoClient,
  etagOf,
  isApiError,
  notModified,
  ok,
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

console.log(`all ${steps} steps behaved as documented`);
