// Seed "Rate Limiting for Socket Events": a sliding window of timestamps per user and event.
// Keys whose window is empty are pruned on a timer so memory stays bounded.

export class SocketRateLimiter {
  private readonly hits = new Map<string, number[]>();
  private readonly pruner: NodeJS.Timeout;

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
  ) {
    this.pruner = setInterval(() => this.prune(), Math.max(windowMs, 1000));
    this.pruner.unref();
  }

  /** Takes one event from the allowance; false when the window is full. */
  allow(userId: string, event: string): boolean {
    const key = `${userId}:${event}`;
    const now = Date.now();
    const recent = (this.hits.get(key) ?? []).filter((t) => now - t < this.windowMs);
    if (recent.length >= this.limit) {
      this.hits.set(key, recent);
      return false;
    }
    recent.push(now);
    this.hits.set(key, recent);
    return true;
  }

  prune(): void {
    const now = Date.now();
    for (const [key, times] of this.hits) {
      if (times.every((t) => now - t >= this.windowMs)) this.hits.delete(key);
    }
  }

  close(): void {
    clearInterval(this.pruner);
  }
}
