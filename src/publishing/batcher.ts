/**
 * Groups concurrent calls into batches, one batch at a time per key (a workspace), so that many
 * publish jobs due together share a transaction: the claim of 50 targets costs what the claim of
 * one did. No timer is involved: the first call starts a batch on the next turn of the event loop,
 * and calls that arrive while a batch runs wait for the next one. Alone, a call waits for nothing;
 * under load, batches grow by themselves.
 *
 * A batch that fails is run again one item at a time (its transaction rolled back, so nothing of it
 * happened), so one bad item fails only its own call.
 */

type Pending<I, O> = { item: I; resolve: (value: O) => void; reject: (error: unknown) => void };

export class Batcher<I, O> {
  private readonly queues = new Map<string, { pending: Pending<I, O>[]; running: boolean }>();

  constructor(
    /** Runs one batch; answers one output per item, in order. */
    private readonly run: (key: string, items: I[]) => Promise<O[]>,
    private readonly maxSize = 100,
  ) {}

  add(key: string, item: I): Promise<O> {
    let queue = this.queues.get(key);
    if (!queue) {
      queue = { pending: [], running: false };
      this.queues.set(key, queue);
    }
    const entry = queue;
    return new Promise<O>((resolve, reject) => {
      entry.pending.push({ item, resolve, reject });
      if (!entry.running) {
        entry.running = true;
        setImmediate(() => void this.drain(key, entry));
      }
    });
  }

  private async drain(key: string, queue: { pending: Pending<I, O>[]; running: boolean }) {
    while (queue.pending.length > 0) {
      const batch = queue.pending.splice(0, this.maxSize);
      await this.settle(key, batch);
    }
    queue.running = false;
    this.queues.delete(key);
  }

  private async settle(key: string, batch: Pending<I, O>[]) {
    try {
      const outputs = await this.run(
        key,
        batch.map((entry) => entry.item),
      );
      for (const [i, entry] of batch.entries()) entry.resolve(outputs[i] as O);
    } catch (error) {
      if (batch.length === 1) {
        batch[0]?.reject(error);
        return;
      }
      for (const entry of batch) await this.settle(key, [entry]);
    }
  }
}
