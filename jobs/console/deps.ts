/** What the console's pages share: config, databases, Redis, and who may do what. */
import type { ConnectionOptions } from 'bullmq';
import type { Logger } from 'pino';
import type { ResolvedConfig } from '../../config/load.js';
import type { EtlContext } from '../../etl/context.js';
import type { Access } from './access.js';
import type { SessionStore, SignInLimiter } from './sessions.js';

export interface ConsoleDeps {
  cfg: ResolvedConfig;
  ctx: EtlContext;
  connection: ConnectionOptions;
  access: Access;
  sessions: SessionStore;
  limiter: SignInLimiter;
  log: Logger;
}
