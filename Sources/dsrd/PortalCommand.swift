import ArgumentParser
import DSR
import DSRPortal
import Foundation
import Hummingbird
import Logging
import Postgres
import ServiceLifecycle

struct Portal: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the privacy portal: the web pages where people submit, verify, follow and download.",
        discussion: """
            Listens on portal.listen_host:portal.listen_port (plain HTTP, loopback by default); \
            TLS terminates at a reverse proxy in front (Deploy/portal/Caddyfile). It reads and \
            writes only dsrd's database and reads exports.directory; it holds no store \
            credentials and no signing key, so it runs as its own process and unit \
            (Deploy/dsrd-portal.service), apart from dsrd run. Needs portal.link_key_file. \
            Stops on SIGTERM or SIGINT after finishing the requests in flight.
            """)

    @OptionGroup var options: CommonOptions

    mutating func run() async throws {
        let options = self.options
        try await reportingFailures {
            let configuration = try options.loadConfiguration()
            LoggingSetup.bootstrap(level: configuration.log.level)
            let logger = Logger(label: "dsrd-portal")
            do {
                let pool = ConnectionPool(
                    conninfo: try configuration.databaseConninfo(), maximum: configuration.portal.databaseConnections,
                    settings: configuration.database.sessionSettings)
                let server = try PortalServer(configuration: configuration, pool: pool, logger: logger)
                let application = server.application { port in
                    logger.notice("portal listening", metadata: ["dsr.port": "\(port)"])
                }
                try await ServiceGroup(services: [application], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger).run()
            } catch let error as ConfigurationError {
                throw Failure(message: "configuration: \(error)", exitCode: .configuration)
            }
        }
    }
}
