/** The events every contestant writes: the same types, the same JSON, in the same order. */

export interface BenchEvent {
  type: string;
  data: Record<string, unknown>;
}

const TYPES = ['ItemAdded', 'ItemPriced', 'ItemShipped'] as const;

/** About 150 bytes of JSON, the size of a typical operation event in opledger. */
export const benchEvent = (stream: number, revision: number): BenchEvent => ({
  type: TYPES[revision % TYPES.length] as string,
  data: {
    stream,
    revision,
    sku: `sku-${(stream * 7919 + revision) % 100_000}`,
    quantity: (revision % 5) + 1,
    note: 'benchmark event with a short human-readable note',
    at: '2026-01-05T10:00:00.000Z',
  },
});

export const streamName = (stream: number): string => `bench-${stream}`;
