import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import type { LtiPlatformRecord } from '../store/lti.repository.js';
import { buildLtiService } from '../services/build-services.js';
import type { RosterSyncResult } from '../services/lti/lti-roster.service.js';
import type { LtiService } from '../services/lti/lti.service.js';
import { toolUrls } from '../services/lti/lti-registration.service.js';
import { CliError } from './cli-error.js';
import { collectList, CONFIG_OPTION, print, printJson, shortTime, withIdentity, type IdentityContext } from './identity-context.js';
import { formatTable } from './table.js';

interface Options {
  config?: string;
  json?: boolean;
}

function withLti<T>(configPath: string | undefined, work: (lti: LtiService, context: IdentityContext) => Promise<T>): Promise<T> {
  return withIdentity(configPath, (context) => work(buildLtiService(context.config, context.store, context.identity), context));
}

function platformJson(p: LtiPlatformRecord) {
  return {
    id: p.id, name: p.name, issuer: p.issuer, client_id: p.clientId, auth_url: p.authUrl, jwks_url: p.jwksUrl, token_url: p.tokenUrl,
    deployment_ids: p.deploymentIds, created_at: p.createdAt,
  };
}

/** What to enter in the platform, once Flexi's public URL is known. */
function toolSettings(toolUrl: string | undefined): string {
  if (!toolUrl) return 'Set lti.tool_url (FLEXI_LTI_TOOL_URL) to print the URLs to enter in the platform.\n';
  const urls = toolUrls(toolUrl);
  return `In the platform: tool URL and redirection URI ${urls.launch}, initiate login URL ${urls.login}, public keyset URL ${urls.jwks}.\n`;
}

