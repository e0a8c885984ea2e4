"""A writer for tests/test_sync.py's hammer: one process that creates, changes, completes and
deletes one user's tasks through the HTTP API, as fast as it can, spread over the instances
given. Run as `python -m tests.sync_hammer SEED OPS TOKEN USER URL [URL ...]`."""

import random
import sys

import httpx


def write(seed: int, operations: int, token: str, user: str, urls: list[str]) -> None:
    chance = random.Random(seed)
    headers = {"Authorization": f"Bearer {token}"}
    mine: list[int] = []
    clients = [httpx.Client(base_url=url, headers=headers, timeout=30) for url in urls]
    try:
        for n in range(operations):
            client = clients[n % len(clients)]
            tasks = f"/api/{user}/tasks"
            roll = chance.random()
            if roll < 0.35 or not mine:
                body = {"title": f"w{seed}-{n}", "tags": chance.sample(["a", "b", "c"], 1)}
                answer = client.post(tasks, json=body)
                if answer.status_code == 201:
                    mine.append(answer.json()["id"])
                continue
            task_id = chance.choice(mine)
            if roll < 0.6:
                answer = client.patch(f"{tasks}/{task_id}", json={"title": f"w{seed}-{n}-changed"})
            elif roll < 0.8:
                answer = client.patch(f"{tasks}/{task_id}/complete")
            else:
                answer = client.delete(f"{tasks}/{task_id}")
                mine.remove(task_id)
            # Another writer never touches these tasks: anything but success is a failure.
            if answer.status_code >= 300:
                raise SystemExit(f"{answer.request.method} {answer.request.url}: {answer.text}")
    finally:
        for client in clients:
            client.close()


if __name__ == "__main__":
    seed, operations, token, user, *urls = sys.argv[1:]
    write(int(seed), int(operations), token, user, urls)
