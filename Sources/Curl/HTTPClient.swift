import CCurl
import Foundation

public struct HTTPRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(name: String, value: String)]
    public var body: Data?
    /// Whole transfer, connection included. Default 30 s.
    public var timeout: Duration = .seconds(30)
    public var connectTimeout: Duration = .seconds(10)
    /// HTTP basic authentication, if set.
    public var basicAuth: (user: String, password: String)?
    /// Verify the server's certificate and host name. On by default; turn off only for tests.
    public var verifyTLS = true
    /// Largest response body accepted. Default 4 MiB.
    public var maxResponseBytes = 4 << 20

    public init(method: String, url: String, headers: [(name: String, value: String)] = [], body: Data? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }
}

public struct HTTPResponse: Sendable {
    public let status: Int
    public let body: Data
    /// Response header fields in order (names as sent).
    public var headers: [(name: String, value: String)] = []

    public var text: String { String(decoding: body, as: UTF8.self) }

    /// Every value of a header field, compared case-insensitively by name.
    public func header(_ name: String) -> [String] {
        headers.filter { $0.name.caseInsensitiveCompare(name) == .orderedSame }.map(\.value)
    }
}

/// A small HTTP client over libcurl for gateways and store APIs: http and https only, no
/// redirects followed, TLS verified, bounded response size. Each call uses its own handle.
public struct HTTPClient: Sendable {
    public init() {}

    public func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        for header in request.headers where (header.name + header.value).contains(where: { $0 == "\r" || $0 == "\n" }) {
            throw CurlError(
                code: Int(CURLE_BAD_FUNCTION_ARGUMENT.rawValue), message: "header \(header.name) contains a line break", responseCode: 0)
        }
        return try await offCooperativePool { try Self.perform(request) }
    }

    private static func perform(_ request: HTTPRequest) throws -> HTTPResponse {
        let handle = try CurlHandle()
        try handle.set(CURLOPT_URL, request.url)
        try handle.set(CURLOPT_PROTOCOLS_STR, "http,https")
        try handle.set(CURLOPT_CUSTOMREQUEST, request.method)
        try handle.set(CURLOPT_TIMEOUT_MS, request.timeout.curlMilliseconds)
        try handle.set(CURLOPT_CONNECTTIMEOUT_MS, request.connectTimeout.curlMilliseconds)
        try handle.set(CURLOPT_SSL_VERIFYPEER, request.verifyTLS ? 1 : 0)
        try handle.set(CURLOPT_SSL_VERIFYHOST, request.verifyTLS ? 2 : 0)
        try handle.set(CURLOPT_USERAGENT, "dsrd")
        try handle.set(CURLOPT_HTTPHEADER, list: request.headers.map { "\($0.name): \($0.value)" } + ["Expect:"])
        if let auth = request.basicAuth {
            try handle.set(CURLOPT_HTTPAUTH, 1)  // CURLAUTH_BASIC, a macro Swift cannot import
            try handle.set(CURLOPT_USERNAME, auth.user)
            try handle.set(CURLOPT_PASSWORD, auth.password)
        }
        let upload = request.body.map(UploadSource.init)
        if let upload {
            try handle.set(CURLOPT_UPLOAD, 1)
            try handle.set(CURLOPT_INFILESIZE_LARGE, offset: Int64(upload.data.count))
            try handle.set(CURLOPT_READFUNCTION, callback: UploadSource.read)
            try handle.set(CURLOPT_READDATA, pointer: Unmanaged.passUnretained(upload).toOpaque())
        }
        let sink = ResponseSink(limit: request.maxResponseBytes)
        try handle.set(CURLOPT_WRITEFUNCTION, callback: ResponseSink.write)
        try handle.set(CURLOPT_WRITEDATA, pointer: Unmanaged.passUnretained(sink).toOpaque())
        let headers = ResponseSink(limit: 64 << 10)
        try handle.set(CURLOPT_HEADERFUNCTION, callback: ResponseSink.write)
        try handle.set(CURLOPT_HEADERDATA, pointer: Unmanaged.passUnretained(headers).toOpaque())
        try withExtendedLifetime((upload, sink, headers)) { try handle.perform() }
        var response = HTTPResponse(status: handle.responseCode, body: sink.data)
        // The last response's fields (libcurl hands over every header line, status lines too).
        for line in String(decoding: headers.data, as: UTF8.self).components(separatedBy: "\r\n") {
            if line.hasPrefix("HTTP/") {
                response.headers = []
            } else if let colon = line.firstIndex(of: ":") {
                response.headers.append(
                    (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
            }
        }
        return response
    }
}
