// Sends events to a live tidings server with the official Inngest SDK, configured only
// by INNGEST_EVENT_KEY (a tidings publish key) and INNGEST_BASE_URL (the server).
// Usage: node inngest.mjs v3|v4 <tag>. Prints one JSON object with each call's result.
const [version, tag] = process.argv.slice(2);
const { Inngest } = await import(version === "v3" ? "inngest-v3" : "inngest-v4");
const out = {};
async function call(name, fn) {
  try {
    out[name] = await fn();
  } catch (e) {
    out[name] = { error: { name: e?.constructor?.name, message: String(e?.message) } };
  }
}
const inngest = new Inngest({ id: "notes-backend" });
const user = { external_id: `user-${tag}`, email: "ana@example.com" };
await call("one", () =>
  inngest.send({ name: "note.synced", data: { noteId: `n1-${tag}` }, user, v: "2026-03-01.1", id: `one-${tag}` }),
);
await call("again", () =>
  inngest.send({ name: "note.synced", data: { noteId: `n1-${tag}` }, user, v: "2026-03-01.1", id: `one-${tag}` }),
);
await call("many", () =>
  inngest.send([
    { name: "note.synced", data: { noteId: `n2-${tag}` }, ts: Date.UTC(2026, 2, 1, 9) },
    { name: "note.synced", data: { noteId: `n3-${tag}` }, user, v: "1" },
  ]),
);
await call("bad", () => inngest.send([{ name: "note.synced", data: { ok: true } }, { name: "tidings/internal", data: {} }]));
const wrong = new Inngest({ id: "notes-backend", eventKey: "tk_dev_not-a-real-key" });
await call("badKey", () => wrong.send({ name: "note.synced", data: {} }));
console.log(JSON.stringify(out));
