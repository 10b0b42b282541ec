import CCurl
import Foundation

/// One `CURL` easy handle and everything it points at, freed together in `deinit`.
/// Used by one thread at a time: created, configured and performed inside one call.
final class CurlHandle {
    private static let globalInit: Void = {
        curl_global_init(Int(CURL_GLOBAL_DEFAULT))
    }()

    let raw: UnsafeMutableRawPointer
    private var lists: [UnsafeMutablePointer<curl_slist>] = []
    private var listsByOption: [UInt32: UnsafeMutablePointer<curl_slist>] = [:]
    private let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE))

    init() throws {
        _ = Self.globalInit
        guard let raw = curl_easy_init() else {
            throw CurlError(code: Int(CURLE_FAILED_INIT.rawValue), message: "curl_easy_init failed", responseCode: 0)
        }
        self.raw = raw
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
        try set(CURLOPT_ERRORBUFFER, pointer: UnsafeMutableRawPointer(errorBuffer))
        try set(CURLOPT_NOSIGNAL, 1)
    }

    deinit {
        curl_easy_cleanup(raw)
        for list in lists { curl_slist_free_all(list) }
        errorBuffer.deallocate()
    }

    func set(_ option: CURLoption, _ value: Int) throws {
        try check(dsrd_curl_set_long(raw, option, value))
    }

    /// libcurl copies string options (all but POSTFIELDS, which is never used here).
    func set(_ option: CURLoption, _ value: String) throws {
        guard !value.utf8.contains(0) else {
            throw CurlError(code: Int(CURLE_BAD_FUNCTION_ARGUMENT.rawValue), message: "option value contains NUL", responseCode: 0)
        }
        try check(dsrd_curl_set_string(raw, option, value))
    }

    func set(_ option: CURLoption, pointer: UnsafeMutableRawPointer?) throws {
        try check(dsrd_curl_set_pointer(raw, option, pointer))
    }

    func set(_ option: CURLoption, callback: dsrd_curl_data_callback) throws {
        try check(dsrd_curl_set_callback(raw, option, callback))
    }

    func set(_ option: CURLoption, offset: Int64) throws {
        try check(dsrd_curl_set_off_t(raw, option, curl_off_t(offset)))
    }

    /// A string list option (headers, recipients); the list lives as long as the handle, or
    /// until the next list set with `replacing` (a reused handle's new recipients).
    func set(_ option: CURLoption, list: [String], replacing: Bool = false) throws {
        if replacing, let previous = listsByOption.removeValue(forKey: option.rawValue) {
            try check(dsrd_curl_set_slist(raw, option, nil))
            curl_slist_free_all(previous)
            lists.removeAll { $0 == previous }
        }
        var head: UnsafeMutablePointer<curl_slist>?
        for item in list {
            guard let appended = curl_slist_append(head, item) else {
                if let head { curl_slist_free_all(head) }
                throw CurlError(code: Int(CURLE_OUT_OF_MEMORY.rawValue), message: "curl_slist_append failed", responseCode: 0)
            }
            head = appended
        }
        if let head {
            lists.append(head)
            listsByOption[option.rawValue] = head
        }
        try check(dsrd_curl_set_slist(raw, option, head))
    }

    func perform() throws {
        let code = curl_easy_perform(raw)
        guard code == CURLE_OK else {
            let detail = String(cString: errorBuffer)
            let message = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
            throw CurlError(code: Int(code.rawValue), message: message, responseCode: responseCode)
        }
    }

    var responseCode: Int {
        var code = 0
        _ = dsrd_curl_get_long(raw, CURLINFO_RESPONSE_CODE, &code)
        return code
    }

    private func check(_ code: CURLcode) throws {
        guard code == CURLE_OK else {
            throw CurlError(code: Int(code.rawValue), message: String(cString: curl_easy_strerror(code)), responseCode: 0)
        }
    }
}

/// Collects a response body, refusing to grow past `limit` bytes.
final class ResponseSink {
    var data = Data()
    let limit: Int

    init(limit: Int) { self.limit = limit }

    static let write: dsrd_curl_data_callback = { buffer, size, count, userdata in
        let sink = Unmanaged<ResponseSink>.fromOpaque(userdata!).takeUnretainedValue()
        let length = size * count
        guard sink.data.count + length <= sink.limit, let buffer else { return 0 }
        sink.data.append(UnsafeRawPointer(buffer).assumingMemoryBound(to: UInt8.self), count: length)
        return length
    }
}

/// Feeds an upload body to libcurl.
final class UploadSource {
    let data: Data
    var offset = 0

    init(data: Data) { self.data = data }

    static let read: dsrd_curl_data_callback = { buffer, size, count, userdata in
        let source = Unmanaged<UploadSource>.fromOpaque(userdata!).takeUnretainedValue()
        let length = min(size * count, source.data.count - source.offset)
        guard length > 0, let buffer else { return 0 }
        source.data.withUnsafeBytes { bytes in
            UnsafeMutableRawPointer(buffer).copyMemory(from: bytes.baseAddress! + source.offset, byteCount: length)
        }
        source.offset += length
        return length
    }
}

/// Runs blocking libcurl work on a Dispatch thread, never on Swift's cooperative pool.
func offCooperativePool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
            continuation.resume(with: Result { try work() })
        }
    }
}

extension Duration {
    /// Whole milliseconds for libcurl's `*_MS` options, rounded up and at least 1: libcurl
    /// reads 0 as "no timeout", so a 500 ms limit must not become 0 (nor 0.4 ms become 0).
    var curlMilliseconds: Int {
        let (seconds, attoseconds) = components
        guard seconds > 0 || attoseconds > 0 else { return 1 }
        let partial = (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return max(1, Int(seconds) * 1000 + Int(partial))
    }
}
