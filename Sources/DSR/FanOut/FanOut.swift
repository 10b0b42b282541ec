import Foundation
import Logging
import Postgres

/// What the fan-out handlers share: dsrd's own database, the stores, the export folder.
public struct FanOut: Sendable {
    public let pool: ConnectionPool
    public let connectors: [any Connector]
    /// Finished bundles go here (0700); work in progress under `.staging/<request id>/`.
    public let exportDirectory: URL
    public let timeZone: TimeZone
    /// Signs deletion proofs; nil when `proofs.signing_key_file` is not set.
    public let proofKeys: ProofKeys?

    public init(pool: ConnectionPool, connectors: [any Connector], exportDirectory: URL, timeZone: TimeZone, proofKeys: ProofKeys?) {
        self.pool = pool
        self.connectors = connectors
        self.exportDirectory = exportDirectory
        self.timeZone = timeZone
        self.proofKeys = proofKeys
    }

    func requireProofKeys() throws -> ProofKeys {
        guard let proofKeys else {
            throw JobFailure.permanent("proofs.signing_key_file is not configured: erasure needs a signing key (dsrd keygen)")
        }
        return proofKeys
    }

    var proofDirectory: URL { exportDirectory.appendingPathComponent("proofs") }

    /// Builds the connectors from `connectors.directory`.
    public static func make(configuration: DSRConfiguration, pool: ConnectionPool) throws -> FanOut {
        let mappings = try ConnectorCatalog.load(directory: configuration.resolvedPath(configuration.connectors.directory))
        let connectors: [any Connector] = try mappings.map { mapping in
            switch mapping.kind {
            case .postgres:
                return SQLConnector(mapping: mapping, maxConnections: max(2, configuration.queue.workers))
            case .http:
                return HTTPConnector(
                    mapping: mapping, token: try configuration.secret(fromFile: mapping.tokenFile, key: "\(mapping.name).token_file"))
            }
        }
        return FanOut(
            pool: pool, connectors: connectors,
            exportDirectory: URL(fileURLWithPath: configuration.resolvedPath(configuration.exports.directory)),
            timeZone: TimeZone(identifier: configuration.notices.timeZone) ?? TimeZone(identifier: "UTC")!,
            proofKeys: configuration.proofs.signingKeyFile.isEmpty
                ? nil : try ProofKeys.load(privateKeyFile: configuration.resolvedPath(configuration.proofs.signingKeyFile)))
    }

    func connector(named name: String) throws -> any Connector {
        guard let connector = connectors.first(where: { $0.mapping.name == name }) else {
            throw JobFailure.permanent("no connector named \(name) is configured")
        }
        return connector
    }

    func staging(for request: UUID) -> URL {
        exportDirectory.appendingPathComponent(".staging").appendingPathComponent(request.uuidString.lowercased())
    }

    /// Creates the export folders (0700) if missing.
    public func prepareDirectories() throws {
        for directory in [exportDirectory, exportDirectory.appendingPathComponent(".staging"), proofDirectory] {
            do {
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw ConfigurationError("exports.directory: cannot create \(directory.path)")
            }
        }
    }

    /// The request row's fields the handlers need.
    struct RequestRow: Sendable {
        let id: UUID
        let kind: String
        let locale: String
        let status: String
        let given: IdentitySet
        let resolved: IdentitySet?
        let exportFile: String?
        let receivedAt: Date
    }

    func loadRequest(_ id: UUID) async throws -> RequestRow {
        let rows = try await pool.withConnection { connection in
            try await connection.query(
                """
                SELECT kind, locale, status, subject_email, subject_phone, subject ->> 'customer_id' AS customer_id,
                       subject ->> 'national_id' AS national_id, identities::text AS identities,
                       result ->> 'export_file' AS export_file, received_at
                  FROM dsr.requests WHERE id = $1
                """, [id])
        }
        guard let row = rows.first else { throw JobFailure.permanent("request \(id) does not exist") }
        var given = IdentitySet()
        if let email = try row.decode("subject_email", as: String?.self) { given.add(email, as: .email) }
        if let phone = try row.decode("subject_phone", as: String?.self) { given.add(phone, as: .phone) }
        if let customer = try row.decode("customer_id", as: String?.self) { given.add(customer, as: .customerID) }
        if let national = try row.decode("national_id", as: String?.self) { given.add(national, as: .nationalID) }
        let resolved = try row.decode("identities", as: String?.self).map { try JSONDecoder().decode(IdentitySet.self, from: Data($0.utf8)) }
        return RequestRow(
            id: id, kind: try row.decode("kind", as: String.self), locale: try row.decode("locale", as: String.self),
            status: try row.decode("status", as: String.self), given: given, resolved: resolved,
            exportFile: try row.decode("export_file", as: String?.self), receivedAt: try row.decode("received_at", as: Date.self))
    }
}
