// Preloaded into src/main.ts (`node --import tsx --import ./test/log/crash.ts src/main.ts`): once the
// entry point has installed its process handlers, fails with a real axios error carrying the token,
// as an unhandled rejection (CRASH=rejection) or an uncaught exception (CRASH=exception).
import axios from "axios";

const event = process.env.CRASH === "exception" ? "uncaughtException" : "unhandledRejection";
const request = () =>
  axios.get(`${process.env.NOMAD_ADDR}/v1/var/nomad/jobs/idle-monitor`, {
    headers: { "X-Nomad-Token": process.env.NOMAD_TOKEN },
  });
const startedAt = Date.now();
const poll = setInterval(() => {
  // Without handlers (the old entry point) it fails anyway after 3 s, to Node's default handling.
  if (process.listenerCount(event) === 0 && Date.now() - startedAt < 3_000) return;
  clearInterval(poll);
  if (event === "unhandledRejection") void request();
  else
    request().catch((error: unknown) => {
      setImmediate(() => {
        throw error;
      });
    });
}, 20);
