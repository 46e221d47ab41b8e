/**
 * How old something another node wrote can be, judged only on this node's clock (never on timestamps
 * written by another machine). Every list of the Variables answers with the raft index it was served at;
 * anything written at a higher index was written after that request was sent. So the latest request
 * whose answer's index is below a Variable's ModifyIndex bounds how long ago it was written.
 */
export class IndexClock {
  #observations: Array<{ index: number; sentAt: number }> = [];

  /** `keepMs`: how far back bounds are needed; older observations are dropped, so this never grows. */
  constructor(private readonly keepMs: number) {}

  /** A list request sent at `sentAt` was answered at raft index `index`. */
  observe(index: number, sentAt: number): void {
    const last = this.#observations.at(-1);
    if (last && last.index >= index) return;
    this.#observations.push({ index, sentAt });
    const cutoff = sentAt - this.keepMs;
    while (this.#observations.length > 1 && (this.#observations[1]?.sentAt ?? 0) <= cutoff)
      this.#observations.shift();
  }

  /** At most how long ago a write at `modifyIndex` happened, or undefined when nothing observed bounds it. */
  maxAge(modifyIndex: number, now: number): number | undefined {
    let bound: number | undefined;
    for (const observation of this.#observations) {
      if (observation.index >= modifyIndex) break;
      bound = now - observation.sentAt;
    }
    return bound;
  }
}
