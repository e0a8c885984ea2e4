/**
 * Offline checks of the `Link` parsing and the paging helper (no service needed):
 * `npm test` after `npm run build`; `npm run check` runs them too.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  type Task,
  createTodoClient,
  listAll,
  nextCursor,
  pages,
  parseLinkHeader,
} from "./client.js";

describe("parseLinkHeader", () => {
  it("reads this API's Link", () => {
    assert.deepEqual(parseLinkHeader('</api/alice/tasks?limit=2&cursor=abc.def>; rel="next"'), [
      {
        target: "/api/alice/tasks?limit=2&cursor=abc.def",
        rel: ["next"],
        params: { rel: "next" },
      },
    ]);
  });

  it("splits links only outside <…> and quoted strings", () => {
    const links = parseLinkHeader(
      '<https://a.test/x?a=1,2;3>; rel="prev"; title="a, b; \\"c\\"" , ' +
        "<https://a.test/y>;REL=\"NEXT last\" ;rel=ignored, ,<z>",
    );
    assert.deepEqual(
      links.map((link) => [link.target, link.rel, link.params["title"]]),
      [
        ["https://a.test/x?a=1,2;3", ["prev"], 'a, b; "c"'],
        ["https://a.test/y", ["next", "last"], undefined],
        ["z", [], undefined],
      ],
    );
    assert.equal(links[1]?.params["rel"], "NEXT last", "the first rel counts, names in any case");
  });

  it("answers nothing for an empty header, and refuses a malformed one", () => {
    assert.deepEqual(parseLinkHeader(" "), []);
    assert.throws(() => parseLinkHeader('/api/alice/tasks; rel="next"'), SyntaxError);
    assert.throws(() => parseLinkHeader("</x; rel=next"), SyntaxError);
    assert.throws(() => parseLinkHeader('</x>; rel="next'), SyntaxError);
    assert.throws(() => parseLinkHeader("</x> rel=next"), SyntaxError);
  });
});

describe("nextCursor", () => {
  const answer = (link?: string): Response =>
    new Response("[]", link === undefined ? {} : { headers: { Link: link } });

  it("reads the cursor from the relative URL, decoded", () => {
    assert.equal(
      nextCursor(answer('</api/a%20b/tasks?tag=x&cursor=eyJm%2B.Zz%3D%3D>; rel="next"')),
      "eyJm+.Zz==",
    );
  });

  it("is null on the last page", () => {
    assert.equal(nextCursor(answer()), null);
    assert.equal(nextCursor(answer('</api/alice/tasks?cursor=a>; rel="prev"')), null);
  });

  it("refuses a next link without a cursor", () => {
    assert.throws(() => nextCursor(answer('</api/alice/tasks?limit=2>; rel="next"')));
  });
});

function fakeTask(id: number): Task {
  const at = "2026-06-01T00:00:00.000000+00:00";
  return {
    id,
    user_id: "alice",
    title: `task ${id}`,
    description: null,
    completed: false,
    created_at: at,
    updated_at: at,
    priority: "none",
    tags: [],
    due_date: null,
    due_time: null,
    timezone: null,
    due_at: null,
    completed_at: null,
    version: 1,
    recurrence: null,
    reminders: [],
    next_task_id: null,
  };
}

/** A list of `count` tasks served `limit` at a time, as the API does; records each request. */
function fakeApi(count: number, { loop = false } = {}) {
  const requests: URL[] = [];
  const client = createTodoClient({
    baseUrl: "http://todo-api.invalid",
    getToken: () => "t0ken",
    fetch: async (request) => {
      assert.equal(request.headers.get("Authorization"), "Bearer t0ken");
      const url = new URL(request.url);
      requests.push(url);
      const limit = Number(url.searchParams.get("limit") ?? count);
      const cursor = url.searchParams.get("cursor");
      const start = cursor === null ? 0 : Number(cursor.slice("after-".length));
      const end = Math.min(start + limit, count);
      const body = Array.from({ length: end - start }, (_, index) => fakeTask(start + index + 1));
      const headers = new Headers({ "Content-Type": "application/json" });
      if (end < count) {
        const next = new URLSearchParams(url.search);
        next.set("cursor", `after-${loop ? 0 : end}`);
        headers.set("Link", `<${url.pathname}?${next.toString()}>; rel="next"`);
      }
      return new Response(JSON.stringify(body), { status: 200, headers });
    },
  });
  return { client, requests };
}

describe("pages", () => {
  it("follows rel=next with the same query and the link's cursor, page by page", async () => {
    const { client, requests } = fakeApi(5);
    const seen: [number, number[], string | null, string | null][] = [];
    const query = { tag: ["a", "b"], sort: "due_at", limit: 2 };
    for await (const page of pages(client, "alice", query)) {
      seen.push([page.number, page.tasks.map((task) => task.id), page.cursor, page.next]);
    }
    assert.deepEqual(seen, [
      [1, [1, 2], null, "after-2"],
      [2, [3, 4], "after-2", "after-4"],
      [3, [5], "after-4", null],
    ]);
    assert.deepEqual(
      requests.map((url) => url.pathname + url.search),
      [
        "/api/alice/tasks?tag=a&tag=b&sort=due_at&limit=2",
        "/api/alice/tasks?tag=a&tag=b&sort=due_at&limit=2&cursor=after-2",
        "/api/alice/tasks?tag=a&tag=b&sort=due_at&limit=2&cursor=after-4",
      ],
    );
  });

  it("is one page without limit, and resumes from a cursor", async () => {
    const { client } = fakeApi(3);
    assert.deepEqual((await listAll(client, "alice")).map((task) => task.id), [1, 2, 3]);
    const rest = await listAll(client, "alice", { limit: 2, cursor: "after-1" });
    assert.deepEqual(rest.map((task) => task.id), [2, 3]);
  });

  it("stops fetching when the caller stops iterating", async () => {
    const { client, requests } = fakeApi(10);
    for await (const page of pages(client, "alice", { limit: 3 })) {
      assert.equal(page.number, 1);
      break;
    }
    assert.equal(requests.length, 1);
  });

  it("refuses to follow a cursor it was already given", async () => {
    const { client } = fakeApi(5, { loop: true });
    await assert.rejects(listAll(client, "alice", { limit: 2 }), /twice/);
  });
});
