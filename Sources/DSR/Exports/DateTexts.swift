import Foundation

/// Dates as dsrd writes them. Date formatters are slow to create (ICU), so each shape is
/// made once and shared; Foundation's formatters are not safe to share between threads,
/// hence the lock.
public enum DateTexts {
    private final class Cache: @unchecked Sendable {
        let lock = NSLock()
        var formatters: [String: DateFormatter] = [:]
        let iso: ISO8601DateFormatter = {
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            return formatter
        }()
        let isoSeconds = ISO8601DateFormatter()
    }

    private static let cache = Cache()

    private static func formatted(_ date: Date, key: String, make: () -> DateFormatter) -> String {
        cache.lock.lock()
        defer { cache.lock.unlock() }
        if let formatter = cache.formatters[key] { return formatter.string(from: date) }
        let formatter = make()
        cache.formatters[key] = formatter
        return formatter.string(from: date)
    }

    /// `2026-11-25T11:40:06.500Z`.
    static func iso(_ date: Date) -> String {
        cache.lock.lock()
        defer { cache.lock.unlock() }
        return cache.iso.string(from: date)
    }

    /// `2026-11-25T11:40:06Z`.
    static func isoSeconds(_ date: Date) -> String {
        cache.lock.lock()
        defer { cache.lock.unlock() }
        return cache.isoSeconds.string(from: date)
    }

    /// An ISO 8601 timestamp with or without fractional seconds, or nil.
    public static func parseISO(_ text: String) -> Date? {
        cache.lock.lock()
        defer { cache.lock.unlock() }
        return cache.iso.date(from: text) ?? cache.isoSeconds.date(from: text)
    }

    /// `2026-11-25` in UTC.
    static func day(_ date: Date) -> String {
        formatted(date, key: "day") {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "UTC")
            formatter.dateFormat = "yyyy-MM-dd"
            return formatter
        }
    }

    /// `25 ธันวาคม 2569` (Buddhist era) in Thai, `25 December 2026` in English.
    static func long(_ date: Date, locale: String, timeZone: TimeZone) -> String {
        inWords(date, pattern: "d MMMM yyyy", locale: locale, timeZone: timeZone)
    }

    /// `พฤศจิกายน 2569` (Buddhist era) in Thai, `November 2026` in English.
    static func monthAndYear(_ date: Date, locale: String, timeZone: TimeZone) -> String {
        inWords(date, pattern: "MMMM yyyy", locale: locale, timeZone: timeZone)
    }

    /// `pattern` with month names in the reader's language: Thai with the Buddhist era,
    /// anything else British English.
    private static func inWords(_ date: Date, pattern: String, locale: String, timeZone: TimeZone) -> String {
        formatted(date, key: "\(pattern):\(locale):\(timeZone.identifier)") {
            let formatter = DateFormatter()
            formatter.timeZone = timeZone
            if locale == "en" {
                formatter.locale = Locale(identifier: "en_GB")
                formatter.calendar = Calendar(identifier: .gregorian)
            } else {
                formatter.locale = Locale(identifier: "th_TH")
                formatter.calendar = Calendar(identifier: .buddhist)
            }
            formatter.dateFormat = pattern
            return formatter
        }
    }
}