export function registerLtiCommand(program: Command): void {
  const lti = program.command('lti').description('LTI 1.3 tool: platforms (Moodle…), tool keys, roster sync (docs/lti.md)');
  const platforms = lti.command('platforms').description('LMS platforms that may launch Flexi');

  platforms.command('add')
    .description('register a platform (Moodle shows these values after you add Flexi as an LTI 1.3 tool)')
    .requiredOption('--issuer <url>', 'platform ID / issuer (Moodle: its wwwroot, e.g. https://moodle.uni-example.de)')
    .requiredOption('--client-id <id>', 'client ID the platform gave Flexi')
    .requiredOption('--auth-url <url>', 'authentication request URL (Moodle: <wwwroot>/mod/lti/auth.php)')
    .requiredOption('--jwks-url <url>', 'public keyset URL (Moodle: <wwwroot>/mod/lti/certs.php)')
    .requiredOption('--token-url <url>', 'access token URL (Moodle: <wwwroot>/mod/lti/token.php)')
    .requiredOption('--deployment-id <id>', 'deployment ID; repeat or separate by commas for several', collectList)
    .option('--name <name>', 'a name for listings (default: the issuer\'s host)')
    .option(...CONFIG_OPTION)
    .option('--json', 'print the platform as JSON')
    .action(async (options: Options & { issuer: string; clientId: string; authUrl: string; jwksUrl: string; tokenUrl: string; deploymentId: string[]; name?: string }) => {
      const { platform, toolUrl } = await withLti(options.config, async (service, { actor }) => ({
        platform: await service.platforms.add(actor, {
          name: options.name, issuer: options.issuer, clientId: options.clientId, authUrl: options.authUrl, jwksUrl: options.jwksUrl,
          tokenUrl: options.tokenUrl, deploymentIds: options.deploymentId,
        }),
        toolUrl: service.toolUrl,
      }));
      if (options.json) return printJson(platformJson(platform));
      print(`Registered ${platform.name} (id ${platform.id}), deployments ${platform.deploymentIds.join(', ')}.\n${toolSettings(toolUrl)}`);
    });

  platforms.command('list')
    .description('list registered platforms')
    .option(...CONFIG_OPTION)
    .option('--json', 'print a JSON array')
    .action(async (options: Options) => {
      const list = await withLti(options.config, (service) => service.platforms.list());
      if (options.json) return printJson(list.map(platformJson));
      if (list.length === 0) return print('No LTI platforms yet. Add one with `flexi lti platforms add` or by dynamic registration (`flexi lti register-url`).\n');
      print(formatTable(['ID', 'NAME', 'ISSUER', 'CLIENT ID', 'DEPLOYMENTS'], list.map((p) => [p.id, p.name, p.issuer, p.clientId, p.deploymentIds.join(',')])));
    });

  platforms.command('rm')
    .description('remove a platform: its launches stop working; users and course groups stay')
    .argument('<platform>', 'id, name or issuer')
    .option(...CONFIG_OPTION)
    .option('--json', 'print the removed platform as JSON')
    .action(async (ref: string, options: Options) => {
      const platform = await withLti(options.config, (service, { actor }) => service.platforms.remove(actor, ref));
      if (options.json) return printJson({ ...platformJson(platform), removed: true });
      print(`Removed ${platform.name} (${platform.issuer}).\n`);
    });

  const keys = lti.command('keys').description('the tool\'s signing keys, published at /lti/jwks');

  keys.command('list')
    .description('list tool keys')
    .option(...CONFIG_OPTION)
    .option('--json', 'print a JSON array')
    .action(async (options: Options) => {
      const list = await withLti(options.config, (service) => service.keys.list());
      if (options.json) return printJson(list.map((k) => ({ kid: k.kid, active: k.active, created_at: k.createdAt, retired_at: k.retiredAt, expires_at: k.expiresAt })));
      if (list.length === 0) return print('No tool key yet; the first launch or `flexi lti keys rotate` makes one.\n');
      print(formatTable(['KID', 'STATE', 'CREATED', 'PUBLISHED UNTIL'], list.map((k) => [k.kid, k.active ? 'active' : 'retired', shortTime(k.createdAt), k.active ? '-' : shortTime(k.expiresAt)])));
    });

  keys.command('rotate')
    .description('make a new signing key; the old one stays published until lti.key_overlap_ms has passed')
    .option(...CONFIG_OPTION)
    .option('--json', 'print the result as JSON')
    .action(async (options: Options) => {
      const result = await withLti(options.config, async (service, { identity, actor }) => {
        const rotated = await service.keys.rotate();
        await identity.audit.record(actor, 'lti.keys_rotate', { type: 'lti_key', id: rotated.kid }, { retired: rotated.retired, deleted: rotated.deleted });
        return rotated;
      });
      if (options.json) return printJson(result);
      print(`New tool key ${result.kid}; ${result.retired} older key(s) stay published until they expire, ${result.deleted} expired key(s) deleted.\n`);
    });

  lti.command('sync')
    .description('sync course rosters from the platform (Names and Role Provisioning): members who left lose access')
    .argument('<platform>', 'id, name or issuer')
    .option('--context <id>', 'only this course (the platform\'s context id)')
    .option(...CONFIG_OPTION)
    .option('--json', 'print the results as JSON (no progress bar)')
    .action(async (ref: string, options: Options & { context?: string }) => {
      const results = await withLti(options.config, async (service, { actor }) => {
        const platform = await service.platforms.get(ref);
        let contexts = await service.roster.contextsOf(platform.id);
        if (options.context !== undefined) {
          contexts = contexts.filter((c) => c.contextId === options.context);
          if (contexts.length === 0) throw new CliError(`No course ${options.context} of ${platform.name} has launched Flexi with a roster service yet.`);
        }
        const bar = options.json || !process.stderr.isTTY || contexts.length === 0 ? undefined
          : new cliProgress.SingleBar({ format: 'Syncing rosters [{bar}] {value}/{total} courses', hideCursor: true, stream: process.stderr }, cliProgress.Presets.shades_classic);
        bar?.start(contexts.length, 0);
        const out: RosterSyncResult[] = [];
        try {
          for (const context of contexts) {
            out.push(await service.roster.syncContext(platform, context, actor));
            bar?.increment();
          }
        } finally {
          bar?.stop();
        }
        return out;
      });
      if (options.json) return printJson(results.map((r) => ({ platform_id: r.platformId, context_id: r.contextId, group: r.group, members: r.members, added: r.added, removed: r.removed })));
      if (results.length === 0) return print('No course of this platform has launched Flexi with a roster service yet.\n');
      print(formatTable(['COURSE', 'GROUP', 'MEMBERS', 'ADDED', 'REMOVED'], results.map((r) => [r.contextId, r.group, String(r.members), String(r.added), String(r.removed)])));
    });

  lti.command('register-url')
    .description('a link for LTI Dynamic Registration: paste it as "Tool URL" in Moodle (Site admin > Plugins > External tool > Manage tools)')
    .option('--tool-url <url>', 'Flexi\'s public base URL (default: lti.tool_url)')
    .option('--valid-hours <hours>', 'how long the link works', '24')
    .option(...CONFIG_OPTION)
    .option('--json', 'print the link as JSON')
    .action(async (options: Options & { toolUrl?: string; validHours: string }) => {
      const hours = Number(options.validHours);
      if (!Number.isFinite(hours) || hours <= 0 || hours > 24 * 30) throw new CliError('--valid-hours must be a number of hours between 0 and 720.');
      const link = await withLti(options.config, async (service) => {
        const base = options.toolUrl ?? service.toolUrl;
        if (!base) throw new CliError('Flexi\'s public URL is unknown: pass --tool-url https://flexi.uni-example.de or set lti.tool_url.');
        service.platforms.checkUrl('tool_url', base);
        return service.registration.registrationUrl(base, hours * 3_600_000);
      });
      if (options.json) return printJson({ url: link.url, expires_at: link.expiresAt });
      print(`${link.url}\nValid until ${shortTime(link.expiresAt)} UTC. Anyone with this link can register a platform until then.\n`);
    });
}
