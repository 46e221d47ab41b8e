// Child process for test/log.test.ts and test/secrets.test.ts: logs through the real createLogger, which
// writes to file descriptors 1 and 2. LOG_FORMAT picks the format; the first argument picks what to log.
import axios from "axios";
import { createLogger } from "../../src/log.js";

const log = createLogger({
  logLevel: "debug",
  logFormat: process.env.LOG_FORMAT === "json" ? "json" : "text",
});

if (process.argv[2] === "lines") {
  const job = log.child({ job: "dev-idle", namespace: "default" });
  job.info("threshold 500 B per 10s");
  job.debug("reading: 12 B");
  job.warn('job meta idle-monitor.timeout="soon" is not valid');
  log.error("cannot reach Nomad");
} else {
  // A real axios error: its config and request carry the X-Nomad-Token header.
  const error: unknown = await axios
    .get(process.env.FORBIDDEN_URL as string, { headers: { "X-Nomad-Token": process.env.SECRET } })
    .then(
      () => new Error("expected a 403"),
      (failure: unknown) => failure,
    );
  log.error({ err: error }, "reading the token Variable failed");
  log.error({ error }, "listing allocations failed");
  log.warn({ attempt: { number: 3, cause: error } }, "stopping job dev failed");
  log.error({ failures: [error] }, "several calls failed");
  log.error(error);
  log.error(error, "scaling group web failed");
  log.child({ err: error }).error("a child logger bound to the error");
}
