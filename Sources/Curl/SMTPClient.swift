import CCurl
import Foundation

/// SMTP delivery over libcurl: `smtp://` with STARTTLS required by default, or `smtps://`.
public struct SMTPClient: Sendable {
    public struct Configuration: Sendable {
        /// `smtp://host:port` or `smtps://host:port`; a path sets the EHLO name.
        public var url: String
        public var username: String?
        public var password: String?
        /// Refuse to send unless the session is encrypted (STARTTLS on smtp://). Default true.
        public var requireTLS = true
        /// Verify the server's certificate and name. Default true.
        public var verifyTLS = true
        public var timeout: Duration = .seconds(60)

        public init(url: String, username: String? = nil, password: String? = nil) {
            self.url = url
            self.username = username
            self.password = password
        }
    }

    public let configuration: Configuration
    /// Handles whose connection to the server is kept open between messages: one TCP and
    /// TLS handshake and EHLO (and AUTH) for many messages instead of one each.
    private let idle = IdleHandles()

    public init(configuration: Configuration) { self.configuration = configuration }

    /// Sends `message` to its `to` recipients (the envelope), with `from` as the sender.
    public func send(_ message: MailMessage) async throws {
        guard !message.to.isEmpty else { throw MailError.noRecipients }
        let configuration = self.configuration
        let body = message.rendered()
        let sender = message.from.address
        let recipients = message.to.map(\.address)
        let idle = self.idle
        try await offCooperativePool {
            let handle = try idle.take() ?? Self.makeHandle(configuration)
            try handle.set(CURLOPT_MAIL_FROM, "<\(sender)>")
            try handle.set(CURLOPT_MAIL_RCPT, list: recipients.map { "<\($0)>" }, replacing: true)
            let upload = UploadSource(data: body)
            try handle.set(CURLOPT_INFILESIZE_LARGE, offset: Int64(body.count))
            try handle.set(CURLOPT_READDATA, pointer: Unmanaged.passUnretained(upload).toOpaque())
            // A failed transfer leaves the connection in an unknown state: its handle is dropped.
            try withExtendedLifetime(upload) { try handle.perform() }
            try handle.set(CURLOPT_READDATA, pointer: nil)
            idle.put(handle)
        }
    }

    /// A handle with everything but the message set.
    private static func makeHandle(_ configuration: Configuration) throws -> CurlHandle {
        let handle = try CurlHandle()
        try handle.set(CURLOPT_URL, configuration.url)
        try handle.set(CURLOPT_PROTOCOLS_STR, "smtp,smtps")
        try handle.set(CURLOPT_USE_SSL, Int(configuration.requireTLS ? CURLUSESSL_ALL.rawValue : CURLUSESSL_TRY.rawValue))
        try handle.set(CURLOPT_SSL_VERIFYPEER, configuration.verifyTLS ? 1 : 0)
        try handle.set(CURLOPT_SSL_VERIFYHOST, configuration.verifyTLS ? 2 : 0)
        try handle.set(CURLOPT_TIMEOUT_MS, configuration.timeout.curlMilliseconds)
        try handle.set(CURLOPT_CONNECTTIMEOUT_MS, 10_000)
        if let username = configuration.username { try handle.set(CURLOPT_USERNAME, username) }
        if let password = configuration.password { try handle.set(CURLOPT_PASSWORD, password) }
        try handle.set(CURLOPT_UPLOAD, 1)
        try handle.set(CURLOPT_READFUNCTION, callback: UploadSource.read)
        return handle
    }
}

/// Curl handles kept between transfers (each used by one thread at a time).
final class IdleHandles: @unchecked Sendable {
    private let lock = NSLock()
    private var handles: [CurlHandle] = []
    /// More idle connections than this are closed.
    private let limit = 4

    func take() -> CurlHandle? {
        lock.lock()
        defer { lock.unlock() }
        return handles.popLast()
    }

    func put(_ handle: CurlHandle) {
        lock.lock()
        defer { lock.unlock() }
        if handles.count < limit { handles.append(handle) }
    }
}
