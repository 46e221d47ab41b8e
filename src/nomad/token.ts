import type { Logger } from "pino";
import type { Config } from "../config.js";
import type { MonitorMetrics } from "../metrics.js";
import { NomadError } from "../model/nomad.js";
import type { NomadApi, TokenSource } from "../ports.js";

const HTTP_TOKEN_ITEM = "http_token";
const WEBHOOK_SECRET_ITEM = "webhook_secret";

export type TokenConfig = Pick<Config, "nomadToken" | "namespace" | "tokenVariable" | "self">;

/**
 * The action token: read from a Nomad Variable with the task's workload identity (`NOMAD_TOKEN`), never
 * from a file. Outside Nomad, when no Variable is readable, `NOMAD_TOKEN` itself acts (design.md).
 * The token's value is never logged; only where it came from.
 */
export class ActionToken implements TokenSource {
  private value: string | undefined;
  private source: "variable" | "environment" | undefined;
  private loading: Promise<void> | undefined;

  /**
   * The optional bearer token of the monitor's HTTP listener, from the same Variable (item `http_token`).
   * Once set, a Variable without it never clears it: that would open /metrics and /v1/status to anyone.
   */
  private http: string | undefined;
  /** The Variable lost its `http_token` and the last one is kept: said once, until one is there again. */
  private httpTokenKeptSaid = false;
  /** The key that signs webhook requests, from the same Variable (item `webhook_secret`). */
  private webhook: string | undefined;

  constructor(
    private readonly nomad: Pick<NomadApi, "readVariable">,
    private readonly config: TokenConfig,
    private readonly log: Logger,
    private readonly metrics?: MonitorMetrics,
  ) {}

  /** What a request to /metrics, /readyz or /v1/status must present as `Authorization: Bearer …`, if anything. */
  httpToken(): string | undefined {
    return this.http;
  }

  /** What webhook requests are signed with; without it no event is sent (webhooks.ts). */
  webhookSecret(): string | undefined {
    return this.webhook;
  }

  /** The token to send now; `undefined` before the first load, or when running without ACLs. */
  current(): string | undefined {
    return this.value;
  }

  get loaded(): boolean {
    return this.source !== undefined;
  }

  /**
   * (Re)reads the Variable. Throws an Error that says what to fix when the token cannot be had — the
   * caller keeps retrying. A failure after a successful load keeps the token in hand. Callers that ask
   * while a read is under way (the stream, an action and the refresh timer can all see a rejected token
   * at once) share that read.
   */
  load(): Promise<void> {
    this.loading ??= this.read()
      .then(
        () => this.metrics?.tokenReloads.inc({ outcome: "loaded" }),
        (error: unknown) => {
          this.metrics?.tokenReloads.inc({ outcome: "failed" });
          throw error;
        },
      )
      .finally(() => {
        this.loading = undefined;
      });
    return this.loading;
  }

  private async read(): Promise<void> {
    const { path, key } = this.config.tokenVariable;
    const where = `Nomad Variable ${path} (item "${key}") in namespace ${this.config.namespace}`;
    const insideNomad = this.config.self.allocId !== undefined;
    let problem: string;
    try {
      const items = await this.nomad.readVariable(this.config.namespace, path, this.config.nomadToken);
      // `echo $TOKEN | nomad var put … token=-` keeps the newline; a token never has surrounding whitespace.
      const token = items?.[key]?.trim();
      this.takeHttpToken(items?.[HTTP_TOKEN_ITEM]?.trim() || undefined);
      this.webhook = items?.[WEBHOOK_SECRET_ITEM]?.trim() || undefined;
      if (token) return this.use(token, "variable", `action token loaded from ${where}`);
      problem =
        items === undefined
          ? `${where} does not exist: create it with the token's Secret ID as item "${key}", read from a file or standard input, never from the command line (README, "Deploy on Nomad", step 3)`
          : `${where} has no item "${key}"`;
    } catch (error) {
      if (!(error instanceof NomadError)) throw error;
      problem =
        error.kind === "auth"
          ? `cannot read ${where}: ${error.message}. A task's workload identity may only read nomad/jobs/<its job>; set TOKEN_VARIABLE accordingly`
          : `cannot read ${where}: ${error.message}`;
      if (error.kind === "unavailable" || insideNomad) throw new Error(problem);
    }
    if (insideNomad) throw new Error(problem);
    if (this.source === undefined) {
      this.log.info(`${problem}; using NOMAD_TOKEN as the action token (running outside Nomad)`);
    }
    this.use(this.config.nomadToken, "environment");
  }

  private takeHttpToken(found: string | undefined): void {
    if (found !== undefined) {
      this.http = found;
      this.httpTokenKeptSaid = false;
      return;
    }
    if (this.http === undefined || this.httpTokenKeptSaid) return;
    this.httpTokenKeptSaid = true;
    const { path } = this.config.tokenVariable;
    this.log.warn(
      `the Nomad Variable ${path} in namespace ${this.config.namespace} has no item "${HTTP_TOKEN_ITEM}" any more; /metrics and /v1/status keep asking for the last one (put an ${HTTP_TOKEN_ITEM} item back to change it; restart the monitor to serve them without a token)`,
    );
  }

  private use(token: string | undefined, source: "variable" | "environment", notice?: string): void {
    const changed = this.value !== token || this.source !== source;
    this.value = token;
    this.source = source;
    if (changed && notice) this.log.info(notice);
  }
}
