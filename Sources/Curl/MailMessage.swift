import Foundation

/// An email address with an optional display name (any script; encoded per RFC 2047).
public struct MailAddress: Sendable, Equatable {
    public let name: String?
    public let address: String

    /// Refuses addresses that could inject headers or SMTP commands.
    public init(_ address: String, name: String? = nil) throws {
        let valid =
            address.utf8.count <= 254 && address.split(separator: "@", omittingEmptySubsequences: false).count == 2
            && !address.hasPrefix("@") && !address.hasSuffix("@")
            && !address.unicodeScalars.contains {
                $0.properties.generalCategory == .control || $0 == " " || $0 == "<" || $0 == ">" || $0 == "," || $0 == "\""
            }
        guard valid else { throw MailError.invalidAddress }
        self.address = address
        self.name = name
    }

    var header: String {
        guard let name, !name.isEmpty else { return "<\(address)>" }
        let printableASCII = name.unicodeScalars.allSatisfy { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7f }
        let phrase: String
        if printableASCII && !name.contains("=?") {
            // Specials such as "(" would otherwise start a comment: quote the name.
            let specials = CharacterSet(charactersIn: "()<>[]:;@\\,.\"")
            phrase =
                name.rangeOfCharacter(from: specials) == nil
                ? name
                : "\"" + name.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        } else {
            phrase = MIMEEncoding.encodedWords(name)
        }
        // The address goes on a folded line of its own so no line passes 78 characters.
        return "\(phrase)\r\n <\(address)>"
    }
}

public enum MailError: Error, CustomStringConvertible, Equatable {
    case invalidAddress
    case noRecipients

    public var description: String {
        switch self {
        case .invalidAddress: "not a valid email address"
        case .noRecipients: "a message needs at least one recipient"
        }
    }
}

/// A message with a plain-text and an optional HTML part, rendered as RFC 5322 + MIME.
public struct MailMessage: Sendable {
    public var from: MailAddress
    public var to: [MailAddress]
    public var subject: String
    public var text: String
    public var html: String?
    /// Stable per notice, so a retried send is recognisably the same message.
    public var messageID: String
    public var date: Date

    public init(
        from: MailAddress, to: [MailAddress], subject: String, text: String, html: String? = nil,
        messageID: String, date: Date = Date()
    ) {
        self.from = from
        self.to = to
        self.subject = subject
        self.text = text
        self.html = html
        self.messageID = messageID
        self.date = date
    }

    /// The message as sent, CRLF line endings throughout.
    public func rendered(boundary: String = "dsrd-" + UUID().uuidString.lowercased()) -> Data {
        var lines = [
            "Date: \(MIMEEncoding.rfc5322Date(date))",
            "From: \(from.header)",
            "To: \(to.map(\.header).joined(separator: ",\r\n "))",
            "Subject: \(MIMEEncoding.encodedWords(subject))",
            "Message-ID: <\(messageID.filter { !$0.isNewline && $0 != "<" && $0 != ">" })>",
            "MIME-Version: 1.0",
        ]
        if let html {
            lines += [
                "Content-Type: multipart/alternative; boundary=\"\(boundary)\"",
                "",
                "--\(boundary)",
            ]
            lines += MIMEEncoding.part(contentType: "text/plain; charset=UTF-8", body: text)
            lines.append("--\(boundary)")
            lines += MIMEEncoding.part(contentType: "text/html; charset=UTF-8", body: html)
            lines.append("--\(boundary)--")
        } else {
            lines += MIMEEncoding.part(contentType: "text/plain; charset=UTF-8", body: text)
        }
        return Data((lines.joined(separator: "\r\n") + "\r\n").utf8)
    }
}

enum MIMEEncoding {
    /// A header value as RFC 2047 encoded words when it is not plain printable ASCII,
    /// folded so that no encoded word exceeds 75 characters and no UTF-8 sequence is split.
    static func encodedWords(_ text: String) -> String {
        let plain = text.unicodeScalars.allSatisfy { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7f }
        if plain && !text.contains("=?") { return text }
        var words: [String] = []
        var chunk = [UInt8]()
        for character in text {
            let bytes = Array(String(character).utf8)
            // 39 bytes make 52 base64 characters: a 64-character word, which fits on one
            // line even after "Subject: " (RFC 2047 allows 75, RFC 5322 lines 78).
            if chunk.count + bytes.count > 39 {
                words.append("=?UTF-8?B?" + Data(chunk).base64EncodedString() + "?=")
                chunk = []
            }
            chunk += bytes
        }
        if !chunk.isEmpty { words.append("=?UTF-8?B?" + Data(chunk).base64EncodedString() + "?=") }
        return words.joined(separator: "\r\n ")
    }

    static func part(contentType: String, body: String) -> [String] {
        // Every line ending as CRLF: a bare LF gains its CR, an existing CRLF stays.
        // Into an array, then Data once: appending to Data byte by byte went through its
        // replaceSubrange for every byte.
        var normalized = [UInt8]()
        normalized.reserveCapacity(body.utf8.count + body.utf8.count / 32)
        var previous: UInt8 = 0
        for byte in body.utf8 {
            if byte == 0x0A && previous != 0x0D { normalized.append(0x0D) }
            normalized.append(byte)
            previous = byte
        }
        let encoded = Data(normalized).base64EncodedString(options: [
            .lineLength76Characters, .endLineWithCarriageReturn, .endLineWithLineFeed,
        ])
        return ["Content-Type: \(contentType)", "Content-Transfer-Encoding: base64", "", encoded]
    }

    /// `Thu, 26 Nov 2026 10:42:20 +0000`, from the C library (a `DateFormatter` per message
    /// cost more than the rest of the message).
    static func rfc5322Date(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) +0000"
    }
}
