/**
 * Says something at most once per `intervalMs` per key, so a dependency that stays down for an hour
 * yields a handful of lines instead of thousands.
 */
export class RateLimitedNotice {
  private readonly lastSaid = new Map<string, number>();

  constructor(
    private readonly intervalMs: number,
    private readonly now: () => number,
  ) {}

  shouldSay(key: string): boolean {
    const last = this.lastSaid.get(key);
    const now = this.now();
    if (last !== undefined && now - last < this.intervalMs) return false;
    this.lastSaid.set(key, now);
    return true;
  }

  /** Forgets the key; true when something had been said about it (so "it works again" is worth saying). */
  clear(key: string): boolean {
    return this.lastSaid.delete(key);
  }

  /** Forgets every key `keep` refuses: what it names is gone. */
  retain(keep: (key: string) => boolean): void {
    for (const key of this.lastSaid.keys()) if (!keep(key)) this.lastSaid.delete(key);
  }
}

/**
 * Remembers what was said, per scope (a job), so each thing is said once — until the scope is forgotten
 * (the job left the node), after which it may be said again.
 */
export class SayOnce {
  private readonly said = new Map<string, Set<string>>();

  /** Runs `say` unless `key` was already said in `scope`; returns whether it ran. */
  say(scope: string, key: string, say: () => void): boolean {
    const said = this.said.get(scope) ?? new Set<string>();
    this.said.set(scope, said);
    if (said.has(key)) return false;
    said.add(key);
    say();
    return true;
  }

  /** The scopes something was said in. */
  keys(): Iterable<string> {
    return this.said.keys();
  }

  /** Forgets what was said in one scope (its job left the node): it may be said again. */
  forget(scope: string): void {
    this.said.delete(scope);
  }
}
