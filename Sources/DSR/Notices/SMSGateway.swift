import Curl
import Foundation

/// Sends SMS through an HTTP gateway. The default profile is the common REST shape of
/// international gateways: `POST` a form with `To`, `From` and `Body`, HTTP basic auth
/// (account id and token); `sms.format = "json"` posts the same fields as JSON instead.
/// Text is UTF-8; the gateway encodes Thai as UCS-2.
public struct SMSGateway: Sendable {
    let settings: DSRConfiguration.SMS
    let password: String
    let client = HTTPClient()

    public init(settings: DSRConfiguration.SMS, password: String) {
        self.settings = settings
        self.password = password
    }

    public enum Outcome: Sendable, Equatable {
        case sent
        /// Refused for good (4xx other than 408/429): retrying the same request cannot help.
        case refused(String)
    }

    /// Sends `text` to `phone`. Throws for failures worth retrying (network, 5xx, 408, 429).
    public func send(to phone: String, text: String, idempotencyKey: String) async throws -> Outcome {
        let fields = [(settings.toField, phone), (settings.fromField, settings.sender), (settings.textField, text)]
        var headers: [(name: String, value: String)] = []
        let body: Data
        if settings.format == "json" {
            var object: [String: String] = [:]
            for (name, value) in fields { object[name] = value }
            body = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            headers.append(("Content-Type", "application/json; charset=utf-8"))
        } else {
            body = Data(fields.map { "\(Self.formEncode($0.0))=\(Self.formEncode($0.1))" }.joined(separator: "&").utf8)
            headers.append(("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"))
        }
        if !settings.idempotencyHeader.isEmpty { headers.append((settings.idempotencyHeader, idempotencyKey)) }
        var request = HTTPRequest(method: "POST", url: settings.url, headers: headers, body: body)
        request.verifyTLS = settings.verifyTLS
        if !settings.username.isEmpty { request.basicAuth = (settings.username, password) }
        let response = try await client.send(request)
        switch response.status {
        case 200..<300:
            return .sent
        case 408, 429, 500...:
            throw NoticeError.rejected("SMS gateway answered \(response.status)")
        default:
            return .refused("SMS gateway refused the message with \(response.status)")
        }
    }

    static func formEncode(_ value: String) -> String {
        // ASCII only: CharacterSet.alphanumerics would let Thai letters through unencoded.
        let allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._*")
        return (value.addingPercentEncoding(withAllowedCharacters: allowed) ?? "").replacingOccurrences(of: "%20", with: "+")
    }
}
