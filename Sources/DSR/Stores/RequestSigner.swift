import Crypto
import Foundation

/// Signs what dsrd sends to HTTP stores and processors, so the receiver can tell it came from
/// dsrd and was not replayed: `DSR-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` over
/// `<t>\n<METHOD>\n<path and query>\n<body>`, keyed with a secret both sides hold. The
/// receiver recomputes it and refuses a mismatch or a timestamp more than 5 minutes off
/// (`Config/connectors/README.md` has a Python check).
public struct RequestSigner: Sendable {
    public static let header = "DSR-Signature"
    let secret: Data

    /// No secret: requests go unsigned (HTTP stores without `signing_secret_file`).
    public init(secret: String) { self.secret = Data(secret.utf8) }

    var key: SymmetricKey? { secret.isEmpty ? nil : SymmetricKey(data: secret) }

    /// The signature header for one request, or nothing without a key.
    public func headers(method: String, url: String, body: Data, at date: Date = Date()) -> [(name: String, value: String)] {
        guard let key else { return [] }
        let timestamp = Int(date.timeIntervalSince1970)
        return [(Self.header, "t=\(timestamp),v1=\(Self.signature(key: key, timestamp: timestamp, method: method, url: url, body: body))")]
    }

    static func signature(key: SymmetricKey, timestamp: Int, method: String, url: String, body: Data) -> String {
        var message = Data("\(timestamp)\n\(method.uppercased())\n\(pathAndQuery(of: url))\n".utf8)
        message.append(body)
        return Digests.hex(Array(HMAC<SHA256>.authenticationCode(for: message, using: key)))
    }

    /// `/dsr/erase?x=1` of `https://saas.example/dsr/erase?x=1`, as the receiver sees it.
    static func pathAndQuery(of url: String) -> String {
        guard let components = URLComponents(string: url) else { return url }
        let path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        return components.percentEncodedQuery.map { path + "?" + $0 } ?? path
    }
}
