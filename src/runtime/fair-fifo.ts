// Waiting keys, first in first out within a group (a namespace), the groups taking turns: one
// team's 50,000 new resources do not stand in front of another team's one.

/** The group of a "<namespace>/<name>" key; a key without '/' is its own group's only member. */
export const namespaceOf = (key: string): string => {
  const i = key.indexOf('/');
  return i < 0 ? '' : key.slice(0, i);
};

/** A FIFO with O(1) push and shift (a head index, compacted now and then). */
class Fifo {
  private items: string[] = [];
  private head = 0;
  get length(): number {
    return this.items.length - this.head;
  }
  push(k: string): void {
    this.items.push(k);
  }
  shift(): string | undefined {
    if (this.head >= this.items.length) return undefined;
    const k = this.items[this.head++]!;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return k;
  }
}

export class FairFifo {
  private readonly groups = new Map<string, Fifo>();
  /** Groups with waiting keys, in turn order; each group appears once. */
  private readonly turns = new Fifo();
  private size = 0;
  private readonly groupOf: (key: string) => string;

  constructor(groupOf: (key: string) => string = namespaceOf) {
    this.groupOf = groupOf;
  }

  get length(): number {
    return this.size;
  }

  push(key: string): void {
    const g = this.groupOf(key);
    let q = this.groups.get(g);
    if (!q) {
      this.groups.set(g, (q = new Fifo()));
      this.turns.push(g);
    }
    q.push(key);
    this.size++;
  }

  /** The oldest key of the group whose turn it is; that group goes to the back of the turns. */
  shift(): string | undefined {
    const g = this.turns.shift();
    if (g === undefined) return undefined;
    const q = this.groups.get(g)!;
    const key = q.shift()!;
    this.size--;
    if (q.length) this.turns.push(g);
    else this.groups.delete(g);
    return key;
  }

  clear(): void {
    this.groups.clear();
    while (this.turns.shift() !== undefined);
    this.size = 0;
  }
}
