import DSR
import Hummingbird
import Logging
import Metrics
import NIOCore
import Postgres
import Prometheus

/// `dsrd run`'s Prometheus endpoint, `GET /metrics` on `metrics.listen_host:listen_port`:
/// the daemon's swift-metrics instruments (``DaemonMetrics``) and, read at each scrape,
/// the queue and request gauges (``DatabaseGauges``).
public struct MetricsEndpoint: Sendable {
    let registry: PrometheusCollectorRegistry
    let gauges: DatabaseGauges
    let pool: ConnectionPool
    let configuration: DSRConfiguration
    let logger: Logger

    /// Bootstraps swift-metrics with swift-prometheus (once per process) and prepares the
    /// endpoint; `application` serves it.
    public static func bootstrap(configuration: DSRConfiguration, logger: Logger) throws -> MetricsEndpoint {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = DaemonMetrics.durationBuckets
        MetricsSystem.bootstrap(factory)
        // One connection is enough for a scrape every few seconds, bounded like every other.
        let pool = ConnectionPool(
            conninfo: try configuration.databaseConninfo(), maximum: 1, settings: configuration.database.sessionSettings)
        return MetricsEndpoint(
            registry: registry, gauges: DatabaseGauges(registry: registry), pool: pool, configuration: configuration, logger: logger)
    }

    /// The metrics text, gauges refreshed from the database first.
    public func scrape() async -> String {
        _ = await gauges.refresh(pool)
        var buffer: [UInt8] = []
        buffer.reserveCapacity(16 * 1024)
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }

    public func application() -> some ApplicationProtocol {
        let router = Router()
        router.get("/metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: await scrape())))
        }
        let logger = self.logger
        return Application(
            router: router,
            configuration: .init(
                address: .hostname(configuration.metrics.listenHost, port: configuration.metrics.listenPort), serverName: nil),
            onServerRunning: { channel in
                logger.notice("metrics endpoint listening", metadata: ["dsr.port": "\(channel.localAddress?.port ?? 0)"])
            },
            logger: logger)
    }
}
