import { describe, expect, it } from "vitest";
import { Batcher } from "../src/publishing/batcher.js";

describe("Batcher", () => {
  it("runs calls of one turn as one batch, and calls made meanwhile as the next", async () => {
    const batches: string[][] = [];
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const batcher = new Batcher<string, string>(async (key, items) => {
      batches.push(items.map((item) => `${key}:${item}`));
      if (batches.length === 1) await gate;
      return items.map((item) => item.toUpperCase());
    });
    const first = ["a", "b", "c"].map((item) => batcher.add("w1", item));
    await new Promise((resolve) => setImmediate(resolve));
    // The first batch is running (held at the gate): these wait for the next one.
    const second = ["d", "e"].map((item) => batcher.add("w1", item));
    // Keys are independent: w2's batch runs while w1's is still held.
    expect(await batcher.add("w2", "x")).toBe("X");
    release();
    expect(await Promise.all(first)).toEqual(["A", "B", "C"]);
    expect(await Promise.all(second)).toEqual(["D", "E"]);
    expect(batches).toEqual([["w1:a", "w1:b", "w1:c"], ["w2:x"], ["w1:d", "w1:e"]]);
  });

  it("splits a failed batch so that only the bad item's call fails", async () => {
    const sizes: number[] = [];
    const batcher = new Batcher<number, number>(async (_key, items) => {
      sizes.push(items.length);
      if (items.includes(2)) throw new Error("item 2 is bad");
      return items.map((item) => item * 10);
    });
    const results = await Promise.allSettled([1, 2, 3].map((item) => batcher.add("w", item)));
    expect(results.map((result) => (result.status === "fulfilled" ? result.value : "rejected"))).toEqual([
      10,
      "rejected",
      30,
    ]);
    expect(sizes).toEqual([3, 1, 1, 1]);
  });

  it("caps a batch at its maximum size", async () => {
    const sizes: number[] = [];
    const batcher = new Batcher<number, number>(async (_key, items) => {
      sizes.push(items.length);
      return items;
    }, 4);
    await Promise.all(Array.from({ length: 10 }, (_, i) => batcher.add("w", i)));
    expect(sizes).toEqual([4, 4, 2]);
  });
});
