import type { Clock } from '../../engine/clock.js';
import type { ReadModel } from '../../projections/read-model.js';
import type { ReadStore } from '../../projections/read-store.js';
import type { Context, Handler } from '../handler.js';
import type { Html } from '../html.js';
import { sendPage } from '../layout.js';
import type { Route } from '../router.js';

/** What the pages read: the read model (with `authorize`), and its store for whole states. */
export interface PageDependencies {
  reads: ReadModel;
  readStore: ReadStore;
  clock: Pick<Clock, 'now'>;
}

/** A GET route that renders a page (and whose errors are pages too). */
export const pageRoute = (
  pattern: string,
  render: (ctx: Context) => Promise<Html>,
): Route<Handler> => ({
  method: 'GET',
  pattern,
  handler: {
    reads: true,
    page: true,
    run: async (ctx) => sendPage(ctx.res, 200, await render(ctx)),
  },
});
