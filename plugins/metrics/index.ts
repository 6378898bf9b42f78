import type { BuiltinInstance, BuiltinPlugin, Closable, PluginFactoryContext } from '../../runtime/src/plugins/builtin-plugin.ts';
import { type ClusterLink, joinCluster } from './cluster.ts';
import { contributedMetrics } from './contributed.ts';
import { isLoopbackHost, metricsEndpoint, ScrapeAllowList } from './endpoint.ts';
import { GatewayMetrics, type MetricDefinitions, sameDefinitions } from './gateway-metrics.ts';
import { metricsOptions, type MetricsOptions } from './options.ts';
import { requestMetricsMiddleware, unroutedMetricsObserver } from './request-instrument.ts';

/** What outlives config reloads: the registry (so counters never restart) and the cluster link. */
interface SharedMetrics extends Closable {
  readonly metrics: GatewayMetrics;
  readonly cluster: ClusterLink | null;
  /** The open-endpoint warning is given once per gateway, not on every reload. */
  warnedOpen: boolean;
}

const SHARED_KEY = 'metrics:registry';

function definitionsOf(options: MetricsOptions): MetricDefinitions {
  return { buckets: options.buckets, processMetrics: options.processMetrics, processMetricsPrefix: options.processMetricsPrefix };
}

/** Instances share one registry, so they must describe it the same way. */
function assertInstancesAgree(options: MetricsOptions, ctx: PluginFactoryContext): void {
  for (const [name, instance] of Object.entries(ctx.config.plugins)) {
    if (name === ctx.instanceName || instance.kind !== 'builtin' || instance.use !== 'metrics') continue;
    if (!sameDefinitions(definitionsOf(instance.options as MetricsOptions), definitionsOf(options))) {
      throw new Error(
        `plugins.${ctx.instanceName}: metrics instances "${ctx.instanceName}" and "${name}" share the gateway's registry, so their buckets and processMetrics options must be the same`,
      );
    }
  }
}

/**
 * Built-in `metrics`: Prometheus metrics for every request the middleware sees, and the scrape
 * endpoint (`/metrics`), served before routing. See README.md.
 */
export const metricsPlugin: BuiltinPlugin<MetricsOptions> = {
  name: 'metrics',
  options: metricsOptions,
  create(options, ctx): BuiltinInstance {
    assertInstancesAgree(options, ctx);
    const definitions = definitionsOf(options);
    const shared = ctx.shared<SharedMetrics>(SHARED_KEY, () => {
      const metrics = new GatewayMetrics(definitions);
      // Subscribed here, inside the shared value, so it happens once per gateway, not per reload.
      const unsubscribe = ctx.onGatewayEvent((event) => metrics.onGatewayEvent(event));
      const link = joinCluster(metrics.registry, ctx.logger);
      // Families other built-ins keep (the cache's), exported here whichever was built first.
      const detach = contributedMetrics(ctx).attach(metrics.registry);
      return {
        metrics,
        cluster: link,
        warnedOpen: false,
        close() {
          unsubscribe();
          detach();
          link?.close();
        },
      };
    });
    const { metrics, cluster } = shared;
    if (!sameDefinitions(metrics.definitions, definitions)) {
      ctx.logger.warn(
        'metrics: changes to buckets and processMetrics take effect at the next restart (the registry outlives reloads so that counters do not reset)',
      );
    }
    if (options.allow === undefined && !shared.warnedOpen && !isLoopbackHost(ctx.config.server.host)) {
      shared.warnedOpen = true;
      ctx.logger.warn(
        { path: options.path, host: ctx.config.server.host },
        'metrics: the scrape endpoint is open to any client that reaches the gateway (it bypasses middleware and shows route templates, plugin names and upstream origins); set the plugin\'s `allow` option to your scraper\'s addresses',
      );
    }
    const registry = metrics.registry;
    const timeout = options.clusterTimeout;
    const source = {
      contentType: registry.contentType,
      scrape: cluster === null ? () => registry.metrics() : () => cluster.scrape(timeout),
    };
    return {
      middleware: requestMetricsMiddleware(metrics, ctx.config.routes),
      // Given by the core only when this instance is in the global middleware.
      unrouted: unroutedMetricsObserver(metrics),
      endpoints: { [options.path]: metricsEndpoint(source, {
          allow: options.allow ? new ScrapeAllowList(options.allow) : null,
          logger: ctx.logger,
          cacheFor: options.cacheFor,
        }) },
    };
  },
};
