import Crypto
import Foundation

/// Links to a request's status page on the portal: `<public_url>/s/<token>`, where the token
/// is the request id (32 hex) followed by the first 128 bits of HMAC-SHA256 over it (32 hex)
/// under `portal.link_key_file`. Nothing is stored: the daemon puts the link in every notice
/// to the person, the portal checks it, and nobody can make one for another request without
/// the key. A link is as durable as the request; it shows status, never personal data, and
/// lets the person ask for a one-time download link once their export is ready.
public struct StatusLinks: Sendable {
    /// The key's bytes (`SymmetricKey` is not `Sendable`).
    let key: [UInt8]
    /// The portal's public address, without a trailing slash.
    public let baseURL: String

    public init(key: Data, baseURL: String) throws {
        guard key.count >= 32 else { throw ConfigurationError("portal.link_key_file must hold at least 32 random bytes") }
        self.key = Array(key)
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
    }

    /// The links the configuration asks for; nil when `portal.link_key_file` is not set.
    public static func load(_ configuration: DSRConfiguration) throws -> StatusLinks? {
        let file = configuration.portal.linkKeyFile
        guard !file.isEmpty else { return nil }
        let key: Data
        do {
            key = try Data(contentsOf: URL(fileURLWithPath: configuration.resolvedPath(file)))
        } catch {
            throw ConfigurationError("portal.link_key_file: cannot read \(configuration.resolvedPath(file))")
        }
        return try StatusLinks(key: key, baseURL: configuration.portal.publicURL)
    }

    public func token(for request: UUID) -> String {
        let id = Self.hex(request)
        let mac = HMAC<SHA256>.authenticationCode(for: Data(("status:" + id).utf8), using: SymmetricKey(data: key))
        return id + Digests.hex(Array(mac.prefix(16)))
    }

    /// The status page's address; nil without a public URL.
    public func url(for request: UUID) -> String? {
        baseURL.isEmpty ? nil : "\(baseURL)/s/\(token(for: request))"
    }

    /// The request a token names, when the token is genuine (compared in constant time).
    public func request(fromToken token: String) -> UUID? {
        guard Digests.isHex(token, length: 64) else { return nil }
        let id = String(token.prefix(32))
        var text = id
        for index in [20, 16, 12, 8] { text.insert("-", at: text.index(text.startIndex, offsetBy: index)) }
        guard let request = UUID(uuidString: text) else { return nil }
        let expected = Array(self.token(for: request).utf8)
        let given = Array(token.utf8)
        var difference: UInt8 = 0
        for index in expected.indices { difference |= expected[index] ^ given[index] }
        return difference == 0 ? request : nil
    }

    static func hex(_ id: UUID) -> String { id.uuidString.lowercased().replacingOccurrences(of: "-", with: "") }
}
