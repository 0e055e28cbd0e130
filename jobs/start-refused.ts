/**
 * A long-running command (`yieldrun worker`, `yieldrun admin`) that refuses to start because of
 * how it is set up (an unsafe Redis, a missing or weak token): the CLI exits 2 for it, like for a
 * bad configuration, so a service manager does not restart it in a loop as if it had crashed.
 */
export class StartRefusedError extends Error {}
