// Preloaded into src/main.ts (`node --import tsx --import ./test/log/crash.ts src/main.ts`): once the
// entry point has installed its process handlers, fails with a real axios error carrying the token,
// as an unhandled rejection (CRASH=rejection) or an uncaught exception (CRASH=exception). However long
// loading the entry point takes: an entry point that never installs them is never crashed, and the test
// times out.
import axios from "axios";

const event = process.env.CRASH === "exception" ? "uncaughtException" : "unhandledRejection";
const request = () =>
  axios.get(`${process.env.NOMAD_ADDR}/v1/var/nomad/jobs/idle-monitor`, {
    headers: { "X-Nomad-Token": process.env.NOMAD_TOKEN },
  });
const poll = setInterval(() => {
  if (process.listenerCount(event) === 0) return;
  clearInterval(poll);
  if (event === "unhandledRejection") void request();
  else
    request().catch((error: unknown) => {
      setImmediate(() => {
        throw error;
      });
    });
}, 20);
