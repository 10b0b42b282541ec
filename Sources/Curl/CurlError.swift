import CCurl

/// A failed transfer: libcurl's code and message, and for SMTP/HTTP the server's last reply
/// code when one was received.
public struct CurlError: Error, CustomStringConvertible, Sendable {
    public let code: Int
    public let message: String
    /// Last SMTP reply or HTTP status code, 0 when none arrived.
    public let responseCode: Int

    public var description: String {
        responseCode > 0 ? "\(message) (curl \(code), server replied \(responseCode))" : "\(message) (curl \(code))"
    }

    /// Failures worth retrying later: the server was unreachable, timed out, or answered
    /// with a temporary (4xx SMTP) refusal. A permanent SMTP refusal (5xx) or a TLS policy
    /// failure is not.
    public var isTransient: Bool {
        if (500..<600).contains(responseCode) { return false }
        switch Int32(code) {
        case Int32(CURLE_USE_SSL_FAILED.rawValue), Int32(CURLE_LOGIN_DENIED.rawValue),
            Int32(CURLE_UNSUPPORTED_PROTOCOL.rawValue), Int32(CURLE_URL_MALFORMAT.rawValue),
            Int32(CURLE_PEER_FAILED_VERIFICATION.rawValue):
            return false
        default:
            return true
        }
    }
}
