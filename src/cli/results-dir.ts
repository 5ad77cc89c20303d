import { readConfigFromDisk } from '../config/load.js';

/** A model or task name as one safe path segment. */
export function safePathSegment(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, '_');
}

/**
 * Where `flexi eval` and `flexi probe` write when no `--out` is given: the config's
 * `catalog.results_dir` (`-c`, $FLEXI_CONFIG or ./flexi.yaml; ./data/evidence without one), the
 * folder `flexi models catalog` and the admin catalog page read.
 */
export function configuredResultsDir(configPath?: string): string {
  return readConfigFromDisk({ path: configPath }).catalog.results_dir;
}
