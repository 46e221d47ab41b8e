import { randomBytes, randomUUID } from "node:crypto";

export type NamespaceCapability = "read-job" | "submit-job" | "scale-job" | "read-job-scaling" | "list-jobs";
export type VariableCapability = "read" | "list" | "write" | "destroy";

/** An ACL policy in the simulator's terms; keys of `namespaces` and variable paths may be globs (`*`). */
export interface AclPolicy {
  namespaces?: Record<string, NamespaceCapability[]>;
  /** namespace (glob) → variable path (glob) → capabilities, like Nomad's `variables { path "…" {} }`. */
  variables?: Record<string, Record<string, VariableCapability[]>>;
  nodeRead?: boolean;
  management?: boolean;
}

export const TOKEN_EXPIRED = "ACL token expired";
export const PERMISSION_DENIED = "Permission denied";

interface WorkloadIdentity {
  namespace: string;
  jobId: string;
  group?: string;
  task?: string;
}

/** A workload identity carries the policies attached to its job (`nomad acl policy apply -job`). */
type Holder = { policy: AclPolicy } | { workload: WorkloadIdentity; attached: readonly AclPolicy[] };

/** What a request may do; `null` when ACLs are disabled (everything is allowed). */
export class Grants {
  constructor(private readonly holder: Holder | null) {}

  get isManagement(): boolean {
    return this.holder === null || ("policy" in this.holder && this.holder.policy.management === true);
  }

  /** A task's workload identity, not a token of an operator's. */
  get isWorkload(): boolean {
    return this.holder !== null && "workload" in this.holder;
  }

  allowsNamespace(namespace: string, capability: NamespaceCapability): boolean {
    if (this.isManagement) return true;
    return this.#policies.some(
      (policy) => closestRule(policy.namespaces ?? {}, namespace)?.includes(capability) ?? false,
    );
  }

  allowsScaling(namespace: string): boolean {
    return this.allowsNamespace(namespace, "scale-job") || this.allowsNamespace(namespace, "submit-job");
  }

  get allowsNodeRead(): boolean {
    if (this.isManagement) return true;
    return this.holder !== null && "policy" in this.holder && this.holder.policy.nodeRead === true;
  }

  allowsVariable(namespace: string, path: string, capability: VariableCapability): boolean {
    if (this.isManagement) return true;
    if (
      this.holder &&
      "workload" in this.holder &&
      workloadMayUse(this.holder.workload, namespace, path, capability)
    )
      return true;
    return this.#policies.some((policy) => {
      const paths = closestRule(policy.variables ?? {}, namespace);
      return (paths && closestRule(paths, path)?.includes(capability)) ?? false;
    });
  }

  get #policies(): readonly AclPolicy[] {
    if (!this.holder) return [];
    return "policy" in this.holder ? [this.holder.policy] : this.holder.attached;
  }
}

type Resolution = { grants: Grants } | { error: typeof PERMISSION_DENIED | typeof TOKEN_EXPIRED };

/** The cluster's ACL tokens: ordinary tokens by secret ID, and workload identities (JWTs). */
export class TokenStore {
  readonly #holders = new Map<string, Holder>();
  /** Policies attached to jobs, by `namespace/job`. */
  readonly #jobPolicies = new Map<string, AclPolicy[]>();
  readonly #expired = new Set<string>();

  constructor(private readonly enabled: boolean) {}

  create(policy: AclPolicy): string {
    const secret = randomUUID();
    this.#holders.set(secret, { policy: structuredClone(policy) });
    return secret;
  }

  /** Like `nomad acl policy apply -namespace <ns> -job <job>`: the job's identities get the policy too. */
  attachToJob(namespace: string, jobId: string, policy: AclPolicy): void {
    const key = `${namespace}/${jobId}`;
    this.#jobPolicies.set(key, [...(this.#jobPolicies.get(key) ?? []), structuredClone(policy)]);
  }

  createWorkloadIdentity(identity: WorkloadIdentity): string {
    const jobPolicies = this.#jobPolicies;
    const token = fakeJwt(identity);
    const key = `${identity.namespace}/${identity.jobId}`;
    this.#holders.set(token, {
      workload: { ...identity },
      get attached() {
        return jobPolicies.get(key) ?? [];
      },
    });
    return token;
  }

  /** Deletes the token; returns whether it existed. */
  revoke(secret: string): boolean {
    this.#expired.delete(secret);
    return this.#holders.delete(secret);
  }

  /** Marks the token expired; returns whether it existed. */
  expire(secret: string): boolean {
    if (!this.#holders.has(secret)) return false;
    this.#expired.add(secret);
    return true;
  }

  resolve(secret: string | undefined): Resolution {
    if (!this.enabled) return { grants: new Grants(null) };
    // No token is Nomad's anonymous token, whose default policy allows nothing.
    if (secret === undefined) return { grants: new Grants({ policy: {} }) };
    const holder = this.#holders.get(secret);
    // Nomad 1.6.5 answers an unknown (or deleted) token as it answers a token without the
    // capability: 403 `Permission denied`, not `ACL token not found` (err-403-unknown-token.http).
    if (!holder) return { error: PERMISSION_DENIED };
    if (this.#expired.has(secret)) return { error: TOKEN_EXPIRED };
    return { grants: new Grants(holder) };
  }
}

// A task's identity may read and list only its own job's variables (nomad-api-notes.md "Variables").
function workloadMayUse(
  identity: WorkloadIdentity,
  namespace: string,
  path: string,
  capability: VariableCapability,
): boolean {
  if (capability !== "read" && capability !== "list") return false;
  if (namespace !== identity.namespace) return false;
  const allowed = ["nomad/jobs", `nomad/jobs/${identity.jobId}`];
  if (identity.group !== undefined) {
    allowed.push(`nomad/jobs/${identity.jobId}/${identity.group}`);
    if (identity.task !== undefined)
      allowed.push(`nomad/jobs/${identity.jobId}/${identity.group}/${identity.task}`);
  }
  return allowed.includes(path);
}

// Nomad picks the exact rule, else the matching glob closest to the name.
function closestRule<T>(rules: Record<string, T>, name: string): T | undefined {
  if (Object.hasOwn(rules, name)) return rules[name];
  let best: { rule: T; literalLength: number } | undefined;
  for (const [pattern, rule] of Object.entries(rules)) {
    if (!pattern.includes("*") || !globMatches(pattern, name)) continue;
    const literalLength = pattern.replaceAll("*", "").length;
    if (!best || literalLength > best.literalLength) best = { rule, literalLength };
  }
  return best?.rule;
}

function globMatches(pattern: string, name: string): boolean {
  const source = pattern
    .split("*")
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
    .join(".*");
  return new RegExp(`^${source}$`).test(name);
}

// Workload identities are JWTs in Nomad; the monitor only passes them on, so the shape is enough.
function fakeJwt(identity: WorkloadIdentity): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const header = { alg: "RS256", kid: randomUUID(), typ: "JWT" };
  const claims = {
    aud: "nomad.io",
    nomad_namespace: identity.namespace,
    nomad_job_id: identity.jobId,
    ...(identity.group !== undefined && { nomad_task_group: identity.group }),
    ...(identity.task !== undefined && { nomad_task: identity.task }),
    sub: [identity.namespace, identity.jobId, identity.group, identity.task].filter(Boolean).join(":"),
    jti: randomUUID(),
  };
  return `${encode(header)}.${encode(claims)}.${randomBytes(32).toString("base64url")}`;
}
