import Foundation
import Mustache

public struct RenderedNotice: Sendable, Equatable {
    /// Email subject; nil for SMS.
    public var subject: String?
    public var text: String
    /// HTML alternative for email, made from the text; nil for SMS.
    public var html: String?
}

/// The notice templates under `notices.templates_dir` (`th/` and `en/`), parsed at start-up
/// so that a broken template stops the daemon instead of a notice.
public struct NoticeTemplates: Sendable {
    public static let locales = ["th", "en"]
    /// Notices to the person: email and SMS versions.
    public static let subjectNotices = [
        "received", "completed", "refused", "more_time", "identity_needed", "verification_code", "breach_notice",
    ]
    /// Reports to the DPO: email only.
    public static let dpoNotices = [
        "dpo_completion", "dpo_deadline_warning", "dpo_overdue", "dpo_dead_job", "dpo_delivery_failed",
        "dpo_store_unreachable", "dpo_identity_hold", "dpo_no_channel", "dpo_verification_locked", "dpo_store_paused",
        "dpo_manual_task_late", "dpo_breach_reported", "dpo_breach_alarm",
        "dpo_approval_needed", "dpo_minors_unknown_age", "dpo_monthly_report",
    ]
    /// Tasks to the owners of manual stores: email only, in the owner's language.
    public static let ownerNotices = ["manual_task", "manual_task_reminder"]
    /// Documents dsrd drafts for people to send (rendered by `dsrd breach draft`), not notices.
    public static let documents = ["pdpc_breach_draft"]

    private let templates: [String: MustacheTemplate]

    public init(directory: String) throws {
        var templates: [String: MustacheTemplate] = [:]
        for locale in Self.locales {
            var expected = Self.subjectNotices.flatMap { ["\($0).mustache", "\($0).sms.mustache"] }
            expected += (Self.dpoNotices + Self.ownerNotices + Self.documents).map { "\($0).mustache" }
            for file in expected {
                let path = "\(directory)/\(locale)/\(file)"
                guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                    throw ConfigurationError("notices.templates_dir: missing template \(path)")
                }
                do {
                    // Plain text: no HTML escaping here; the HTML part is escaped when built.
                    templates["\(locale)/\(file)"] = try MustacheTemplate(string: "{{% CONTENT_TYPE: TEXT}}" + text)
                } catch {
                    throw ConfigurationError("\(path): not a valid Mustache template (\(error))")
                }
            }
        }
        self.templates = templates
    }

    /// Renders one notice. `values` are the template variables.
    public func render(_ name: String, channel: Channel, language: Language, values: [String: Any]) throws -> RenderedNotice {
        let file = channel == .sms ? "\(name).sms.mustache" : "\(name).mustache"
        guard let template = templates["\(language.rawValue)/\(file)"] else {
            throw NoticeError.unknownTemplate(name)
        }
        let output = template.render(values)
        if channel == .sms {
            return RenderedNotice(
                subject: nil,
                text: output.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "\n", with: " "),
                html: nil)
        }
        var lines = output.components(separatedBy: "\n")
        guard let first = lines.first, first.hasPrefix("Subject:") else {
            throw NoticeError.malformedTemplate("\(language.rawValue)/\(file) must start with a Subject: line")
        }
        let subject = first.dropFirst("Subject:".count).trimmingCharacters(in: .whitespaces)
        lines.removeFirst()
        let body = Self.collapseBlankLines(lines.joined(separator: "\n")).trimmingCharacters(in: .whitespacesAndNewlines)
        return RenderedNotice(subject: subject, text: body + "\n", html: Self.html(from: body, title: subject))
    }

    /// Sections that render empty leave runs of blank lines; keep at most one. A line of
    /// white space only counts as blank (checked per Character: Foundation's trimming of
    /// every line cost 1.8% of the daemon's CPU on an access request).
    static func collapseBlankLines(_ text: String) -> String {
        var result: [Substring] = []
        var previousBlank = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let blank = line.allSatisfy(\.isWhitespace)
            if blank && previousBlank { continue }
            result.append(line)
            previousBlank = blank
        }
        return result.joined(separator: "\n")
    }

    static func html(from text: String, title: String) -> String {
        var out = Array("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>".utf8)
        out.reserveCapacity(text.utf8.count * 2 + 200)
        escapeHTML(title.utf8, into: &out)
        out += Array("</title></head>\n<body>\n<p>".utf8)
        // Paragraphs at blank lines, <br> at single line breaks, one pass over the bytes.
        let lines = text.utf8.split(separator: 0x0A, omittingEmptySubsequences: false)
        var index = 0
        while index < lines.count {
            escapeHTML(lines[index], into: &out)
            index += 1
            guard index < lines.count else { break }
            if lines[index].isEmpty {
                while index < lines.count && lines[index].isEmpty { index += 1 }
                out += Array("</p>\n<p>".utf8)
            } else {
                out += Array("<br>\n".utf8)
            }
        }
        out += Array("</p>\n</body></html>\n".utf8)
        return String(decoding: out, as: UTF8.self)
    }

    /// `&`, `<`, `>` and `"` as entities.
    static func escapeHTML<Bytes: Sequence<UInt8>>(_ bytes: Bytes, into out: inout [UInt8]) {
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "&"): out += [0x26, 0x61, 0x6D, 0x70, 0x3B]  // &amp;
            case UInt8(ascii: "<"): out += [0x26, 0x6C, 0x74, 0x3B]  // &lt;
            case UInt8(ascii: ">"): out += [0x26, 0x67, 0x74, 0x3B]  // &gt;
            case UInt8(ascii: "\""): out += [0x26, 0x71, 0x75, 0x6F, 0x74, 0x3B]  // &quot;
            default: out.append(byte)
            }
        }
    }
}

public enum NoticeError: Error, CustomStringConvertible {
    case unknownTemplate(String)
    case malformedTemplate(String)
    case channelNotConfigured(String)
    case rejected(String)

    public var description: String {
        switch self {
        case .unknownTemplate(let name): "no template named \(name)"
        case .malformedTemplate(let reason): reason
        case .channelNotConfigured(let what): "\(what) is not configured"
        case .rejected(let reason): reason
        }
    }
}
