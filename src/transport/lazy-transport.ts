import {
  Emitter,
  type PublishOptions,
  type Transport,
  type TransportEvents,
  type TransportFactory,
  type TransportOptions,
  type TransportStatus,
  type Will,
} from './transport.ts';

/** A transport factory whose code arrives later, and a way to start fetching that code early. */
export interface LazyTransportFactory extends TransportFactory {
  /** Starts loading the real factory now; one load at a time, and again after a failure. */
  preload(): Promise<TransportFactory>;
}

/**
 * A factory that returns a transport at once and makes the real one when `load` resolves. main.ts
 * loads mqtt-transport.ts this way: MQTT.js is most of the app's JS, and the join screen does not need
 * it, so it is a chunk of its own, fetched once the join screen is painted (`preload`).
 *
 * Calls made before the code is there are replayed on the real transport in order. If loading fails
 * (offline, and the chunk is in no cache), `connect` reports `offline` with `unreachable`, and `wake`
 * or another `connect` tries again; publishes wait, as they would for a broker that is down.
 */
export const lazyTransportFactory = (load: () => Promise<TransportFactory>): LazyTransportFactory => {
  let loading: Promise<TransportFactory> | undefined;
  const preload = () => {
    loading ??= load().catch((error: unknown) => {
      loading = undefined;
      throw error;
    });
    return loading;
  };
  return Object.assign((options: TransportOptions) => new LazyTransport(options, preload), { preload });
};

interface Job {
  run(inner: Transport): void;
  /** The transport was closed before the real one existed. */
  drop(): void;
}

class LazyTransport implements Transport {
  readonly #options: TransportOptions;
  readonly #load: () => Promise<TransportFactory>;
  readonly #events = new Emitter<TransportEvents>();
  #inner: Transport | undefined;
  #jobs: Job[] = [];
  #loading = false;
  #connecting = false;
  #closed = false;
  #status: TransportStatus = 'offline';

  constructor(options: TransportOptions, load: () => Promise<TransportFactory>) {
    this.#options = options;
    this.#load = load;
  }

  get url(): string {
    return this.#options.url;
  }
  get status(): TransportStatus {
    return this.#inner?.status ?? this.#status;
  }

  on<K extends keyof TransportEvents>(event: K, handler: TransportEvents[K]): () => void {
    return this.#events.on(event, handler);
  }

  #setStatus(status: TransportStatus, detail?: string): void {
    this.#status = status;
    this.#events.emit('status', {
      status,
      ...(detail !== undefined && { error: 'unreachable' as const, detail }),
    });
  }

  /** Runs `run` on the real transport: now if it is there, else once it is (in the order asked). */
  #later(job: Job): void {
    if (this.#inner !== undefined) return job.run(this.#inner);
    this.#jobs.push(job);
    this.#start();
  }

  #start(): void {
    if (this.#loading || this.#inner !== undefined || this.#closed) return;
    this.#loading = true;
    this.#load().then(
      (factory) => {
        this.#loading = false;
        if (this.#closed) return;
        const inner = factory(this.#options);
        inner.on('status', (change) => this.#events.emit('status', change));
        inner.on('message', (message) => this.#events.emit('message', message));
        this.#inner = inner;
        for (const job of this.#jobs.splice(0)) job.run(inner);
      },
      (error: unknown) => {
        this.#loading = false;
        if (this.#closed || !this.#connecting) return;
        const reason = error instanceof Error ? error.message : String(error);
        this.#setStatus('offline', `could not load the MQTT client: ${reason}`);
      },
    );
  }

  connect(will?: Will): void {
    this.#closed = false;
    this.#connecting = true;
    if (this.#inner === undefined) this.#setStatus('connecting');
    this.#later({ run: (inner) => inner.connect(will), drop: () => undefined });
  }

  wake(): void {
    if (this.#inner !== undefined) return this.#inner.wake?.();
    if (this.#connecting) this.#start();
  }

  subscribe(filters: string[]): Promise<void> {
    return this.#call(
      (inner) => inner.subscribe(filters),
      () => undefined,
    );
  }

  unsubscribe(filters: string[]): Promise<void> {
    return this.#call(
      (inner) => inner.unsubscribe(filters),
      () => undefined,
    );
  }

  publish(topic: string, payload: Uint8Array, options: PublishOptions): Promise<void> {
    return this.#call(
      (inner) => inner.publish(topic, payload, options),
      () => {
        throw new Error('transport closed');
      },
    );
  }

  /** `work` on the real transport; `dropped` answers instead if the transport closes before it exists. */
  #call(work: (inner: Transport) => Promise<void>, dropped: () => void): Promise<void> {
    return new Promise((resolve, reject) =>
      this.#later({
        run: (inner) => work(inner).then(resolve, reject),
        drop: () => {
          try {
            dropped();
            resolve();
          } catch (error) {
            reject(error as Error);
          }
        },
      }),
    );
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#connecting = false;
    if (this.#inner !== undefined) return this.#inner.close();
    for (const job of this.#jobs.splice(0)) job.drop();
    this.#setStatus('offline');
  }
}
