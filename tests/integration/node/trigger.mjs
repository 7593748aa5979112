// Drives a live tidings server with the official Trigger.dev SDK, configured only by
// TRIGGER_API_URL and TRIGGER_SECRET_KEY. Usage: node trigger.mjs v3|v4 <tag>
// Prints one JSON object: what each call returned or the error it threw; the Python
// test (tests/integration/test_sdk_trigger_dev.py) checks it and the database.
const [version, tag] = process.argv.slice(2);
const sdk = await import(version === "v3" ? "trigger-v3/v3" : "trigger-v4");
const { tasks, runs, batch, schedules, idempotencyKeys, configure, task } = sdk;

const out = {};
const fail = (e) => ({
  error: {
    name: e?.constructor?.name,
    status: e?.status ?? e?.cause?.status,
    message: String(e?.message),
    cause: e?.cause ? { name: e.cause.constructor?.name, status: e.cause.status, message: String(e.cause.message) } : undefined,
  },
});
async function call(name, fn) {
  try {
    out[name] = await fn();
  } catch (e) {
    out[name] = fail(e);
  }
  return out[name];
}
const poll = (id) => runs.poll(id, { pollIntervalMs: 100 });
async function until(id, statuses) {
  for (let i = 0; i < 300; i++) {
    const run = await runs.retrieve(id);
    if (statuses.includes(run.status)) return run;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`run ${id} never reached ${statuses}`);
}

// The note-taking product's backend, exactly as it calls the SDK.
const userId = `user-${tag}`;
const sequenceName = "onboarding";
await call("seqFirst", () =>
  tasks.trigger("email-sequence-runner", { userId, sequenceName }, { idempotencyKey: `sequence-run-${sequenceName}-${userId}` }),
);
await call("seqAgain", () =>
  tasks.trigger("email-sequence-runner", { userId, sequenceName }, { idempotencyKey: `sequence-run-${sequenceName}-${userId}` }),
);
const digestId = `digest-${tag}`;
await call("digestFirst", () =>
  tasks.trigger("digest-send-for-user", { userId, digestId }, { idempotencyKey: `note-digest-${digestId}` }),
);
await call("digestAgain", () =>
  tasks.trigger("digest-send-for-user", { userId, digestId }, { idempotencyKey: `note-digest-${digestId}` }),
);
await call("seqDone", () => poll(out.seqFirst.id));
await call("digestDone", () => poll(out.digestFirst.id));

// Packets (SuperJSON: a Date, an undefined property) and every trigger option.
await call("options", async () => {
  const key = await idempotencyKeys.create([tag, "options"]);
  const options = {
    idempotencyKey: key,
    idempotencyKeyTTL: "1h",
    ttl: "10m",
    tags: [`t-${tag}`, "sdk"],
    concurrencyKey: userId,
    queue: version === "v3" ? { name: "default" } : "default",
    priority: 5,
    maxAttempts: 2,
    metadata: { source: "sdk-test" },
  };
  const payload = { when: new Date("2026-03-01T09:00:00.000Z"), gone: undefined, list: [1, "two"] };
  const first = await tasks.trigger("echo", payload, options);
  const second = await tasks.trigger("echo", payload, options);
  const done = await poll(first.id);
  return { first, second, done, key: String(key) };
});
await call("textPayload", async () => (await poll((await tasks.trigger("echo", "plain text")).id)).output);

// A delay, then rescheduled to now-ish.
await call("delayed", async () => {
  const handle = await tasks.trigger("echo", { late: true }, { delay: "1h" });
  const before = await runs.retrieve(handle.id);
  const moved = await runs.reschedule(handle.id, { delay: "1s" });
  const done = await poll(handle.id);
  return { before, moved, done };
});
await call("rescheduleFinished", () => runs.reschedule(out.seqFirst.id, { delay: "1h" }));

// A cancel and a replay.
await call("cancel", async () => {
  const handle = await tasks.trigger("sleeper", {});
  await until(handle.id, ["WAITING", "FROZEN"]);
  const cancelled = await runs.cancel(handle.id);
  return { cancelled, after: await runs.retrieve(handle.id) };
});
await call("replay", async () => {
  const replayed = await runs.replay(out.digestFirst.id);
  return { replayed, done: await poll(replayed.id) };
});

// A batch of 50, idempotent per item; the other batch calls; all or nothing.
const items = Array.from({ length: 50 }, (_, i) => ({
  payload: { i },
  options: { idempotencyKey: `bulk-${tag}-${i}`, tags: [`bulk-${tag}`] },
}));
await call("batch50", () => tasks.batchTrigger("echo", items));
await call("batch50Again", () => tasks.batchTrigger("echo", items));
await call("batchTrigger", () =>
  batch.trigger([
    { id: "echo", payload: { via: "batch.trigger" }, options: { tags: [`multi-${tag}`] } },
    { id: "digest-send-for-user", payload: { userId, digestId: `b-${tag}` }, options: { tags: [`multi-${tag}`] } },
  ]),
);
const echoTask = task({ id: "echo", run: async () => undefined });
const digestTask = task({ id: "digest-send-for-user", run: async () => undefined });
await call("batchByTask", () =>
  batch.triggerByTask([
    { task: echoTask, payload: { via: "triggerByTask" }, options: { tags: [`bytask-${tag}`] } },
    { task: digestTask, payload: { userId, digestId: `t-${tag}` }, options: { tags: [`bytask-${tag}`] } },
  ]),
);
await call("batchBad", () =>
  batch.trigger([
    { id: "echo", payload: { i: 1 }, options: { tags: [`bad-${tag}`] } },
    { id: "no-such-task", payload: {}, options: { tags: [`bad-${tag}`] } },
  ]),
);

// runs.list with the filters the SDK sends.
await call("list", async () => {
  const ids = [];
  for await (const run of runs.list({ tag: `bulk-${tag}`, limit: 20 })) ids.push(run.id);
  const done = [];
  for await (const run of runs.list({ taskIdentifier: "email-sequence-runner", status: ["COMPLETED"], limit: 5 })) {
    done.push({ id: run.id, status: run.status, task: run.taskIdentifier });
  }
  const bad = await runs.list({ tag: `bad-${tag}` });
  const multi = await runs.list({ tag: [`multi-${tag}`] });
  return { bulk: ids, done, bad: bad.data.length, multi: multi.data.map((r) => r.taskIdentifier).sort() };
});

// Schedules on tidings' keyed schedules.
await call("schedules", async () => {
  const made = await schedules.create({
    task: "nightly",
    cron: "0 3 * * *",
    deduplicationKey: `nightly-${tag}`,
    externalId: userId,
    timezone: "Asia/Ho_Chi_Minh",
  });
  const again = await schedules.create({ task: "nightly", cron: "0 4 * * *", deduplicationKey: `nightly-${tag}` });
  const updated = await schedules.update(made.id, { task: "nightly", cron: "30 5 * * *", externalId: userId });
  const got = await schedules.retrieve(made.id);
  const listed = (await schedules.list()).data.map((s) => s.id);
  const off = await schedules.deactivate(made.id);
  const on = await schedules.activate(made.id);
  const deleted = await schedules.del(made.id);
  let gone;
  try {
    await schedules.retrieve(made.id);
  } catch (e) {
    gone = fail(e);
  }
  return { made, again, updated, got, listed, off, on, deleted, gone };
});

// Errors: unknown task, a bad option, an unknown run, then a bad key.
await call("unknownTask", () => tasks.trigger("no-such-task", {}));
await call("badDelay", () => tasks.trigger("echo", {}, { delay: "soon" }));
await call("unknownRun", () => runs.retrieve("run_doesnotexist"));
configure({ baseURL: process.env.TRIGGER_API_URL, secretKey: "tk_dev_not-a-real-key" });
await call("badKey", () => tasks.trigger("echo", {}));

console.log(JSON.stringify(out));
